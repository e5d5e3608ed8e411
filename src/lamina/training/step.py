"""The pure training program: loss, one step, and chunks of steps under ``lax.scan``.

Everything here is a pure function of pytrees, built from a
:class:`~lamina.training.network.Network` (the model's layers and forward function) and the
compile settings.  ``Program`` bundles the jitted functions built once per ``compile()``:

* ``train_epoch(ts, rng, data, n, batch_size, shuffle) -> (ts, rng, logs)`` runs a whole epoch;
* ``train_chunk(ts, mstate, data, idx, mask) -> (ts, mstate)`` runs ``idx.shape[0]`` steps
  (epochs too long for one call, so that progress and callbacks stay live);
* ``train_batches(ts, mstate, batches, mask) -> (ts, mstate)``, the same over pre-batched
  (streamed) data;
* ``eval_chunk(ts, mstate, batches, mask) -> mstate`` over pre-batched (steps, batch, ...) data
  (a ``Carried(mstate, state)`` when the network writes its state in inference);
* ``predict_chunk(ts, xb) -> y`` over pre-batched inputs (``carry=True``: ``(y, state)``);
* ``results(mstate) -> dict`` of metric values.

Data stays on the device for the whole fit: ``data = (x, ys, sample_weight)`` holds every row
(``x`` an array or a pytree of arrays, ``ys`` a tuple with one target array per output),
``idx`` (steps, batch) holds the rows of each batch (shuffled on the device) and ``mask`` zeroes
the padding of the last partial batch, so every step has one shape and one compilation, and the
masked loss equals Keras's loss on the short batch exactly.  (A user loss that reduces the
whole batch itself runs its partial batches at their real shape: ``training.whole_batch``.)

The loss terms, the metric state and the logs live in :mod:`lamina.training.step_losses`,
one batch's training and evaluation steps in :mod:`lamina.training.batch_steps`, the
``Program`` bundle in :mod:`lamina.training.program`, and the ``jit`` variants the functions
are compiled with in :mod:`lamina.training.program_jit`; their names stay importable from here.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from lamina.distribution.sharding import ShardedRows
from lamina.layers.conv_ops import xla_gradients
from lamina.training import inference_state as _inference_state
from lamina.training import layer_metric_state as _held
from lamina.training import output_weights as _weights
from lamina.training import step_losses as _step_losses
from lamina.training.batch_steps import as_outputs, held_layout, make_eval_step, make_train_step
from lamina.training.compilation import enable_persistent_cache, train_program_options
from lamina.training.metric_writeback import METRIC_STATES_KEY, final_states
from lamina.training.network import Network, stack_forward
from lamina.training.program import Program
from lamina.training.program import with_fresh_key as with_fresh_key  # the host loops call it
from lamina.training.program_jit import (
    bounded_jit,
    committed_outputs,
    eager,
    jit_deciding_options,
)
from lamina.training.shuffle import epoch_index
from lamina.training.step_losses import (  # noqa: F401 - re-exported: imported from here
    NONFINITE_APPLIED,
    NONFINITE_KEY,
    NONFINITE_WHAT,
    NONFINITE_WHAT_KEY,
    OutputLoss,
    OutputMetric,
    all_finite,
)
from lamina.training.whole_batch import exact_partial, may_need_partial_for


def _no_training(forward):
    """``forward`` called as Keras 3's trainer calls a model whose ``call`` takes no
    ``training`` argument: the mode is not passed (its layers use their defaults)."""

    def run(params, state, x, *, training, **kwargs):
        del training
        return forward(params, state, x, training=None, **kwargs)

    return run


def forward(layers, params, state, x, *, training: bool, key=None, batch_mask=None):
    """Runs ``layers`` in order; returns ``(outputs, new_state, activity_loss)``."""
    return stack_forward(
        layers, params, state, x, training=training, key=key, batch_mask=batch_mask
    )


def _one_step(tree):
    """The shapes of one step of pre-batched ``(steps, batch, ...)`` leaves."""
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), tree)


#: Most compiled shapes kept per evaluate/predict function: row counts and batch sizes are
#: bucketed to powers of two, so this is only reached by pathological use; beyond it the least
#: recently used shape is dropped (bounded memory) and compiles again if it comes back.
MAX_CACHED_SHAPES = 32


def _bounded_jit(fn, **kwargs):
    """:func:`~lamina.training.program_jit.bounded_jit` bounded by ``MAX_CACHED_SHAPES``,
    read from this module at each new shape (so setting it here takes effect)."""
    return bounded_jit(fn, max_shapes=lambda: MAX_CACHED_SHAPES, **kwargs)


# The names these wrappers had when they lived here (``custom_step`` imports ``_eager``).
_committed_outputs = committed_outputs
_eager = eager


def _loop(body, carry, xs):
    """``lax.scan(body, carry, xs)``'s final carry; one step is traced without a loop.

    XLA's CPU backend runs convolutions inside a ``while`` loop slower than in straight code
    (a Conv2D(64, 3, 'same') training step on 32x32x32, batch 32: 25 ms in the epoch's scan,
    40 ms as a scan of length one, 15.7 ms as straight code with XLA's own gradient), so a
    one-step program, the per-step strategy's, has no loop and takes XLA's convolution
    gradients (:func:`lamina.layers.conv_ops.xla_gradients`), the fastest there.
    """
    if jax.tree_util.tree_leaves(xs)[0].shape[0] != 1:
        return jax.lax.scan(body, carry, xs)[0]
    with xla_gradients():
        return body(carry, jax.tree_util.tree_map(lambda a: a[0], xs))[0]


def build_program(
    network,
    losses,
    metrics,
    tx,
    trainable,
    *,
    loss_scale=1.0,
    trace_counter=None,
    run_eagerly=False,
    compiler_options=None,
    layer_metrics=(),
) -> Program:
    """Builds the jitted functions of one compiled model.

    Args:
        network: a :class:`~lamina.training.network.Network` (or, for a layer stack, the
            tuple of its layers).
        losses: a tuple of :class:`OutputLoss` (one per output with a loss), or one
            ``lamina.losses.Loss`` for a single output; ``None`` for a predict-only program.
        metrics: a tuple of :class:`OutputMetric`, or a list of metric objects of the single
            output (those marked ``_lamina_weighted`` see the sample weights).
        tx: the ``optax.GradientTransformation`` of the optimizer.
        trainable: per layer, whether its params are trained.
        loss_scale: the ``loss_weights`` of a single output given as one loss.
        trace_counter: optional dict counting traces per function (tests use it).
        run_eagerly: run every function without ``jit`` (debugging).
        compiler_options: XLA options for every jitted function
            (:func:`lamina.training.compilation.program_compiler_options`).
        layer_metrics: the metrics the model's layers hold and update in ``call``
            (:mod:`lamina.training.layer_metric_state`): their states are carried after the
            compiled metrics' and logged under their names.
    """
    enable_persistent_cache()
    if not isinstance(network, Network):
        from lamina.training.network import stack_network

        network = stack_network(network)
    if losses is not None and not isinstance(losses, tuple | list):
        losses = (OutputLoss(0, losses, float(loss_scale), None),)
    losses = tuple(losses or ())
    metrics = tuple(
        m
        if isinstance(m, OutputMetric)
        else OutputMetric(0, m, bool(getattr(m, "_lamina_weighted", False)), m.name)
        for m in metrics
    )
    trainable = tuple(trainable)
    held = tuple(layer_metrics)
    uses_rng = network.needs_key
    net_forward = network.forward if network.passes_training else _no_training(network.forward)
    split_m = held_layout(held)[0]
    carries_state = any(getattr(layer, "stateful", False) for layer in network.layers)
    inference_rng = network.inference_rng
    may_write = _inference_state.may_write_state(network.layers)
    writes_state = _inference_state.writes_state_probe(net_forward, may_write)
    if run_eagerly:
        jit = bounded = eager
    elif compiler_options:
        jit = functools.partial(jax.jit, compiler_options=compiler_options)
        bounded = functools.partial(_bounded_jit, compiler_options=compiler_options)
    else:
        jit, bounded = jax.jit, _bounded_jit

    hints: dict = {}

    def train_jit(fn, batched=False, on_disk=False, **kwargs):
        """The training programs' ``jit``: their options may depend on the model's kind."""
        if run_eagerly:
            return jit(fn, **kwargs)
        if compiler_options:
            return jit_deciding_options(
                fn, lambda args, _: compiler_options, on_disk=on_disk, **kwargs
            )
        return jit_deciding_options(
            fn,
            lambda args, _: train_program_options(network, args, batched, hints),
            on_disk=on_disk,
            **kwargs,
        )

    def count(name):
        if trace_counter is not None:
            trace_counter[name] = trace_counter.get(name, 0) + 1

    def data_losses(ys, y_pred, sw, real, out_masks=None, training=True):
        return _step_losses.data_losses(losses, ys, y_pred, sw, real, out_masks, training)

    def take(tree, bidx):
        return jax.tree_util.tree_map(lambda a: jnp.take(a, bidx, axis=0), tree)

    def batch(data, bidx, bmask):
        if isinstance(data, ShardedRows):  # data parallel: rows split over devices
            x, ys, sw = data.gather(bidx, bmask)
            return x, as_outputs(ys), sw
        x, ys, sw = data
        return take(x, bidx), as_outputs(take(ys, bidx)), _weights.masked(take(sw, bidx), bmask)

    def update_metrics(mstate, total_loss, parts, bmask, ys, y_pred, swb, out_masks=None):
        return _step_losses.update_metrics(
            losses, metrics, mstate, total_loss, parts, bmask, ys, y_pred, swb, out_masks
        )

    train_step = make_train_step(
        network, net_forward, tx, trainable, held, data_losses, update_metrics,
        uses_rng=uses_rng, may_write=may_write,
    )  # fmt: skip

    def train_chunk(ts, mstate, data, idx, mask, guard=False, partial=()):
        """Runs ``idx.shape[0]`` steps.  With ``guard``, all-padding steps (the tail of the
        last chunk of an epoch) are skipped, so they do not move the optimizer.  ``partial``:
        the row counts of partial batches, run at their real shape by a whole-batch loss."""
        step = exact_partial(train_step, partial)

        def body(carry, inp):
            bidx, bmask = inp
            xb, ys, swb = batch(data, bidx, bmask)
            if guard:
                return jax.lax.cond(
                    jnp.any(bmask > 0),
                    lambda c: step(c, xb, ys, swb, bmask),
                    lambda c: c,
                    carry,
                ), None
            return step(carry, xb, ys, swb, bmask), None

        return _loop(body, (ts, mstate), (idx, mask))

    def train_epoch(ts, rng, data, n, batch_size, shuffle):
        """A whole epoch as one program: shuffle on the device, fresh metrics, every step, and
        the epoch's logs.  One dispatch and one host read per epoch (the small-data case)."""
        count("train")
        steps = -(-n // batch_size)
        # ``shuffle`` (0 none, 1 rows, 2 batch order) is traced, not static: fits with and
        # without shuffling share one program.
        rng, idx, mask = epoch_index(rng, n, batch_size, steps, shuffle)
        partial = (n % batch_size,) if n % batch_size else ()
        ts, mstate = train_chunk(ts, init_metrics(), data, idx, mask, partial=partial)
        return ts, rng, results(mstate)

    def train_batches(ts, mstate, batches, mask, partial=()):
        """Runs one step per batch of pre-batched data (streamed input): ``batches`` is
        (x, ys, sample_weight), each leaf (steps, batch, ...); ``mask`` (steps, batch) marks
        real rows.  All-padding steps are skipped; ``partial`` as in ``train_chunk``."""
        count("train_batches")
        step = exact_partial(train_step, partial)

        def body(carry, inp):
            (xb, ys, swb), bmask = inp
            return jax.lax.cond(
                jnp.any(bmask > 0),
                lambda c: step(c, xb, as_outputs(ys), _weights.masked(swb, bmask), bmask),
                lambda c: c,
                carry,
            ), None

        return _loop(body, (ts, mstate), (tuple(batches), mask))

    eval_step = make_eval_step(
        network, net_forward, held, data_losses, update_metrics, inference_rng=inference_rng
    )

    def eval_chunk(ts, mstate, batches, mask, partial=()):
        """``batches``: (x, ys, sample_weight), leaves (steps, batch, ...); mask (steps, batch);
        ``partial`` as in ``train_chunk``.  A network that writes its state in inference (a
        stateful RNN, a user layer assigning in ``call``) gets an ``inference_state.Carried``
        back."""
        count("eval")
        if carries_state or writes_state(ts, _one_step(batches[0])):
            return _inference_state.eval_carrying(
                eval_step, ts, mstate, batches, mask, partial, inference_rng=inference_rng
            )

        def body(c, inp):
            (xb, ys, swb), bmask, i = inp
            at = ts._replace(rng=jax.random.fold_in(ts.rng, i)) if inference_rng else ts
            step = exact_partial(
                lambda c, xb, ys, swb, bmask: eval_step(c, ((xb, ys, swb), bmask), at)[0],
                partial,
            )
            return step(c, xb, ys, swb, bmask), None

        steps = jnp.arange(mask.shape[0], dtype=jnp.uint32)
        mstate, _ = jax.lax.scan(body, mstate, (tuple(batches), mask, steps))
        return mstate

    def predict_chunk(ts, xb, carry=False):
        """``xb``: (steps, batch, ...) inputs (or a pytree of them); returns the outputs with
        (steps * batch, ...) leaves; with ``carry``, ``(outputs, state)``: the batches run in
        order, each from the state the one before wrote (``Program.writes_state``)."""
        count("predict")
        if carry:
            return _inference_state.predict_carrying(net_forward, inference_rng, ts, xb)
        first = jax.tree_util.tree_leaves(xb)[0]
        key = ts.rng if inference_rng else None  # the host gives each call a fresh one
        if first.shape[0] == 1:  # one tile: a plain forward pass, no loop
            x0 = jax.tree_util.tree_map(lambda a: a[0], xb)
            y, _, _ = net_forward(ts.params, ts.state, x0, training=False, key=key)
            return y

        def body(i, x):
            k = None if key is None else jax.random.fold_in(key, i)
            y, _, _ = net_forward(ts.params, ts.state, x, training=False, key=k)
            return i + 1, y

        _, ys = jax.lax.scan(body, jnp.zeros((), jnp.uint32), xb)
        return jax.tree_util.tree_map(lambda a: jnp.reshape(a, (-1, *a.shape[2:])), ys)

    # Named local functions: ``jit`` names each program after the function it compiles.
    def init_metrics():
        base = _step_losses.init_metrics(losses, metrics)
        return base if not held else (*base[:-1], _held.init_states(held), base[-1])

    def results(mstate):
        base, held_s = split_m(mstate)
        out = _step_losses.results(losses, metrics, base)
        # The metric objects get these states back (``metric_writeback``).
        states = final_states(base[0], base[len(base) - 1 - len(metrics) : -1], held_s)
        if not held:
            return {**out, METRIC_STATES_KEY: states}
        status = {k: out.pop(k) for k in (NONFINITE_KEY, NONFINITE_WHAT_KEY)}
        return {**out, **_held.results(held, held_s), **status, METRIC_STATES_KEY: states}

    return Program(
        # One call an epoch: its executable may come from disk (see program_jit).
        train_epoch=train_jit(
            train_epoch, on_disk=True, donate_argnums=(0,), static_argnames=("n", "batch_size")
        ),
        train_chunk=train_jit(
            lambda *a, **k: (count("train_chunk"), train_chunk(*a, **k))[1],
            donate_argnums=(0, 1),
            static_argnames=("guard", "partial"),
        ),
        train_batches=train_jit(
            train_batches, batched=True, donate_argnums=(0, 1), static_argnames=("partial",)
        ),
        eval_chunk=bounded(eval_chunk, donate_argnums=(1,), static_argnames=("partial",)),
        predict_chunk=bounded(predict_chunk, static_argnames=("carry",)),
        results=jit(results),
        init_metrics=committed_outputs(jit(init_metrics)),
        needs_partial_rows=(
            may_need_partial_for(losses, metrics, network.layers)
            or bool(held)
            or network.runs_user_code
            or may_write
        ),
        hints=hints,
        carries_state=carries_state,
        inference_rng=inference_rng,
        writes_state=writes_state,
        user_code=may_write or network.runs_user_code or bool(held),
    )
