"""The pure training program: forward pass, loss, one step, and chunks of steps under ``lax.scan``.

Everything here is a pure function of pytrees.  ``Program`` bundles the jitted functions built
once per ``compile()``:

* ``train_epoch(ts, rng, data, n, batch_size, shuffle) -> (ts, rng, logs)`` runs a whole epoch;
* ``train_chunk(ts, mstate, data, idx, mask) -> (ts, mstate)`` runs ``idx.shape[0]`` steps
  (epochs too long for one call, so that progress and callbacks stay live);
* ``train_batches(ts, mstate, batches, mask) -> (ts, mstate)``, the same over pre-batched
  (streamed) data;
* ``eval_chunk(ts, mstate, batches, mask) -> mstate`` over pre-batched (steps, batch, ...) data;
* ``predict_chunk(ts, xb) -> y`` over pre-batched inputs;
* ``results(mstate) -> dict`` of metric values.

Data stays on the device for the whole fit: ``data = (x, y, sample_weight)`` holds every row,
``idx`` (steps, batch) holds the rows of each batch (shuffled on the device) and ``mask`` zeroes
the padding of the last partial batch, so every step has one shape and one compilation, and the
masked loss equals Keras's loss on the short batch exactly.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lamina.distribution.sharding import ShardedRows
from lamina.training.compilation import enable_persistent_cache
from lamina.training.shuffle import epoch_order
from lamina.training.state import TrainState, merge_params, split_trainable


def forward(layers, params, state, x, *, training: bool, key=None, batch_mask=None):
    """Runs ``layers`` in order; returns ``(outputs, new_state, activity_loss)``."""
    keys = [None] * len(layers)
    if training and key is not None:
        n_rng = sum(1 for layer in layers if layer.uses_rng)
        if n_rng:
            split = iter(jax.random.split(key, n_rng))
            keys = [next(split) if layer.uses_rng else None for layer in layers]
    aux = jnp.zeros((), jnp.float32)
    mask = None
    new_state = []
    for layer, p, s, k in zip(layers, params, state, keys):
        kwargs: dict[str, Any] = {}
        if layer.uses_mask:
            kwargs["mask"] = mask
        if getattr(layer, "uses_batch_mask", False):
            kwargs["batch_mask"] = batch_mask
        y, s = layer.apply(p, s, x, training=training, key=k, **kwargs)
        mask = layer.compute_mask(x, mask)
        if layer.activity_regularizer is not None:
            # Keras 3 divides the penalty by the (real) batch size.
            if batch_mask is None:
                aux = aux + layer.activity_regularizer(y) / y.shape[0]
            else:
                penalty = layer.activity_regularizer(y * _expand(batch_mask, y.ndim))
                aux = aux + penalty / jnp.maximum(jnp.sum(batch_mask), 1.0)
        new_state.append(s)
        x = y
    return x, tuple(new_state), aux


def regularization(layers, params):
    """The weight regularizers' total penalty (Keras adds it to the loss)."""
    total = jnp.zeros((), jnp.float32)
    for layer, p in zip(layers, params):
        if p:
            total = total + layer.regularization_loss(p)
    return total


def _expand(v, ndim):
    return jnp.reshape(v, v.shape + (1,) * (ndim - v.ndim))


#: Key of ``results()`` holding the first batch of the epoch whose loss was NaN/inf (or -1).
NONFINITE_KEY = "_first_nonfinite_batch"


class Program(NamedTuple):
    train_epoch: Any
    train_chunk: Any
    train_batches: Any
    eval_chunk: Any
    predict_chunk: Any
    results: Any
    init_metrics: Any


def build_program(
    layers, loss, metrics, tx, trainable, *, loss_scale=1.0, trace_counter=None
) -> Program:
    """Builds the jitted functions of one compiled model.

    Args:
        layers: the model's layers (specs; closed over, never traced).
        loss: a ``lamina.losses.Loss``.
        metrics: list of metric objects (pure ``init/update/result``); those marked
            ``_lamina_weighted`` (from ``weighted_metrics``) see the sample weights.
        tx: the ``optax.GradientTransformation`` of the optimizer.
        trainable: per layer, whether its params are trained.
        loss_scale: the compile-time ``loss_weights`` of the single output.
        trace_counter: optional dict counting traces per function (tests use it).
    """
    enable_persistent_cache()
    layers = tuple(layers)
    trainable = tuple(trainable)
    weighted = tuple(bool(getattr(m, "_lamina_weighted", False)) for m in metrics)
    uses_rng = any(layer.uses_rng for layer in layers)

    def count(name):
        if trace_counter is not None:
            trace_counter[name] = trace_counter.get(name, 0) + 1

    def data_loss(y_true, y_pred, sw, real):
        per = loss.per_sample(y_true, y_pred)
        w = _expand(sw, per.ndim)
        n_elements = jnp.sum(real) * (math.prod(per.shape[1:]) if per.ndim > 1 else 1)
        return loss_scale * jnp.sum(per * w) / jnp.maximum(n_elements, 1.0)

    def batch(data, bidx, bmask):
        if isinstance(data, ShardedRows):  # data parallel: rows split over devices
            return data.gather(bidx, bmask)
        x, y, sw = data
        xb = jnp.take(x, bidx, axis=0)
        yb = jnp.take(y, bidx, axis=0)
        swb = jnp.take(sw, bidx, axis=0) * bmask
        return xb, yb, swb

    def update_metrics(mstate, total_loss, bmask, yb, y_pred, swb):
        # Keras updates ``metrics`` unweighted and ``weighted_metrics`` with the sample weights;
        # the padding mask applies to both.
        n_real = jnp.sum(bmask)
        loss_total, loss_count = mstate[0]
        new = [(loss_total + total_loss * n_real, loss_count + n_real)]
        for m, w, s in zip(metrics, weighted, mstate[1:]):
            new.append(m.update(s, yb, y_pred, swb if w else bmask))
        return tuple(new)

    def train_step(carry, xb, yb, swb, bmask):
        """One optimizer step on one batch; ``swb`` already carries the padding mask."""
        ts, mstate = carry
        if uses_rng:
            rng, key = jax.random.split(ts.rng)
        else:  # nothing random in the model: keep the key, skip the split
            rng, key = ts.rng, None
        tp, frozen = split_trainable(ts.params, trainable)

        def loss_fn(tp):
            params = merge_params(tp, frozen, trainable)
            y_pred, new_state, aux = forward(
                layers, params, ts.state, xb, training=True, key=key, batch_mask=bmask
            )
            total = data_loss(yb, y_pred, swb, bmask) + regularization(layers, params) + aux
            return total, (y_pred, new_state)

        (total, (y_pred, new_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tp)
        count_, first_bad = mstate[-1]
        # A non-finite loss stops the epoch's updates: that step and every later one keep the
        # weights they found, and ``first_bad`` records the batch for the host to report.
        ok = jnp.isfinite(total) & (first_bad < 0)

        def commit(_):
            updates, opt_state = tx.update(grads, ts.opt_state, tp)
            new_tp = optax.apply_updates(tp, updates)
            new_tp = tuple(
                layer.apply_constraints(p) if t else p
                for layer, p, t in zip(layers, new_tp, trainable)
            )
            params = merge_params(new_tp, frozen, trainable)
            metrics_ = update_metrics(mstate[:-1], total, bmask, yb, y_pred, swb)
            return params, new_state, opt_state, metrics_

        def keep(_):
            return ts.params, ts.state, ts.opt_state, mstate[:-1]

        params, state, opt_state, metrics_ = jax.lax.cond(ok, commit, keep, None)
        first_bad = jnp.where((first_bad < 0) & ~jnp.isfinite(total), count_, first_bad)
        mstate = (*metrics_, (count_ + 1, first_bad))
        ts = TrainState(params=params, state=state, opt_state=opt_state, rng=rng)
        return ts, mstate

    def train_chunk(ts, mstate, data, idx, mask, guard=False):
        """Runs ``idx.shape[0]`` steps.  With ``guard``, all-padding steps (the tail of the
        last chunk of an epoch) are skipped, so they do not move the optimizer."""

        def body(carry, inp):
            bidx, bmask = inp
            xb, yb, swb = batch(data, bidx, bmask)
            if guard:
                return jax.lax.cond(
                    jnp.any(bmask > 0),
                    lambda c: train_step(c, xb, yb, swb, bmask),
                    lambda c: c,
                    carry,
                ), None
            return train_step(carry, xb, yb, swb, bmask), None

        (ts, mstate), _ = jax.lax.scan(body, (ts, mstate), (idx, mask))
        return ts, mstate

    def train_epoch(ts, rng, data, n, batch_size, shuffle):
        """A whole epoch as one program: shuffle on the device, fresh metrics, every step, and
        the epoch's logs.  One dispatch and one host read per epoch (the small-data case)."""
        count("train")
        steps = -(-n // batch_size)
        # ``shuffle`` is traced, not static: fits with and without shuffling share one program.
        rng, order = epoch_order(rng, n, shuffle)
        order = jnp.concatenate([order, jnp.zeros((steps * batch_size - n,), order.dtype)])
        mask = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
        idx = order.astype(jnp.int32).reshape(steps, batch_size)
        ts, mstate = train_chunk(ts, init_metrics(), data, idx, mask.reshape(steps, batch_size))
        return ts, rng, results(mstate)

    def train_batches(ts, mstate, batches, mask):
        """Runs one step per batch of pre-batched data (streamed input): ``batches`` is
        (x, y, sample_weight), each (steps, batch, ...); ``mask`` (steps, batch) marks real
        rows.  All-padding steps are skipped."""
        count("train_batches")

        def body(carry, inp):
            xb, yb, swb, bmask = inp
            return jax.lax.cond(
                jnp.any(bmask > 0),
                lambda c: train_step(c, xb, yb, swb * bmask, bmask),
                lambda c: c,
                carry,
            ), None

        (ts, mstate), _ = jax.lax.scan(body, (ts, mstate), (*batches, mask))
        return ts, mstate

    def eval_step(mstate, inp, ts):
        xb, yb, swb, bmask = inp
        swb = swb * bmask
        y_pred, _, aux = forward(layers, ts.params, ts.state, xb, training=False, batch_mask=bmask)
        total = data_loss(yb, y_pred, swb, bmask) + regularization(layers, ts.params) + aux
        return (*update_metrics(mstate[:-1], total, bmask, yb, y_pred, swb), mstate[-1]), None

    def eval_chunk(ts, mstate, batches, mask):
        """``batches``: (x, y, sample_weight), each (steps, batch, ...); mask (steps, batch)."""
        count("eval")
        mstate, _ = jax.lax.scan(lambda c, i: eval_step(c, i, ts), mstate, (*batches, mask))
        return mstate

    def predict_chunk(ts, xb):
        """``xb``: (steps, batch, ...) inputs; returns (steps * batch, ...) outputs."""
        count("predict")
        if xb.shape[0] == 1:  # one tile: a plain forward pass, no loop
            y, _, _ = forward(layers, ts.params, ts.state, xb[0], training=False)
            return y

        def body(_, x):
            y, _, _ = forward(layers, ts.params, ts.state, x, training=False)
            return None, y

        _, ys = jax.lax.scan(body, None, xb)
        return jnp.reshape(ys, (-1, *ys.shape[2:]))

    def init_metrics():
        """(loss total, count), each metric's state, and (steps run, first non-finite step)."""
        zero = jnp.zeros((), jnp.float32)
        status = (jnp.zeros((), jnp.int32), jnp.full((), -1, jnp.int32))
        return ((zero, zero), *(m.init() for m in metrics), status)

    def results(mstate):
        """The logs, plus ``NONFINITE_KEY``: the first batch whose loss was not finite, or -1."""
        total, cnt = mstate[0]
        out = {"loss": total / jnp.maximum(cnt, 1e-12)}
        for m, s in zip(metrics, mstate[1:-1]):
            out[m.name] = m.result(s)
        out[NONFINITE_KEY] = mstate[-1][1]
        return out

    return Program(
        train_epoch=jax.jit(train_epoch, donate_argnums=(0,), static_argnames=("n", "batch_size")),
        train_chunk=jax.jit(
            lambda *a, **k: (count("train_chunk"), train_chunk(*a, **k))[1],
            donate_argnums=(0, 1),
            static_argnames=("guard",),
        ),
        train_batches=jax.jit(train_batches, donate_argnums=(0, 1)),
        eval_chunk=jax.jit(eval_chunk, donate_argnums=(1,)),
        predict_chunk=jax.jit(predict_chunk),
        results=jax.jit(results),
        init_metrics=jax.jit(init_metrics),
    )
