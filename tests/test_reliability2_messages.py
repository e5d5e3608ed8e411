"""Messages that misled (issue 14, item 8): each input gets a message that says what is wrong."""

import numpy as np
import pytest

from lamina.layers import Dense, Input
from lamina.models import Sequential
from tests.helpers import keras_ref


def _model(units=1, loss="mse", shape=(2,)):
    layers = ([Input(shape)] if shape else []) + [Dense(units)]
    model = Sequential(layers)
    model.compile(optimizer="sgd", loss=loss)
    return model


def test_object_array_of_floats_is_accepted(rng):
    x = rng.random((8, 2))
    model = _model()
    model.fit(x.astype(object), x[:, :1].astype(object), epochs=1, verbose=0)
    np.testing.assert_allclose(
        model.predict(x.astype(object), verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


def test_object_array_with_text_names_the_text(rng):
    x = rng.random((8, 2)).astype(object)
    x[3, 1] = "oops"
    with pytest.raises(TypeError, match=r"object array holding str values \(e\.g\. 'oops'\)"):
        _model().fit(x, np.zeros(8), verbose=0)


def test_categorical_series_as_y_names_the_series(rng):
    pd = pytest.importorskip("pandas")
    y = pd.Series(pd.Categorical(["a", "b"] * 4), name="label")
    model = _model(2, "sparse_categorical_crossentropy")
    with pytest.raises(
        TypeError, match=r"y is a pandas Series named 'label' of dtype 'category'.*y\.cat\.codes"
    ):
        model.fit(rng.random((8, 2)), y, verbose=0)
    model.fit(rng.random((8, 2)), y.cat.codes, verbose=0)  # the suggested fix works


def test_three_d_x_into_a_dense_model_without_input_shape(rng):
    model = _model(shape=None)
    with pytest.raises(
        ValueError, match=r"outputs shape \(None, 5, 1\) .* y has shape \(8, 1\).*built from x's"
    ):
        model.fit(rng.random((8, 5, 3)), rng.random((8, 1)), verbose=0)


def test_nan_in_predict_input_speaks_of_prediction(rng):
    x = rng.random((8, 2))
    x[6, 0] = np.nan
    with pytest.raises(ValueError, match=r"row 6: predict would return NaN") as info:
        _model().predict(x, verbose=0)
    assert "train" not in str(info.value).lower()


def test_datetime_x_is_refused_like_keras(keras, rng):
    x = np.array([["2020-01-01", "2020-01-02"]] * 4, "datetime64[D]")
    with keras_ref():
        ref = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        ref.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="datetime64"):
            ref.fit(x, np.zeros(4), verbose=0)
    with pytest.raises(TypeError, match=r"x holds datetime64\[D\] values .*astype"):
        _model().fit(x, np.zeros(4), verbose=0)
