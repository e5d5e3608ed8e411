"""Streaming vs in-memory training on a large Parquet table: peak memory and samples/s.

Generates a synthetic tabular binary-classification problem (``--rows`` x ``--features``
float32, written row group by row group in bounded memory), then trains the same Dense model
for one epoch in two fresh processes:

* ``stream``: ``model.fit(lamina.data.from_parquet(...))``, read batch by batch;
* ``numpy``: the whole table read into NumPy arrays, then ``model.fit(X, y)``.

Each process reports its peak RSS (``resource.getrusage``), the epoch's wall time and samples/s
excluding compilation.  Usage::

    python benchmarks/bench_streaming.py                  # smoke run: 200k rows
    python benchmarks/bench_streaming.py --rows 16000000  # ~2 GB of Parquet
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


def run_one(mode, path, features, batch_size):
    """Runs in a child process; prints one JSON line."""
    import lamina

    t0 = time.perf_counter()
    model = _model(features)
    if mode == "stream":
        data = lamina.data.from_parquet(path, target="y", batch_size=batch_size)
        rows = data._num_rows
        start = time.perf_counter()
        hist = model.fit(data, epochs=1, shuffle=False, verbose=0)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        x = np.stack([table.column(f"f{i}").to_numpy() for i in range(features)], axis=1)
        y = table.column("y").to_numpy()
        del table
        rows = x.shape[0]
        start = time.perf_counter()
        hist = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    wall = time.perf_counter() - start
    compile_s = hist.params.get("compile_time") or 0.0
    print(
        json.dumps(
            {
                "mode": mode,
                "rows": rows,
                "fit_s": wall,
                "compile_s": compile_s,
                "samples_per_s": rows / max(wall - compile_s, 1e-9),
                "total_s": time.perf_counter() - t0,
                "loss": hist.history["loss"][-1],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--path", default="/tmp/lamina_bench_streaming.parquet")
    ap.add_argument("--modes", default="stream,numpy")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return run_one(args.child, args.path, args.features, args.batch_size)

    t = time.perf_counter()
    generate(args.path, args.rows, args.features)
    size_gb = os.path.getsize(args.path) / 1e9
    print(
        f"generated {args.rows:,} rows x {args.features} features: {size_gb:.2f} GB in "
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

    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"python {platform.python_version()}, jax {jax.__version__}, numpy {np.__version__}"
    )
    print("\n| mode | rows | file GB | peak RSS MB | fit s | compile s | samples/s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if "failed" in r:
            print(f"| {r['mode']} | failed (exit {r['failed']}) | | | | | |")
            continue
        print(
            f"| {r['mode']} | {r['rows']:,} | {size_gb:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['fit_s']:.1f} | {r['compile_s']:.1f} | {r['samples_per_s']:,.0f} |"
        )
    if not args.keep:
        os.remove(args.path)


if __name__ == "__main__":
    main()
