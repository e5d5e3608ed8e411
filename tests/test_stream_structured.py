"""Streamed inputs with structured batches (issue #13): generators, ``PyDataset`` and
iterables yielding ``(x, y)`` with ``x`` a dict or tuple/list of arrays (several inputs) and
``y`` a dict or list (several outputs) train, evaluate and predict as the same data in memory
does, and as real Keras does with a generator."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.utils import PyDataset
from tests.helpers import keras_ref

RTOL = 2e-5
N, BATCH = 40, 10


def _data():
    rng = np.random.default_rng(0)
    xa = rng.normal(size=(N, 3)).astype("float32")
    xb = rng.normal(size=(N, 2)).astype("float32")
    y1 = rng.normal(size=(N, 1)).astype("float32")
    y2 = rng.integers(0, 2, size=(N, 2)).astype("float32")
    return xa, xb, y1, y2


def _model(api, form):
    a = api.Input((3,), name="a")
    b = api.Input((2,), name="b")
    h = api.layers.Concatenate()([api.layers.Dense(4, name="da")(a), api.layers.Dense(4)(b)])
    o1 = api.layers.Dense(1, name="o1")(h)
    o2 = api.layers.Dense(2, activation="sigmoid", name="o2")(h)
    if form == "dict":
        model = api.Model({"a": a, "b": b}, {"o1": o1, "o2": o2})
        loss = {"o1": "mse", "o2": "binary_crossentropy"}
    else:
        model = api.Model([a, b], [o1, o2])
        loss = ["mse", "binary_crossentropy"]
    model.compile(optimizer=api.optimizers.SGD(0.1), loss=loss, metrics=None)
    return model


def _structured(form, xa, xb, y1, y2):
    if form == "dict":
        return {"a": xa, "b": xb}, {"o1": y1, "o2": y2}
    return [xa, xb], [y1, y2]


def _batches(form, data):
    for i in range(0, N, BATCH):
        yield _structured(form, *(d[i : i + BATCH] for d in data))


class _Batches(PyDataset):
    def __init__(self, form, data):
        super().__init__()
        self.form, self.data = form, data

    def __len__(self):
        return N // BATCH

    def __getitem__(self, i):
        sl = slice(i * BATCH, (i + 1) * BATCH)
        return _structured(self.form, *(d[sl] for d in self.data))


class _Iterable:
    """A re-iterable source (a DataLoader-like): one pass per ``iter()``."""

    def __init__(self, form, data):
        self.form, self.data = form, data

    def __iter__(self):
        return _batches(self.form, self.data)


def _source(kind, form, data, epochs=1):
    if kind == "generator":
        return (b for _ in range(epochs) for b in _batches(form, data))
    if kind == "pydataset":
        return _Batches(form, data)
    return _Iterable(form, data)


def _assert_close(a, b):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=RTOL, atol=1e-6)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=RTOL, atol=1e-6)
    else:
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-6)


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "kind, form",
    [
        ("generator", "dict"),
        ("pydataset", "list"),
        pytest.param("generator", "list", marks=SLOW),
        pytest.param("pydataset", "dict", marks=SLOW),
        pytest.param("iterable", "dict", marks=SLOW),
        pytest.param("iterable", "list", marks=SLOW),
    ],
)
def test_stream_matches_in_memory(kind, form):
    data = _data()
    memory = _model(lamina, form)
    streamed = _model(lamina, form)
    streamed.set_weights(memory.get_weights())
    x, y = _structured(form, *data)
    h_mem = memory.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    if kind == "generator":
        source = _source(kind, form, data, epochs=2)
        h_str = streamed.fit(source, steps_per_epoch=N // BATCH, epochs=2, verbose=0)
    else:
        h_str = streamed.fit(_source(kind, form, data), epochs=2, shuffle=False, verbose=0)
    assert sorted(h_str.history) == sorted(h_mem.history) == ["loss", "o1_loss", "o2_loss"]
    for k in h_mem.history:
        np.testing.assert_allclose(h_str.history[k], h_mem.history[k], rtol=RTOL)
    for a, b in zip(streamed.get_weights(), memory.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-6)
    ev_mem = memory.evaluate(x, y, batch_size=BATCH, verbose=0)
    ev_str = streamed.evaluate(_source("pydataset", form, data), verbose=0)
    np.testing.assert_allclose(ev_str, ev_mem, rtol=RTOL)
    p_mem = memory.predict(x, batch_size=BATCH, verbose=0)
    xs = (b[0] for b in _batches(form, data))
    p_str = streamed.predict((((xb,)) for xb in xs), verbose=0)
    _assert_close(p_str, p_mem)


def test_a_dict_batch_is_x_alone_as_in_keras():
    data = _data()
    model = _model(lamina, "dict")
    x, _ = _structured("dict", *data)
    out = model.predict((b[0] for b in _batches("dict", data)), verbose=0)
    _assert_close(out, model.predict(x, verbose=0))


def test_a_batch_with_other_inputs_names_them():
    data = _data()
    model = _model(lamina, "dict")

    def gen():
        batches = _batches("dict", data)
        yield next(batches)
        x, y = next(batches)
        yield {"a": x["a"], "c": x["b"]}, y

    with pytest.raises(ValueError, match=r"Batch 1 has x with per-sample shape \{'a': .*'c'"):
        model.fit(gen(), epochs=1, verbose=0)


def test_inputs_with_different_rows_are_refused():
    data = _data()
    model = _model(lamina, "list")

    def gen():
        yield [data[0][:10], data[1][:9]], [data[2][:10], data[3][:10]]

    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(gen(), epochs=1, verbose=0)


@pytest.mark.parametrize("form", ["dict", pytest.param("list", marks=SLOW)])
def test_generator_matches_keras(keras, form):
    data = _data()
    with keras_ref():
        km = _model(keras, form)
    lm = _model(lamina, form)
    lm.set_weights(km.get_weights())
    with keras_ref():
        kh = km.fit(
            _source("generator", form, data, epochs=2), steps_per_epoch=4, epochs=2, verbose=0
        )
        k_eval = km.evaluate(_source("generator", form, data), steps=4, verbose=0)
        k_pred = km.predict((((b[0],)) for b in _batches(form, data)), steps=4, verbose=0)
    lh = lm.fit(_source("generator", form, data, epochs=2), steps_per_epoch=4, epochs=2, verbose=0)
    assert sorted(kh.history) == sorted(lh.history) == ["loss", "o1_loss", "o2_loss"]
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=1e-4)
    for a, b in zip(lm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        lm.evaluate(_source("generator", form, data), steps=4, verbose=0), k_eval, rtol=1e-4
    )
    l_pred = lm.predict((((b[0],)) for b in _batches(form, data)), steps=4, verbose=0)
    if isinstance(k_pred, dict):
        for k in k_pred:
            np.testing.assert_allclose(l_pred[k], k_pred[k], rtol=1e-4, atol=1e-6)
    else:
        for u, v in zip(l_pred, k_pred):
            np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)


def test_structured_validation_generator_matches_in_memory_validation():
    data = _data()
    model = _model(lamina, "dict")
    twin = _model(lamina, "dict")
    twin.set_weights(model.get_weights())
    x, y = _structured("dict", *data)
    h_mem = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                      validation_data=(x, y))  # fmt: skip
    h_str = twin.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                     validation_data=_source("pydataset", "dict", data))  # fmt: skip
    assert "val_o2_loss" in h_str.history
    for k in h_mem.history:
        np.testing.assert_allclose(h_str.history[k], h_mem.history[k], rtol=RTOL)


def test_class_weight_with_several_outputs_is_refused():
    data = _data()
    model = _model(lamina, "list")
    with pytest.raises(ValueError, match="class_weight is supported for models with a single"):
        model.fit(_source("generator", "list", data), steps_per_epoch=2, verbose=0,
                  class_weight={0: 1.0, 1: 2.0})  # fmt: skip
