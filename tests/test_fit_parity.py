"""Whole fits against real Keras 3: same starting weights, shuffle=False, same numbers.

History, final weights, evaluate and predict must agree to float32 rounding.
"""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

# These tests evaluate on the training data on purpose: silence that guardrail here.
pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL = 2e-4
ATOL = 2e-5


def _data(task, n=53, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    if task == "binary":
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
    elif task == "multiclass":
        y = np.eye(classes, dtype="float32")[rng.integers(0, classes, n)]
    elif task == "sparse":
        y = rng.integers(0, classes, n)
    else:
        y = (x @ rng.normal(size=(features, 1))).astype("float32")
    return x, y


def _stack(task, classes=3):
    """(units, activation) of each Dense layer, and the loss/metrics, per task."""
    if task == "binary":
        return [(7, "relu"), (1, "sigmoid")], "binary_crossentropy", ["accuracy"]
    if task == "multiclass":
        return [(7, "tanh"), (classes, "softmax")], "categorical_crossentropy", ["accuracy"]
    if task == "sparse":
        return [(7, "relu"), (classes, "softmax")], "sparse_categorical_crossentropy", ["accuracy"]
    return [(7, "relu"), (1, None)], "mse", ["mae"]


def _pair(keras, task, features):
    dense, loss, metrics = _stack(task)
    with keras_ref():
        km = keras.Sequential(
            [keras.Input((features,))] + [keras.layers.Dense(u, activation=a) for u, a in dense]
        )
    lm = lamina.models.Sequential(
        [lamina.layers.Input((features,))]
        + [lamina.layers.Dense(u, activation=a) for u, a in dense]
    )
    lm.set_weights(km.get_weights())
    return km, lm, loss, metrics


OPTIMIZERS = {
    "sgd": lambda m: m.optimizers.SGD(learning_rate=0.05),
    "sgd_momentum_nesterov": lambda m: m.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda m: m.optimizers.Adam(0.01),
    "adam_amsgrad": lambda m: m.optimizers.Adam(0.01, amsgrad=True),
    "rmsprop": lambda m: m.optimizers.RMSprop(0.01),
    "rmsprop_centered_momentum": lambda m: m.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda m: m.optimizers.Adagrad(0.05),
    "adadelta": lambda m: m.optimizers.Adadelta(1.0),
    "adamax": lambda m: m.optimizers.Adamax(0.01),
    "nadam": lambda m: m.optimizers.Nadam(0.01),
    "adamw": lambda m: m.optimizers.AdamW(0.01, weight_decay=0.01),
    "sgd_clipnorm": lambda m: m.optimizers.SGD(0.1, clipnorm=0.1),
    # use_ema: fit ends with the averaged weights (Keras's finalize_variable_values).
    "adam_ema": lambda m: m.optimizers.Adam(0.01, use_ema=True, ema_momentum=0.9),
    "sgd_ema_overwrite": lambda m: m.optimizers.SGD(
        0.05, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=3
    ),
}


def _compare(keras, km, lm, x, y, loss, metrics, opt_name, task, **fit_kwargs):
    with keras_ref():
        km.compile(optimizer=OPTIMIZERS[opt_name](keras), loss=loss, metrics=metrics)
        kh = km.fit(x, y, shuffle=False, verbose=0, **fit_kwargs)
        k_eval = km.evaluate(x, y, verbose=0, batch_size=16)
        k_pred = km.predict(x, verbose=0, batch_size=16)
        k_weights = km.get_weights()
    lm.compile(optimizer=OPTIMIZERS[opt_name](lamina), loss=loss, metrics=metrics)
    lh = lm.fit(x, y, shuffle=False, verbose=0, **fit_kwargs)
    assert list(lh.history) == list(kh.history), "History keys and their order match Keras"
    for key in kh.history:
        np.testing.assert_allclose(
            lh.history[key], kh.history[key], rtol=RTOL, atol=ATOL, err_msg=key
        )
    for lw, kw in zip(lm.get_weights(), k_weights):
        np.testing.assert_allclose(lw, kw, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        lm.evaluate(x, y, verbose=0, batch_size=16), k_eval, rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(
        lm.predict(x, verbose=0, batch_size=16), k_pred, rtol=RTOL, atol=ATOL
    )
    assert lh.params["epochs"] == kh.params["epochs"] and lh.params["steps"] == kh.params["steps"]


# sgd, adam and rmsprop run in the default suite; the rest of the matrix is marked slow
# (.ci/run still runs it).
_FAST = {"sgd", "adam", "rmsprop", "adam_ema"}


@pytest.mark.parametrize(
    "opt_name",
    [o if o in _FAST else pytest.param(o, marks=pytest.mark.slow) for o in sorted(OPTIMIZERS)],
)
def test_binary_fit_matches_keras_for_each_optimizer(keras, opt_name):
    x, y = _data("binary")  # 53 samples, batch 10: a short last batch of 3
    km, lm, loss, metrics = _pair(keras, "binary", x.shape[1])
    _compare(keras, km, lm, x, y, loss, metrics, opt_name, "binary", batch_size=10, epochs=4)


@pytest.mark.parametrize("task", ["multiclass", "sparse", "regression"])
@pytest.mark.parametrize(
    "opt_name",
    [
        "sgd",
        pytest.param("adam", marks=pytest.mark.slow),
        pytest.param("rmsprop", marks=pytest.mark.slow),
    ],
)
def test_task_fit_matches_keras(keras, task, opt_name):
    x, y = _data(task)
    km, lm, loss, metrics = _pair(keras, task, x.shape[1])
    _compare(keras, km, lm, x, y, loss, metrics, opt_name, task, batch_size=8, epochs=3)


@pytest.mark.slow
def test_validation_split_matches_keras(keras):
    x, y = _data("binary", n=61)
    km, lm, loss, metrics = _pair(keras, "binary", x.shape[1])
    _compare(
        keras,
        km,
        lm,
        x,
        y,
        loss,
        metrics,
        "adam",
        "binary",
        batch_size=7,
        epochs=3,
        validation_split=0.25,
    )


@pytest.mark.slow
def test_sample_and_class_weights_match_keras(keras):
    x, y = _data("binary", n=40)
    sw = np.random.default_rng(1).uniform(0.1, 2.0, size=len(x)).astype("float32")
    for weights in ({"sample_weight": sw}, {"class_weight": {0: 1.0, 1: 3.0}}):
        km, lm, loss, metrics = _pair(keras, "binary", x.shape[1])
        _compare(
            keras, km, lm, x, y, loss, metrics, "sgd", "binary", batch_size=16, epochs=2, **weights
        )


def test_seed_model_with_activation_layers_and_evaluate_scalar(keras):
    """The seed's model 3 (Activation layers), compiled with sgd/mse, no metrics: a scalar."""
    x, y = _data("binary", n=30, features=2)
    with keras_ref():
        km = keras.Sequential(
            [
                keras.Input((2,)),
                keras.layers.Dense(5),
                keras.layers.Activation("relu"),
                keras.layers.Dense(1),
                keras.layers.Activation("sigmoid"),
            ]
        )
        km.compile(optimizer="sgd", loss="mse")
    lm = lamina.models.Sequential()
    lm.add(lamina.layers.Dense(5, input_dim=2))
    lm.add(lamina.layers.Activation("relu"))
    lm.add(lamina.layers.Dense(1))
    lm.add(lamina.layers.Activation("sigmoid"))
    lm.set_weights(km.get_weights())
    lm.compile(optimizer="sgd", loss="mse")
    with keras_ref():
        kh = km.fit(x, y, batch_size=10, epochs=5, shuffle=False, verbose=0)
        k_eval = km.evaluate(x, y, verbose=0)
    lh = lm.fit(x, y, batch_size=10, epochs=5, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=RTOL)
    result = lm.evaluate(x, y, verbose=0)
    assert isinstance(result, float)
    np.testing.assert_allclose(result, k_eval, rtol=RTOL)


def test_regularizers_and_loss_weights_match_keras(keras):
    """Weight and activity regularizers (Keras divides the activity penalty by the batch size),
    with a short last batch."""
    x, y = _data("binary", n=45)
    with keras_ref():
        km = keras.Sequential(
            [
                keras.Input((x.shape[1],)),
                keras.layers.Dense(
                    7,
                    activation="relu",
                    kernel_regularizer=keras.regularizers.L2(0.01),
                    activity_regularizer=keras.regularizers.L1(0.02),
                ),
                keras.layers.Dense(
                    1, activation="sigmoid", bias_regularizer=keras.regularizers.L1L2(0.01, 0.02)
                ),
            ]
        )
        km.compile(
            optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
        )
    lm = lamina.models.Sequential(
        [
            lamina.layers.Input((x.shape[1],)),
            lamina.layers.Dense(
                7,
                activation="relu",
                kernel_regularizer=lamina.regularizers.L2(0.01),
                activity_regularizer=lamina.regularizers.L1(0.02),
            ),
            lamina.layers.Dense(
                1, activation="sigmoid", bias_regularizer=lamina.regularizers.L1L2(0.01, 0.02)
            ),
        ]
    )
    lm.set_weights(km.get_weights())
    lm.compile(
        optimizer=lamina.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    with keras_ref():
        kh = km.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
        k_eval = km.evaluate(x, y, verbose=0)
    lh = lm.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    for key in kh.history:
        np.testing.assert_allclose(
            lh.history[key], kh.history[key], rtol=RTOL, atol=ATOL, err_msg=key
        )
    for lw, kw in zip(lm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(lw, kw, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lm.evaluate(x, y, verbose=0), k_eval, rtol=RTOL, atol=ATOL)
