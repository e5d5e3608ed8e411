"""One engine for every input kind (issue 9, and issue 14's oversized batches and NaN guard):
the same History and weights from ndarray, memory map, generator, PyDataset and CSV with
``shuffle=False``; ``shuffle="batch"`` keeps batches whole for arrays and memory maps;
``BackupAndRestore`` resumes exactly for every kind; a huge ``batch_size`` costs the rows."""

import numpy as np
import pytest

import lamina
from lamina import layers as L
from lamina.callbacks import BackupAndRestore, Callback
from lamina.models import Sequential
from lamina.utils import PyDataset


def _data(n=48):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([[1.0], [-1.0], [0.5], [2.0]], "float32")).astype("float32")


def _model(dropout=True):
    lamina.utils.set_random_seed(3)
    layers = [L.Input((4,)), L.Dense(6, activation="relu")]
    if dropout:
        layers.append(L.Dropout(0.2))
    model = Sequential([*layers, L.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


class _Batches(PyDataset):
    def __init__(self, x, y, bs):
        super().__init__()
        self.x, self.y, self.bs = x, y, bs

    def __len__(self):
        return -(-len(self.x) // self.bs)

    def __getitem__(self, i):
        sl = slice(i * self.bs, (i + 1) * self.bs)
        return self.x[sl], self.y[sl]


def _inputs(kind, x, y, tmp_path, bs=8):
    """``(fit positional args, fit kwargs)`` presenting the rows as input ``kind``."""
    if kind == "ndarray":
        return (x, y), {"batch_size": bs}
    if kind == "memmap":
        np.save(tmp_path / "x.npy", x)
        np.save(tmp_path / "y.npy", y)
        xm = np.load(tmp_path / "x.npy", mmap_mode="r")
        ym = np.load(tmp_path / "y.npy", mmap_mode="r")
        return (xm, ym), {"batch_size": bs}
    if kind == "pydataset":
        return (_Batches(x, y, bs),), {}
    if kind == "generator":

        def gen():
            while True:
                for i in range(0, len(x), bs):
                    yield x[i : i + bs], y[i : i + bs]

        return (gen(),), {"steps_per_epoch": -(-len(x) // bs)}
    if kind == "csv":
        path = tmp_path / "d.csv"
        cols = ",".join([f"f{i}" for i in range(x.shape[1])] + ["t"])
        rows = "\n".join(",".join(repr(float(v)) for v in (*r, t)) for r, t in zip(x, y[:, 0]))
        path.write_text(cols + "\n" + rows + "\n")
        return (lamina.data.from_csv(str(path), target="t", batch_size=bs),), {}
    raise AssertionError(kind)


KINDS = ["ndarray", "memmap", "pydataset", "generator", "csv"]


@pytest.mark.slow  # over 3 s on 2 cores: runs in the slow set
def test_every_input_kind_gives_the_same_fit(tmp_path):
    x, y = _data()
    ref = None
    for kind in KINDS:
        model = _model(dropout=False)
        args, kwargs = _inputs(kind, x, y, tmp_path)
        hist = model.fit(*args, epochs=3, shuffle=False, verbose=0, **kwargs).history
        got = (hist, model.get_weights())
        if ref is None:
            ref = got
            continue
        assert sorted(got[0]) == sorted(ref[0]), kind
        for k in ref[0]:
            np.testing.assert_allclose(got[0][k], ref[0][k], rtol=1e-5, err_msg=kind)
        for a, b in zip(got[1], ref[1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=kind)


def _batches_seen(kind, shuffle, tmp_path, epochs=3):
    """The target rows of every step, recorded by an eagerly run loss."""
    n, bs = 24, 4
    x = np.arange(n * 4, dtype="float32").reshape(n, 4) / 100
    y = np.arange(n, dtype="float32")[:, None]
    seen = []

    def loss(y_true, y_pred):
        seen.append(sorted(np.asarray(y_true)[:, 0].astype(int).tolist()))
        return (y_true - y_pred) ** 2

    model = Sequential([L.Input((4,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss=loss, run_eagerly=True)
    args, kwargs = _inputs(kind, x, y, tmp_path, bs=bs)
    model.fit(*args, epochs=epochs, shuffle=shuffle, verbose=0, **kwargs)
    return [seen[e * 6 : (e + 1) * 6] for e in range(epochs)]


@pytest.mark.parametrize("kind", ["ndarray", "memmap"])
def test_shuffle_batch_keeps_batches_and_permutes_their_order(kind, tmp_path):
    whole = [list(range(i, i + 4)) for i in range(0, 24, 4)]
    epochs = _batches_seen(kind, "batch", tmp_path)
    for batches in epochs:
        assert sorted(batches) == whole  # every batch whole, each once
    assert any(batches != whole for batches in epochs)  # and the order moves
    assert all(batches == whole for batches in _batches_seen(kind, False, tmp_path))
    shuffled = _batches_seen(kind, True, tmp_path)
    assert any(sorted(batches) != whole for batches in shuffled)


class _Crash(Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("kind", KINDS)
def test_backup_and_restore_resumes_every_input_kind(kind, tmp_path):
    x, y = _data()
    args, kwargs = _inputs(kind, x, y, tmp_path)
    ref = _model()
    ref.fit(*args, epochs=4, verbose=0, **kwargs)
    args, kwargs = _inputs(kind, x, y, tmp_path)
    model = _model()
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(*args, epochs=4, verbose=0, callbacks=[backup, _Crash(2)], **kwargs)
    args, kwargs = _inputs(kind, x, y, tmp_path)
    fresh = _model()
    history = fresh.fit(*args, epochs=4, verbose=0, callbacks=[backup], **kwargs)
    assert history.epoch == [2, 3]
    if kind in ("ndarray", "memmap", "pydataset", "csv"):  # sources that restart each epoch
        for a, b in zip(fresh.get_weights(), ref.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_batch_size_above_the_rows_costs_the_rows():
    """Issue 14.2: 64 rows with batch_size=10**9 (Keras caps the batch at the rows)."""
    x, y = _data(64)
    model = _model(dropout=False)
    ref = _model(dropout=False)
    ref.set_weights(model.get_weights())
    h = model.fit(x, y, batch_size=10**9, epochs=2, shuffle=False, verbose=0)
    h_ref = ref.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-6)
    xe = x + 0.5  # held-out rows (the guardrails warn on evaluating the training rows)
    np.testing.assert_allclose(
        model.evaluate(xe, y, batch_size=10**9, verbose=0),
        ref.evaluate(xe, y, batch_size=64, verbose=0),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        model.predict(x, batch_size=10**9, verbose=0), ref.predict(x, verbose=0), rtol=1e-6
    )


def test_one_row_predict_compiles_a_one_row_program():
    """Issue 14.2/14.7: a one-row predict runs one row, and row counts and batch sizes share
    power-of-two programs."""
    x, _ = _data(64)
    model = _model(dropout=False)
    model.predict(x[:1], verbose=0)
    traces = model._trace_counter.get("predict", 0)
    for n, bs in [(1, 7), (1, 32), (2, 5), (3, 1000), (4, 3), (2, 2)]:
        np.testing.assert_allclose(
            model.predict(x[:n], batch_size=bs, verbose=0), model.predict(x[:n], verbose=0)
        )
    # 1, 2 and 4 rows: three tile shapes in all, whatever the batch sizes.
    assert model._trace_counter["predict"] - traces <= 2


def test_nan_guard_checks_gradients_and_keeps_finite_weights():
    """Issue 14.5: a finite loss with a NaN gradient (sqrt at 0) stops training, keeps the last
    finite weights and says the gradients were not finite."""
    import jax.numpy as jnp

    x, y = _data(16)

    def loss(y_true, y_pred):
        return jnp.sqrt(jnp.abs(y_true - y_pred) * 0.0)

    model = Sequential([L.Input((4,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss=loss)
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match=r"The gradients became NaN or infinite at epoch 1"):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_cached_programs_are_bounded(monkeypatch):
    """Issue 14.7: whatever the row counts and batch sizes, the compiled predict shapes kept
    stay under a bound (the cache empties and recompiles what is used)."""
    from lamina.training import step

    monkeypatch.setattr(step, "MAX_CACHED_SHAPES", 3)
    x, _ = _data(64)
    model = _model(dropout=False)
    model.predict(x[:1], verbose=0)
    program = model._get_program()
    for n in (1, 2, 3, 5, 9, 17, 33, 64, 1, 40):
        np.testing.assert_allclose(
            model.predict(x[:n], batch_size=n, verbose=0)[:, 0],
            (
                np.maximum(x[:n] @ model.get_weights()[0] + model.get_weights()[1], 0)
                @ model.get_weights()[2]
                + model.get_weights()[3]
            )[:, 0],
            rtol=1e-5,
            atol=1e-5,
        )
        assert program.predict_chunk.cache_size() <= 3


def test_cached_programs_drop_the_least_recently_used(monkeypatch):
    """Issue 14.7: the bound evicts the least recently used shape, not every shape."""
    from lamina.training import step

    monkeypatch.setattr(step, "MAX_CACHED_SHAPES", 3)
    x, _ = _data(64)
    model = _model(dropout=False)
    model.predict(x[:1], batch_size=1, verbose=0)
    counter = model._trace_counter

    def traces_for(n):
        before = counter.get("predict", 0)
        model.predict(x[:n], batch_size=n, verbose=0)
        return counter.get("predict", 0) - before

    assert traces_for(2) == 1 and traces_for(4) == 1  # cache: 1, 2, 4
    assert traces_for(1) == 0  # 1 is now the most recent: 2, 4, 1
    assert traces_for(8) == 1  # evicts 2: 4, 1, 8
    assert traces_for(1) == 0
    assert traces_for(2) == 1  # 2 was dropped and compiles again
