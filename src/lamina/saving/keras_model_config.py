"""A model's ``config.json`` entry in a ``.keras`` archive: written from a model, and rebuilt
into a model (Keras 3, Keras 2 and Keras 1 forms; ``Sequential``, functional and subclassed),
with the file's structure, code-bearing layers and weight budget checked before anything is
allocated (:mod:`lamina.saving.config_checks`, :mod:`lamina.saving.safety`).

The archive itself (the zip, the weights member, the assets) is :mod:`lamina.saving.keras_archive`.

Example:

>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> from lamina.saving import keras_model_config
>>> config = keras_model_config.model_config(Sequential([Input((3,)), Dense(2)]))
>>> config["class_name"], config["build_config"]
('Sequential', {'input_shape': [None, 3]})
>>> keras_model_config.model_from_config(config).output_shape
(None, 2)
"""

from __future__ import annotations

import warnings

from lamina.saving import config_checks, h5_sandbox, safety
from lamina.saving.keras_compile import model_compile_config
from lamina.saving.safety import fail
from lamina.utils.serialization import object_sharing_scope


def model_config(model, include_compile: bool = True) -> dict:
    """The serialized model as in Keras's ``config.json`` (with build and compile configs)."""
    from lamina.models.model import Functional, is_graph_or_subclassed

    if is_graph_or_subclassed(model):  # functional or subclassed: Keras's forms for each
        out = _model_class_config(model)
        if isinstance(model, Functional):
            out["build_config"] = {"input_shape": None}
        elif model.input_shape is not None:
            out["build_config"] = {"input_shape": _jsonable(model.input_shape)}
        cc = model_compile_config(model) if include_compile else None
        if cc is not None:
            out["compile_config"] = _jsonable(cc)
        return out
    out = {
        "module": "keras",
        "class_name": "Sequential",
        "config": _jsonable(model.get_config()),
        "registered_name": None,
    }
    if model.input_shape is not None:
        out["config"]["build_input_shape"] = list(model.input_shape)
        out["build_config"] = {"input_shape": list(model.input_shape)}
    cc = model_compile_config(model) if include_compile else None
    if cc is not None:
        out["compile_config"] = _jsonable(cc)
    return out


def _model_class_config(model) -> dict:
    from lamina.models.model import Functional
    from lamina.object_registry import get_registered_name

    if type(model).__module__.startswith("lamina.") and isinstance(model, Functional):
        return {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": _jsonable(model.get_config()),
            "registered_name": "Functional",
        }
    cls = type(model)
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "config": _jsonable(model.get_config()),
        "registered_name": get_registered_name(cls),
    }


def _model_from_class_config(config, path, custom_objects, stored_bytes, before_build=None):
    """A functional or subclassed model from its ``config.json`` entry (built, uncompiled)."""
    from lamina.models.functional_config import functional_from_config, revivable_as_functional
    from lamina.object_registry import get_registered_object

    cls_name, inner = config["class_name"], config.get("config") or {}
    user_cls, graph = None, cls_name in ("Functional", "Model")
    if not graph and "layers" in inner and "input_layers" in inner:  # a user class on a graph
        user_cls = get_registered_object(config.get("registered_name") or cls_name, custom_objects)
        if user_cls is None:
            warnings.warn(
                f"The model class {cls_name!r} was not given: loading the model as a plain "
                f"functional model, without the class's methods. Fix: load_model(path, "
                f"custom_objects={{{cls_name!r}: {cls_name}}}).",
                stacklevel=3,
            )
        graph = user_cls is None or revivable_as_functional(user_cls)
        user_cls = user_cls if graph else None
    if graph and "layers" in inner:
        model = functional_from_config(inner, custom_objects, cls=user_cls)
        _check_graph_budget(model, path, stored_bytes)
        if before_build is not None:
            before_build(model)
        model.build()
        return model
    cls = get_registered_object(config.get("registered_name") or cls_name, custom_objects)
    cls = cls or get_registered_object(cls_name, custom_objects)
    if cls is None:
        raise ValueError(
            f"the model class {cls_name!r} is not known: pass custom_objects={{{cls_name!r}: "
            f"{cls_name}}} or decorate the class with "
            "@lamina.saving.register_keras_serializable()"
        )
    model = cls.from_config(dict(inner))
    shape = (config.get("build_config") or {}).get("input_shape")
    if before_build is not None:
        before_build(model)
    if shape is not None and hasattr(model, "build"):
        model.build(shape if not isinstance(shape[0], list) else [tuple(s) for s in shape])
    return model


def _check_graph_budget(model, path, stored_bytes):
    """The weight-size guard of ``config_checks`` applied to each layer of a graph."""
    from lamina.saving.config_checks import _layer_bytes

    total = 0
    view = model.saving_view()
    shapes = list(zip(view.layers, view.layer_input_shapes()))
    for layer, shape in shapes:
        if shape is None:
            continue
        try:
            total += _layer_bytes(layer, shape)
        except Exception:  # noqa: BLE001 - a guard, not an exact count (as config_checks)
            continue
    budget = h5_sandbox.weight_budget()
    if stored_bytes is not None:
        from_file = config_checks.MAX_EXPANSION * int(stored_bytes)
        budget = min(budget, max(config_checks.MIN_BOUND, from_file))
    if total > budget:
        raise fail(
            path,
            f"its model config declares {total} bytes of weights, over the {budget}-byte budget; "
            "nothing was allocated. If the model is really this large, set "
            "LAMINA_MAX_WEIGHT_BYTES to a larger number of bytes.",
        )
    for layer, shape in shapes:  # then the tensors between the layers
        if shape is not None:
            what = f"the input of {config_checks._layer_label(layer)}"
            config_checks.check_activation(path, what, shape)
    try:
        outputs = model.output_shape
    except (AttributeError, ValueError, TypeError):  # no output shape to check
        outputs = None
    if outputs is not None:
        config_checks.check_activation(path, "the model's output", outputs)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _layer_specs(config: dict):
    inner = config.get("config", config)
    return inner if isinstance(inner, list) else inner.get("layers", [])


def model_from_config(
    config, path="<config>", custom_objects=None, safe_mode=True, stored_bytes=None,
    before_build=None,
):  # fmt: skip
    """Builds a (not yet compiled) ``Sequential`` from Keras's serialized model config.

    Accepts Keras 3 (``{"module", "class_name", "config"}``), Keras 2 and Keras 1 (a bare list
    of layers) forms.  Only ``Sequential`` models are supported.  Before the weights are
    allocated, their declared size is checked against the budget
    (:func:`lamina.saving.config_checks.check_weight_budget`; ``stored_bytes`` is what the file
    holds for weights, when known).  ``before_build(model)``, when given, runs on the rebuilt
    model before its weights are allocated (the archive's layer assets load there).
    """
    from lamina.object_registry import custom_object_scope

    # ``custom_objects`` reach every lookup while the config is rebuilt (a layer's custom
    # activation or initializer too), as Keras's ``load_model`` scopes them; a layer the file
    # names twice (``shared_object_id``) is one object, as Keras's ``ObjectSharingScope``.
    with custom_object_scope(custom_objects), object_sharing_scope():
        return _model_from_config(
            config, path, custom_objects, safe_mode, stored_bytes, before_build
        )


def _model_from_config(config, path, custom_objects, safe_mode, stored_bytes, before_build):
    from lamina.models.sequential import Sequential

    if not isinstance(config, dict) or "class_name" not in config:
        raise fail(
            path,
            f"the model config should be a dict with 'class_name'; got {type(config).__name__}.",
        )
    config_checks.check_structure(path, config)  # names, trainable flags, layer lists
    build = config.get("build_config")
    if build is not None and not isinstance(build, dict):
        raise fail(path, f"its 'build_config' should be a dict; received {str(build)[:200]!r}.")
    if (build or {}).get("input_shape") is not None:
        config_checks.check_input_shape(path, build["input_shape"])
    from lamina.layers.lambda_layer import safe_mode_scope

    safety.check_safe_layers(path, config, safe_mode, custom_objects)
    cls_name = config["class_name"]
    if cls_name != "Sequential":
        try:
            with safe_mode_scope(safe_mode):
                return _model_from_class_config(
                    config, path, custom_objects, stored_bytes, before_build
                )
        except (ValueError, TypeError, KeyError, ArithmeticError) as e:
            if isinstance(e, safety.FileFormatError):
                raise
            raise fail(path, f"its model config could not be rebuilt: {e}") from None
    inner = config.get("config", {})
    if isinstance(inner, list):  # Keras 1
        inner = {"layers": inner}
    try:
        with safe_mode_scope(safe_mode):
            model = Sequential.from_config(inner, custom_objects=custom_objects)
    except (ValueError, TypeError, KeyError, ArithmeticError) as e:
        raise fail(path, f"its model config could not be rebuilt: {e}") from None
    shape = (config.get("build_config") or {}).get("input_shape") or inner.get("build_input_shape")
    if shape is not None:
        config_checks.check_input_shape(path, shape)
        if shape and isinstance(shape[0], list | tuple):
            raise fail(
                path,
                "a Sequential model has one input, but its build config gives several input "
                f"shapes: {str(shape)[:200]}.",
            )
    if shape is not None and model.input_shape is None:
        model.saving_view().set_input_shape(shape)
    if before_build is not None:
        before_build(model)
    if model.input_shape is not None and model.layers:
        try:
            config_checks.check_weight_budget(model, path, stored_bytes)  # before allocating
            model.build(model.input_shape)
        except (ValueError, TypeError, ArithmeticError) as e:  # a layer refusing its input
            if isinstance(e, safety.FileFormatError):
                raise
            raise fail(path, f"its model config could not be built: {e}") from None
    return model
