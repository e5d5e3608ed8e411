"""A layer sweep: Lamina's training step and predict against Keras-JAX's, one row per layer.

Each configuration is the model ``Input -> layer`` fitted with Adam on a mean-squared error to
zero targets (so the step is the layer's forward pass, its gradient and the update), then
predicted at batch 1, 32 and 1,024.  Each (configuration, library) is a fresh process, repeated
``--repeats`` times; the libraries alternate, and so does which goes first.  Columns: the steady
training step (median of the last five epoch gaps, after any strategy trial, divided by the
steps), predict per call at each batch size (median of three calls after a first, so
compilation is not counted), each the median over the repeats; the ratio Keras-JAX ÷ Lamina of
those medians (above 1: Lamina faster) and, with two or more repeats, the range of the
per-repeat ratios in brackets, which is the noise a row is judged against; and the strategy
Lamina's fit ran (``History.params``; with a trial, its measured ms per step for each
dispatch).  ``--strategy`` sets ``LAMINA_STRATEGY`` for Lamina's workers: ``trial``
shows what a long fit picks (a fit this short runs whole epochs on its own).  The load average
is printed with the table.

    python benchmarks/bench_layers.py                       # every configuration (~10 min, 2 cores)
    python benchmarks/bench_layers.py --repeats 3           # medians and noise ranges (~30 min)
    python benchmarks/bench_layers.py --configs conv2d_32,lstm_128 --strategy trial
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MARK = "BENCH_LAYERS_JSON "
ROWS, BATCH, EPOCHS = 256, 32, 8
PREDICT = {1: 16, 32: 256, 1024: 2048}  # batch size -> rows predicted
#: name -> (layer constructor source over a layers module ``L``, input shape, integer input)
CONFIGS = {
    "dense_512": ("L.Dense(512, activation='relu')", (784,), False),
    "conv2d_32_k3_28": ("L.Conv2D(32, 3, activation='relu')", (28, 28, 1), False),
    "conv2d_64_k3_32": ("L.Conv2D(64, 3, padding='same')", (32, 32, 32), False),
    "conv2d_128_k5_s2": ("L.Conv2D(128, 5, strides=2, padding='same')", (16, 16, 64), False),
    "conv2d_cf_16_k3": ("L.Conv2D(16, 3, data_format='channels_first')", (8, 32, 32), False),
    "conv1d_128_k7_d2": ("L.Conv1D(128, 7, dilation_rate=2)", (128, 32), False),
    "conv1d_250_k3_400": ("L.Conv1D(250, 3)", (400, 50), False),
    "conv2dT_32_k3_s2": (
        "L.Conv2DTranspose(32, 3, strides=2, padding='same')",
        (16, 16, 32),
        False,
    ),
    "depthwise2d_k3": ("L.DepthwiseConv2D(3, padding='same')", (32, 32, 32), False),
    "separable2d_64_k3": ("L.SeparableConv2D(64, 3)", (32, 32, 32), False),
    "maxpool2d_2": ("L.MaxPooling2D(2)", (32, 32, 64), False),
    "avgpool2d_3_s2_same": (
        "L.AveragePooling2D(3, strides=2, padding='same')",
        (32, 32, 16),
        False,
    ),
    "embedding_20000x128": ("L.Embedding(20000, 128)", (80,), True),
    "lstm_128": ("L.LSTM(128)", (80, 64), False),
    "gru_128": ("L.GRU(128)", (80, 64), False),
    "simplernn_64": ("L.SimpleRNN(64)", (40, 32), False),
}


def _strategy(params):
    """The strategy a Lamina fit ran, from its ``History.params``."""
    text = f"{params.get('strategy')} ({params.get('steps_per_call')}/call)"
    trial = params.get("strategy_trial")
    if trial:
        text += " after a trial: " + ", ".join(f"{k} {1000 * v:.1f} ms" for k, v in trial.items())
    return text


def worker(name, impl):
    import numpy as np

    src, shape, ints = CONFIGS[name]
    if impl == "lamina":
        import lamina.callbacks as C
        import lamina.layers as L
        import lamina.models as M
    else:
        import keras

        keras.utils.set_random_seed(0)
        C, L, M = keras.callbacks, keras.layers, keras.models
    rng = np.random.default_rng(0)
    n = max(ROWS, max(PREDICT.values()))
    x = rng.integers(1, 20000, (n, *shape)) if ints else rng.random((n, *shape), np.float32)
    model = M.Sequential([L.Input(shape=shape), eval(src)])
    model.compile(optimizer="adam", loss="mse")
    y = np.zeros((ROWS, *model.output_shape[1:]), np.float32)
    stamps = []

    class Stamp(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    hist = model.fit(x[:ROWS], y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[Stamp()])
    gaps = [b - a for a, b in zip(stamps, stamps[1:])][-5:]  # after a trial's two epochs
    out = {"step_ms": 1000 * statistics.median(gaps) / (ROWS // BATCH)}
    for bs, rows in PREDICT.items():
        model.predict(x[:rows], batch_size=bs, verbose=0)
        calls = []
        for _ in range(3):
            t = time.perf_counter()
            model.predict(x[:rows], batch_size=bs, verbose=0)
            calls.append(time.perf_counter() - t)
        out[f"predict{bs}_ms"] = 1000 * statistics.median(calls) / -(-rows // bs)
    if impl == "lamina":
        out["strategy"] = _strategy(hist.params)
    return out


def run(name, impl, timeout, strategy=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="jax")
    if strategy and impl == "lamina":
        env["LAMINA_STRATEGY"] = strategy
    cache = env["LAMINA_CACHE_DIR"] = tempfile.mkdtemp(prefix="lamina-bench-")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, impl]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    return {"error": " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])}


def cell(lams, kers, key):
    """One table cell from the repeats of both libraries: medians, their ratio and the range
    of the per-repeat ratios (repeat ``i`` of Lamina against repeat ``i`` of Keras-JAX).

    >>> cell([{"t": 2.0}, {"t": 4.0}], [{"t": 3.0}, {"t": 3.0}], "t")
    '3.00 \\\\| 3.00 (1.00x; 0.75-1.50)'
    >>> cell([{"t": 2.0}], [{"error": "boom"}], "t")
    '-'
    """
    a = [r[key] for r in lams if r.get(key)]
    b = [r[key] for r in kers if r.get(key)]
    if not a or not b:
        return "-"
    ma, mb = statistics.median(a), statistics.median(b)
    text = f"{ma:.2f} \\| {mb:.2f} ({mb / ma:.2f}x"
    pairs = [k[key] / la[key] for la, k in zip(lams, kers) if la.get(key) and k.get(key)]
    if len(pairs) > 1:
        text += f"; {min(pairs):.2f}-{max(pairs):.2f}"
    return text + ")"


def table(results, repeats=1):
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    keys = ["step_ms"] + [f"predict{b}_ms" for b in PREDICT]
    head = ["train step"] + [f"predict b={b}" for b in PREDICT]
    spread = "; per-repeat range" if repeats > 1 else ""
    lines = [
        f"load average at the end: {load} ({os.cpu_count()} CPUs); {repeats} fresh process(es) "
        f"per cell, medians; ms per step / per predict call, Lamina \\| Keras-JAX (ratio "
        f"Keras ÷ Lamina{spread})",
        "",
        "| configuration | " + " | ".join(head) + " | Lamina strategy |",
        "|---|" + "---:|" * len(head) + "---|",
    ]
    for name, (lams, kers) in results.items():
        cells = [cell(lams, kers, k) for k in keys]
        errs = [r["error"] for r in lams + kers if r.get("error")]
        strats = sorted({r["strategy"] for r in lams if r.get("strategy")})
        strat = "; ".join(strats) + (f" error: {errs[0][:60]}" if errs else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {strat} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", nargs=2, metavar=("CONFIG", "IMPL"))
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--strategy", default=None, help="LAMINA_STRATEGY for Lamina's workers")
    p.add_argument("--repeats", type=int, default=1, help="fresh processes per cell")
    args = p.parse_args(argv)
    if args.worker:
        print(MARK + json.dumps(worker(*args.worker)), flush=True)
        return
    results = {}
    for i, name in enumerate(c for c in args.configs.split(",") if c):
        lams, kers = [], []
        for r in range(args.repeats):
            order = ("lamina", "keras-jax") if (i + r) % 2 == 0 else ("keras-jax", "lamina")
            res = {impl: run(name, impl, args.timeout, args.strategy) for impl in order}
            lams.append(res["lamina"])
            kers.append(res["keras-jax"])
            print(name, r, json.dumps(res), file=sys.stderr, flush=True)
        results[name] = (lams, kers)
    print(table(results, args.repeats))


if __name__ == "__main__":
    main()
