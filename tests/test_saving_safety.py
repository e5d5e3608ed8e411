"""Safe saving and loading: atomic writes survive SIGKILL; bad files give a clear ValueError.

Each bad file (corrupt, truncated, empty, not a zip, path traversal, oversized, Lambda layer)
must raise a ValueError whose message names the file, and never run code from it.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

import lamina
from lamina.models import load_model
from lamina.saving import safety


@pytest.fixture
def saved(tmp_path):
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "good.keras"
    model.save(path)
    return model, path


def _bad(path, match=None):
    with pytest.raises(ValueError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value), "the message names the file"
    return str(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.keras"
    path.write_bytes(b"")
    _bad(path, "empty")


def test_missing_file(tmp_path):
    _bad(tmp_path / "nope.keras", "no such file")


def test_not_a_model_file(tmp_path):
    path = tmp_path / "text.keras"
    path.write_text("hello, I am not a model")
    _bad(path, "neither a .keras")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_archive(saved, tmp_path, keep):
    _, good = saved
    data = good.read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[: int(len(data) * keep)])
    _bad(path)


def test_truncated_legacy_h5(saved, tmp_path):
    model, _ = saved
    good = tmp_path / "good.h5"
    model.save(good)
    path = tmp_path / "cut.h5"
    path.write_bytes(good.read_bytes()[:700])
    _bad(path)


def test_corrupt_weights_member(saved, tmp_path):
    _, good = saved
    path = tmp_path / "corrupt.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, b"\x00garbage" * 10 if name == "model.weights.h5" else data)
    _bad(path, "model.weights.h5")


def test_corrupt_config_json(saved, tmp_path):
    _, good = saved
    path = tmp_path / "badjson.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, b"{not json" if name == "config.json" else src.read(name))
    _bad(path, "config.json")


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil", "assets/../../evil", "C:/evil"])
def test_path_traversal_member(saved, tmp_path, member):
    _, good = saved
    path = tmp_path / "traversal.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr(zipfile.ZipInfo(member), b"x")
    _bad(path, "path traversal")
    assert not (tmp_path.parent / "evil.txt").exists()


def test_oversized_member(saved, tmp_path, monkeypatch):
    _, good = saved
    monkeypatch.setattr(safety, "MAX_MEMBER_BYTES", 100)
    _bad(good, "limit")


def test_oversized_file(saved, monkeypatch):
    _, good = saved
    monkeypatch.setattr(safety, "MAX_FILE_BYTES", 10)
    _bad(good, "limit")


def test_zip_bomb_member(saved, tmp_path):
    _, good = saved
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("assets/bomb.bin", b"\x00" * (8 << 20))
    _bad(path, "decompression bomb")


def test_lambda_layer_refused(saved, tmp_path):
    _, good = saved
    path = tmp_path / "lambda.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.json":
                config = json.loads(data)
                config["config"]["layers"].append(
                    {
                        "module": "keras.layers",
                        "class_name": "Lambda",
                        "config": {
                            "name": "evil",
                            "function": {
                                "class_name": "__lambda__",
                                "config": {"code": "print('pwned')"},
                            },
                        },
                        "registered_name": None,
                    }
                )
                data = json.dumps(config)
            dst.writestr(name, data)
    _bad(path, "Lambda")


def test_functional_config_without_its_graph_refused(saved, tmp_path):
    _, good = saved
    path = tmp_path / "functional.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.json":
                config = json.loads(data)
                config["class_name"] = "Functional"
                data = json.dumps(config)
            dst.writestr(name, data)
    _bad(path, "input_layers")


def test_weights_file_mismatch_names_file(tmp_path):
    a = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    b = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(5)])
    path = tmp_path / "a.weights.h5"
    a.save_weights(path)
    with pytest.raises(ValueError, match="a.weights.h5"):
        b.load_weights(path)


def test_failed_write_keeps_old_file(saved, tmp_path):
    _, good = saved
    before = good.read_bytes()
    with pytest.raises(RuntimeError), safety.atomic_write(good) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise RuntimeError("crash while writing")
    assert good.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["good.keras"], "no temporary file left"


SAVE_FOREVER = textwrap.dedent("""
    import sys
    import lamina
    from lamina.saving import safety
    path = sys.argv[1]
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    model.save(path)  # the good file
    real = safety.atomic_write

    import contextlib
    @contextlib.contextmanager
    def slow(p, suffix=".tmp"):
        with real(p, suffix) as tmp:
            yield tmp
            print("WRITING", flush=True)
            import time
            time.sleep(60)  # killed here: the temporary file is complete, not yet renamed
    safety.atomic_write = slow
    model.save(path)
""")


def test_sigkill_during_save_keeps_old_file(tmp_path):
    path = tmp_path / "m.keras"
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVE_FOREVER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "WRITING", line
        before = path.read_bytes()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.1)
    assert path.read_bytes() == before
    model = load_model(path)
    assert [w.shape for w in model.get_weights()] == [(3, 2), (2,)]


SAVE_LOOP = textwrap.dedent("""
    import sys
    import lamina
    path = sys.argv[1]
    model = lamina.models.Sequential([lamina.layers.Input((500,)), lamina.layers.Dense(2000)])
    model.save(path)
    print("SAVED", flush=True)
    while True:
        model.save(path)
""")


@pytest.mark.slow
def test_sigkill_at_random_time_during_repeated_saves(tmp_path):
    path = tmp_path / "big.keras"
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVE_LOOP, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    try:
        assert proc.stdout.readline().strip() == "SAVED"
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    model = load_model(path)  # whichever save finished last, complete
    assert model.get_weights()[0].shape == (500, 2000)


def test_load_model_on_weights_file_says_so(tmp_path):
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    path = tmp_path / "only.weights.h5"
    model.save_weights(path)
    _bad(path, "weights only")


# ------------------------------------------------------------------ the HDF5 sandbox
def _three_formats(tmp_path):
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    paths = [tmp_path / "m.h5", tmp_path / "m.keras"]
    for p in paths:
        model.save(p)
    model.save_weights(tmp_path / "m.weights.h5")
    return model, [*paths, tmp_path / "m.weights.h5"]


def _load_any(path):
    if path.name.endswith(".weights.h5"):
        model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
        model.load_weights(path)
        return model
    return load_model(path)


@pytest.mark.parametrize("kind", ["h5", "keras", "weights.h5"])
def test_hdf5_reader_crash_is_a_clean_error(tmp_path, monkeypatch, kind):
    from lamina.saving import h5_sandbox

    _, paths = _three_formats(tmp_path)
    path = next(p for p in paths if p.name == f"m.{kind}")
    abort = [sys.executable, "-c", "import os; os.abort()"]
    monkeypatch.setattr(h5_sandbox, "_child_argv", lambda source, out: abort)
    with pytest.raises(ValueError, match=r"HDF5 library crashed \(SIGABRT\).*corrupt") as info:
        _load_any(path)
    assert str(path) in str(info.value)


def test_hdf5_reader_failure_is_a_clean_error(tmp_path, monkeypatch):
    from lamina.saving import h5_sandbox

    _, paths = _three_formats(tmp_path)
    fail = [sys.executable, "-c", "raise SystemExit('no h5py here')"]
    monkeypatch.setattr(h5_sandbox, "_child_argv", lambda source, out: fail)
    with pytest.raises(ValueError, match=r"m.h5.*failed in the HDF5 reader \(exit 1: no h5py"):
        load_model(paths[0])


def test_hdf5_sandbox_off_reads_in_process_identically(tmp_path, monkeypatch):
    import numpy as np

    from lamina.saving import h5_sandbox

    model, paths = _three_formats(tmp_path)
    sandboxed = [_load_any(p).get_weights() for p in paths]
    monkeypatch.setenv("LAMINA_H5_SANDBOX", "0")
    monkeypatch.setattr(h5_sandbox, "_run_child", None)  # would fail if a child were started
    in_process = [_load_any(p).get_weights() for p in paths]
    for got in (*sandboxed, *in_process):
        assert all(np.array_equal(a, b) for a, b in zip(got, model.get_weights(), strict=True))


def test_hdf5_sandbox_child_imports_no_lamina_or_jax(tmp_path):
    """The child runs h5_sandbox.py as a script: it must stay light (h5py and NumPy only)."""
    from lamina.saving import h5_sandbox

    _, paths = _three_formats(tmp_path)
    code = textwrap.dedent(f"""
        import json, runpy, sys
        child = runpy.run_path({h5_sandbox.__file__!r})
        child["collect"]({str(paths[0])!r}, lambda a: 0)
        print(json.dumps(sorted(sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    modules = json.loads(out.stdout)
    assert "h5py" in modules
    assert not [m for m in modules if m.split(".")[0] in ("jax", "lamina", "optax")]


def test_hdf5_sandbox_refuses_external_links_and_skips_soft_links(tmp_path):
    import h5py

    from lamina.saving import h5_sandbox

    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f["data"] = [1, 2, 3]
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        f["kept"] = [4.0]
        f["soft"] = h5py.SoftLink("/kept")
    tree = h5_sandbox.read_file(path)
    assert tree.keys() == ["kept"]
    with h5py.File(path, "a") as f:
        f["external"] = h5py.ExternalLink(str(secret), "/")
    with pytest.raises(ValueError, match="Not allowed: H5 file with ExternalLink 'external'"):
        h5_sandbox.read_file(path)


def test_hdf5_sandbox_timeout_setting(monkeypatch):
    from lamina.saving import h5_sandbox

    monkeypatch.setenv("LAMINA_H5_TIMEOUT", "7")
    assert h5_sandbox.timeout_for(0) == 7 and h5_sandbox.timeout_for(64 << 20) == 9
    monkeypatch.setenv("LAMINA_H5_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="LAMINA_H5_TIMEOUT"):
        h5_sandbox.timeout_for(0)


def test_hdf5_with_too_many_objects_is_refused(tmp_path, monkeypatch):
    import h5py

    from lamina.saving import h5_sandbox

    path = tmp_path / "many.h5"
    with h5py.File(path, "w") as f:
        for i in range(6):
            f.create_dataset(f"d{i}", data=[i])
    monkeypatch.setenv("LAMINA_H5_SANDBOX", "0")  # the same reader, in-process
    monkeypatch.setattr(h5_sandbox, "MAX_OBJECTS", 3)
    with pytest.raises(ValueError, match="over 3 objects"):
        h5_sandbox.read_file(path)
