"""Output shapes of layers called on symbolic tensors, found without running them on data.

When a layer is called on :class:`~lamina.layers.symbolic.KerasTensor` inputs, its output
shape comes from its ``compute_output_shape``, or, for layers written Keras's way (``call``)
and nested models, from tracing ``init``/``apply`` abstractly with ``jax.eval_shape`` at two
batch sizes: dimensions that differ between the two follow the batch and become ``None``.

This is separate from :mod:`lamina.layers.symbolic` (the tensors and the graph they record)
because layers and models also ask for output shapes outside of any graph (``Lambda``,
``JaxLayer``, pipelines, nested models).  :func:`call_dtypes` lets a trace see the dtypes of
the inputs of the call being recorded, so that e.g. an integer ``Input`` may index a table.

>>> from lamina.layers import Dense
>>> output_shape(Dense(3), (None, 8))
(None, 3)
"""

from __future__ import annotations

import contextvars

import jax
import jax.numpy as jnp

from lamina.layers import symbolic_masks as _masks
from lamina.layers import trace_inputs as _inputs
from lamina.layers.base import Layer, check_rank
from lamina.layers.core_methods import layer_init
from lamina.ops._symbolic import live_values


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list | tuple) and bool(shape) and isinstance(shape[0], list | tuple)


def output_shape(layer, input_shape, mask_shape=None):
    """The output shape of ``layer`` for inputs of ``input_shape`` (a shape or list of them);
    ``mask_shape``: the inputs' mask, passed to a Keras-style ``call(..., mask=)``."""
    if _is_model(layer):
        return _as_shapes(layer.compute_output_shape(input_shape))
    if getattr(layer, "_traced", False):
        own = type(layer).compute_output_shape
        if own is not Layer.compute_output_shape:
            shape = _as_shapes(own(layer, input_shape))
            count_training_draws(layer, input_shape)
            return shape
        if mask_shape is not None and layer.uses_mask:
            return traced_output_shape(layer, input_shape, mask_shape=mask_shape)
        return traced_output_shape(layer, input_shape)
    if not _is_shape_list(input_shape):
        check_rank(layer, tuple(input_shape))
        return tuple(layer.compute_output_shape(tuple(input_shape)))
    return _as_shapes(layer.compute_output_shape(input_shape))


def _as_shapes(shape):
    if _is_shape_list(shape):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _is_model(layer) -> bool:
    return getattr(layer, "_is_model", False)


def traced_output_shape(layer, input_shape, dtypes=None, mask_shape=None):
    """Output shape(s) found by tracing ``init`` + ``apply`` abstractly at two batch sizes
    (with all-true masks of ``mask_shape`` passed as ``mask``, when given)."""

    n = _count_shapes(input_shape)
    if dtypes is None:
        dtypes = call_dtypes(n)
    dtypes = ["float32" if d in (None, "string") else d for d in dtypes or ()]
    dtypes = _dtype_like(input_shape, dtypes or ["float32"] * n)

    def run(fill):
        def f(key):
            x = _filled(input_shape, dtypes, fill)
            with _inputs.called_on(layer, dtypes):  # its ``init`` keeps integer inputs
                params, state = layer_init(layer)(key, input_shape)
            if mask_shape is not None:
                mask = _masks.mask_values(mask_shape, fill)
                y, _ = layer.apply(params, state, x, training=False, mask=mask)
            else:
                y, _ = layer.apply(params, state, x, training=False)
            return y

        out = jax.eval_shape(f, jax.random.key(0))
        return [tuple(o.shape) for o in out] if isinstance(out, list | tuple) else out.shape

    import contextlib

    from lamina.random import counting_draws

    # A Keras-style call() may draw unseeded numbers (see mark_unseeded_draws); other layers
    # count their own (a Lambda) or have none.
    traced = getattr(layer, "_traced", False)
    token = _CALL_DTYPES.set(None)  # layers called inside this trace get their own dtypes
    try:
        with counting_draws() if traced else contextlib.nullcontext([0]) as drawn:
            with live_values(_zeros_of(3)):  # graph tensors read by call() from outside it
                a = run(3)
            with live_values(_zeros_of(4)):
                b = run(4)
        if drawn[0]:
            mark_unseeded_draws(layer)
        else:
            count_training_draws(layer, input_shape, dtypes)
    except Exception as e:  # the user's call() failed: say which layer and which shapes
        context = (
            f"Calling layer {layer.name!r} ({type(layer).__name__}) on inputs of shape "
            f"{input_shape} failed"
        )
        again = with_context(e, context)
        if again is None:
            raise
        raise again from e
    finally:
        _CALL_DTYPES.reset(token)

    def merge(sa, sb):
        return tuple(None if x != y else x for x, y in zip(sa, sb))

    if isinstance(a, list):
        return [merge(x, y) for x, y in zip(a, b)]
    return merge(a, b)


def with_context(e: Exception, context: str) -> Exception | None:
    """``e``'s type re-made with ``context`` before its message, for the caller to raise; or
    None after adding ``context`` as a note to ``e`` itself, for exception types whose
    constructor takes something other than a message (JAX's tracer errors take the tracer)."""
    try:
        return type(e)(f"{context}: {e}")
    except Exception:
        e.add_note(context)
        return None


def count_training_draws(layer, input_shape, dtypes=None) -> None:
    """Marks a Keras-style layer whose ``call`` draws unseeded numbers only when training (the
    book's ``AddGaussianNoise``: ``if training: X + K.random_normal(shape)``), found by tracing
    it once with ``training=True``; a call that fails so is left as it is."""
    import inspect

    from lamina.random import counting_draws

    if not getattr(layer, "_traced", False) or layer.__dict__.get("_draws_unseeded"):
        return
    if layer.__dict__.get("_training_draws_counted"):  # once per layer: its call is the same
        return
    layer.__dict__["_training_draws_counted"] = True
    try:
        takes = inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return
    if "training" not in takes:
        return
    n = _count_shapes(input_shape)
    dtypes = ["float32" if d in (None, "string") else d for d in dtypes or call_dtypes(n) or ()]
    dtypes = _dtype_like(input_shape, dtypes or ["float32"] * n)

    def f(key):
        x = _filled(input_shape, dtypes, 2)
        with _inputs.called_on(layer, dtypes):
            params, state = layer_init(layer)(key, input_shape)
        return layer.apply(params, state, x, training=True)[0]

    token = _CALL_DTYPES.set(None)
    try:
        with counting_draws() as drawn, live_values(_zeros_of(2)):
            jax.eval_shape(f, jax.random.key(0))
    except Exception:  # the shape trace that matters ran already (or the user's own shape)
        return
    finally:
        _CALL_DTYPES.reset(token)
    if drawn[0]:
        mark_unseeded_draws(layer)


def mark_unseeded_draws(layer) -> None:
    """A Keras-style layer whose ``call`` draws unseeded random numbers (Keras 2's VAE
    ``Sampling`` layer: ``K.random_normal(shape)``) gets a fresh key at every call, training or
    not, as Keras 2 drew new numbers at every run of its graph (and as a ``Lambda`` does);
    Keras 3 refuses such a draw in a traced function."""
    layer.__dict__["_draws_unseeded"] = True
    layer.uses_rng = True
    layer.rng_in_inference = True


def _zeros_of(batch: int):
    """Zeros standing for a graph tensor (its unknown dimensions ``batch``) while a layer's
    output shape is traced."""

    def resolve(tensor):
        shape = tuple(batch if d is None else d for d in tensor.shape)
        return jnp.zeros(shape, "float32" if tensor.dtype == "string" else tensor.dtype)

    return resolve


def _count_shapes(shape_tree) -> int:
    """How many inputs ``shape_tree`` (a shape, or a list/dict of shapes) describes."""
    if isinstance(shape_tree, dict):
        return len(shape_tree)
    return len(shape_tree) if _is_shape_list(shape_tree) else 1


def _dtype_like(shape_tree, dtypes):
    """The flat ``dtypes`` (one per input, a dict's in sorted key order as pytrees list its
    leaves) shaped like ``shape_tree``."""
    if isinstance(shape_tree, dict):
        by_key = dict(zip(sorted(shape_tree), dtypes))
        return {k: by_key[k] for k in shape_tree}
    return list(dtypes) if _is_shape_list(shape_tree) else dtypes[0]


def _filled(shape_tree, dtypes, fill):
    """Zeros of ``shape_tree`` with ``fill`` for unknown dimensions, in ``dtypes``."""
    if isinstance(shape_tree, dict):  # sorted, as Keras's ``call`` sees a symbolic dict
        return {k: _filled(shape_tree[k], dtypes[k], fill) for k in sorted(shape_tree)}
    if _is_shape_list(shape_tree):
        return [_filled(s, d, fill) for s, d in zip(shape_tree, dtypes)]
    return jnp.zeros(tuple(fill if d is None else d for d in shape_tree), dtypes)


#: The input dtypes of the layer call being recorded (``symbolic_call``), for tracing.
_CALL_DTYPES: contextvars.ContextVar = contextvars.ContextVar("lamina_call_dtypes", default=None)


def call_dtypes(n: int) -> tuple | None:
    """The dtypes of the ``n`` inputs of the layer call being recorded, or ``None``."""
    dtypes = _CALL_DTYPES.get()
    return dtypes if dtypes is not None and len(dtypes) == n else None
