"""Steady epoch time of an Embedding-heavy model: Lamina against Keras-JAX (issue #16).

The model is the fixed part of the IMDB recurrent rows of ``bench_models.py``::

    Sequential([Input((80,), dtype="int32"), Embedding(20000, 128), GlobalAveragePooling1D(),
                Dense(1, "sigmoid")])

trained with Adam and binary cross-entropy on random token ids (512 rows, batch 32,
``shuffle=True``, ``verbose=0``).  Its step is dominated by the dense update of the
20000x128 table and its two Adam slots, so any extra pass over the table inside the compiled
loop shows at once.

Implementations, each measurement in a fresh process, alternating, order rotating per repeat:

* ``lamina``: the automatic strategy (the whole epoch as one ``lax.scan`` program here);
* ``lamina-step`` / ``lamina-epoch``: ``LAMINA_STRATEGY=step`` / ``=epoch`` (one compiled call
  per step, as Keras-JAX dispatches, or one per epoch);
* ``keras-jax``: Keras 3 on JAX, ``steps_per_execution=1``;
* ``keras-jax-spe``: Keras 3 on JAX, ``steps_per_execution`` = steps per epoch;
* ``lamina-baseline`` (with ``--baseline-src DIR``): the automatic strategy with the Lamina
  package found in ``DIR`` (e.g. an older checkout's ``src``), for before/after comparisons.

Columns: steady epoch (median of the durations of epochs 2..N, each from one epoch end to the
next), its fastest epoch, and the whole fit (build + compile + fit).  Each cell is the median
over the repeats.  The machine's load average is printed with the table: on a shared machine
only same-run ratios mean anything.

    python benchmarks/bench_embedding.py --repeats 3
    python benchmarks/bench_embedding.py --repeats 3 --baseline-src /tmp/old/src
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

MARK = "BENCH_EMBEDDING_JSON "
IMPLS = ("lamina", "lamina-step", "lamina-epoch", "keras-jax", "keras-jax-spe")
VOCAB, DIM, TOKENS, BATCH = 20000, 128, 80, 32


def data(rows):
    """Random token ids in ``[1, VOCAB)`` and 0/1 targets, the same in every process."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, size=(rows, TOKENS)).astype("int32")
    y = rng.integers(0, 2, size=(rows,)).astype("float32")
    return x, y


def worker(impl, rows, epochs):
    """One measurement in this process; returns a dict of seconds."""
    x, y = data(rows)
    if impl.startswith("lamina"):
        import lamina as K
    else:
        import keras as K

        K.utils.set_random_seed(0)
    L = K.layers
    stamps = []

    class Stamp(K.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    model = K.Sequential(
        [K.Input((TOKENS,), dtype="int32"), L.Embedding(VOCAB, DIM),
         L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    steps = -(-rows // BATCH)
    kw = {"steps_per_execution": steps} if impl == "keras-jax-spe" else {}
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], **kw)
    hist = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[Stamp()])
    t1 = time.perf_counter()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]  # epochs 2..N
    params = getattr(hist, "params", {}) or {}
    return {
        "fit_s": t1 - t0,
        "epoch_s": statistics.median(gaps) if gaps else None,
        "best_epoch_s": min(gaps) if gaps else None,
        "strategy": params.get("strategy") if impl.startswith("lamina") else None,
    }


def run(impl, rows, epochs, timeout, baseline_src=None):
    """Runs :func:`worker` in a fresh process (empty compilation cache for Lamina)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="jax")
    env.pop("LAMINA_STRATEGY", None)
    cache = None
    if impl.startswith("lamina"):
        cache = env["LAMINA_CACHE_DIR"] = tempfile.mkdtemp(prefix="lamina-bench-")
        if impl in ("lamina-step", "lamina-epoch"):
            env["LAMINA_STRATEGY"] = impl.split("-")[1]
        if impl == "lamina-baseline":
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (baseline_src, env.get("PYTHONPATH")) if p
            )
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl,
           "--rows", str(rows), "--epochs", str(epochs)]  # fmt: skip
    return run_json_worker(cmd, env, timeout, MARK, cleanup_dir=cache)


def _med(results, key):
    vals = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def table(results, impls, args, load_before):
    """The Markdown table of the medians, with Keras-JAX's best epoch over each row's."""
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    keras = [_med(results[i], "epoch_s") for i in impls if i.startswith("keras")]
    keras_best = min((k for k in keras if k), default=None)
    lines = [
        f"rows={args.rows} epochs={args.epochs} repeats={args.repeats}; load average before: "
        f"{load_before}, after: {load} ({os.cpu_count()} CPUs)",
        "",
        "| impl | steady epoch s | fastest epoch s | whole fit s | Keras-JAX best epoch ÷ this"
        " | strategy |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for impl in impls:
        res = results[impl]
        cells = [_med(res, k) for k in ("epoch_s", "best_epoch_s", "fit_s")]
        ratio = f"{keras_best / cells[0]:.2f}x" if keras_best and cells[0] else "-"
        errs = [r["error"] for r in res if "error" in r]
        strat = next((r["strategy"] for r in res if r.get("strategy")), "")
        shown = " | ".join(f"{c:.3f}" if c is not None else "-" for c in cells)
        note = f" (error: {errs[0][:80]})" if errs else ""
        lines.append(f"| {impl}{note} | {shown} | {ratio} | {strat} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", metavar="IMPL")
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument(
        "--baseline-src",
        default=None,
        help="a folder holding another 'lamina' package, run as lamina-baseline",
    )
    args = p.parse_args(argv)
    if args.worker:
        print(MARK + json.dumps(worker(args.worker, args.rows, args.epochs)), flush=True)
        return
    impls = [i for i in args.impls.split(",") if i]
    if args.baseline_src:
        impls.append("lamina-baseline")
    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    results = {i: [] for i in impls}
    for r in range(args.repeats):
        order = impls[r % len(impls) :] + impls[: r % len(impls)]
        for impl in order:
            res = run(impl, args.rows, args.epochs, args.timeout, args.baseline_src)
            results[impl].append(res)
            print(impl, json.dumps(res), file=sys.stderr, flush=True)
    print(table(results, impls, args, load_before))


if __name__ == "__main__":
    main()
