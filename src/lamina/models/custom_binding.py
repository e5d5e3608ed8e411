"""How ``fit``/``evaluate``/``predict`` bind a model with custom training logic to the engine.

A model whose class overrides one of :data:`HOOKS` (``train_step``, ``compute_loss``, ...)
gets :func:`custom_binding`: a :class:`~lamina.training.network.Binding` whose program is
:func:`lamina.training.custom_step.build_custom_program` and whose state is the pytree of
:mod:`lamina.training.custom_state`, read from and written to the model's objects (its
weights or its sub-models' weights, metrics, optimizers and seed generators).  A
TensorFlow-style ``train_step(self, data)`` is refused here with the JAX signature to use.
At the end of ``fit``, :func:`finalize_ema` writes ``use_ema``'s moving averages into the
weights, as Keras's ``optimizer.finalize_variable_values`` does.
"""

from __future__ import annotations

import inspect

import jax.numpy as jnp

from lamina.models.custom_training import CompileMetrics
from lamina.training import custom_step as _engine
from lamina.training.network import Binding

#: The Keras hooks whose override makes ``fit``/``evaluate``/``predict`` run the model's steps.
HOOKS = ("train_step", "test_step", "predict_step", "compute_loss", "compute_metrics")


def overridden_hooks(model) -> list:
    """The hooks of :data:`HOOKS` that ``model``'s class (below ``Model`` or
    ``Sequential``) overrides."""
    from lamina.models.custom_training import CustomTrainingMixin
    from lamina.models.model import Functional, Model
    from lamina.models.sequential import Sequential

    found = []
    for cls in type(model).__mro__:
        if cls in (Model, Functional, Sequential, CustomTrainingMixin):
            break
        found += [h for h in HOOKS if h in cls.__dict__ and h not in found]
    return found


def adopt_custom_steps(cls) -> None:
    """Gives a ``Sequential`` subclass that overrides one of :data:`HOOKS` Keras's trainer
    hooks (:class:`~lamina.models.custom_training.CustomTrainingMixin`) as its first base,
    so ``fit``/``evaluate``/``predict`` run its steps as they run a subclassed ``Model``'s
    (called by ``Sequential.__init_subclass__``)."""
    from lamina.models.custom_training import CustomTrainingMixin
    from lamina.models.sequential import Sequential

    if issubclass(cls, CustomTrainingMixin):
        return
    below = cls.__mro__[: cls.__mro__.index(Sequential)]
    if not any(h in c.__dict__ for c in below for h in HOOKS):
        return
    cls.__bases__ = (CustomTrainingMixin, *cls.__bases__)


def _check_signature(model, hook):
    fn = getattr(model, hook)
    try:
        params = [
            p for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]  # fmt: skip
    except (TypeError, ValueError):
        return
    if len(params) == 1:
        raise TypeError(
            f"{type(model).__name__}.{hook}(self, {params[0].name}) has the TensorFlow-style "
            f"signature (a tf.GradientTape step), which Lamina's JAX engine cannot run. Write "
            f"it in Keras 3's JAX style, {hook}(self, state, data), returning (logs, state): "
            f"see Keras's guide 'Customizing what happens in fit() with JAX'. To change only "
            f"the loss, override compute_loss(self, x, y, y_pred, sample_weight=None, "
            f"training=True) instead and keep the built-in steps."
        )


def _parts(model):
    from lamina.layers import tracing as _tracing
    from lamina.optimizers.base import Optimizer
    from lamina.random import SeedGenerator

    if model._layers or model._train_state is not None:
        owners = (model,)
    else:  # a model without call (a GAN): its sub-models hold the weights
        from lamina.models.held_models import holds_weights

        owners = tuple(la for _, la in _tracing.tracked_layers(model) if holds_weights(la))
        for sub in owners:
            if not hasattr(sub, "_variable_slots"):
                continue  # a built layer (an adapted Normalization) holds its own arrays
            if sub._train_state is None and sub._input_shape is not None:
                sub._require_built("fit")  # an Input(...) gives the shape
            if sub._train_state is None:
                raise ValueError(
                    f"{type(model).__name__} trains its sub-model {sub.name!r}, which is not "
                    f"built: give it an Input(...) or build it (sub_model.build(shape)) first."
                )
    main = getattr(model, "optimizer", None)
    extra = tuple(
        v for v in vars(model).values() if isinstance(v, Optimizer) and v is not main
    )
    seeds, seen = [], set()

    def visit(obj, depth):
        if id(obj) in seen or depth > 8:
            return
        seen.add(id(obj))
        for v in list(vars(obj).values()):
            items = v if isinstance(v, list | tuple) else [v]
            for item in items:
                if isinstance(item, SeedGenerator) and id(item) not in seen:
                    seen.add(id(item))
                    seeds.append(item)
                elif hasattr(item, "_spec_key") or getattr(item, "_is_model", False):
                    visit(item, depth + 1)

    visit(model, 0)
    cell = model.__dict__.get("_custom_rng")
    if cell is None:
        from lamina.utils import random as _random

        cell = model.__dict__["_custom_rng"] = [_random.next_key()]
    return _engine.Parts(tuple(owners), tuple(model.metrics), main, extra, tuple(seeds), cell)


def custom_binding(model, hooks) -> Binding:
    """The :class:`~lamina.training.network.Binding` of a model with custom steps."""
    for hook in ("train_step", "test_step", "predict_step"):
        if hook in hooks:
            _check_signature(model, hook)
    compiled = getattr(model, "_compiled", None)
    has_call = type(model).call is not _model_call()

    def program():
        key = (id(compiled), (compiled or {}).get("run_eagerly", False))
        cache = model.__dict__.get("_custom_program")
        if cache is None or cache[0] != key:
            prog, spec = _engine.build_custom_program(
                model, lambda: _parts(model), run_eagerly=key[1],
                trace_counter=model._trace_counter,
            )  # fmt: skip
            cache = model.__dict__["_custom_program"] = (key, prog, spec)
        return cache[1]

    def spec():
        program()
        return model.__dict__["_custom_program"][2]

    def note_data(kind, has_y, has_sw):
        setattr(spec(), kind, (bool(has_y), bool(has_sw)))

    def build(shape, dtypes=None):
        if has_call or getattr(model, "_nodes", None) is not None:
            model._build_for_data(shape, dtypes)

    def check_x(x):
        if getattr(model, "_nodes", None) is not None or model._train_state is not None:
            model._check_inputs(x)

    def metrics_names():
        names = []
        for m in model.metrics:
            if isinstance(m, CompileMetrics):  # its metrics' log names, as Keras flattens it
                names += [r.log_name for r in m._resolved]
            else:
                names.append(m.name)
        return names

    def n_params():
        try:
            return max(1, sum(int(a.size) for a in _engine.read_state(_parts(model))["tv"]))
        except (ValueError, AttributeError, TypeError):
            return 1

    return Binding(
        model=model,
        program=program,
        get_state=lambda: _engine.read_state(_parts(model)),
        set_state=lambda s: _engine.write_state(_parts(model), s),
        get_rng=lambda: model._rng if model._rng is not None else _shuffle_key(model),
        set_rng=lambda rng: setattr(model, "_rng", rng),
        build=build,
        check_x=check_x,
        check_y=lambda y: _note_target_shapes(model, y),
        metrics_names=metrics_names,
        finalize=lambda epochs: finalize_ema(model, epochs),
        compiled=compiled is not None,
        steps_per_execution=(compiled or {}).get("steps_per_execution", 1),
        n_params=n_params,
        compile_seconds=model._compile_seconds,
        predict_width=lambda: model._predict_width() if model._input_shape else 1,
        needs_y=False,
        note_data=note_data,
    )


def _note_target_shapes(model, y) -> None:
    """Records the targets' shapes (a custom step checks nothing else of them): the compiled
    ``"accuracy"`` is resolved from them, sparse labels or one-hot, as Keras resolves it at
    its first update."""
    import jax

    leaves = jax.tree_util.tree_leaves(y)
    if leaves and all(hasattr(a, "shape") and len(a.shape) >= 1 for a in leaves):
        model._y_shapes_multi = tuple((None, *tuple(a.shape)[1:]) for a in leaves)


def finalize_ema(model, epochs) -> None:
    """Keras's ``optimizer.finalize_variable_values`` at the end of ``fit``: with
    ``use_ema=True`` the trainable variables become the optimizer's moving averages (after
    any fit that asked for at least one epoch, as Keras does)."""
    opt = getattr(model, "optimizer", None)
    if not epochs or opt is None or not getattr(opt, "use_ema", False):
        return
    ema = opt.ema_values()
    if ema is None:
        return
    parts = _parts(model)
    s = _engine.read_state(parts)
    if len(ema) != len(s["tv"]):
        return
    s["tv"] = [jnp.asarray(e, t.dtype) for e, t in zip(ema, s["tv"])]
    _engine.write_state(parts, s)


def _shuffle_key(model):
    from lamina.utils import random as _random

    model._rng = _random.next_key()
    return model._rng


def _model_call():
    from lamina.models.model import Model

    return Model.call
