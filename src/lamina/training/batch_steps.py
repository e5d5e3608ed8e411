"""One batch's step of a compiled program: the training step (gradients, the NaN guard, the
optimizer update) and the evaluation step (losses and metrics in inference).

:func:`~lamina.training.step.build_program` makes them once per program with
:func:`make_train_step` and :func:`make_eval_step`, and runs them inside its chunks of steps
(``lax.scan``).  The metric state they carry is laid out by
:mod:`lamina.training.step_losses`, with the layer-held metrics' states as one entry more
(:func:`held_layout`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from lamina.layers.conv_ops import training_convs
from lamina.optimizers.loss_scale import current_loss_scale
from lamina.training import inference_state as _inference_state
from lamina.training import layer_metric_state as _held
from lamina.training import output_weights as _weights
from lamina.training.autocast import cast_outputs_float32
from lamina.training.output_masks import OutputMasks
from lamina.training.state import TrainState, merge_params, split_trainable
from lamina.training.step_losses import NONFINITE_APPLIED, all_finite
from lamina.training.whole_batch import mark as _whole_batch_mark


def as_outputs(ys):
    """Targets as a tuple with one array per output (a single target array is one output)."""
    return tuple(ys) if isinstance(ys, tuple | list) else (ys,)


def held_layout(held):
    """``(split, join)`` of a metric state carrying the layer-held metrics' states
    (:mod:`lamina.training.layer_metric_state`) as one entry before the status entry:
    ``split(mstate) -> (mstate without it, their states)``, ``join(new, states)`` appends
    them to a new state without its status entry.  Without such metrics the state is as
    :mod:`lamina.training.step_losses` lays it out."""
    if not held:
        return (lambda mstate: (mstate, ())), (lambda new, states: tuple(new))
    return (
        lambda mstate: ((*mstate[:-2], mstate[-1]), mstate[-2]),
        lambda new, states: (*new, tuple(states)),
    )


def make_train_step(
    network, net_forward, tx, trainable, held, data_losses, update_metrics, *, uses_rng, may_write
):
    """``train_step(carry, xb, ys, swb, bmask) -> (ts, mstate)``, one optimizer step on one
    batch (``carry`` is ``(ts, mstate)``).

    Args:
        network: the :class:`~lamina.training.network.Network` (its layers, regularization
            and constraints).
        net_forward: its forward function, ``(params, state, x, *, training, key,
            batch_mask) -> (outputs, new_state, activity_loss)``.
        tx: the optimizer's ``optax.GradientTransformation``.
        trainable: per layer, whether its params are trained.
        held: the metrics the layers hold (:mod:`lamina.training.layer_metric_state`).
        data_losses: ``(ys, y_pred, swb, bmask, out_masks) -> (loss, parts)``.
        update_metrics: ``(mstate, total, parts, bmask, ys, y_pred, swb) -> mstate``.
        uses_rng: whether the forward pass draws random numbers (the key is split per step).
        may_write: whether user code may write the layers' state in ``call``.
    """
    split_m, join_m = held_layout(held)

    def train_step(carry, xb, ys, swb, bmask):
        """One optimizer step on one batch; ``swb`` already carries the padding mask."""
        ts, mstate = carry
        base, held_s = split_m(mstate)
        if uses_rng:
            rng, key = jax.random.split(ts.rng)
        else:  # nothing random in the model: keep the key, skip the split
            rng, key = ts.rng, None
        tp, frozen = split_trainable(ts.params, trainable)
        scale = current_loss_scale(ts.opt_state)  # LossScaleOptimizer (mixed_float16); else None

        def loss_fn(tp):
            params = merge_params(tp, frozen, trainable)
            with OutputMasks() as collected, training_convs(), _held.bound(held, held_s) as got:
                y_pred, new_state, aux = net_forward(
                    params, ts.state, xb, training=True, key=key, batch_mask=bmask
                )
                new_held = _held.keep_if_empty(got(), held_s, bmask)
            if may_write and _inference_state.written_by_user_code(
                network.layers, ts.state, new_state
            ):
                _whole_batch_mark()  # a user layer's statistic sees a short batch's real rows
            out_masks = collected.masks_for(y_pred)
            y_pred = cast_outputs_float32(y_pred)  # losses and metrics run in float32
            with collected.live():  # a Keras 2 loss may read graph tensors (a VAE's z_mean)
                data, parts = data_losses(ys, y_pred, swb, bmask, out_masks)
            total = data + network.regularization(params) + aux
            scaled = total if scale is None else total * scale
            return scaled, (total, y_pred, new_state, parts, out_masks, new_held)

        (_, (total, y_pred, new_state, parts, out_masks, new_held)), grads = jax.value_and_grad(
            loss_fn, has_aux=True
        )(tp)
        # The NaN guard decides before the update, from what the update reads: the loss, the
        # gradients and the layers' new state.  The update then runs inside the commit branch,
        # so XLA writes the new weights and optimizer slots in place.  Deciding from the new
        # weights instead made every step write them to temporaries and copy them into the
        # loop (three copies of a 20000x128 embedding table and its Adam slots per step:
        # an epoch 3-5x slower than Keras's).  A bad step, and every later one of the
        # epoch, keeps the last finite state; ``first_bad``/``what`` go to the host.
        count_, first_bad, what = base[-1]
        loss_ok = jnp.isfinite(total)
        # A LossScaleOptimizer skips a step with non-finite gradients itself (and lowers its
        # scale): there they are expected, not an error.
        grads_ok = all_finite(grads) if scale is None else jnp.asarray(True)
        ok = loss_ok & grads_ok & all_finite(new_state) & (first_bad < 0)
        # Keras 3's JAX trainer drops y_pred's mask on its way out of the gradient function,
        # so in training the metrics are not masked (evaluate's are); the loss is.
        del out_masks
        new_metrics = join_m(
            update_metrics(base[:-1], total, parts, bmask, ys, y_pred, swb), new_held
        )

        def commit(_):
            updates, opt_state = tx.update(grads, ts.opt_state, tp)
            new_tp = network.constrain(optax.apply_updates(tp, updates), trainable)
            # Finite inputs can still give non-finite weights (an overflow, a constraint
            # dividing by zero): flagged, and the fit stops, but the update is not undone
            # (undoing it needs the old weights, i.e. the copies this design avoids).
            finite = all_finite(new_tp)
            metrics_ = jax.tree_util.tree_map(
                lambda new, old: jnp.where(finite, new, old), new_metrics, mstate[:-1]
            )
            code = jnp.where(finite, 0, NONFINITE_APPLIED).astype(jnp.int32)
            return merge_params(new_tp, frozen, trainable), new_state, opt_state, metrics_, code

        def keep(_):
            code = jnp.where(~loss_ok, 1, jnp.where(~grads_ok, 2, 3))
            return ts.params, ts.state, ts.opt_state, mstate[:-1], code.astype(jnp.int32)

        # A cond, not a select per array: on CPUs a tiny model's step costs a few
        # microseconds per op, and selecting every weight doubled the epoch time.
        params, state, opt_state, metrics_, code = jax.lax.cond(ok, commit, keep, None)
        newly_bad = (first_bad < 0) & (code > 0)
        first_bad = jnp.where(newly_bad, count_, first_bad)
        what = jnp.where(newly_bad, code, what)
        mstate = (*metrics_, (count_ + 1, first_bad, what))
        ts = TrainState(params=params, state=state, opt_state=opt_state, rng=rng)
        return ts, mstate

    return train_step


def make_eval_step(network, net_forward, held, data_losses, update_metrics, *, inference_rng):
    """``eval_step(mstate, ((xb, ys, swb), bmask), ts) -> (mstate, new_state)``: one batch's
    losses and metrics in inference (``swb`` not yet masked; ``ts.rng`` is read when
    ``inference_rng``, a layer drawing random numbers in inference).  The arguments are
    :func:`make_train_step`'s."""
    split_m, join_m = held_layout(held)

    def eval_step(mstate, inp, ts):
        (xb, ys, swb), bmask = inp
        ys = as_outputs(ys)
        swb = _weights.masked(swb, bmask)  # (batch,) or per timestep; per output or for all
        key = ts.rng if inference_rng else None  # the host gives each call a fresh one
        base, held_s = split_m(mstate)
        with OutputMasks() as collected, _held.bound(held, held_s) as got:
            y_pred, new_state, aux = net_forward(
                ts.params, ts.state, xb, training=False, batch_mask=bmask, key=key
            )
            new_held = _held.keep_if_empty(got(), held_s, bmask)
        out_masks = collected.masks_for(y_pred)
        y_pred = cast_outputs_float32(y_pred)
        with collected.live():  # losses and metrics reading graph tensors, as in train_step
            data, parts = data_losses(ys, y_pred, swb, bmask, out_masks, training=False)
            total = data + network.regularization(ts.params) + aux
            new = update_metrics(base[:-1], total, parts, bmask, ys, y_pred, swb, out_masks)
        return (*join_m(new, new_held), mstate[-1]), new_state

    return eval_step
