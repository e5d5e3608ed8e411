"""Streamed inputs (generators, PyDataset, DataLoader-like, memory maps, DataFrames) train to
the same weights as the equivalent NumPy arrays, and bad batches fail with clear errors."""

import functools
import math
import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import lamina
from lamina.data import adapters
from lamina.data.arrays import is_in_memory
from lamina.data.prefetch import Prefetcher
from lamina.utils import PyDataset

N, F, BS = 53, 5, 16
STEPS = math.ceil(N / BS)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, F)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    sw = rng.uniform(0.5, 2.0, size=N).astype("float32")
    return x, y, sw


def _model(features=F):
    lamina.utils.set_random_seed(3)
    m = lamina.models.Sequential(
        [
            lamina.layers.Input((features,)),
            lamina.layers.Dense(7, activation="tanh"),
            lamina.layers.Dense(1, activation="sigmoid"),
        ]
    )
    m.compile(
        optimizer=lamina.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    m.build((None, features))
    return m


@functools.cache
def _reference(epochs=2, validate=False):
    """The model trained on NumPy arrays (cached: tests only read it)."""
    x, y, _ = _data()
    m = _model()
    kw = {"validation_data": _data(seed=1)[:2]} if validate else {}
    h = m.fit(x, y, batch_size=BS, epochs=epochs, shuffle=False, verbose=0, **kw)
    return m, h


def _same(m1, m2):
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _batches(x, y, sw=None, bs=BS):
    for i in range(0, len(x), bs):
        sl = slice(i, i + bs)
        yield (x[sl], y[sl]) if sw is None else (x[sl], y[sl], sw[sl])


def _fit_steps(model, x, **kw):
    """fit with steps_per_epoch/validation_steps, through the public API."""
    return model.fit(x, **{"epochs": 1, "verbose": 0, "shuffle": False, **kw})


class Batches(PyDataset):
    def __init__(self, x, y, sw=None, bs=BS, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.sw, self.bs = x, y, sw, bs
        self.seen, self.epochs_ended, self.epochs_begun = [], 0, 0

    def __len__(self):
        return math.ceil(len(self.x) / self.bs)

    def __getitem__(self, i):
        self.seen.append(i)
        sl = slice(i * self.bs, (i + 1) * self.bs)
        if self.sw is None:
            return self.x[sl], self.y[sl]
        return self.x[sl], self.y[sl], self.sw[sl]

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


class FakeTensor:
    """Quacks like a torch tensor: ``.detach().cpu().numpy()``."""

    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


class FakeLoader:
    """Quacks like a torch DataLoader: re-iterable, has a length, yields lists of tensors."""

    def __init__(self, x, y, bs=BS):
        self.x, self.y, self.bs = x, y, bs

    def __len__(self):
        return math.ceil(len(self.x) / self.bs)

    def __iter__(self):
        for xb, yb in _batches(self.x, self.y, bs=self.bs):
            yield [FakeTensor(xb), FakeTensor(yb)]


def test_is_in_memory(tmp_path):
    x, _, _ = _data()
    np.save(tmp_path / "x.npy", x)
    assert is_in_memory(x) and is_in_memory(x.tolist()) and is_in_memory(pd.DataFrame(x))
    assert not is_in_memory(np.load(tmp_path / "x.npy", mmap_mode="r"))
    assert not is_in_memory(iter([])) and not is_in_memory(FakeLoader(x, x))


def test_dataframe_matches_numpy():
    ref, _ = _reference()
    x, y, _ = _data()
    m = _model()
    m.fit(pd.DataFrame(x), pd.Series(y), batch_size=BS, epochs=2, shuffle=False, verbose=0)
    _same(ref, m)


def test_generator_matches_numpy_one_epoch():
    ref, ref_h = _reference(epochs=1)
    x, y, _ = _data()
    m = _model()
    h = m.fit(_batches(x, y), epochs=1, verbose=0)
    _same(ref, m)
    np.testing.assert_allclose(h.history["loss"], ref_h.history["loss"], rtol=1e-5)


def test_generator_with_steps_per_epoch_continues_across_epochs():
    ref, ref_h = _reference(epochs=3)
    x, y, _ = _data()

    def forever():
        while True:
            yield from _batches(x, y)

    m = _model()
    h = _fit_steps(m, forever(), epochs=3, steps_per_epoch=STEPS)
    _same(ref, m)
    np.testing.assert_allclose(h.history["loss"], ref_h.history["loss"], rtol=1e-5)
    assert h.params["steps"] == STEPS


def test_exhausted_generator_ends_cleanly():
    x, y, _ = _data()
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(_batches(x, y), epochs=3, verbose=0)
    assert h.epoch == [0]
    ref, _ = _reference(epochs=1)
    _same(ref, m)


@pytest.mark.slow
def test_generator_sample_weight_and_class_weight():
    x, y, sw = _data()
    ref = _model()
    ref.fit(x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    m = _model()
    _fit_steps(
        m, (b for _ in range(2) for b in _batches(x, y, sw)), epochs=2, steps_per_epoch=STEPS
    )
    _same(ref, m)

    cw = {0: 1.0, 1: 3.0}
    ref = _model()
    ref.fit(x, y, batch_size=BS, epochs=1, shuffle=False, verbose=0, class_weight=cw)
    m = _model()
    m.fit(_batches(x, y), epochs=1, verbose=0, class_weight=cw)
    _same(ref, m)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 3])
def test_pydataset_matches_numpy(workers):
    x, y, sw = _data()
    ref = _model()
    ref.fit(x, y, batch_size=BS, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    ds = Batches(x, y, sw, workers=workers, max_queue_size=2)
    m = _model()
    m.fit(ds, epochs=2, shuffle=False, verbose=0)
    _same(ref, m)
    assert ds.epochs_begun == ds.epochs_ended == 2


def test_pydataset_shuffle_permutes_batch_order():
    x, y, _ = _data()
    ds = Batches(x, y)
    m = _model()
    m.fit(ds, epochs=4, shuffle=True, verbose=0)
    epochs = [ds.seen[i : i + STEPS] for i in range(len(ds.seen) - 4 * STEPS, len(ds.seen), STEPS)]
    assert all(sorted(e) == list(range(STEPS)) for e in epochs)
    assert any(e != list(range(STEPS)) for e in epochs)


def test_dataloader_like_matches_numpy():
    ref, _ = _reference()
    x, y, _ = _data()
    m = _model()
    h = m.fit(FakeLoader(x, y), epochs=2, verbose=0)
    _same(ref, m)
    assert h.params["steps"] == STEPS


def test_mmap_npy_matches_numpy_and_reads_slices(tmp_path, monkeypatch):
    ref, _ = _reference()
    x, y, _ = _data()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    monkeypatch.setattr(adapters.ArrayAdapter, "BLOCK_ROWS", 20)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    reads = []
    real_rows = adapters.ArrayAdapter._rows

    def spy(self, rows, a, name):
        out = real_rows(self, rows, a, name)
        reads.append(out.shape[0])
        return out

    monkeypatch.setattr(adapters.ArrayAdapter, "_rows", spy)
    m = _model()
    m.fit(
        xm,
        np.load(tmp_path / "y.npy", mmap_mode="r"),
        batch_size=BS,
        epochs=2,
        shuffle=False,
        verbose=0,
    )
    _same(ref, m)
    assert max(reads) <= BS  # 20-row blocks hold one 16-row batch: never the whole array
    np.testing.assert_allclose(m.predict(xm, verbose=0), ref.predict(x, verbose=0), rtol=1e-6)


def test_mmap_shuffle_visits_every_row(tmp_path):
    x, y, _ = _data()
    np.save(tmp_path / "x.npy", x)
    ad = adapters.ArrayAdapter(
        np.load(tmp_path / "x.npy", mmap_mode="r"), y, None, batch_size=BS, shuffle=True
    )
    rows = np.concatenate([b[0] for b in ad.epoch_batches(rng=np.random.default_rng(0))])
    assert not np.array_equal(rows, x)
    np.testing.assert_array_equal(np.sort(rows[:, 0]), np.sort(x[:, 0]))


@pytest.mark.slow
def test_validation_data_of_any_kind():
    x, y, _ = _data()
    xv, yv, _ = _data(seed=1)
    _, ref_h = _reference(validate=True)
    for val in (Batches(xv, yv), FakeLoader(xv, yv)):
        m = _model()
        h = m.fit(_batches(x, y), epochs=1, verbose=0, validation_data=val)
        np.testing.assert_allclose(h.history["val_loss"], ref_h.history["val_loss"][:1], rtol=1e-5)


@pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")
def test_evaluate_and_predict_streamed():
    ref, _ = _reference()
    x, y, _ = _data()
    expected = ref.evaluate(x, y, batch_size=BS, verbose=0)
    np.testing.assert_allclose(ref.evaluate(Batches(x, y), verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(ref.evaluate(_batches(x, y), verbose=0), expected, rtol=1e-5)
    pred = ref.predict(x, verbose=0)
    np.testing.assert_allclose(ref.predict(FakeLoader(x, y), verbose=0), pred, rtol=1e-6)
    np.testing.assert_allclose(
        ref.predict((b for b, _ in _batches(x, y)), verbose=0), pred, rtol=1e-6
    )


def test_inconsistent_shapes_name_the_batch():
    x, y, _ = _data()

    def bad():
        yield x[:16], y[:16]
        yield x[16:32], y[16:32]
        yield x[32:48, :4], y[32:48]

    m = _model()
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"Batch 2 has x with per-sample shape \(4,\)"):
        m.fit(bad(), epochs=1, verbose=0)
    for a, b in zip(before, m.get_weights()):  # a failed fit leaves the model as it was
        np.testing.assert_array_equal(a, b)


def test_wrong_number_of_columns_and_elements():
    x, y, _ = _data()
    m = _model(features=F + 1)
    with pytest.raises(ValueError, match=r"Batch 0: x has 5 feature column\(s\)"):
        m.fit(_batches(x, y), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Batch 0 has 4 elements"):
        _model().fit(iter([(x, y, y, y)]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Batch 0 has no targets"):
        _model().fit(iter([x]), epochs=1, verbose=0)


def test_non_numeric_batch_and_y_with_generator():
    x, y, _ = _data()
    labels = np.where(y > 0, "yes", "no")
    with pytest.raises(TypeError, match="y of batch 1 must be numeric"):
        _model().fit(iter([(x[:16], y[:16]), (x[16:32], labels[16:32])]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="y must not be passed"):
        _model().fit(_batches(x, y), y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported"):
        _model().fit(_batches(x, y), epochs=1, verbose=0, validation_split=0.2)


def test_prefetcher_order_errors_and_close():
    with Prefetcher(iter(range(50)), transform=lambda v: v + 1, depth=3) as pf:
        assert list(pf) == list(range(1, 51))

    def boom():
        yield 1
        raise RuntimeError("bad chunk 2")

    with Prefetcher(boom(), transform=lambda v: v) as pf:
        assert next(pf) == 1
        with pytest.raises(RuntimeError, match="bad chunk 2"):
            next(pf)

    def endless():
        while True:
            yield 0

    pf = Prefetcher(endless(), transform=lambda v: v, depth=1)
    next(pf)
    pf.close()
    assert not any(t.name == "lamina-prefetch" and t.is_alive() for t in threading.enumerate())


def test_first_batch_larger_than_later_ones_only():
    x, y, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="Batch 1 has 32 samples, more than the first"):
            _model().fit(iter([(x[:16], y[:16]), (x[16:48], y[16:48])]), epochs=1, verbose=0)
