"""Lamina against Keras-JAX on the architectures of Keras's own example scripts.

Models (synthetic data, Adam, ``verbose=0``, ``shuffle=True``), at reduced sizes so one run of
every row fits in a few minutes on 2 cores (``--rows``/``--epochs`` scale them):

* ``mnist_cnn``: Conv2D 32 -> Conv2D 64 (3x3) -> MaxPool -> Dropout -> Dense 128 -> Dense 10,
  28x28x1 inputs, batch 128;
* ``imdb_cnn``: Embedding 5000x50 -> Dropout -> Conv1D 250 (k=3) -> GlobalMaxPool -> Dense 250
  -> Dense 1, 400 tokens, batch 32;
* ``imdb_lstm``: Embedding 20000x128 -> LSTM 128 (dropout 0.2, recurrent_dropout 0.2) -> Dense 1,
  80 tokens, batch 32;
* ``imdb_gru``: the same with GRU 128 (no dropout);
* ``imdb_bilstm``: Embedding 20000x128 -> Bidirectional(LSTM 64) -> Dense 1;
* ``imdb_custom_cell``: Embedding 20000x128 -> ``RNN`` of the "Working with RNNs" guide's
  user-written ``MinimalRNNCell`` (128) -> Dense 1;
* ``conv_autoencoder``: the keras.io timeseries anomaly-detection autoencoder, Conv1D 32 ->
  Conv1D 16 (k=7, stride 2) -> Conv1DTranspose 16 -> Conv1DTranspose 32 (k=7, stride 2) ->
  Conv1DTranspose 1, 288x1 inputs, MSE against the inputs, batch 128;
* ``residual_mlp``: a functional model, 64 features -> Dense 256 -> 3 residual blocks
  (Dense 256 -> Dense 256 -> Add) -> Dense 10, batch 64;
* ``custom_layer``: a Sequential of Keras-style custom layers (``build``/``add_weight``/``call``
  with ``ops.matmul``), 64 -> 256 -> 256 -> 10, batch 64;
* ``transformer``: token + position embeddings (20,000 x 32, 200 tokens), one encoder block
  (MultiHeadAttention 2 heads x 16, feed-forward 32, residuals, LayerNormalization), global
  average pooling, Dense 20 -> Dense 1, batch 32.

Implementations, each measurement in a fresh process, alternating, order rotating per repeat:
``lamina`` (empty persistent compilation cache), ``keras-jax`` (Keras 3, JAX backend,
``steps_per_execution=1``) and ``keras-jax-spe`` (``steps_per_execution`` = steps per epoch); with ``--impls ...,torch``,
also PyTorch eager (``torch_models.py``, the Sequential models only; ``BENCH_TORCH_PYTHON``
names a Python with ``torch`` when this one has none), in its own column.
Columns: whole fit (build + compile + fit), steady epoch (median gap between epoch ends after
the first) and predict (second call, ``batch_size=32``).  The machine's load average is
printed with every table: the times are only comparable within one run.

    python benchmarks/bench_models.py                       # every model, 1 repeat
    python benchmarks/bench_models.py --models mnist_cnn --repeats 3 --rows 1024
    python benchmarks/bench_models.py --models residual_mlp,custom_layer --repeats 3
    BENCH_TORCH_PYTHON=/path/to/venv/bin/python python benchmarks/bench_models.py \
        --impls lamina,keras-jax,keras-jax-spe,torch
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from _worker_process import run_json_worker  # benchmarks/ is on sys.path (script dir)

MARK = "BENCH_MODELS_JSON "
IMPLS = ("lamina", "keras-jax", "keras-jax-spe")
#: Reference implementations outside the Keras comparison (``--impls ...,torch``): PyTorch
#: eager (``torch_models.py``), run by ``$BENCH_TORCH_PYTHON`` (default: this Python).
EXTRA_IMPLS = ("torch",)
#: Models built by :func:`build_model` rather than as a Sequential of :func:`build`'s layers.
FUNCTIONAL = ("residual_mlp", "custom_layer", "imdb_custom_cell", "transformer")
#: name -> (input shape, vocabulary or None, batch, default rows, default epochs, classes)
MODELS = {
    "mnist_cnn": ((28, 28, 1), None, 128, 512, 3, 10),
    "imdb_cnn": ((400,), 5000, 32, 512, 3, 2),
    "conv_autoencoder": ((288, 1), None, 128, 512, 3, 0),  # 0 classes: y = x, MSE
    "imdb_lstm": ((80,), 20000, 32, 512, 3, 2),
    "imdb_gru": ((80,), 20000, 32, 512, 3, 2),
    "imdb_bilstm": ((80,), 20000, 32, 512, 3, 2),
    "imdb_custom_cell": ((80,), 20000, 32, 512, 3, 2),
    "residual_mlp": ((64,), None, 64, 4096, 4, 10),
    "custom_layer": ((64,), None, 64, 4096, 4, 10),
    "transformer": ((200,), 20000, 32, 1024, 3, 2),
}


def build_model(name, K):
    """The functional and custom-layer models, from the top-level module ``K`` (``lamina`` or
    ``keras``: the same API); the other models are Sequentials of :func:`build`'s layers."""
    L = K.layers
    if name == "residual_mlp":
        inputs = K.Input(MODELS[name][0])
        x = L.Dense(256, activation="relu")(inputs)
        for _ in range(3):
            h = L.Dense(256, activation="relu")(x)
            x = L.Add()([x, L.Dense(256)(h)])
        return K.Model(inputs, L.Dense(10, activation="softmax")(x))
    if name == "transformer":  # one encoder block: the text classifier at 200 tokens
        inputs = K.Input(MODELS[name][0], dtype="int32")
        tokens = L.Embedding(MODELS[name][1], 32)(inputs)
        positions = L.Embedding(MODELS[name][0][0], 32)(K.ops.arange(MODELS[name][0][0]))
        x = tokens + positions
        attended = L.MultiHeadAttention(num_heads=2, key_dim=16)(x, x)
        x = L.LayerNormalization(epsilon=1e-6)(x + L.Dropout(0.1)(attended))
        ff = L.Dense(32)(L.Dense(32, activation="relu")(x))
        x = L.LayerNormalization(epsilon=1e-6)(x + L.Dropout(0.1)(ff))
        x = L.Dense(20, activation="relu")(L.GlobalAveragePooling1D()(x))
        return K.Model(inputs, L.Dense(1, activation="sigmoid")(x))
    if name == "imdb_custom_cell":
        return K.Sequential(
            [K.Input(MODELS[name][0]), L.Embedding(20000, 128), L.RNN(_minimal_cell(K)(128)),
             L.Dense(1, activation="sigmoid")]
        )  # fmt: skip

    class MyDense(L.Layer):
        def __init__(self, units, relu=True, **kwargs):
            super().__init__(**kwargs)
            self.units, self.relu = units, relu

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units), initializer="glorot_uniform"
            )
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            y = K.ops.matmul(inputs, self.w) + self.b
            return K.ops.relu(y) if self.relu else K.ops.softmax(y)

    return K.Sequential(
        [K.Input(MODELS[name][0]), MyDense(256), MyDense(256), MyDense(10, relu=False)]
    )


def _minimal_cell(K):
    """The "Working with RNNs" guide's custom cell (``state_size`` + ``call(x, states)``)."""

    class MinimalRNNCell(K.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units))

        def call(self, inputs, states):
            h = K.ops.matmul(inputs, self.kernel)
            output = K.ops.tanh(h + K.ops.matmul(states[0], self.recurrent_kernel))
            return output, [output]

    return MinimalRNNCell


def build(name, L):
    """The model ``name`` from the layers module ``L`` (Lamina's or Keras's: same API)."""
    shape = MODELS[name][0]
    if name == "mnist_cnn":
        body = [
            L.Conv2D(32, (3, 3), activation="relu"),
            L.Conv2D(64, (3, 3), activation="relu"),
            L.MaxPooling2D((2, 2)),
            L.Dropout(0.25),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dropout(0.5),
            L.Dense(10, activation="softmax"),
        ]
    elif name == "imdb_cnn":
        body = [
            L.Embedding(5000, 50),
            L.Dropout(0.2),
            L.Conv1D(250, 3, padding="valid", activation="relu", strides=1),
            L.GlobalMaxPooling1D(),
            L.Dense(250, activation="relu"),
            L.Dropout(0.2),
            L.Dense(1, activation="sigmoid"),
        ]
    elif name == "conv_autoencoder":
        conv = dict(kernel_size=7, padding="same", strides=2, activation="relu")
        body = [
            L.Conv1D(32, **conv),
            L.Dropout(0.2),
            L.Conv1D(16, **conv),
            L.Conv1DTranspose(16, **conv),
            L.Dropout(0.2),
            L.Conv1DTranspose(32, **conv),
            L.Conv1DTranspose(1, kernel_size=7, padding="same"),
        ]
    else:
        rnn = {
            "imdb_lstm": lambda: L.LSTM(128, dropout=0.2, recurrent_dropout=0.2),
            "imdb_gru": lambda: L.GRU(128),
            "imdb_bilstm": lambda: L.Bidirectional(L.LSTM(64)),
        }[name]
        body = [L.Embedding(20000, 128), rnn(), L.Dense(1, activation="sigmoid")]
    return [L.Input(shape=shape), *body]


def data(name, rows):
    import numpy as np

    shape, vocab, _, _, _, classes = MODELS[name]
    rng = np.random.default_rng(0)
    if vocab is None:
        x = rng.random((rows, *shape), dtype=np.float32)
    else:
        x = rng.integers(1, vocab, size=(rows, *shape)).astype("int32")
    if not classes:  # an autoencoder: the targets are the inputs
        return x, x
    y = rng.integers(0, classes, size=(rows,)).astype("float32")
    return x, y


def worker(name, impl, rows, epochs):
    x, y = data(name, rows)
    if impl == "torch":
        import torch_models

        return torch_models.worker(name, x, y, MODELS[name][2], epochs)
    if impl == "lamina":
        import lamina as K
        import lamina.callbacks as C
        import lamina.layers as L
        import lamina.models as M
    else:
        import keras as K

        K.utils.set_random_seed(0)
        C, L, M = K.callbacks, K.layers, K.models
    batch = MODELS[name][2]
    steps = -(-rows // batch)
    classes = MODELS[name][5]
    loss = "sparse_categorical_crossentropy" if classes > 2 else "binary_crossentropy"
    loss, metrics = (loss, ["accuracy"]) if classes else ("mse", [])
    stamps = []

    class Stamp(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    model = build_model(name, K) if name in FUNCTIONAL else M.Sequential(build(name, L))
    kw = {"steps_per_execution": steps} if impl == "keras-jax-spe" else {}
    model.compile(optimizer="adam", loss=loss, metrics=metrics, **kw)
    t1 = time.perf_counter()
    hist = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[Stamp()])
    t2 = time.perf_counter()
    model.predict(x, batch_size=32, verbose=0)
    t3 = time.perf_counter()
    model.predict(x, batch_size=32, verbose=0)
    t4 = time.perf_counter()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return {
        "fit_s": t2 - t0,
        "first_epoch_s": stamps[0] - t1,
        "epoch_s": statistics.median(gaps) if gaps else None,
        "predict_s": t4 - t3,
        "first_predict_s": t3 - t2,
        "strategy": (getattr(hist, "params", {}) or {}).get("strategy")
        if impl == "lamina"
        else None,
    }


def run(name, impl, rows, epochs, timeout):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    cache = None
    python = sys.executable
    if impl == "torch":
        python = os.environ.get("BENCH_TORCH_PYTHON", sys.executable)
    elif impl == "lamina":
        cache = env["LAMINA_CACHE_DIR"] = tempfile.mkdtemp(prefix="lamina-bench-")
    else:
        env["KERAS_BACKEND"] = "jax"
    cmd = [python, os.path.abspath(__file__), "--worker", name, impl,
           "--rows", str(rows), "--epochs", str(epochs)]  # fmt: skip
    return run_json_worker(cmd, env, timeout, MARK, cleanup_dir=cache)


def _med(results, key):
    vals = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _ratios(meds, peers, mine, keys):
    """``best peer ÷ mine`` for each of ``keys``, as ``"1.23x / ..."``."""
    parts = []
    for k in keys:
        vals = [meds[i][k] for i in peers if meds[i][k]]
        parts.append(f"{min(vals) / mine[k]:.2f}x" if vals and mine[k] else "-")
    return " / ".join(parts)


def table(results, args):
    load = open("/proc/loadavg").read().split()[:3]
    impls = [i for i in (*IMPLS, *EXTRA_IMPLS) if any(results[m][i] for m in args.models)]
    torch = "torch" in impls
    lines = [
        f"rows={args.rows or 'default'} epochs={args.epochs or 'default'} repeats={args.repeats}"
        f" load average at the end: {' '.join(load)} ({os.cpu_count()} CPUs)",
        "",
        "| model | impl | whole fit s | steady epoch s | predict s | Keras-JAX best ÷ Lamina"
        " (fit / epoch / predict) |"
        + (" PyTorch ÷ Lamina (fit / epoch / predict) |" if torch else "")
        + " strategy |",
        "|---|---|---:|---:|---:|---|" + ("---|" if torch else "") + "---|",
    ]
    keys = ("fit_s", "epoch_s", "predict_s")
    for name in args.models:
        meds = {i: {k: _med(results[name][i], k) for k in keys} for i in impls}

        for impl in impls:
            m = meds[impl]
            cols = ["", ""] if torch else [""]
            if impl == "lamina":
                cols[0] = _ratios(meds, [i for i in IMPLS[1:] if i in impls], m, keys)
                if torch:
                    cols[1] = _ratios(meds, ["torch"], m, keys)
            errs = [r["error"] for r in results[name][impl] if "error" in r]
            strat = next((r.get("strategy") for r in results[name][impl] if r.get("strategy")), "")
            cells = [f"{m[k]:.3f}" if m[k] is not None else "-" for k in m]
            note = f" (error: {errs[0][:80]})" if errs else ""
            lines.append(
                f"| {name} | {impl}{note} | {' | '.join(cells)} | {' | '.join(cols)} | {strat} |"
            )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", nargs=2, metavar=("MODEL", "IMPL"))
    p.add_argument("--models", default=",".join(m for m in MODELS if m not in FUNCTIONAL))
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--timeout", type=int, default=600)
    args = p.parse_args(argv)
    if args.worker:
        name, impl = args.worker
        rows = args.rows or MODELS[name][3]
        epochs = args.epochs or MODELS[name][4]
        print(MARK + json.dumps(worker(name, impl, rows, epochs)), flush=True)
        return
    args.models = [m for m in args.models.split(",") if m]
    impls = [i for i in args.impls.split(",") if i]
    results = {m: {i: [] for i in (*IMPLS, *EXTRA_IMPLS)} for m in args.models}
    for r in range(args.repeats):
        for name in args.models:
            rows = args.rows or MODELS[name][3]
            epochs = args.epochs or MODELS[name][4]
            order = impls[r % len(impls) :] + impls[: r % len(impls)]
            for impl in order:
                res = run(name, impl, rows, epochs, args.timeout)
                results[name][impl].append(res)
                print(name, impl, json.dumps(res), file=sys.stderr, flush=True)
    print(table(results, args))


if __name__ == "__main__":
    main()
