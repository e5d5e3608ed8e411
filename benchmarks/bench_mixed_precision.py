"""Fit-epoch time of the bench MLP and CNN under each dtype policy (Lamina only).

    python benchmarks/bench_mixed_precision.py [--workloads mlp,conv] [--epochs 3]

Each policy builds the workload's model after ``set_global_policy``, compiles it with Adam,
runs one epoch (compilation) and then times ``--epochs`` epochs; the median epoch is printed
beside the float32 one.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _workloads import build, config, data

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


class _EpochTimer:
    def __init__(self):
        self.times, self._t = [], None

    def callback(self, lamina):
        timer = self

        class Timer(lamina.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timer.times.append(time.perf_counter() - timer._t)

        return Timer()


def run(workload: str, policy: str, epochs: int) -> tuple[float, float]:
    import lamina

    lamina.mixed_precision.set_global_policy(policy)
    cfg = config(workload, quick=False)
    x, y = data(cfg)
    model = build(lamina.models, lamina.layers, cfg)
    model.compile("adam", cfg["loss"])
    timer = _EpochTimer()
    model.fit(x, y, batch_size=cfg["batch"], epochs=1 + epochs, verbose=0,
              callbacks=[timer.callback(lamina)])  # fmt: skip
    loss = float(model.evaluate(x, y, verbose=0))
    lamina.mixed_precision.set_global_policy("float32")
    return statistics.median(timer.times[1:]), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="mlp,conv")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    for workload in args.workloads.split(","):
        base = None
        for policy in POLICIES:
            seconds, loss = run(workload, policy, args.epochs)
            base = base or seconds
            print(f"{workload:5s} {policy:15s} epoch {seconds * 1e3:8.1f} ms "
                  f"({base / seconds:4.2f}x float32)  loss {loss:.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
