"""predict_classes / predict_proba (Keras 2's API, on Sequential through a mixin)."""

import numpy as np

from lamina.layers import Dense
from lamina.models import Sequential
from lamina.models.class_predictions import ClassPredictionsMixin


def test_sequential_has_the_mixin():
    assert issubclass(Sequential, ClassPredictionsMixin)


def test_sigmoid_output_rounds_at_half():
    model = Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.set_weights([np.array([[1.0], [0.0]], "float32"), np.zeros(1, "float32")])
    x = np.array([[-2.0, 5.0], [0.1, 0.0], [3.0, -1.0], [-0.1, 9.0]], "float32")
    proba = model.predict_proba(x)
    np.testing.assert_allclose(proba, model.predict(x, verbose=0))
    classes = model.predict_classes(x)
    assert classes.shape == (4, 1) and classes.dtype == np.int32
    np.testing.assert_array_equal(classes[:, 0], [0, 1, 1, 0])


def test_softmax_output_argmax():
    model = Sequential([Dense(3, input_dim=3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.set_weights([np.eye(3, dtype="float32") * 5, np.zeros(3, "float32")])
    x = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0.2, 0.1]], "float32")
    np.testing.assert_array_equal(model.predict_classes(x, batch_size=2), [0, 2, 1, 1])
    proba = model.predict_proba(x)
    assert proba.shape == (4, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
