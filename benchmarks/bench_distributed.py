"""Data-parallel throughput: one process vs two processes (``lamina launch``) on this machine.

The model is the MNIST-sized MLP 784 -> 512 -> 256 -> 10 (Adam, batch 256) on 60000 random
rows.  Each configuration fits one epoch to compile and warm up, then times ``--epochs`` more.

    python benchmarks/bench_distributed.py            # prints a Markdown table
    python benchmarks/bench_distributed.py --write    # also writes RESULTS_distributed.md

Configurations: one process on one device; one process with two host CPU devices
(``--xla_force_host_platform_device_count=2``, ``DataParallel``); two processes with one CPU
device each, joined over 127.0.0.1 (gloo collectives).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROWS, FEATURES, CLASSES, BATCH = 60000, 784, 10, 256


def worker(result_path, epochs, data_parallel):
    from lamina import distribution

    distribution.initialize()
    import jax
    import numpy as np

    import lamina
    from lamina.layers import Dense
    from lamina.models import Sequential

    if data_parallel:
        distribution.set_distribution(distribution.DataParallel())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, size=ROWS)
    lamina.utils.set_random_seed(0)
    model = Sequential(
        [
            Dense(512, activation="relu", input_shape=(FEATURES,)),
            Dense(256, activation="relu"),
            Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - t0
    if jax.process_index() == 0:
        steps = epochs * -(-ROWS // BATCH)
        Path(result_path).write_text(
            json.dumps(
                {
                    "processes": jax.process_count(),
                    "devices": jax.device_count(),
                    "first_epoch_s": warm,
                    "seconds": seconds,
                    "steps": steps,
                    "samples_per_s": epochs * ROWS / seconds,
                    "ms_per_step": 1e3 * seconds / steps,
                    "final_loss": history.history["loss"][-1],
                }
            )
        )


def run(config, epochs):
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        args = ["--worker", out, "--epochs", str(epochs)]
        if config == "2 processes x 1 device":
            cmd = [sys.executable, "-m", "lamina.cli.launch", "-n", "2", str(HERE), *args]
        else:
            cmd = [sys.executable, str(HERE), *args]
            if config == "1 process x 2 devices":
                env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
                cmd.append("--data-parallel")
        subprocess.run(cmd, env=env, check=True)
        return json.loads(Path(out).read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", metavar="RESULT_JSON")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-parallel", action="store_true")
    parser.add_argument("--write", action="store_true", help="write RESULTS_distributed.md")
    opts = parser.parse_args()
    if opts.worker:
        worker(opts.worker, opts.epochs, opts.data_parallel)
        return
    configs = ["1 process x 1 device", "1 process x 2 devices", "2 processes x 1 device"]
    results = {c: run(c, opts.epochs) for c in configs}
    base = results[configs[0]]["samples_per_s"]
    import jax

    lines = [
        f"Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"jax {jax.__version__}, Python {platform.python_version()}.",
        f"Model: MLP {FEATURES} -> 512 -> 256 -> {CLASSES}, Adam, batch {BATCH} (global), "
        f"{ROWS} rows; timed {opts.epochs} epoch(s) after a warm-up epoch.",
        "",
        "| configuration | samples/s | ms/step | speed-up | first epoch (compile) s | final loss |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in configs:
        r = results[c]
        lines.append(
            f"| {c} | {r['samples_per_s']:.0f} | {r['ms_per_step']:.1f} | "
            f"{r['samples_per_s'] / base:.2f}x | {r['first_epoch_s']:.1f} | {r['final_loss']:.4f} |"
        )
    table = "\n".join(lines)
    print(table)
    if opts.write:
        (HERE.parent / "RESULTS_distributed.md").write_text(
            "# Data-parallel throughput (bench_distributed.py)\n\n" + table + "\n"
        )


if __name__ == "__main__":
    main()
