"""``predict``'s check of its input for NaN and inf: run on the outputs first (a few values)
and on the input only when they show a non-finite value, so a model that maps NaN to numbers
predicts as Keras does, while NaN reaching the output still raises the input's error."""

import numpy as np
import pytest

import lamina
from lamina import ops


def _dense():
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_nan_reaching_the_output_names_the_input_row(rng):
    x = rng.random((300, 3)).astype("float32")
    x[257, 1] = np.inf
    with pytest.raises(
        ValueError, match=r"x contains 1 non-finite value\(s\) \(inf\), first in row 257"
    ):
        _dense().predict(x, batch_size=64, verbose=0)


def test_a_model_replacing_nan_predicts_like_numpy(rng):
    x = rng.random((40, 3)).astype("float32")
    x[5, 0] = np.nan
    model = lamina.Sequential(
        [lamina.Input((3,)), lamina.layers.Lambda(lambda t: ops.nan_to_num(t, nan=0.0))]
    )
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.nan_to_num(x, nan=0.0))


def test_a_model_making_nan_itself_returns_it(rng):
    x = rng.random((10, 3)).astype("float32") + 1.0
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Lambda(lambda t: ops.log(-t))])
    out = model.predict(x, verbose=0)
    assert np.isnan(out).all()


def test_batch_hooks_never_see_outputs_of_a_nan_input(rng):
    seen = []

    class Record(lamina.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(batch)

    x = rng.random((20, 3)).astype("float32")
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"first in row 3: predict would return NaN"):
        _dense().predict(x, batch_size=4, verbose=0, callbacks=[Record()])
    assert seen == []


def test_predict_does_not_keep_or_write_the_callers_rows(rng):
    x = rng.random((70, 3)).astype("float32")
    before = x.copy()
    model = _dense()
    first = model.predict(x, batch_size=16, verbose=0)
    np.testing.assert_array_equal(x, before)
    x += 1.0  # the caller reuses its buffer: the next call sees the new rows
    np.testing.assert_allclose(
        model.predict(x, batch_size=16, verbose=0),
        first + np.sum(model.get_weights()[0], 0),
        rtol=1e-5,
        atol=1e-5,
    )
