"""Streaming vs in-memory training on a large Parquet table: peak memory and samples/s.

Generates a synthetic tabular binary-classification problem (``--rows`` x ``--features``
float32, written row group by row group of 1,048,576 rows), then trains the same Dense model in
two fresh processes:

* ``stream``: ``model.fit(lamina.data.from_parquet(...))``, read batch by batch;
* ``numpy``: the whole table read into NumPy arrays, then ``model.fit(X, y)``.

Each process reports its peak RSS (``VmHWM`` of ``/proc/self/status``; ``getrusage``'s
``ru_maxrss`` elsewhere, which on Linux also counts the parent's peak before the child's
``exec``: the parent here generated the file), the peak of pyarrow's memory pool,
the wall time of each of ``--epochs`` epochs (default 2) and samples/s: the last epoch's (steady
state; the first includes compilation) and end to end (loading and all epochs).  Usage::

    python benchmarks/bench_streaming.py                  # smoke run: 200k rows
    python benchmarks/bench_streaming.py --rows 16000000  # ~2.3 GB of Parquet
    python benchmarks/bench_streaming.py --rows 16000000 --keep --reuse  # keep/reuse the file
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np


def generate(path, rows, features, seed=0, group=1 << 20):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    w = rng.normal(size=features).astype(np.float32)
    names = [f"f{i}" for i in range(features)]
    schema = pa.schema([pa.field(n, pa.float32()) for n in names] + [pa.field("y", pa.float32())])
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            x = rng.normal(size=(n, features)).astype(np.float32)
            y = (x @ w + 0.5 * rng.normal(size=n) > 0).astype(np.float32)
            cols = [pa.array(x[:, i]) for i in range(features)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))


def _model(features):
    import lamina

    lamina.utils.set_random_seed(0)
    m = lamina.models.Sequential(
        [
            lamina.layers.Input((features,)),
            lamina.layers.Dense(64, activation="relu"),
            lamina.layers.Dense(32, activation="relu"),
            lamina.layers.Dense(1, activation="sigmoid"),
        ]
    )
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return m


def _epoch_timer():
    """A callback timing each epoch (epoch hooks only: the in-memory fit stays one compiled
    call an epoch)."""
    import lamina

    class EpochTimer(lamina.callbacks.Callback):
        seconds: list

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = [*getattr(self, "seconds", []), time.perf_counter() - self._t]

    return EpochTimer()


def run_one(mode, path, features, batch_size, epochs):
    """Runs in a child process; prints one JSON line."""
    import lamina

    model = _model(features)
    timer = _epoch_timer()
    kw = dict(epochs=epochs, shuffle=False, verbose=0, callbacks=[timer])
    if mode == "stream":
        start = time.perf_counter()
        data = lamina.data.from_parquet(path, target="y", batch_size=batch_size)
        rows = data._num_rows
        load = time.perf_counter() - start
        hist = model.fit(data, **kw)
    else:
        import pyarrow.parquet as pq

        start = time.perf_counter()
        table = pq.read_table(path)
        x = np.stack([table.column(f"f{i}").to_numpy() for i in range(features)], axis=1)
        y = table.column("y").to_numpy()
        del table
        rows = x.shape[0]
        load = time.perf_counter() - start
        hist = model.fit(x, y, batch_size=batch_size, **kw)
    wall = time.perf_counter() - start
    compile_s = hist.params.get("compile_time") or 0.0
    # Epoch 1 includes compilation (and, in memory, the whole epoch is one compiled call, so
    # its "compile time" includes the run): the steady-state rate is the last epoch's.
    steady = timer.seconds[-1] if len(timer.seconds) > 1 else wall - load - compile_s
    print(
        json.dumps(
            {
                "mode": mode,
                "rows": rows,
                "epochs": len(timer.seconds),
                "load_s": load,
                "epoch_s": timer.seconds,
                "total_s": wall,
                "compile_s": compile_s,
                "samples_per_s": rows / max(steady, 1e-9),
                "end_to_end_samples_per_s": rows * len(timer.seconds) / wall,
                "loss": hist.history["loss"][-1],
                "peak_rss_mb": _peak_rss_mb(),
                "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "arrow_pool_peak_mb": _arrow_pool_peak() / 2**20,
            }
        )
    )


def _peak_rss_mb():
    """This process's peak RSS: VmHWM (Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _arrow_pool_peak():
    import pyarrow as pa

    return pa.default_memory_pool().max_memory() or 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=2, help="samples/s is the last epoch's")
    ap.add_argument("--path", default="/tmp/lamina_bench_streaming.parquet")
    ap.add_argument("--modes", default="stream,numpy")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument(
        "--reuse", action="store_true", help="use the file at --path if it exists (no generation)"
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_one(args.child, args.path, args.features, args.batch_size, args.epochs)

    t = time.perf_counter()
    if args.reuse and os.path.exists(args.path):
        print(f"reusing {args.path}", flush=True)
    else:
        generate(args.path, args.rows, args.features)
    size_gb = os.path.getsize(args.path) / 1e9
    print(
        f"{args.rows:,} rows x {args.features} features: {size_gb:.2f} GB ready in "
        f"{time.perf_counter() - t:.0f} s",
        flush=True,
    )
    results = []
    for mode in args.modes.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--path",
            args.path,
            "--features",
            str(args.features),
            "--batch-size",
            str(args.batch_size),
            "--epochs",
            str(args.epochs),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"{mode}: failed (exit {out.returncode})\n{out.stderr[-2000:]}", flush=True)
            results.append({"mode": mode, "failed": out.returncode})
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(res)
        print(json.dumps(res), flush=True)
    import jax
    import pyarrow as pa

    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"python {platform.python_version()}, jax {jax.__version__}, numpy {np.__version__}, "
        f"pyarrow {pa.__version__} ({pa.default_memory_pool().backend_name} pool); "
        f"total {time.perf_counter() - t:.0f} s"
    )
    print(
        "\n| mode | rows | file GB | peak RSS MB | arrow pool peak MB | load s | epoch s | "
        "samples/s (last epoch) | end-to-end samples/s | final loss |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "failed" in r:
            print(f"| {r['mode']} | failed (exit {r['failed']}) | | | | | | | | |")
            continue
        epochs = " / ".join(f"{e:.1f}" for e in r["epoch_s"])
        print(
            f"| {r['mode']} | {r['rows']:,} | {size_gb:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['arrow_pool_peak_mb']:.0f} | {r['load_s']:.1f} | {epochs} | "
            f"{r['samples_per_s']:,.0f} | {r['end_to_end_samples_per_s']:,.0f} | "
            f"{r['loss']:.6f} |"
        )
    by = {r["mode"]: r for r in results if "failed" not in r}
    if {"stream", "numpy"} <= set(by):
        for key, what in (
            ("samples_per_s", "last epoch"),
            ("end_to_end_samples_per_s", "end to end"),
        ):
            ratio = by["stream"][key] / by["numpy"][key]
            print(f"stream / numpy throughput ({what}): {ratio:.0%}")
    if not args.keep:
        os.remove(args.path)


if __name__ == "__main__":
    main()
