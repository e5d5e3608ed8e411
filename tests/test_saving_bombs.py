"""Memory and time bombs in model files: refused before they allocate, with a clear ValueError.

A model file is untrusted input, and a small one can ask for gigabytes: a zip directory that
lies about its sizes, variable-length strings that all point at one large string, datasets that
were never written (their fill value is materialised), attributes read many times through hard
links.  Each hostile file here is small and the limits are shrunk where the module exposes them,
so a test never allocates much; before the fixes each of these files was read in full.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.saving import config_checks, h5_bounds, h5_sandbox, keras_archive, safety

WEIGHTS = "model.weights.h5"


def _dense(units=3):
    return lamina.models.Sequential([lamina.layers.Input((4,)), lamina.layers.Dense(units)])


def _archive(tmp_path, name, weights: bytes, compression=zipfile.ZIP_STORED, units=3):
    """A ``.keras`` archive of ``_dense(units)``'s config whose weights member is ``weights``."""
    good = tmp_path / "good.keras"
    _dense().save(good)
    config = keras_archive.read_config(good)[0]
    config["config"]["layers"][-1]["config"]["units"] = units
    path = tmp_path / name
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        dst.writestr("metadata.json", src.read("metadata.json"))
        dst.writestr("config.json", json.dumps(config))
        dst.writestr(WEIGHTS, weights, compress_type=compression)
    return path


def _patch_directory(path, member, **fields):
    """Rewrites ``member``'s central-directory sizes (``compress_size``, ``file_size``)."""
    raw = bytearray(path.read_bytes())
    at = {"compress_size": 20, "file_size": 24}
    k = raw.find(b"PK\x01\x02")
    while k != -1:
        n = struct.unpack("<H", raw[k + 28 : k + 30])[0]
        if raw[k + 46 : k + 46 + n] == member.encode():
            for key, value in fields.items():
                raw[k + at[key] : k + at[key] + 4] = struct.pack("<I", value)
        k = raw.find(b"PK\x01\x02", k + 4)
    path.write_bytes(bytes(raw))


def _load_refused(path, match, loader=lamina.models.load_model):
    with pytest.raises(ValueError, match=match) as info:
        loader(path)
    assert str(path) in str(info.value), "the message names the file"
    return str(info.value)


def _same_string_everywhere(path, where, n, size, extra=None):
    """A file whose vlen-string dataset ``where`` has ``n`` elements, all pointing at the same
    ``size``-character string of the global heap (stored once)."""
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(where, shape=(n,), dtype=h5py.string_dtype())
        ds[0] = "A" * size
        ds[1:] = ""
        offset = ds.id.get_offset()
        if extra is not None:
            extra(f)
    raw = bytearray(path.read_bytes())
    record = bytes(raw[offset : offset + 16])
    raw[offset : offset + 16 * n] = record * n
    path.write_bytes(bytes(raw))
    return path


@pytest.fixture
def small_bounds(monkeypatch):
    """In-process reads (so the patched limits apply) with a 256 KiB floor, 10x the file."""
    monkeypatch.setenv("LAMINA_H5_SANDBOX", "0")
    monkeypatch.setattr(h5_bounds, "MIN_READ_BYTES", 256 << 10)
    monkeypatch.setattr(h5_bounds, "FILE_EXPANSION", 10)


# ------------------------------------------------------------------ zip archives
def test_zip_directory_declaring_more_than_the_file_is_refused(tmp_path):
    inflated = 4 << 20
    path = _archive(tmp_path, "lie.keras", b"\0" * inflated, zipfile.ZIP_DEFLATED)
    # 99 times: under the expansion limit, but more compressed bytes than the file has.
    _patch_directory(path, WEIGHTS, compress_size=inflated // 99)
    assert inflated // 99 > path.stat().st_size
    _load_refused(path, r"declares \d+ compressed bytes of members, more than the file's")


def test_weight_budget_comes_from_the_real_file_size(tmp_path, monkeypatch):
    monkeypatch.setattr(config_checks, "MIN_BOUND", 1 << 20)
    units = 400_000  # 8 MB of weights declared by a ~1.4 KB archive
    path = _archive(tmp_path, "big.keras", b"\x89HDF\r\n\x1a\n", units=units)
    _patch_directory(path, WEIGHTS, file_size=1 << 20)  # claims 1 MiB of weights
    assert 1000 * path.stat().st_size < 20 * units < 1000 * (1 << 20)
    _load_refused(path, r"declares \d+ bytes of weights .*budget")


def test_truncated_member_error_says_what_went_wrong(tmp_path):
    path = tmp_path / "m.keras"
    _dense().save(path)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(WEIGHTS)
        assert zf.infolist()[-1].filename == WEIGHTS
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    data_start = info.header_offset + 30 + name_len + extra_len
    size = len(raw)
    # Data running 10 bytes past the end of the file; all members still fit in the file.
    claimed = size - data_start + 10
    _patch_directory(path, WEIGHTS, compress_size=claimed, file_size=claimed)
    _load_refused(path, r"'model.weights.h5' is corrupt or truncated \(EOFError: \w")


def test_weights_member_is_streamed_not_held_in_memory(tmp_path):
    nbytes = 16 << 20
    path = _archive(tmp_path, "stream.keras", b"\x01" * nbytes)
    tracemalloc.start()
    try:
        with safety.open_zip(path) as zf, pytest.raises(ValueError, match="not a readable HDF5"):
            keras_archive.open_weights(zf, str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < nbytes // 4, f"{peak} bytes held while reading a {nbytes}-byte member"


# ------------------------------------------------------------------ HDF5 strings
def test_vlen_strings_pointing_at_one_string_are_refused(tmp_path, small_bounds):
    def rest(f):
        f["layers/dense/vars/1"] = np.zeros(3, "float32")

    path = _same_string_everywhere(
        tmp_path / "vlen.weights.h5", "layers/dense/vars/0", 4000, 8 << 10, rest
    )
    assert path.stat().st_size < 200_000  # 4000 x 8 KiB = 32 MiB if read
    msg = _load_refused(path, r"would materialise \d+ bytes", _dense().load_weights)
    assert "layers/dense/vars/0" in msg


def test_one_long_string_does_not_widen_every_element(tmp_path):
    """NumPy's fixed-width strings make every element as wide as the longest one (80 MB
    here, from a 0.2 MB file): charged before the conversion, in the real sandbox child."""
    path = tmp_path / "wide.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "names", data=np.array(["x" * (16 << 10)] + ["a"] * 4999, dtype=object),
            dtype=h5py.string_dtype(),
        )  # fmt: skip
    assert path.stat().st_size < 300_000
    _load_refused(path, r"'names' would materialise \d+ bytes", h5_sandbox.read_file)


# ------------------------------------------------------------------ HDF5 unwritten data, links
def test_fill_value_datasets_are_bounded_by_the_file_size(tmp_path, small_bounds):
    path = tmp_path / "fill.h5"
    _dense().save(path)
    with h5py.File(path, "a") as f:  # ten never-written 512 KiB datasets in an unused group
        for i in range(10):
            f.create_dataset(f"junk/d{i}", shape=(1 << 17,), dtype="f4", chunks=(1 << 14,))
    assert path.stat().st_size < 100_000
    _load_refused(path, r"up to 'junk/d\d' would materialise \d+ bytes")


def test_fill_value_datasets_are_bounded_in_the_real_child(tmp_path):
    path = tmp_path / "fill.weights.h5"
    with h5py.File(path, "w") as f:  # 3 x 40 MiB declared, nothing stored; the floor is 64 MiB
        for i in range(3):
            f.create_dataset(f"junk/d{i}", shape=(10 << 20,), dtype="f4", chunks=(1 << 16,))
    assert path.stat().st_size < 50_000
    _load_refused(path, r"up to 'junk/d1' would materialise", h5_sandbox.read_file)


def test_attributes_read_through_many_hard_links_are_bounded(tmp_path, small_bounds):
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        f.create_group("g").attrs["big"] = np.zeros(8 << 10, "f4")  # 32 KiB, stored once
        for i in range(200):
            f[f"l{i}"] = f["g"]  # hard links: 200 reads of the same attribute
    assert path.stat().st_size < 100_000
    _load_refused(path, r"'l\d+@big' would materialise \d+ bytes", h5_sandbox.read_file)


def test_datasets_outside_the_models_weights_are_not_read(tmp_path, monkeypatch):
    model = _dense()
    path = tmp_path / "extra.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "a") as f:  # 1.5 MiB of real data the model does not use
        for i in range(3):
            f[f"junk/d{i}"] = np.ones(1 << 17, "f4")
    monkeypatch.setenv("LAMINA_MAX_WEIGHT_BYTES", str(1 << 20))  # only the junk goes over
    other = _dense()
    other.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), model.get_weights()))
    tree = h5_sandbox.read_file(path, groups=["layers/dense/vars"])
    assert tree["layers/dense/vars/0"].shape == (4, 3)
    with pytest.raises(ValueError, match="did not read it"):
        tree["junk/d0"]


# ------------------------------------------------------------------ the sandbox child
def _child_code(body):
    prelude = f"import runpy\nsandbox = runpy.run_path({h5_sandbox.__file__!r})\n"
    return prelude + textwrap.dedent(body)


def test_child_memory_limit_turns_a_vlen_attribute_bomb_into_an_error(tmp_path):
    path = tmp_path / "attr.h5"
    n, size = 5000, 1 << 20  # 5 GB if read, and an attribute can only be read whole
    with h5py.File(path, "w", libver="latest") as f:
        data = np.array(["A" * size] + ["B"] * (n - 1), dtype=object)
        f.attrs.create("junk", data, dtype=h5py.string_dtype())
    raw = bytearray(path.read_bytes())
    k = raw.find(struct.pack("<I", size))
    while raw[k + 16 : k + 20] != struct.pack("<I", 1):
        k = raw.find(struct.pack("<I", size), k + 1)
    raw[k : k + 16 * n] = bytes(raw[k : k + 16]) * n
    path.write_bytes(bytes(raw))
    code = _child_code(f"""
        sandbox["h5_bounds"].limit_resources(128 << 20, 60)
        print(sandbox["collect"]({str(path)!r}, lambda a: 0))
    """)
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert "'MemoryError'" in out.stdout and "more memory than" in out.stdout, out.stderr[-2000:]


def test_child_dying_of_memory_is_a_clean_error(tmp_path, monkeypatch):
    path = tmp_path / "m.weights.h5"
    _dense().save_weights(path)
    fake = [sys.executable, "-c", "raise MemoryError"]
    monkeypatch.setattr(h5_sandbox, "_child_argv", lambda source, out: fake)
    _load_refused(path, r"needs more memory than the HDF5 reader's limit", _dense().load_weights)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_child_dies_with_its_parent(tmp_path):
    fifo = tmp_path / "stall.h5"
    os.mkfifo(fifo)  # opening it blocks the child in libhdf5 until a writer comes: forever
    out = tmp_path / "out"
    out.mkdir()
    parent_code = _child_code(f"""
        import os, subprocess, sys
        argv = sandbox["_child_argv"]({str(fifo)!r}, {str(out)!r})
        env = {{**os.environ, "LAMINA_H5_PARENT": str(os.getpid())}}
        child = subprocess.Popen(argv, env=env)
        print(child.pid, flush=True)
        child.wait()
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE)
    child_pid = int(parent.stdout.readline())
    try:
        time.sleep(1.5)  # the child is up and blocked
        parent.kill()  # SIGKILL: the parent cannot clean up
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child_pid), "the sandbox child outlived its killed parent"
    finally:
        if _alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def _alive(pid) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
