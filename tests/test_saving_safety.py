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


def test_non_sequential_refused(saved, tmp_path):
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
    _bad(path, "Sequential")


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
