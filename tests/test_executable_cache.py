"""The on-disk cache of compiled training programs (``lamina.training.executable_cache``).

A second model with the same program loads the first one's executable (no lowering, no
compile) and trains to the same numbers as with no cache at all; a different program, a corrupt
file, a host callback or an unsafe folder never yields a wrong executable.
"""

import logging
import os
import stat

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina import layers, models
from lamina.training import executable_cache


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")[:, None]
    return x, y


def _fit(units=3, loss="binary_crossentropy", epochs=3):
    model = models.Sequential(
        [layers.Input((4,)), layers.Dense(units, activation="relu"), layers.Dense(1, "sigmoid")]
    )
    model.set_weights(
        [np.full(w.shape, 0.1 * (i + 1), "float32") for i, w in enumerate(model.get_weights())]
    )
    metrics = ["accuracy"] if loss == "binary_crossentropy" else ["mae"]
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    x, y = _data()
    history = model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0)
    return history.history, model.get_weights()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    if jax.config.jax_compilation_cache_dir:
        # JAX's own cache would serve programs compiled by earlier tests (never stored here)
        pytest.skip("counts stored files: needs JAX's persistent cache off (the test default)")
    path = tmp_path / "exe"
    path.mkdir(mode=0o700)
    monkeypatch.setattr(executable_cache, "default_folder", lambda: str(path))
    return path


def _files(folder):
    return sorted(p for p in folder.rglob("*.bin"))


def _events(caplog, word):
    return [r for r in caplog.records if r.getMessage().startswith(f"executable cache: {word}")]


def test_a_second_model_loads_the_first_ones_executable_and_trains_identically(
    folder, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG, logger="lamina")
    first = _fit()
    assert len(_files(folder)) == 1 and len(_events(caplog, "stored")) == 1
    caplog.clear()
    second = _fit()
    assert len(_events(caplog, "loaded")) == 1 and not _events(caplog, "stored")
    monkeypatch.setattr(executable_cache, "default_folder", lambda: None)
    reference = _fit()
    for got in (first, second):
        assert got[0] == reference[0]
        for a, b in zip(got[1], reference[1], strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_different_program_never_loads_another_ones_executable(folder, caplog):
    caplog.set_level(logging.DEBUG, logger="lamina")
    _fit(units=3)
    _fit(units=5)  # other shapes
    _fit(units=3, loss="mse")  # another loss: same shapes, another jaxpr
    assert not _events(caplog, "loaded")
    assert len(_files(folder)) == 3


def test_a_corrupt_or_foreign_file_is_compiled_again_and_replaced(folder, caplog):
    reference = _fit()
    (path,) = _files(folder)
    for junk in (b"lamina-executable-1\nnot a pickle", b"\x80\x04 some other file"):
        path.write_bytes(junk)
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="lamina")
        got = _fit()
        assert got[0] == reference[0]
        assert not _events(caplog, "loaded") and len(_events(caplog, "stored")) == 1
        assert path.read_bytes().startswith(b"lamina-executable-1\n")
        assert path.stat().st_size > 1000


def test_static_arguments_select_their_own_executables(folder):
    f = executable_cache.cached_jit(
        jax.jit(lambda x, n: x * n, static_argnames=("n",)),
        folder=str(folder),
        static_argnames=("n",),
    )
    assert [float(f(jnp.float32(2), n=n)) for n in (1, 3, 1)] == [2.0, 6.0, 2.0]
    assert f.cache_size() == 2 and len(_files(folder)) == 2
    # by position, the static argument changes the executable's call: jit as usual
    assert float(f(jnp.float32(2), 5)) == 10.0


def test_donated_arguments_are_consumed_as_with_jit(folder):
    f = executable_cache.cached_jit(
        jax.jit(lambda x: x + 1, donate_argnums=0), folder=str(folder)
    )
    x = jnp.ones(4)
    np.testing.assert_array_equal(f(x), np.full(4, 2.0))
    fresh = executable_cache.cached_jit(
        jax.jit(lambda x: x + 1, donate_argnums=0), folder=str(folder)
    )
    y = jnp.ones(4)
    np.testing.assert_array_equal(fresh(y), np.full(4, 2.0))  # loaded from the file
    assert len(_files(folder)) == 1
    if jax.default_backend() != "cpu":  # CPU ignores donation
        assert y.is_deleted()


def test_constants_are_part_of_the_key(folder):
    def closing_over(c):
        table = np.asarray(c, "float32")
        return executable_cache.cached_jit(jax.jit(lambda x: x + table), folder=str(folder))

    x = jnp.zeros(3)
    np.testing.assert_array_equal(closing_over([1, 2, 3])(x), [1, 2, 3])
    np.testing.assert_array_equal(closing_over([4, 5, 6])(x), [4, 5, 6])


def test_a_program_calling_python_is_compiled_but_never_stored(folder):
    seen = []

    def f(x):
        jax.debug.callback(lambda v: seen.append(float(v)), x)
        return x * 2

    g = executable_cache.cached_jit(jax.jit(f), folder=str(folder))
    assert float(g(jnp.float32(1.5))) == 3.0
    assert seen == [1.5] and _files(folder) == []


@pytest.fixture
def jax_cache_dir():
    """Sets JAX's cache folder settings for one test (read, not used: nothing compiles)."""
    saved = jax.config.jax_compilation_cache_dir, jax.config.jax_enable_compilation_cache

    def set_dir(path):
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_enable_compilation_cache", True)

    yield set_dir
    jax.config.update("jax_compilation_cache_dir", saved[0])
    jax.config.update("jax_enable_compilation_cache", saved[1])


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_folder_others_may_write_to_is_not_used(tmp_path, jax_cache_dir):
    jax_cache_dir(str(tmp_path))
    assert executable_cache.default_folder() == str(tmp_path / "lamina-executables")
    os.chmod(tmp_path / "lamina-executables", 0o777)
    assert executable_cache.default_folder() is None
    os.chmod(tmp_path / "lamina-executables", stat.S_IRWXU)
    assert executable_cache.default_folder() == str(tmp_path / "lamina-executables")
    jax_cache_dir(None)
    assert executable_cache.default_folder() is None


_PROCESS = """
import json, logging, sys
import numpy as np
logging.basicConfig(level=logging.DEBUG, format="LOG %(message)s")
logging.getLogger("jax").setLevel(logging.WARNING)
from lamina import layers, models
model = models.Sequential([layers.Input((4,)), layers.Dense(3, "relu"), layers.Dense(1, "sigmoid")])
model.set_weights([np.full(w.shape, 0.1 * (i + 1), "float32") for i, w in enumerate(model.get_weights())])
model.compile(optimizer="adam", loss="binary_crossentropy")
rng = np.random.default_rng(3)
x = rng.normal(size=(50, 4)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")[:, None]
h = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
print("HIST", json.dumps(h.history["loss"]))
"""


def _process(cache):
    import subprocess
    import sys

    env = dict(os.environ, LAMINA_COMPILATION_CACHE="1", LAMINA_CACHE_DIR=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", _PROCESS], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (hist,) = [ln for ln in out.stdout.splitlines() if ln.startswith("HIST")]
    events = [ln for ln in out.stderr.splitlines() if "executable cache:" in ln]
    return hist, events


def test_an_executable_jax_loaded_from_its_own_cache_is_never_stored(tmp_path):
    """XLA's CPU backend serializes an executable JAX loaded from its persistent cache without
    its machine code: storing one made the next process fail ("Function ... not found")."""
    first, events = _process(tmp_path)
    assert any("stored train_epoch" in e for e in events)
    for f in (tmp_path / "lamina-executables").rglob("*.bin"):
        f.unlink()  # JAX's entry stays: the next compile is a hit in JAX's cache
    second, events = _process(tmp_path)
    third, _ = _process(tmp_path)  # would load what the second stored
    assert first == second == third
    assert any("came from JAX's cache, not stored" in e for e in events)
    assert not list((tmp_path / "lamina-executables").rglob("*.bin"))


def test_every_byte_of_a_large_constant_is_part_of_the_key(folder):
    """A printed array elides its middle: two tables differing there are two programs."""
    big = np.zeros(5000, "float32")
    other = big.copy()
    other[2500] = 1.0
    x = jnp.zeros(5000)
    for table, expected in ((big, 0.0), (other, 1.0)):
        f = executable_cache.cached_jit(jax.jit(lambda x, t=table: x + t), folder=str(folder))
        assert float(f(x)[2500]) == expected
    keys = jax.random.split(jax.random.key(0), 600)
    g = executable_cache.cached_jit(
        jax.jit(lambda x: jax.random.key_data(keys) + x), folder=str(folder)
    )
    np.testing.assert_array_equal(g(jnp.uint32(0)), jax.random.key_data(keys))


def test_only_the_whole_epoch_program_is_kept_on_disk(folder):
    """Per-batch programs keep JAX's dispatch: choosing a cached executable costs about a
    microsecond per argument leaf at every call."""
    from lamina import callbacks

    class PerBatch(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    model = models.Sequential([layers.Input((4,)), layers.Dense(2), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[PerBatch()])
    assert _files(folder) == []
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert len(_files(folder)) == 1
