"""A user subclass of a built-in layer that overrides ``call``.

Keras code often specializes a built-in layer by overriding its ``call`` and reaching the
built-in computation through ``super().call``: "Hands-On Machine Learning"'s Monte Carlo
dropout, ``class MCDropout(Dropout): def call(self, inputs): return super().call(inputs,
training=True)``, or a ``Dense`` whose output is post-processed.  A built-in Lamina layer is a
pure ``apply``, so such a subclass keeps the built-in ``init`` (its weights) and gets an
``apply`` that runs the user's ``call`` with the layer's weights bound to this call's arrays
(``self.kernel`` inside ``call`` reads them, as in a Keras-style layer); ``super().call``
lands on :meth:`lamina.layers.base.Layer.call`, which runs the built-in ``apply``
(:func:`builtin_call`).

A random built-in layer used this way may draw in inference too (the MC dropout at
``predict``), so the layer says ``rng_in_inference`` and the engine hands it a fresh key in
every inference call.

>>> import numpy as np
>>> from lamina.layers import Dropout
>>> class MCDropout(Dropout):
...     def call(self, inputs, training=False):
...         return super().call(inputs, training=True)
>>> y = MCDropout(0.5)(np.ones((1, 1000), "float32"))  # drops at inference
>>> sorted({float(v) for v in np.asarray(y).ravel()})
[0.0, 2.0]
"""

from __future__ import annotations

import jax

from lamina.layers.variables import Scope, current_scope


def install(cls) -> None:
    """Makes ``cls`` (a user subclass of a built-in layer overriding ``call``) run its
    ``call`` in ``apply``; the built-in ``apply`` stays reachable through ``super().call``."""
    builtin = cls.__dict__.get("_builtin_apply") or getattr(cls, "_builtin_apply", None)
    cls._builtin_apply = builtin or cls.apply
    cls.apply = _apply
    if not getattr(cls.init, "_adds_early_variables", False):
        cls.init = _with_early_variables(cls.init)
    cls.rng_in_inference = property(lambda self: bool(self.uses_rng))
    if not _user_defines(cls, "compute_output_shape"):
        # The overriding ``call`` may change the shape (the customizing-saving guide's
        # ``Dense`` multiplied by a ``(10,)`` variable): Keras traces ``call`` for it.
        cls.compute_output_shape = _traced_output_shape


def _user_defines(cls, name: str) -> bool:
    """Whether a class of ``cls``'s own (not Lamina's) defines ``name``."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("lamina."):
            return False
        if name in klass.__dict__ and klass.__dict__[name] is not _traced_output_shape:
            return True
    return False


def _traced_output_shape(self, input_shape):
    """The output shape of the overriding ``call``, traced once per input shape."""
    from lamina.layers.layer_config import freeze
    from lamina.layers.symbolic_shapes import traced_output_shape

    cache = vars(self).setdefault("_output_shape_cache", {})
    key = freeze(input_shape)
    if key not in cache:
        cache[key] = traced_output_shape(self, input_shape)
    return cache[key]


def _with_early_variables(builtin_init):
    """``init`` of the built-in layer, plus the variables the subclass made in ``__init__``
    (``self.v = keras.Variable(...)`` or ``add_weight``, Keras's customizing-saving guide's
    ``LayerWithCustomVariables(Dense)``): its ``call`` reads them as weights of the layer.
    They come first, as Keras lists the variables a layer tracked before ``build``."""

    def init(self, key, input_shape):
        params, state = builtin_init(self, key, input_shape)
        early = list(self.__dict__.get("_early_variables") or ())
        if not early:
            return params, state
        own = ({}, {})
        keys = jax.random.split(jax.random.fold_in(key, 1), len(early))
        for var, k in zip(early, keys):
            value = var.initializer(var._shape, dtype=var.dtype, key=k)
            own[0 if var._trainable else 1][var._key] = value
        ids = {id(v) for v in early}
        later = [v for v in self.__dict__.get("_variables") or () if id(v) not in ids]
        self._variables = [*early, *later]
        return {**own[0], **params}, {**own[1], **state}

    init._adds_early_variables = True
    return init


def _apply(self, params, state, x, *, training=False, key=None, mask=None, **extra):
    """``apply`` of a built-in layer's subclass overriding ``call`` (see the module)."""
    from lamina.layers.tracing import call_kwargs, record_masks, run_call

    scope = Scope(training=training, key=key)
    scope.builtin_extra = {"mask": mask, **extra}  # for the built-in apply super().call runs
    record_masks(scope, x, mask)
    with scope, jax.numpy_rank_promotion("allow"):
        scope.bind(self, dict(params), dict(state))
        y = run_call(self, x, call_kwargs(self.call, training, mask, {}))
    new_state = scope.lookup(self)[2]
    return y, {k: new_state[k] for k in state}


_NOT_HERE = object()


def builtin_call(layer, inputs, kwargs):
    """``super().call(inputs, **kwargs)`` from an overriding ``call``: the built-in layer's
    ``apply`` on the arrays bound for this call (its state updated in the scope).  Returns
    ``_NOT_HERE`` when ``layer`` is not such a subclass being applied."""
    builtin = getattr(type(layer), "_builtin_apply", None)
    scope = current_scope()
    entry = scope.lookup(layer) if scope is not None and builtin is not None else None
    if entry is None:
        return _NOT_HERE
    kwargs = dict(kwargs)
    extra = dict(getattr(scope, "builtin_extra", {}))
    training = kwargs.pop("training", None)
    training = scope.training if training is None else bool(training)
    mask = kwargs.pop("mask", extra.pop("mask", None))
    if layer.uses_mask:
        kwargs["mask"] = mask
    kwargs.update({k: v for k, v in extra.items() if k not in kwargs})
    key = scope.key if layer.uses_rng else None
    params, _, current, _ = entry
    y, new_state = builtin(layer, params, current, inputs, training=training, key=key, **kwargs)
    current.update(new_state)
    return y
