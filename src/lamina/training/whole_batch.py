"""Losses computed over the whole batch, and the partial batches they must see at their real size.

The compiled programs pad a short batch (the last one of an epoch, or of an evaluation) to the
full batch size and mask the padding rows out of every per-sample reduction
(:func:`lamina.losses.reduction.batch_loss`).  A user loss that reduces the batch itself (it
returns a scalar, e.g. ``lambda y, p: ops.mean(ops.square(y - p))``) would see the zero rows
of the padding, where Keras runs the short batch at its real size.  For such a loss the
compiled step runs each partial batch at its real shape too: one more traced shape per
distinct partial row count, only in programs holding such a loss.

* :func:`known_per_sample`: whether a loss is known (statically) to return per-sample values
  (the built-in losses); only the others are looked at while tracing.
* :class:`Probe` and :func:`note`: the step records, while it is traced, that one of its
  losses returned a scalar.
* :func:`exact_partial`: wraps a step so that partial batches run at their real shape.
* :func:`partial_rows`: the partial row counts of a host mask (the program's static
  ``partial`` argument).

>>> import numpy as np
>>> partial_rows(np.array([[1.0, 1, 1], [1, 0, 0], [0, 0, 0]]))
(1,)
"""

from __future__ import annotations

import threading

import jax
import jax.numpy as jnp
import numpy as np

from lamina.losses.reduction import overrides_call

_local = threading.local()

#: Attribute a loss class may set to ``True``: it mixes the rows of the batch (so it must run
#: a partial batch at its real size) although it returns per-sample values.
WHOLE_BATCH_ATTR = "_whole_batch"


def known_per_sample(loss) -> bool:
    """Whether ``loss`` (a ``lamina.losses.Loss``) is known to return one value per sample
    computed from that sample alone: Lamina's built-in losses (those summing over the batch,
    Dice and Tversky, zero the padding rows instead: ``_zero_padding_rows``)."""
    if getattr(loss, WHOLE_BATCH_ATTR, False) or overrides_call(loss):
        return False
    if getattr(loss, "_zero_padding_rows", False):
        return True
    if not type(loss).__module__.startswith("lamina."):
        return False
    fn = getattr(loss, "fn", None)
    return fn is None or getattr(fn, "__module__", "").startswith("lamina.")


def may_need_partial(losses) -> bool:
    """Whether a program with these losses may need its partial batches at their real shape
    (some loss is not :func:`known_per_sample`); the host then passes ``partial`` sizes."""
    return any(not known_per_sample(term.loss) for term in losses)


def _stack() -> list:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


class Probe:
    """Records, while a step is traced inside the ``with`` block, whether a loss reduced the
    whole batch (``found``)."""

    def __init__(self):
        self.found = False

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        return False


def mark() -> None:
    """Tells the active :class:`Probe` (if any) that the step's result depends on the batch
    as a whole: an ``add_loss`` term of a user layer (``ops.mean(x)`` over the batch), or a
    user metric whose ``update_state`` may ignore the padding's zero weights."""
    stack = _stack()
    if stack:
        stack[-1].found = True


def is_user_metric(metric) -> bool:
    """Whether ``metric`` is a user's ``Metric`` subclass (its own ``update_state``); the
    built-in metrics and wrapped metric functions weigh the padding rows by zero."""
    return not type(metric).__module__.startswith("lamina.")


def _wrapped_user_fn(metric):
    """The function a ``MeanMetricWrapper`` wraps when it may reduce the batch itself (a
    user's function, or a loss object, which Keras calls for its reduced value), else None."""
    from lamina.losses import Loss
    from lamina.metrics.base import MeanMetricWrapper

    if type(metric) is not MeanMetricWrapper:
        return None
    fn = metric._fn
    if isinstance(fn, Loss):
        return fn
    return None if getattr(fn, "__module__", "").startswith("lamina.") else fn


def metric_may_reduce_batch(metric) -> bool:
    """Whether ``metric``'s value may depend on the batch as a whole: a user ``Metric``
    subclass, or a wrapped user function or loss object (see :func:`note_metric`)."""
    return is_user_metric(metric) or _wrapped_user_fn(metric) is not None


def note_metric(metric, y_true, y_pred) -> None:
    """Tells the active :class:`Probe` that ``metric`` sees the whole batch: a user
    ``Metric`` subclass (its ``update_state`` may count the padding rows), or a wrapped
    function returning one value for the batch (``ops.mean(...)`` in a Keras 2 custom metric;
    a loss object), which Keras counts once per batch, computed on the real rows."""
    stack = _stack()
    if not stack:
        return
    if is_user_metric(metric):
        stack[-1].found = True
        return
    fn = _wrapped_user_fn(metric)
    if fn is None:
        return
    shape = jax.eval_shape(metric.values, y_true, y_pred)
    if len(getattr(shape, "shape", ())) == 0:
        stack[-1].found = True


def _may_call_add_loss(layer) -> bool:
    """Whether ``layer`` runs user code that may call ``add_loss``: a Keras-style layer, or a
    model holding one (built-in activity regularizers already skip the padding rows)."""
    if getattr(layer, "_traced", False):
        return True
    if getattr(layer, "_is_model", False):
        return any(_may_call_add_loss(sub) for sub in layer.layers)
    return False


def may_need_partial_for(losses, metrics, layers) -> bool:
    """:func:`may_need_partial`, also counting user metrics and layers that may call
    ``add_loss``."""
    return (
        may_need_partial(losses)
        or any(metric_may_reduce_batch(m.metric) for m in metrics)
        or any(_may_call_add_loss(layer) for layer in layers)
    )


def note(loss, y_true, y_pred) -> None:
    """Tells the active :class:`Probe` whether ``loss`` reduces the whole batch: it returns a
    scalar for these (traced) arrays, or its class says so (``_whole_batch``).  Only losses
    that are not :func:`known_per_sample` are traced for this (``jax.eval_shape``: no work in
    the compiled program)."""
    stack = _stack()
    if not stack or known_per_sample(loss):
        return
    whole = getattr(loss, WHOLE_BATCH_ATTR, False) or overrides_call(loss)
    if not whole:
        shape = jax.eval_shape(loss.call, y_true, y_pred)
        whole = len(getattr(shape, "shape", ())) == 0
    if whole:
        stack[-1].found = True


def partial_rows(mask) -> tuple:
    """The distinct row counts of the partial steps of a host ``(steps, batch)`` mask
    (neither full nor empty), sorted."""
    counts = np.count_nonzero(np.asarray(mask) > 0, axis=1)
    full = np.shape(mask)[1]
    return tuple(sorted({int(c) for c in counts if 0 < c < full}))


def exact_partial(step, sizes):
    """``step(carry, xb, ys, swb, bmask) -> carry``, with its partial batches run at their real
    shape when a loss of the step reduces the whole batch.

    ``sizes``: the row counts of the partial batches that may come (static).  The step is
    traced once on the full (padded) shape inside a :class:`Probe`; if no loss reduced the
    whole batch, or no partial batch can come, that is the whole program (no cost).  Otherwise
    a step whose real rows number one of ``sizes`` runs again on its first rows (the padding
    of a batch always follows its real rows), and its result replaces the padded one.
    Without ``sizes`` the step runs as it is, unprobed (a user loss is called once per trace,
    or once per step under ``run_eagerly``).  Under ``run_eagerly`` (concrete ``bmask``) the
    row count is read on the host and each step runs once, a partial one at its real shape,
    so a user loss is called once per batch, as Keras calls it.
    """
    sizes = tuple(sizes)

    def cut(tree, k):
        return jax.tree_util.tree_map(lambda a: a[:k], tree)

    def run(carry, xb, ys, swb, bmask):
        if not sizes:  # every batch full: no probe, so no loss is traced twice
            return step(carry, xb, ys, swb, bmask)
        if not isinstance(bmask, jax.core.Tracer):
            # ``run_eagerly``: the row count is known here, so the step runs once, at the
            # real shape of a partial batch, and a user loss is called once per batch as in
            # Keras (a probe would call it on the padded batch too).  A per-sample loss gives
            # the same values on the real rows as on the masked padded batch.
            k = int(np.count_nonzero(np.asarray(bmask) > 0))
            if k in sizes:
                return step(carry, cut(xb, k), cut(ys, k), cut(swb, k), bmask[:k])
            return step(carry, xb, ys, swb, bmask)
        with Probe() as probe:
            full = step(carry, xb, ys, swb, bmask)
        if not probe.found:
            return full
        count = jnp.sum(bmask > 0).astype(jnp.int32)
        branch = jnp.zeros((), jnp.int32)
        for i, k in enumerate(sizes):
            branch = jnp.where(count == k, i + 1, branch)

        def real_rows(k):
            return lambda c: step(c, cut(xb, k), cut(ys, k), cut(swb, k), bmask[:k])

        return jax.lax.switch(branch, [lambda c: full, *map(real_rows, sizes)], carry)

    return run
