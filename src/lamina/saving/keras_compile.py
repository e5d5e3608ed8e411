"""Keras 3's ``compile_config`` of a saved model: the compile settings written to a ``.keras``
archive's ``config.json`` (or a legacy HDF5 file) and the ``compile`` call that restores them on
load, including Keras 2's ``training_config`` spellings (see :mod:`lamina.saving.keras_archive`).

>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> model = Sequential([Input((3,)), Dense(2)])
>>> model.compile(optimizer="adam", loss="mse", metrics=["mae"])
>>> config = compile_config(model)
>>> config["optimizer"]["class_name"], config["loss"]["class_name"], config["metrics"]
('Adam', 'MeanSquaredError', ['mae'])
>>> again = Sequential([Input((3,)), Dense(2)])
>>> compile_from_config(again, config, "<example>")
>>> type(again.optimizer).__name__
'Adam'
"""

from __future__ import annotations

from lamina import losses as _losses
from lamina import metrics as _metrics
from lamina import optimizers as _optimizers
from lamina.saving import weights_h5
from lamina.saving.safety import fail


def _overrides(model, name: str) -> bool:
    """Whether ``model``'s class defines its own ``name`` (Keras's serialization guide:
    a model whose ``compile`` takes other arguments overrides ``get_compile_config`` and
    ``compile_from_config``)."""
    from lamina.models.compiling import CompileMixin

    return getattr(type(model), name, None) is not getattr(CompileMixin, name, None)


def model_compile_config(model) -> dict | None:
    """What a saved file holds as ``compile_config``: the model's own
    ``get_compile_config()`` serialized, when its class defines one; else the settings of
    its ``compile`` call (:func:`compile_config`)."""
    if _overrides(model, "get_compile_config"):
        from lamina.utils.serialization import serialize_keras_object

        own = model.get_compile_config()
        return None if own is None else serialize_keras_object(own)
    return compile_config(model)


def restore_compile(model, cc: dict, path, custom_objects=None) -> None:
    """Compiles a loaded model from its file's ``compile_config``: through the model's own
    ``compile_from_config`` when its class defines one (with ``custom_objects`` in scope),
    else :func:`compile_from_config`."""
    if not _overrides(model, "compile_from_config"):
        compile_from_config(model, cc, path, custom_objects)
        return
    from lamina.object_registry import custom_object_scope

    try:
        with custom_object_scope(custom_objects):
            model.compile_from_config(cc)
    except (ValueError, TypeError, KeyError) as e:
        raise fail(
            path,
            f"its compile settings could not be restored by "
            f"{type(model).__name__}.compile_from_config ({e}); pass compile=False to load "
            "the model uncompiled.",
        ) from None


def compile_config(model) -> dict | None:
    """Keras 3's ``model.get_compile_config()`` for a compiled ``Sequential``."""
    c = model.saving_view().compile_settings
    if c is None:
        return None
    return {
        "optimizer": _optimizers.serialize(c["optimizer"]),
        "loss": _per_output(c["loss"], _losses.serialize),
        "loss_weights": c["loss_weights"],
        "metrics": _per_output(c["metrics"], _metrics.serialize) or None,
        "weighted_metrics": _per_output(c["weighted_metrics"], _metrics.serialize) or None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": True,
    }


def _per_output(value, serialize):
    """Serializes a loss or metrics setting, keeping its per-output list/dict structure."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _per_output(v, serialize) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_per_output(v, serialize) for v in value]
    return serialize(value)


def _deserialize_per_output(value, deserialize):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _deserialize_per_output(v, deserialize) for k, v in value.items()}
    if isinstance(value, list):
        return [_deserialize_per_output(v, deserialize) for v in value]
    return deserialize(value)


def compile_from_config(model, cc: dict, path, custom_objects=None) -> None:
    """Compiles ``model`` from a Keras ``compile_config`` (or legacy ``training_config``)."""
    try:
        opt_cfg = cc.get("optimizer") or cc.get("optimizer_config")
        if isinstance(opt_cfg, dict) and "config" in opt_cfg:
            opt_cfg = {**opt_cfg, "config": _clean_optimizer_config(opt_cfg["config"])}
        if isinstance(opt_cfg, dict):  # a user Optimizer subclass comes from custom_objects
            optimizer = _optimizers.deserialize(opt_cfg, custom_objects)
        else:
            optimizer = _optimizers.get(opt_cfg) if opt_cfg is not None else "rmsprop"
        loss = cc.get("loss")
        if isinstance(loss, list) and len(loss) == 1:
            loss = loss[0]
        n_outputs = len(getattr(model, "outputs", None) or [None])
        if isinstance(loss, list | tuple | dict) and len(loss) > 1:
            n_outputs = max(n_outputs, len(loss))  # a subclassed model: no outputs listed
        if n_outputs > 1 and isinstance(loss, list | dict):  # one loss per output
            loss = _deserialize_per_output(loss, lambda v: _losses.deserialize(v, custom_objects))
            metrics = _deserialize_per_output(
                cc.get("metrics"), lambda v: _metrics.deserialize(v, custom_objects)
            )
            weighted = _deserialize_per_output(
                cc.get("weighted_metrics"), lambda v: _metrics.deserialize(v, custom_objects)
            )
        else:
            loss = _losses.deserialize(loss, custom_objects) if loss is not None else None
            metrics = _metric_list(cc.get("metrics"), custom_objects)
            weighted = _metric_list(cc.get("weighted_metrics"), custom_objects)
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            weighted_metrics=weighted,
            loss_weights=cc.get("loss_weights"),
        )
    except (ValueError, TypeError, KeyError) as e:
        raise fail(
            path,
            f"its compile settings could not be restored ({e}); "
            "pass compile=False to load the model uncompiled.",
        ) from None


def _clean_optimizer_config(cfg: dict) -> dict:
    """Drops Keras 2 keys Keras 3 dropped too (``decay``, ``is_legacy_optimizer``...)."""
    cfg = dict(cfg)
    for k in ("decay", "is_legacy_optimizer", "jit_compile"):
        if k in cfg and cfg[k] in (0, 0.0, False, None, True):
            cfg.pop(k)
    if "lr" in cfg and "learning_rate" not in cfg:
        cfg["learning_rate"] = cfg.pop("lr")
    if isinstance(cfg.get("name"), str) and cfg["name"][:1].isupper():  # Keras 2: "Adam"
        cfg["name"] = weights_h5.to_snake_case(cfg["name"])
    return cfg


def _metric_list(value, custom_objects):
    if value is None:
        return None
    if isinstance(value, dict) and "class_name" not in value:
        value = [m for ms in value.values() for m in (ms if isinstance(ms, list) else [ms])]
    if not isinstance(value, list):
        value = [value]
    if len(value) == 1 and isinstance(value[0], list):  # one output's list
        value = value[0]
    return [_metric(m, custom_objects) for m in value]


def _metric(value, custom_objects):
    """One saved metric: a built-in name stays a name (compile resolves it per output); a
    user function's name (Keras 2 files store ``"rmse"``) is found in ``custom_objects``."""
    if isinstance(value, str):
        from lamina.object_registry import get_registered_object

        user = get_registered_object(value, custom_objects)
        return value if user is None else user
    return _metrics.deserialize(value, custom_objects)
