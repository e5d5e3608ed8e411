"""The loss and metric bookkeeping of one compiled program, as pure functions of pytrees.

A compiled model has loss terms (:class:`OutputLoss`, one per output with a loss) and metrics
(:class:`OutputMetric`).  This module holds what the train and evaluation steps of
:mod:`lamina.training.step` do with them on one batch: the losses of the outputs and their
weighted total (:func:`data_losses`), the update of the running metric state
(:func:`update_metrics`), that state's initial value (:func:`init_metrics`) and the logs read
from it (:func:`results`).  It is kept apart from the step functions because it is the only
part that knows the layout of the metric state; the steps pass it around opaquely.

The metric state is a tuple: ``(loss total, count)``, then ``(total, count)`` per output loss
when there are several outputs, then each metric's own state, and last
``(steps run, first non-finite step, what was non-finite)``.

>>> import jax.numpy as jnp
>>> from lamina.losses import MeanSquaredError
>>> terms = (OutputLoss(0, MeanSquaredError(), 1.0, None),)
>>> mstate = init_metrics(terms, ())
>>> float(results(terms, (), mstate)["loss"])
0.0
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lamina.losses.reduction import batch_loss, mask_metric_weight
from lamina.training.output_weights import for_output
from lamina.training.whole_batch import note, note_metric

#: Key of ``results()`` holding the first batch of the epoch whose update was not finite (or
#: -1); ``NONFINITE_WHAT_KEY`` says what was not finite (see ``NONFINITE_WHAT``).
NONFINITE_KEY = "_first_nonfinite_batch"
NONFINITE_WHAT_KEY = "_nonfinite_what"
#: Codes of ``NONFINITE_WHAT_KEY``: the first non-finite quantity found in that step.
NONFINITE_WHAT = {
    1: "the loss",
    2: "the gradients",
    3: "the updated weights",
    4: "the updated weights",
}
#: The code of non-finite new weights from a finite loss and gradients (an overflow, a
#: constraint dividing by zero): found after the in-place update, which is not undone.
NONFINITE_APPLIED = 4


class OutputLoss(NamedTuple):
    """One compiled loss term: output ``index``'s loss, its ``loss_weights`` factor, and the
    name of its log (``<output>_loss``; ``None`` for a single output)."""

    index: int
    loss: Any
    weight: float
    log_name: str | None


class OutputMetric(NamedTuple):
    """One compiled metric: the output it reads, the metric, whether it takes the sample
    weights (``weighted_metrics``), and its log name."""

    index: int
    metric: Any
    weighted: bool
    log_name: str


def _n_parts(losses) -> int:
    """How many per-output losses are logged: Keras logs them only for several outputs."""
    return len(losses) if len(losses) > 1 else 0


def data_losses(losses, ys, y_pred, sw, real, out_masks=None, training=True):
    """Each output's loss (unweighted, as Keras logs them) and their weighted total.

    Args:
        losses: the tuple of :class:`OutputLoss`.
        ys: the targets, one array per output.
        y_pred: the model's outputs (a pytree whose leaves are the outputs in order).
        sw: the sample weights, padding rows already zero: one array for every output, or a
            tuple with one per output (:mod:`lamina.training.output_weights`).
        real: the (batch,) mask of real rows.
        out_masks: the Keras masks of the outputs (``training.output_masks``), or None.
        training: whether the loss is computed in a train step.

    Returns:
        ``(total, values)``: the float32 weighted total and a tuple of each term's loss.
    """
    preds = jax.tree_util.tree_leaves(y_pred)
    out_masks = out_masks or (None,) * len(preds)
    values = []
    total = jnp.zeros((), jnp.float32)
    for term in losses:
        # Keras's reduction of this loss on the batch's real rows (losses.reduction).
        note(term.loss, ys[term.index], preds[term.index])  # whole-batch user losses
        value = batch_loss(
            term.loss,
            ys[term.index],
            preds[term.index],
            for_output(sw, term.index),
            real,
            out_masks[term.index],
            training=training,
        )
        values.append(value)
        total = total + term.weight * value
    return total, tuple(values)


def update_metrics(
    losses, metrics, mstate, total_loss, parts, bmask, ys, y_pred, swb, out_masks=None
):
    """The metric state (without its trailing status entry) after one batch.

    Keras updates ``metrics`` unweighted and ``weighted_metrics`` with the sample weights; the
    padding mask applies to both.  Each output's loss is a batch-size-weighted mean.

    Args:
        losses: the tuple of :class:`OutputLoss`.
        metrics: the tuple of :class:`OutputMetric`.
        mstate: the metric state without its status entry (``mstate[:-1]``).
        total_loss: the batch's total loss.
        parts: each output's loss (from :func:`data_losses`).
        bmask: the (batch,) mask of real rows.
        ys: the targets, one array per output.
        y_pred: the model's outputs.
        swb: the sample weights, padding rows already zero (as ``sw`` of :func:`data_losses`).
        out_masks: the Keras masks of the outputs, or None (not applied to the metrics).

    Returns:
        The new metric state, a tuple without the status entry.
    """
    n_real = jnp.sum(bmask)
    preds = jax.tree_util.tree_leaves(y_pred)
    loss_total, loss_count = mstate[0]
    new = [(loss_total + total_loss * n_real, loss_count + n_real)]
    n_parts = len(parts) if len(losses) > 1 else 0
    for (t, c), value in zip(mstate[1 : 1 + n_parts], parts):
        new.append((t + value * n_real, c + n_real))
    for m, s in zip(metrics, mstate[1 + n_parts :]):
        # Partial batches at their real size for a metric that may see the padding rows.
        note_metric(m.metric, ys[m.index], preds[m.index])
        w = for_output(swb, m.index) if m.weighted else bmask
        if out_masks is not None and out_masks[m.index] is not None:
            w = mask_metric_weight(m.metric, w, out_masks[m.index])
        new.append(m.metric.update(s, ys[m.index], preds[m.index], w))
    return tuple(new)


def init_metrics(losses, metrics):
    """The initial metric state: (loss total, count), each output's loss (several outputs),
    each metric's state, and (steps run, first non-finite step, what was non-finite)."""
    zero = jnp.zeros((), jnp.float32)
    status = (jnp.zeros((), jnp.int32), jnp.full((), -1, jnp.int32), jnp.zeros((), jnp.int32))
    parts = [(zero, zero)] * _n_parts(losses)
    return ((zero, zero), *parts, *(m.metric.init() for m in metrics), status)


def results(losses, metrics, mstate):
    """The logs in Keras 3's order (``loss``, each output's loss, the metrics), plus
    ``NONFINITE_KEY`` and ``NONFINITE_WHAT_KEY``."""
    total, cnt = mstate[0]
    out = {"loss": total / jnp.maximum(cnt, 1e-12)}
    n_parts = _n_parts(losses)
    for term, (t, c) in zip(losses[:n_parts], mstate[1 : 1 + n_parts]):
        out[term.log_name] = t / jnp.maximum(c, 1e-12)
    for m, s in zip(metrics, mstate[1 + n_parts : -1]):
        out[m.log_name] = m.metric.result(s)
    out[NONFINITE_KEY] = mstate[-1][1]
    out[NONFINITE_WHAT_KEY] = mstate[-1][2]
    return out


def all_finite(tree):
    """Whether every entry of ``tree``'s arrays is finite, as a traced bool scalar."""
    # One sum per array: NaN and inf propagate through sums, so a finite total means
    # finite entries (a total that overflows float32 is flagged too, which is as wrong).
    total = jnp.zeros((), jnp.float32)
    for leaf in jax.tree_util.tree_leaves(tree):
        total = total + jnp.sum(leaf.astype(jnp.float32))
    return jnp.isfinite(total)
