"""Subprocess script for tests/test_multiprocess.py: streamed fits under several processes.

``--data DIR`` holds what the test wrote (:func:`write_data`): ``one.parquet`` (row groups of
16 rows), ``part-0.parquet``/``part-1.parquet`` (rows 0-47 and 48-86), ``x.npy``/``y.npy``.
For each kind of input the script fits a fresh :func:`model`, evaluates and predicts, and
prints this process's results as one JSON line (``RESULT {...}``).  The test imports
:func:`model`, :func:`write_data` and :class:`Share` to build the single-process references.
"""

import argparse
import json

import numpy as np

import lamina
from lamina.utils import PyDataset

GLOBAL_BATCH = 16
EPOCHS = 2


def model():
    lamina.utils.set_random_seed(1)
    m = lamina.models.Sequential(
        [
            lamina.layers.Dense(12, activation="relu", input_shape=(6,)),
            lamina.layers.Dropout(0.25),
            lamina.layers.Dense(3, activation="softmax"),
        ]
    )
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def write_data(folder):
    """Writes the inputs; returns the rows ``(x, y)``."""
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(87, 6)).astype("float32")
    y = (x[:, :3].sum(1) > 0).astype("int64") + (x[:, 3] > 0.5)
    np.save(f"{folder}/x.npy", x)
    np.save(f"{folder}/y.npy", y)
    df = pd.DataFrame(x, columns=list("abcdef"))
    df["t"] = y
    df.to_parquet(f"{folder}/one.parquet", row_group_size=16)
    df[:48].to_parquet(f"{folder}/part-0.parquet")
    df[48:].to_parquet(f"{folder}/part-1.parquet")
    return x, y


class Share(PyDataset):
    """Process ``index``'s rows of every global batch of the first ``n`` rows: each process
    builds its own dataset, as with Keras's per-worker datasets."""

    def __init__(self, x, y, n, index, count):
        super().__init__()
        self.x, self.y, self.n = x, y, n
        self.local = GLOBAL_BATCH // count
        self.offset = index * self.local

    def __len__(self):
        return self.n // GLOBAL_BATCH

    def __getitem__(self, i):
        start = i * GLOBAL_BATCH + self.offset
        return self.x[start : start + self.local], self.y[start : start + self.local]


def _run(make_input, **fit_kw):
    m = model()
    history = m.fit(make_input(), epochs=EPOCHS, verbose=0, **fit_kw)
    return {
        "weights": [w.tolist() for w in m.get_weights()],
        "history": history.history,
        "evaluate": m.evaluate(make_input(), verbose=0),
        "predict": m.predict(make_input(), verbose=0).tolist(),
    }


def main():
    from lamina import distribution

    distribution.initialize()
    import jax

    jax.config.update("jax_numpy_rank_promotion", "raise")
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    data = parser.parse_args().data

    def parquet(pattern):
        return lambda: lamina.data.from_parquet(
            f"{data}/{pattern}", target="t", batch_size=GLOBAL_BATCH, verbose=False
        )

    x, y = np.load(f"{data}/x.npy"), np.load(f"{data}/y.npy")
    index, count = jax.process_index(), jax.process_count()
    result = {
        "process": index,
        "process_count": count,
        "row_groups": _run(parquet("one.parquet"), shuffle=False),
        "files": _run(parquet("part-*.parquet"), shuffle=False),
        "pydataset": _run(lambda: Share(x, y, 80, index, count), shuffle=False),
    }
    # Memory maps: every process opens the same arrays; the shuffle must agree between them.
    xm, ym = np.load(f"{data}/x.npy", mmap_mode="r"), np.load(f"{data}/y.npy", mmap_mode="r")
    m = model()
    history = m.fit(xm, ym, batch_size=GLOBAL_BATCH, epochs=EPOCHS, verbose=0, shuffle=True)
    result["mmap"] = {
        "weights": [w.tolist() for w in m.get_weights()],
        "history": history.history,
        "evaluate": m.evaluate(xm, ym, batch_size=GLOBAL_BATCH, verbose=0),
        "predict": m.predict(xm, batch_size=GLOBAL_BATCH, verbose=0).tolist(),
    }
    try:  # a generator of unknown length cannot keep the processes in step
        m.fit(((x[:8], y[:8]) for _ in range(3)), epochs=1, verbose=0)
        result["no_length"] = None
    except ValueError as e:
        result["no_length"] = str(e)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
