"""A hand-written JAX + optax training loop: the speed Lamina's ``fit`` should match.

Data lives on the device for the whole fit.  Each epoch is ONE jitted call: the rows are
permuted on the device, gathered once into ``(steps, batch, ...)`` (the last partial batch is
padded and masked out of the loss, so every step has one shape), and ``lax.scan`` runs the
steps.  The host reads the epoch's mean loss and accuracy back once per epoch (as Keras's
History does).

The optimizer is Adam with Keras's formulas (``epsilon`` added to ``sqrt(v)``, bias correction
folded into the rate), written as an ``optax.GradientTransformation``; ``optax.adam`` would put
``epsilon`` after the bias correction instead (``eps_hat = eps / sqrt(1 - beta_2**t)``), which
changes the numbers slightly and the speed not at all (``--optax-adam`` uses it).

Run ``python benchmarks/reference_scan.py`` to time per-epoch variants of this loop on the tiny
(Pima-shaped) workload: they isolate the per-step costs a library adds (a gather per step, metric
updates, an RNG split per step, donation), see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import math
import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

EPS = 1e-7  # Keras's backend epsilon (loss clipping and Adam).

# ----------------------------------------------------------------------------- model
# A model is a tuple of layer specs: ("dense", units, activation), ("conv2d", filters, kernel,
# activation), ("flatten",), ("lstm", units).

_ACT = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "softmax": lambda z: jax.nn.softmax(z, axis=-1),
    "tanh": jnp.tanh,
    None: lambda z: z,
    "linear": lambda z: z,
}


def _glorot(key, shape, fan_in, fan_out):
    lim = math.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -lim, lim)


def init_params(spec, input_shape, seed=0):
    """Glorot-uniform kernels, zero biases (LSTM: forget-gate bias 1), like Keras's defaults
    (except the LSTM's orthogonal recurrent kernel, here Glorot too: same cost)."""
    key = jax.random.PRNGKey(seed)
    shape = tuple(input_shape)
    params = []
    for layer in spec:
        key, k1, k2 = jax.random.split(key, 3)
        kind = layer[0]
        if kind == "dense":
            units = layer[1]
            params.append(
                {
                    "w": _glorot(k1, (shape[-1], units), shape[-1], units),
                    "b": jnp.zeros((units,), jnp.float32),
                }
            )
            shape = shape[:-1] + (units,)
        elif kind == "conv2d":
            filters, k = layer[1], layer[2]
            cin = shape[-1]
            params.append(
                {
                    "w": _glorot(k1, (k, k, cin, filters), k * k * cin, k * k * filters),
                    "b": jnp.zeros((filters,), jnp.float32),
                }
            )
            shape = (shape[0] - k + 1, shape[1] - k + 1, filters)
        elif kind == "flatten":
            params.append({})
            shape = (math.prod(shape),)
        elif kind == "lstm":
            units = layer[1]
            f = shape[-1]
            b = jnp.zeros((4 * units,), jnp.float32).at[units : 2 * units].set(1.0)
            params.append(
                {
                    "w": _glorot(k1, (f, 4 * units), f, 4 * units),
                    "u": _glorot(k2, (units, 4 * units), units, 4 * units),
                    "b": b,
                }
            )
            shape = (units,)
        else:
            raise ValueError(f"unknown layer {layer!r}")
    return params


def apply(spec, params, x):
    for layer, p in zip(spec, params):
        kind = layer[0]
        if kind == "dense":
            x = _ACT[layer[2]](x @ p["w"] + p["b"])
        elif kind == "conv2d":
            y = jax.lax.conv_general_dilated(
                x, p["w"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            x = _ACT[layer[3]](y + p["b"])
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif kind == "lstm":
            units = layer[1]
            zx = jnp.einsum("btf,fg->btg", x, p["w"]) + p["b"]

            def cell(carry, z, p=p, units=units):
                h, c = carry
                z = z + h @ p["u"]
                i = jax.nn.sigmoid(z[:, :units])
                f = jax.nn.sigmoid(z[:, units : 2 * units])
                g = jnp.tanh(z[:, 2 * units : 3 * units])
                o = jax.nn.sigmoid(z[:, 3 * units :])
                c = f * c + i * g
                h = o * jnp.tanh(c)
                return (h, c), None

            h0 = jnp.zeros((x.shape[0], units), x.dtype)
            (h, _), _ = jax.lax.scan(cell, (h0, h0), jnp.swapaxes(zx, 0, 1))
            x = h
    return x


# ----------------------------------------------------------------------------- loss, metric


def per_sample_loss(name, y_true, y_pred):
    if name == "binary_crossentropy":
        p = jnp.clip(y_pred, EPS, 1.0 - EPS)
        y = y_true.reshape(p.shape)
        return jnp.mean(-(y * jnp.log(p) + (1.0 - y) * jnp.log(1.0 - p)), axis=-1)
    if name == "sparse_categorical_crossentropy":
        p = y_pred / jnp.sum(y_pred, axis=-1, keepdims=True)
        p = jnp.clip(p, EPS, 1.0 - EPS)
        idx = y_true.reshape(-1).astype(jnp.int32)
        return -jnp.log(jnp.take_along_axis(p, idx[:, None], axis=-1)[:, 0])
    raise ValueError(name)


def correct(name, y_true, y_pred):
    if name == "binary_crossentropy":
        return jnp.mean((y_pred > 0.5).astype(jnp.float32) == y_true.reshape(y_pred.shape), axis=-1)
    return (jnp.argmax(y_pred, axis=-1) == y_true.reshape(-1).astype(jnp.int32)).astype(jnp.float32)


# ----------------------------------------------------------------------------- optimizer


class _AdamState(NamedTuple):
    count: Any
    m: Any
    v: Any


def keras_adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=EPS):
    """Adam with Keras 3's formulas, as an optax transformation."""

    def init(params):
        zeros = lambda: jax.tree.map(jnp.zeros_like, params)  # noqa: E731  (distinct buffers)
        return _AdamState(jnp.zeros((), jnp.int32), zeros(), zeros())

    def update(grads, state, params=None):
        t = (state.count + 1).astype(jnp.float32)
        alpha = learning_rate * jnp.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = jax.tree.map(lambda m, g: m + (g - m) * (1 - beta_1), state.m, grads)
        v = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - beta_2), state.v, grads)
        upd = jax.tree.map(lambda m, v: -(m * alpha) / (jnp.sqrt(v) + epsilon), m, v)
        return upd, _AdamState(state.count + 1, m, v)

    return optax.GradientTransformation(init, update)


# ----------------------------------------------------------------------------- the loop


def build_epoch_fn(
    spec,
    loss,
    tx,
    n,
    batch_size,
    *,
    shuffle=True,
    gather="epoch",
    metrics=True,
    step_rng=False,
    donate=True,
):
    """One jitted epoch: ``epoch(carry, x, y, key) -> (carry, (mean_loss, accuracy))``.

    Variants (for profiling what a library adds per step):
        gather: "epoch" gathers the shuffled epoch into (steps, batch, ...) once; "step" does a
            ``jnp.take`` of each batch's rows inside the scan body (as Lamina does).
        metrics: accumulate loss and accuracy sums in the carry.
        step_rng: split a PRNG key in the carry at every step (as a dropout-capable loop does).
        donate: donate the carry (params, optimizer state) to the call.
    """
    steps = math.ceil(n / batch_size)
    total = steps * batch_size

    def loss_fn(params, xb, yb, mb):
        pred = apply(spec, params, xb)
        per = per_sample_loss(loss, yb, pred)
        return jnp.sum(per * mb) / jnp.maximum(jnp.sum(mb), 1.0), pred

    def step(carry, xb, yb, mb):
        params, opt, rng, sums = carry
        if step_rng:
            rng, _ = jax.random.split(rng)
        (lval, pred), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, xb, yb, mb)
        upd, opt = tx.update(grads, opt, params)
        params = optax.apply_updates(params, upd)
        if metrics:
            nb = jnp.sum(mb)
            sums = (
                sums[0] + lval * nb,
                sums[1] + jnp.sum(correct(loss, yb, pred) * mb),
                sums[2] + nb,
            )
        return (params, opt, rng, sums)

    def epoch(carry, x, y, key):
        params, opt, rng = carry
        order = jax.random.permutation(key, n) if shuffle else jnp.arange(n)
        order = jnp.concatenate([order, jnp.zeros((total - n,), order.dtype)]).reshape(
            steps, batch_size
        )
        mask = (jnp.arange(total) < n).astype(jnp.float32).reshape(steps, batch_size)
        zero = jnp.zeros((), jnp.float32)
        init = (params, opt, rng, (zero, zero, zero))
        if gather == "epoch":
            xs = (jnp.take(x, order, axis=0), jnp.take(y, order, axis=0), mask)
            body = lambda c, inp: (step(c, *inp), None)  # noqa: E731
        else:
            xs = (order, mask)

            def body(c, inp):
                bidx, mb = inp
                return step(c, jnp.take(x, bidx, axis=0), jnp.take(y, bidx, axis=0), mb), None

        (params, opt, rng, sums), _ = jax.lax.scan(body, init, xs)
        count = jnp.maximum(sums[2], 1.0)
        return (params, opt, rng), (sums[0] / count, sums[1] / count)

    return jax.jit(epoch, donate_argnums=(0,) if donate else ())


def fit(
    spec,
    x,
    y,
    *,
    loss,
    batch_size,
    epochs,
    shuffle=True,
    seed=0,
    optax_adam=False,
    on_epoch_end=None,
    **variant,
):
    """Trains from scratch; returns ``(params, history)`` with the per-epoch (loss, accuracy)."""
    tx = optax.adam(1e-3, eps=EPS) if optax_adam else keras_adam()
    params = init_params(spec, x.shape[1:], seed)
    carry = (params, tx.init(params), jax.random.PRNGKey(seed + 1))
    xd, yd = jax.device_put((np.asarray(x, np.float32), np.asarray(y, np.float32)))
    epoch_fn = build_epoch_fn(spec, loss, tx, x.shape[0], batch_size, shuffle=shuffle, **variant)
    base = jax.random.PRNGKey(seed + 2)
    history = []
    for e in range(epochs):
        carry, logs = epoch_fn(carry, xd, yd, jax.random.fold_in(base, e))
        history.append(tuple(float(v) for v in jax.device_get(logs)))  # one host sync per epoch
        if on_epoch_end is not None:
            on_epoch_end(e)
    return carry[0], history


@partial(jax.jit, static_argnums=(0,))
def _predict_batches(spec, params, xb):
    return jax.lax.map(lambda b: apply(spec, params, b), xb).reshape(-1, *_out_shape(spec))


def _out_shape(spec):
    last = spec[-1]
    return (last[1],) if last[0] in ("dense", "lstm") else ()


def predict(spec, params, x, batch_size=32):
    """Host NumPy in, host NumPy out (like ``Model.predict``): pad, one jitted ``lax.map``."""
    n = x.shape[0]
    steps = math.ceil(n / batch_size)
    pad = np.zeros((steps * batch_size - n, *x.shape[1:]), np.float32)
    xb = np.concatenate([np.asarray(x, np.float32), pad]).reshape(steps, batch_size, *x.shape[1:])
    return np.asarray(_predict_batches(spec, params, jax.device_put(xb)))[:n]


# ----------------------------------------------------------------------------- profiling


TINY = (("dense", 12, "relu"), ("dense", 8, "relu"), ("dense", 1, "sigmoid"))


def _profile(epochs, repeats):
    """Per-epoch time (after warm-up) of loop variants on the tiny workload, and of Lamina."""
    rng = np.random.default_rng(0)
    x = rng.random((768, 8), dtype=np.float32)
    y = (rng.random(768) > 0.65).astype(np.float32)
    variants = {
        "reference (epoch gather, metrics)": {},
        "+ per-step jnp.take gather": {"gather": "step"},
        "+ per-step gather + rng split": {"gather": "step", "step_rng": True},
        "no metrics": {"metrics": False},
        "no donation": {"donate": False},
        "optax.adam (eps after bias corr.)": {"optax_adam": True},
    }
    rows = []
    for name, kw in variants.items():
        times = []
        for _ in range(repeats):
            stamps = []
            t0 = time.perf_counter()
            fit(
                TINY,
                x,
                y,
                loss="binary_crossentropy",
                batch_size=10,
                epochs=epochs,
                on_epoch_end=lambda e, s=stamps: s.append(time.perf_counter()),
                **kw,
            )
            d = np.diff([t0, *stamps])
            times.append((float(d[0]), float(np.median(d[1:])), float(np.min(d[1:]))))
        rows.append((name, *np.median(np.array(times), axis=0)))
    try:
        from lamina.callbacks import Callback
        from lamina.layers import Dense, Input
        from lamina.models import Sequential

        class Stamp(Callback):
            def on_epoch_end(self, epoch, logs=None):
                stamps.append(time.perf_counter())

        times = []
        for _ in range(repeats):
            m = Sequential(
                [
                    Input((8,)),
                    Dense(12, activation="relu"),
                    Dense(8, activation="relu"),
                    Dense(1, activation="sigmoid"),
                ]
            )
            m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
            stamps = []
            t0 = time.perf_counter()
            m.fit(x, y, batch_size=10, epochs=epochs, verbose=0, callbacks=[Stamp()])
            d = np.diff([t0, *stamps])
            times.append((float(d[0]), float(np.median(d[1:])), float(np.min(d[1:]))))
        rows.append(("lamina fit", *np.median(np.array(times), axis=0)))
    except ImportError:
        pass
    steps = math.ceil(768 / 10)
    print(f"tiny workload, {steps} steps/epoch, {epochs} epochs, median of {repeats}")
    print("per-epoch after the first: median and min (min is the least load-sensitive)")
    print(
        f"{'variant':36s} {'1st epoch s':>11s} {'med ms':>7s} {'min ms':>7s} {'min us/step':>11s}"
    )
    for name, first, ep, lo in rows:
        print(f"{name:36s} {first:11.3f} {ep * 1e3:7.3f} {lo * 1e3:7.3f} {lo / steps * 1e6:11.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    _profile(a.epochs, a.repeats)
