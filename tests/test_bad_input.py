"""Each mistake users really make gets a ValueError/TypeError with the fix, before tracing,
and leaves the model exactly as it was."""

import numpy as np
import pytest

from lamina.layers import Activation, Dense, Input
from lamina.models import Sequential


def _model(out_units=1, activation="sigmoid", loss="binary_crossentropy", metrics=("accuracy",)):
    model = Sequential(
        [Input((4,)), Dense(6, activation="relu"), Dense(out_units, activation=activation)]
    )
    model.compile(optimizer="adam", loss=loss, metrics=list(metrics))
    return model


X = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("float32")


def test_fit_and_evaluate_before_compile():
    model = Sequential([Dense(1, input_dim=4)])
    with pytest.raises(RuntimeError, match=r"compile\(\) before fit"):
        model.fit(X, Y)
    with pytest.raises(RuntimeError, match=r"compile\(\) before evaluate"):
        model.evaluate(X, Y)


def test_x_y_length_mismatch():
    with pytest.raises(ValueError, match="x has 20 rows, y has 19"):
        _model().fit(X, Y[:19], verbose=0)


def test_feature_count_differs():
    with pytest.raises(ValueError, match="x has 5 feature column.* expects 4"):
        _model().fit(np.ones((20, 5)), Y, verbose=0)
    with pytest.raises(ValueError, match="x has 3 feature column"):
        _model().predict(np.ones((2, 3)))


def test_integer_labels_with_categorical_crossentropy():
    model = _model(3, "softmax", "categorical_crossentropy")
    labels = np.array([0, 1, 2, 1] * 5)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy.*to_categorical"):
        model.fit(X, labels, verbose=0)


def test_one_hot_width_differs_from_output_units():
    model = _model(2, "softmax", "categorical_crossentropy")
    with pytest.raises(ValueError, match="3 columns.*outputs 2"):
        model.fit(X, np.eye(3)[np.arange(20) % 3], verbose=0)


def test_sparse_labels_out_of_range():
    model = _model(3, "softmax", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="out of range|range"):
        model.fit(X, np.arange(20) % 5, verbose=0)


def test_nan_and_inf_in_data():
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN.*row 3"):
        _model().fit(bad, Y, verbose=0)
    bad_y = Y.copy()
    bad_y[7] = np.inf
    with pytest.raises(ValueError, match="y contains 1 non-finite.*row 7"):
        _model().fit(X, bad_y, verbose=0)


def test_string_labels_and_non_numeric_x():
    with pytest.raises(TypeError, match="y must be numeric.*integers"):
        _model().fit(X, np.array(["yes", "no"] * 10), verbose=0)
    with pytest.raises(TypeError, match="x must be numeric"):
        _model().fit(np.array([["a", "b", "c", "d"]] * 20), Y, verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"optimizer": "adma", "loss": "mse"}, "Unknown optimizer 'adma'. Did you mean 'adam'"),
        (
            {"optimizer": "sgd", "loss": "binary_crossentropi"},
            "Unknown loss.*Did you mean 'binary_crossentropy'",
        ),
        (
            {"optimizer": "sgd", "loss": "mse", "metrics": ["acuracy"]},
            "Unknown metric.*Did you mean 'accuracy'",
        ),
    ],
)
def test_unknown_names(kwargs, match):
    model = Sequential([Dense(1, input_dim=4)])
    with pytest.raises(ValueError, match=match):
        model.compile(**kwargs)


def test_unknown_activation():
    with pytest.raises(ValueError, match="Unknown activation 'rleu'. Did you mean 'relu'"):
        Activation("rleu")
    with pytest.raises(ValueError, match="Did you mean 'sigmoid'"):
        Dense(3, activation="sigmod")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer"),
        ({"epochs": -1}, "epochs must be a non-negative integer"),
        ({"validation_split": 1.5}, r"validation_split must be a fraction in \[0, 1\)"),
        ({"verbose": 5}, "verbose must be"),
    ],
)
def test_fit_arguments_out_of_range(kwargs, match):
    model = _model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit(X, Y, **{"verbose": 0, **kwargs})
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_validation_split_of_too_few_samples():
    with pytest.raises(ValueError, match="contains 1 samples, which is not sufficient to split"):
        _model().fit(X[:1], Y[:1], validation_split=0.5, verbose=0)


def test_empty_data():
    with pytest.raises(ValueError, match="x is empty"):
        _model().fit(np.zeros((0, 4)), np.zeros((0,)), verbose=0)


def test_set_weights_wrong_count_and_shape():
    model = _model()
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expected a list of 4 arrays.*received 3"):
        model.set_weights(weights[:3])
    wrong = [np.zeros((5, 6))] + weights[1:]
    with pytest.raises(
        ValueError, match=r"weight 'kernel' of layer .* has shape \(4, 6\).*\(5, 6\)"
    ):
        model.set_weights(wrong)


def test_failed_call_leaves_model_usable_and_unchanged():
    model = _model()
    model.fit(X, Y, epochs=1, verbose=0)
    before = model.get_weights()
    with pytest.raises(ValueError):
        model.fit(X, Y[:5], verbose=0)
    with pytest.raises(ValueError):
        model.evaluate(np.ones((3, 7)), np.ones(3), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    history = model.fit(X, Y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_wrong_layer_type_and_duplicate_names():
    model = Sequential()
    with pytest.raises(TypeError, match="takes a layer"):
        model.add("Dense")
    model.add(Dense(2, input_dim=3, name="a"))
    with pytest.raises(ValueError, match="unique names"):
        model.add(Dense(2, name="a"))


def test_misspelled_layer_argument():
    with pytest.raises(TypeError, match="unexpected keyword argument.*activaton"):
        Dense(3, activaton="relu")


def test_compile_without_loss():
    with pytest.raises(ValueError, match="compile\\(\\) needs a loss"):
        Sequential([Dense(1, input_dim=2)]).compile(optimizer="sgd")
