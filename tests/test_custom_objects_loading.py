"""Models compiled with a user's loss or metric function load back with
``custom_objects={...}`` (Keras's way), from Lamina's files and from real Keras's."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def my_loss(y_true, y_pred):
    return lamina.ops.mean(lamina.ops.square(y_pred - y_true), axis=-1)


def rmse(y_true, y_pred):
    return lamina.ops.sqrt(lamina.ops.mean(lamina.ops.square(y_pred - y_true)))


X = np.linspace(0, 1, 32, dtype="float32").reshape(8, 4)
Y = X.sum(axis=1, keepdims=True)
X_TEST, Y_TEST = X[::-1] * 0.5, Y[::-1] * 0.5


def _fitted(k):
    model = k.Sequential([k.Input((4,)), k.layers.Dense(1, kernel_initializer="ones")])
    model.compile("adam", my_loss, metrics=[rmse])
    model.fit(X, Y, epochs=1, verbose=0, shuffle=False)
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("writer", ["lamina", "keras"])
def test_user_loss_and_metric_load_with_custom_objects(keras, tmp_path, suffix, writer):
    path = tmp_path / f"m{suffix}"
    if writer == "keras":
        with keras_ref():
            model = _fitted(keras)
            model.save(path)
            expected = model.evaluate(X_TEST, Y_TEST, verbose=0)
    else:
        model = _fitted(lamina)
        model.save(path)
        expected = model.evaluate(X_TEST, Y_TEST, verbose=0)
    custom = {"my_loss": my_loss, "rmse": rmse}
    loaded = lamina.models.load_model(path, custom_objects=custom)
    np.testing.assert_allclose(loaded.evaluate(X_TEST, Y_TEST, verbose=0), expected, rtol=1e-5)
    loaded.fit(X, Y, epochs=1, verbose=0)  # compiled with the user's functions


def test_missing_custom_loss_says_how_to_load(tmp_path):
    model = _fitted(lamina)
    model.save(tmp_path / "m.keras")
    with pytest.raises(Exception, match="my_loss.*compile=False|custom_objects"):
        lamina.models.load_model(tmp_path / "m.keras")
