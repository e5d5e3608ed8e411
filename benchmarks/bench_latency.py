"""One-row predict latency and ``batch_size`` above the row count: Lamina beside Keras 3 (JAX).

Issue 14 found a one-row predict of a small conv net costing as much as 32 rows (the row was
padded to the default batch) and ``batch_size`` larger than the data padding the data up to
``batch_size``.  This script measures those cases side by side.  Each measurement runs in a
fresh process (this script re-run with ``--worker``, printing one JSON line); implementations
alternate within each repeat; the table shows medians.

    python benchmarks/bench_latency.py                  # 3 repeats, appends to RESULTS.md
    python benchmarks/bench_latency.py --repeats 1 --no-write
    python benchmarks/bench_latency.py --note "shared machine"
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = "LATENCY_RESULT "
IMPLS = ("lamina", "keras-jax")
LABELS = {
    "predict1_first_s": "one-row predict, conv net, 1st call (s, incl. compile)",
    "predict1_s": "one-row predict, conv net, steady (median of 20 calls, s)",
    "predict32_s": "32-row predict, conv net, steady (median of 20 calls, s)",
    "predict_big_batch_s": "predict 64 rows, batch_size=10**6, 2nd call (s)",
    "fit_big_batch_s": "fit 10 images, batch_size=1024, 1 epoch, 2nd call (s)",
    "peak_rss_mb": "peak resident memory of the process (MiB)",
}


# ============================================================================ worker side
def _conv_model(lib):
    layers = lib.layers
    model = lib.Sequential(
        [
            layers.Input((16, 16, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _median_time(fn, n=20):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker(impl: str) -> dict:
    import numpy as np

    if impl == "keras-jax":
        os.environ["KERAS_BACKEND"] = "jax"
        import keras as lib
    else:
        import lamina as lib

        lib.Sequential = lib.models.Sequential
    rng = np.random.default_rng(0)
    out = {}
    model = _conv_model(lib)
    x1 = rng.random((1, 16, 16, 1), dtype=np.float32)
    x32 = rng.random((32, 16, 16, 1), dtype=np.float32)
    start = time.perf_counter()
    model.predict(x1, verbose=0)
    out["predict1_first_s"] = time.perf_counter() - start
    out["predict1_s"] = _median_time(lambda: model.predict(x1, verbose=0))
    model.predict(x32, verbose=0)
    out["predict32_s"] = _median_time(lambda: model.predict(x32, verbose=0))

    x64 = rng.random((64, 16, 16, 1), dtype=np.float32)
    big = _conv_model(lib)
    big.predict(x64, batch_size=10**6, verbose=0)
    start = time.perf_counter()
    big.predict(x64, batch_size=10**6, verbose=0)
    out["predict_big_batch_s"] = time.perf_counter() - start

    x10, y10 = x64[:10], rng.integers(0, 10, 10)
    fitted = _conv_model(lib)
    fitted.fit(x10, y10, batch_size=1024, epochs=1, verbose=0)
    start = time.perf_counter()
    fitted.fit(x10, y10, batch_size=1024, epochs=1, verbose=0)
    out["fit_big_batch_s"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# ============================================================================ driver side
def _run_worker(impl: str, timeout: float) -> dict | None:
    env = {**os.environ, "LAMINA_COMPILATION_CACHE": "0"}  # first-run compile times
    try:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--worker", impl],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        print(f"  {impl}: timed out after {timeout:.0f} s", file=sys.stderr)
        return None
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    print(f"  {impl}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
    return None


def _versions() -> str:
    from importlib import metadata

    parts = [f"python {platform.python_version()}"]
    for pkg in ("jax", "keras", "lamina"):
        try:
            parts.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(parts)


def render(results: dict, repeats: int, note: str, load_before, load_after) -> str:
    lines = [
        "",
        "## Latency and batch_size above the row count (`benchmarks/bench_latency.py`)",
        "",
        f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `python benchmarks/bench_latency.py --repeats {repeats}`",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "- Load average (1/5/15 min) before: "
        + "/".join(f"{v:.2f}" for v in load_before)
        + ", after: "
        + "/".join(f"{v:.2f}" for v in load_after),
        f"- Versions: {_versions()}",
        f"- {repeats} fresh process(es) per implementation, alternating; medians shown.",
    ]
    if note:
        lines.append(f"- Note: {note}")
    lines += [
        "",
        "| measurement | lamina | keras-jax | Lamina speedup (Keras ÷ Lamina) |",
        "|---|---:|---:|---:|",
    ]
    for key, label in LABELS.items():
        med = {}
        for impl in IMPLS:
            vals = [r[key] for r in results[impl] if r and key in r]
            med[impl] = statistics.median(vals) if vals else None
        cells = [f"{med[i]:.4g}" if med[i] is not None else "n/a" for i in IMPLS]
        ratio = ""
        if med["lamina"] and med["keras-jax"]:
            ratio = f"{med['keras-jax'] / med['lamina']:.2f}x"
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=IMPLS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--note", default="")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args(argv)
    if args.worker:
        print(MARK + json.dumps(worker(args.worker)), flush=True)
        return
    load_before = os.getloadavg()
    results = {impl: [] for impl in IMPLS}
    for r in range(args.repeats):
        for impl in IMPLS if r % 2 == 0 else IMPLS[::-1]:
            print(f"repeat {r + 1}/{args.repeats}: {impl}", file=sys.stderr)
            results[impl].append(_run_worker(impl, args.timeout))
    text = render(results, args.repeats, args.note, load_before, os.getloadavg())
    print(text)
    if not args.no_write:
        with open(args.output, "a") as f:
            f.write(text)
        print(f"appended to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
