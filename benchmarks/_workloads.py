"""Workload definitions shared by bench_fit.py's workers: sizes, data, and models built the
same way for Lamina, Keras and the hand-written reference (benchmarks/reference_scan.py).

Imports nothing heavy at module level: the ``import`` workload times imports in a fresh process.
"""

from __future__ import annotations

#: Full sizes (the issue's) and --quick sizes (a smoke run: fewer epochs and rows).
CONFIGS = {
    "tiny": dict(
        rows=768,
        shape=(8,),
        spec=(("dense", 12, "relu"), ("dense", 8, "relu"), ("dense", 1, "sigmoid")),
        loss="binary_crossentropy",
        batch=10,
        epochs=150,
        quick=dict(epochs=30),
    ),
    "mlp": dict(
        rows=60_000,
        shape=(784,),
        classes=10,
        spec=(("dense", 512, "relu"), ("dense", 256, "relu"), ("dense", 10, "softmax")),
        loss="sparse_categorical_crossentropy",
        batch=128,
        epochs=3,
        quick=dict(rows=6_000, epochs=2),
    ),
    "predict": dict(
        rows=100_000,
        shape=(784,),
        classes=10,
        spec=(("dense", 512, "relu"), ("dense", 256, "relu"), ("dense", 10, "softmax")),
        loss="sparse_categorical_crossentropy",
        batches=(32, 1024),
        quick=dict(rows=10_000),
    ),
    "conv": dict(
        rows=1_797,
        shape=(8, 8, 1),
        classes=10,
        spec=(("conv2d", 16, 3, "relu"), ("flatten",), ("dense", 10, "softmax")),
        loss="sparse_categorical_crossentropy",
        batch=32,
        epochs=20,
        quick=dict(epochs=4),
        needs="Conv2D",
    ),
    "lstm": dict(
        rows=2_000,
        shape=(20, 8),
        spec=(("lstm", 32), ("dense", 1, "sigmoid")),
        loss="binary_crossentropy",
        batch=32,
        epochs=5,
        quick=dict(epochs=2),
        needs="LSTM",
    ),
}
CONFIGS["compile"] = dict(CONFIGS["tiny"])


def config(workload, quick):
    cfg = {k: v for k, v in CONFIGS[workload].items() if k != "quick"}
    if quick:
        cfg.update(CONFIGS[workload].get("quick", {}))
    return cfg


def data(cfg, seed=0):
    """(x, y) float32 host arrays. The tiny workloads use the real Pima data when it loads."""
    import numpy as np

    if cfg["shape"] == (8,) and cfg["rows"] == 768:
        try:
            from lamina.datasets import load_pima

            x, y = load_pima()
            return np.asarray(x, np.float32), np.asarray(y, np.float32)
        except Exception:  # noqa: BLE001  (fall back to Pima-shaped random data)
            pass
    rng = np.random.default_rng(seed)
    x = rng.random((cfg["rows"], *cfg["shape"]), dtype=np.float32)
    if cfg.get("classes"):
        y = rng.integers(0, cfg["classes"], cfg["rows"]).astype(np.float32)
    else:
        y = (rng.random(cfg["rows"]) > 0.5).astype(np.float32)
    return x, y


def build(ns_models, ns_layers, cfg):
    """The workload's Sequential model from a Keras-like namespace (lamina or keras)."""
    layers = [ns_layers.Input(cfg["shape"])]
    for spec in cfg["spec"]:
        kind = spec[0]
        if kind == "dense":
            layers.append(ns_layers.Dense(spec[1], activation=spec[2]))
        elif kind == "conv2d":
            layers.append(ns_layers.Conv2D(spec[1], spec[2], activation=spec[3]))
        elif kind == "flatten":
            layers.append(ns_layers.Flatten())
        elif kind == "lstm":
            layers.append(ns_layers.LSTM(spec[1]))
    return ns_models.Sequential(layers)


def available(workload) -> bool:
    """Whether Lamina has the layers a workload needs (Conv2D, LSTM land separately)."""
    need = CONFIGS.get(workload, {}).get("needs")
    if not need:
        return True
    import lamina.layers

    return hasattr(lamina.layers, need)
