"""Fuzzing the file readers: mutated ``.keras`` / ``.h5`` / ``.weights.h5`` / CSV / Parquet bytes.

Each mutated file (bit flips, truncation, inserted bytes, or a mix) is loaded with
``lamina.models.load_model`` / ``model.load_weights`` / ``lamina.data.from_csv`` /
``from_parquet`` (the datasets are also read to the end).  The outcome must be a valid load or a
clean ``ValueError``/``TypeError``/``OSError`` whose message names the file: never a crash,
a hang (each load runs under a 20 s alarm), or another exception type.

HDF5 data (``.h5``, ``.weights.h5``, and the weights inside ``.keras``) is read whole in a child
process by ``lamina.saving.h5_sandbox``, killed after ``LAMINA_H5_TIMEOUT`` (3 s here), since a
damaged file can hang libhdf5 beyond any signal.  A fresh child costs ~0.3 s, too much for
hundreds of mutations, so ``test_fuzz_reader`` routes the sandbox through one long-lived child
(``_ReuseChild``) that runs the same reading code on each file, under the same timeout, and is
restarted after a hang or crash; everything else (the index, the arrays, the loaders) is the
real path.  ``test_fuzz_real_sandbox`` runs a few mutations through real fresh children.

Time box: the default suite runs ``FUZZ_EXAMPLES`` (default 100) mutations per format, under
~60 s in all.  A longer run, e.g. ``LAMINA_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz_loaders.py``,
searches far more (about 10 minutes per 1000 examples per format on 2 cores); it is not
derandomized then, so each long run explores new mutations.
"""

import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from lamina.layers import Dense, Dropout, Input
from lamina.models import Sequential, load_model
from lamina.saving import h5_sandbox

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

FUZZ_EXAMPLES = int(os.environ.get("LAMINA_FUZZ_EXAMPLES", "100"))
LONG = "LAMINA_FUZZ_EXAMPLES" in os.environ
H5_FILES = ("m.keras", "m.h5", "m.weights.h5")
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


class _ReuseChild:
    """Stands in for ``h5_sandbox._run_child``: one long-lived child reads file after file.

    The child runs ``h5_sandbox._child_main`` (the real child's code) per request; a request
    that takes longer than the timeout kills it (``TimeoutExpired``, as the real sandbox), and a
    crash reports the signal.  A Python error in the child is a bug, never a file's fault.
    """

    CODE = (
        "import runpy, sys\n"
        "child = runpy.run_path(sys.argv[1])  # h5_sandbox.py, without importing lamina\n"
        "for line in sys.stdin:\n"
        "    child['_child_main'](*line.rstrip('\\n').split('\\t'))\n"
        "    print('done', flush=True)\n"
    )

    def __init__(self):
        self.proc = None

    def __call__(self, source, out, timeout):
        if self.proc is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", self.CODE, h5_sandbox.__file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
            )
        self.proc.stdin.write(f"{source}\t{out}\n".encode())
        if not select.select([self.proc.stdout], [], [], timeout)[0]:
            self.close()
            raise subprocess.TimeoutExpired("h5_sandbox child", timeout)
        if self.proc.stdout.readline() == b"done\n":
            return 0, ""
        code, self.proc = self.proc.wait(), None
        assert code < 0, f"the h5_sandbox child failed with exit code {code} (see stderr)"
        return code, ""

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def h5_timeout(monkeypatch):
    """A 3 s sandbox timeout: a hanging mutation costs 3 s (the files are a few KiB)."""
    monkeypatch.setenv("LAMINA_H5_TIMEOUT", "3")


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5", "d.csv", "d.parquet"])
def test_fuzz_reader(originals, name, tmp_path, monkeypatch, h5_timeout):
    files, target = originals
    child = _ReuseChild()
    monkeypatch.setattr(h5_sandbox, "_run_child", child)

    @settings(FUZZ)
    @given(ops=st.lists(mutation, min_size=1, max_size=4))
    def run(ops):
        check_one(name, mutate(files[name], ops), target, str(tmp_path))

    try:
        run()
    finally:
        child.close()


@pytest.mark.parametrize("name", H5_FILES)
def test_fuzz_real_sandbox(originals, name, tmp_path, h5_timeout):
    """A few mutations (other ones: two to four changes) through real fresh sandbox children."""
    files, target = originals

    @settings(FUZZ, max_examples=max(1, FUZZ_EXAMPLES // 12))
    @given(ops=st.lists(mutation, min_size=2, max_size=4))
    def run(ops):
        check_one(name, mutate(files[name], ops), target, str(tmp_path))

    run()


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5", "d.csv", "d.parquet"])
def test_truncated_at_every_fraction(originals, name, tmp_path, h5_timeout):
    files, target = originals
    data = files[name]
    for cut in (0, 1, 7, len(data) // 3, len(data) // 2, len(data) - 1):
        check_one(name, data[:cut], target, str(tmp_path))


def test_known_hdf5_attribute_hang(h5_timeout):
    """A bit-flipped legacy .h5 found by this fuzzer: reading its ``model_config`` attribute
    spins forever inside libhdf5 (h5py holds the GIL, so SIGALRM cannot interrupt it).  The
    sandbox reads it in a child process and kills the child after ``LAMINA_H5_TIMEOUT``."""
    path = os.path.join(os.path.dirname(__file__), "data", "fuzz_hang_model_config.h5")
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"took longer than 3 s; it is probably corrupt") as info:
        load_model(path)
    assert "fuzz_hang_model_config.h5" in str(info.value)
    assert time.monotonic() - start < 20
