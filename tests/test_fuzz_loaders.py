"""Fuzzing the file readers: mutated ``.keras`` / ``.h5`` / ``.weights.h5`` / CSV / Parquet bytes.

Each mutated file (bit flips, truncation, inserted bytes, or a mix) is loaded with
``lamina.models.load_model`` / ``model.load_weights`` / ``lamina.data.from_csv`` /
``from_parquet`` (the datasets are also read to the end).  The outcome must be a valid load or a
clean ``ValueError``/``TypeError``/``OSError`` whose message names the file: never a crash,
a hang (each load runs under a 20 s alarm), or another exception type.

Time box: the default suite runs ``FUZZ_EXAMPLES`` (default 100) mutations per format, under
~60 s in all.  A longer run, e.g. ``LAMINA_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_loaders.py``,
searches far more (about 10 minutes per 1000 examples per format on 2 cores); it is not
derandomized then, so each long run explores new mutations.
"""

import os
import signal
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from lamina.layers import Dense, Dropout, Input
from lamina.models import Sequential, load_model

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

FUZZ_EXAMPLES = int(os.environ.get("LAMINA_FUZZ_EXAMPLES", "100"))
LONG = "LAMINA_FUZZ_EXAMPLES" in os.environ
# The legacy .h5 model reader gets fewer default examples: at example ~30 of the derandomized
# sequence libhdf5 hangs (see test_known_hdf5_attribute_hang), which no Python timeout stops.
H5_EXAMPLES = FUZZ_EXAMPLES if LONG else 25
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=list(HealthCheck),
)
ALLOWED = (ValueError, TypeError, OSError)


def _model():
    model = Sequential([Input((4,)), Dense(5, activation="relu"), Dropout(0.1), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.fixture(scope="module")
def originals():
    folder = tempfile.mkdtemp(prefix="lamina_fuzz_")
    model = _model()
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model.fit(x, x[:, :2], epochs=1, verbose=0)
    model.save(os.path.join(folder, "m.keras"))
    model.save(os.path.join(folder, "m.h5"))
    model.save_weights(os.path.join(folder, "m.weights.h5"))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["y"] = (x[:, 0] > 0).astype("float32")
    frame.to_csv(os.path.join(folder, "d.csv"), index=False)
    frame.to_parquet(os.path.join(folder, "d.parquet"))
    files = {}
    for name in ("m.keras", "m.h5", "m.weights.h5", "d.csv", "d.parquet"):
        with open(os.path.join(folder, name), "rb") as f:
            files[name] = f.read()
    return files, _model_built()


def _model_built():
    model = _model()
    model.build((None, 4))
    return model


mutation = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("zero"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
)


def mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for op, where, arg in ops:
        if not buf:
            break
        pos = int(where * len(buf))
        if op == "flip":
            buf[min(pos, len(buf) - 1)] ^= 1 << arg
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = arg
        else:
            end = min(len(buf), pos + arg)
            buf[pos:end] = bytes(end - pos)
    return bytes(buf)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _load(name, path, target_model):
    if name in ("m.keras", "m.h5"):
        load_model(path)
    elif name == "m.weights.h5":
        target_model.load_weights(path)
    else:
        reader = lamina.data.from_csv if name == "d.csv" else lamina.data.from_parquet
        ds = reader(path, target="y", batch_size=4, verbose=False)
        for _ in ds:
            pass


def check_one(name, data, target_model, folder):
    """Writes ``data`` as ``name`` and loads it; fails on anything but a clean outcome."""
    path = os.path.join(folder, f"fuzz_{name}")
    with open(path, "wb") as f:
        f.write(data)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(20)
    try:
        _load(name, path, target_model)
    except _Hang:
        pytest.fail(f"loading a mutated {name} hung for 20 s")
    except ALLOWED as e:
        assert os.path.basename(path) in str(e), f"{type(e).__name__} without the file name: {e}"
    except Exception as e:  # noqa: BLE001 - anything else is the bug being searched for
        pytest.fail(f"mutated {name}: {type(e).__module__}.{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5", "d.csv", "d.parquet"])
def test_originals_load(originals, name, tmp_path):
    files, target = originals
    check_one(name, files[name], target, str(tmp_path))


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5", "d.csv", "d.parquet"])
def test_fuzz_reader(originals, name, tmp_path):
    files, target = originals

    @settings(FUZZ, max_examples=H5_EXAMPLES if name == "m.h5" else FUZZ_EXAMPLES)
    @given(ops=st.lists(mutation, min_size=1, max_size=4))
    def run(ops):
        check_one(name, mutate(files[name], ops), target, str(tmp_path))

    run()


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5", "d.csv", "d.parquet"])
def test_truncated_at_every_fraction(originals, name, tmp_path):
    files, target = originals
    data = files[name]
    for cut in (0, 1, 7, len(data) // 3, len(data) // 2, len(data) - 1):
        check_one(name, data[:cut], target, str(tmp_path))


@pytest.mark.slow
@pytest.mark.xfail(reason="libhdf5 hangs reading a damaged attribute; not fixed yet", strict=True)
def test_known_hdf5_attribute_hang():
    """A bit-flipped legacy .h5 found by this fuzzer: reading its ``model_config`` attribute
    spins forever inside libhdf5 (h5py holds the GIL, so SIGALRM cannot interrupt it).
    Fixing it needs the attribute read in a child process or a patched HDF5."""
    import subprocess
    import sys

    path = os.path.join(os.path.dirname(__file__), "data", "fuzz_hang_model_config.h5")
    code = (
        f"import lamina.models as m\ntry:\n    m.load_model({path!r})\nexcept ValueError:\n    pass"
    )
    try:
        subprocess.run([sys.executable, "-c", code], timeout=30, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("load_model hung on a damaged .h5 file")
