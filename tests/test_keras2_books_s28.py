"""Code of two books, shrunk and run as written under ``import lamina as keras``.

Géron's "Hands-On Machine Learning" (2nd ed., chapters 10-16, tf.keras 2) and Chollet's
"Deep Learning with Python" (1st ed., Keras 2.0/2.2).  The books' exact spellings are kept
(``SGD(lr=)``, ``K.set_value(model.optimizer.lr, ...)``, ``metrics=['acc']``, ``nb_epoch``,
``fit_generator``, ``K.gradients``/``K.function``, ``keras.wrappers.scikit_learn``).  Where
Keras 3 runs the same model (the ``keras3`` fixture) it starts from Lamina's weights and the
numbers are compared; where Keras 3 refuses the code, the reference is Keras 2's documented
meaning.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import lamina as keras
from lamina import backend as K
from tests.helpers import keras_ref


@pytest.fixture
def keras3(keras):  # noqa: F811 - the conftest fixture is real Keras; ``keras`` here is Lamina
    """Real Keras 3 (JAX backend), the reference."""
    return keras


def _ref_like(ours, build_ref):
    """Keras 3's model from ``build_ref()``, starting from ``ours``'s weights."""
    with keras_ref():
        ref = build_ref()
        ref.set_weights(ours.get_weights())
    return ref


pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*Keras 2 spelling:UserWarning"),
    pytest.mark.filterwarnings("ignore:evaluate\\(\\) received the same data"),
    pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning"),  # Keras 3
]


# ----------------------------------------------------------------------------- fixes


def test_activations_relu_takes_keras2_alpha(keras3):
    """Keras 2's ``relu(x, alpha=0., max_value=None, threshold=0)``: ``alpha`` is Keras 3's
    ``negative_slope`` (scripts write ``Activation(lambda x: relu(x, alpha=0.1))``)."""
    x = np.array([-3.0, -0.5, 0.5, 2.0, 9.0], "float32")
    with keras_ref():
        want = np.asarray(keras3.activations.relu(x, negative_slope=0.1, max_value=6.0))
    got = keras.activations.relu(x, alpha=0.1, max_value=6.0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got, [-0.3, -0.05, 0.5, 2.0, 6.0], rtol=1e-6)
    model = keras.models.Sequential([
        keras.layers.Dense(3, input_shape=(2,)),
        keras.layers.Activation(lambda t: keras.activations.relu(t, alpha=0.2))])  # fmt: skip
    xs = np.array([[1.0, -2.0], [-1.0, 0.5]], "float32")
    kernel, bias = model.get_weights()
    z = xs @ kernel + bias
    np.testing.assert_allclose(model.predict(xs, verbose=0), np.where(z > 0, z, 0.2 * z),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def _char_rnn(batch_size, max_id, stateful=True):
    first = ({"stateful": True, "batch_input_shape": [batch_size, None, max_id]} if stateful
             else {"input_shape": [None, max_id]})  # fmt: skip
    return keras.models.Sequential([
        keras.layers.GRU(8, return_sequences=True, **first),
        keras.layers.GRU(8, return_sequences=True, stateful=stateful),
        keras.layers.TimeDistributed(keras.layers.Dense(max_id, activation="softmax"))])  # fmt: skip


@pytest.mark.slow
def test_stateful_char_rnn_whole_data_in_one_default_batch():
    """Géron ch. 16's stateful char-RNN (``batch_input_shape``, a ``reset_states`` callback,
    ``shuffle=False``).  Keras 2 slices ``n`` rows with ``batch_size=32`` into one batch of
    ``n``, so ``predict_classes(x)`` (its default ``batch_size=32``) on as many rows as the
    stateful batch runs; a batch of 8 rows into a 4-row stateful model stays refused.  The
    stateless copy with the same weights gives the same first-batch classes."""
    max_id, batch_size = 6, 4
    rng = np.random.default_rng(0)
    model = _char_rnn(batch_size, max_id)

    class ResetStatesCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs):
            self.model.reset_states()

    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    X = keras.utils.to_categorical(rng.integers(0, max_id, (8, 5)), max_id)
    Y = rng.integers(0, max_id, (8, 5))
    model.fit(X, Y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0,
              callbacks=[ResetStatesCallback()])  # fmt: skip
    model.reset_states()
    classes = model.predict_classes(X[:4])
    assert classes.shape == (4, 5)
    stateless = _char_rnn(batch_size, max_id, stateful=False)
    stateless.build([None, None, max_id])
    stateless.set_weights(model.get_weights())
    np.testing.assert_array_equal(classes, stateless.predict(X[:4], verbose=0).argmax(-1))
    model.reset_states()
    model.fit(X[:4], Y[:4], batch_size=32, epochs=1, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="batches of 4 samples"):
        model.predict(X, batch_size=32)


# ------------------------------------------------------------------ Géron, chapters 10-11


def _data(rows=48, cols=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((rows, cols)).astype("float32")
    return X, rng.integers(0, classes, rows), rng.random((rows, 1)).astype("float32")


def _mlp(lib, opt):
    model = lib.models.Sequential([
        lib.layers.Input((8,)),
        lib.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
        lib.layers.Dense(3, activation="softmax")])  # fmt: skip
    model.compile(loss="sparse_categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    return model


@pytest.mark.slow
def test_mlp_sgd_lr_and_set_value_of_optimizer_lr_match_keras(keras3):
    """Ch. 10-11: ``keras.optimizers.SGD(lr=1e-2)``, then ``K.set_value(model.optimizer.lr,
    ...)`` between fits and ``K.get_value(model.optimizer.lr)``; the losses are Keras 3's with
    the learning rate assigned the same way."""
    X, y, _ = _data()
    keras.backend.clear_session()
    model = keras.models.Sequential([
        keras.layers.Flatten(input_shape=[8]),
        keras.layers.Dense(16, activation="relu", kernel_initializer="he_normal"),
        keras.layers.Dense(3, activation="softmax")])  # fmt: skip
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-2),
                  metrics=["accuracy"])  # fmt: skip
    ref = _ref_like(model, lambda: _mlp(keras3, keras3.optimizers.SGD(learning_rate=1e-2)))
    got = model.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    K.set_value(model.optimizer.lr, 0.05)
    got2 = model.fit(X, y, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    with keras_ref():
        want = ref.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
        ref.optimizer.learning_rate.assign(0.05)
        want2 = ref.fit(X, y, epochs=1, batch_size=16, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"] + got2["loss"], want["loss"] + want2["loss"],
                               rtol=1e-5)  # fmt: skip
    np.testing.assert_allclose(got["accuracy"], want["accuracy"])
    assert K.get_value(model.optimizer.lr) == pytest.approx(0.05)
    assert model.layers[1].name == "dense"  # clear_session restarted the names


class _ExponentialLearningRate(keras.callbacks.Callback):
    """Ch. 11's learning-rate finder: multiplies ``optimizer.lr`` after every batch."""

    def __init__(self, factor):
        super().__init__()
        self.factor, self.rates, self.losses = factor, [], []

    def on_batch_end(self, batch, logs):
        self.rates.append(K.get_value(self.model.optimizer.lr))
        self.losses.append(logs["loss"])
        K.set_value(self.model.optimizer.lr, self.model.optimizer.lr * self.factor)


class _OneCycleScheduler(keras.callbacks.Callback):
    """Ch. 11's 1cycle schedule, set with ``K.set_value`` in ``on_batch_begin``."""

    def __init__(self, iterations, max_rate):
        super().__init__()
        self.iterations, self.max_rate = iterations, max_rate
        self.start_rate, self.last_iterations = max_rate / 10, iterations // 10 + 1
        self.half_iteration = (iterations - self.last_iterations) // 2
        self.last_rate, self.iteration, self.seen = self.start_rate / 1000, 0, []

    def _interpolate(self, iter1, iter2, rate1, rate2):
        return (rate2 - rate1) * (self.iteration - iter1) / (iter2 - iter1) + rate1

    def on_batch_begin(self, batch, logs):
        if self.iteration < self.half_iteration:
            rate = self._interpolate(0, self.half_iteration, self.start_rate, self.max_rate)
        else:
            rate = self._interpolate(self.half_iteration, self.iterations, self.max_rate,
                                     self.last_rate)  # fmt: skip
        self.iteration += 1
        K.set_value(self.model.optimizer.lr, rate)
        self.seen.append(rate)


@pytest.mark.slow
def test_learning_rate_finder_one_cycle_and_epoch_lr_schedulers():
    """Ch. 11: the finder's rates grow geometrically from the compiled ``lr``; a 1cycle
    callback leaves its last rate in the optimizer; ``LearningRateScheduler`` takes
    ``f(epoch)`` and ``f(epoch, lr)`` and logs ``history['lr']`` (tf.keras 2's key)."""
    X, y, _ = _data()
    model = _mlp(keras, keras.optimizers.SGD(lr=1e-3))
    finder = _ExponentialLearningRate(1.5)
    model.fit(X, y, epochs=1, batch_size=16, verbose=0, callbacks=[finder])
    np.testing.assert_allclose(finder.rates, [1e-3, 1.5e-3, 2.25e-3], rtol=1e-5)
    assert len(finder.losses) == 3 and all(math.isfinite(v) for v in finder.losses)
    one_cycle = _OneCycleScheduler(6, 0.05)
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[one_cycle])
    assert K.get_value(model.optimizer.lr) == pytest.approx(one_cycle.seen[-1], rel=1e-6)

    def piecewise_constant_fn(epoch):
        return 0.01 if epoch < 1 else 0.005 if epoch < 2 else 0.001

    def exponential_decay_fn(epoch, lr):
        return lr * 0.1 ** (1 / 20)

    h = model.fit(X, y, epochs=3, verbose=0,
                  callbacks=[keras.callbacks.LearningRateScheduler(piecewise_constant_fn)])  # fmt: skip
    np.testing.assert_allclose(h.history["lr"], [0.01, 0.005, 0.001], rtol=1e-6)
    h = model.fit(X, y, epochs=2, verbose=0,
                  callbacks=[keras.callbacks.LearningRateScheduler(exponential_decay_fn)])  # fmt: skip
    np.testing.assert_allclose(h.history["lr"], [0.001 * 0.1 ** 0.05, 0.001 * 0.1 ** 0.1],
                               rtol=1e-5)  # fmt: skip


@pytest.mark.slow
def test_schedules_exponential_and_piecewise_with_float_boundaries(keras3):
    """Ch. 11: ``ExponentialDecay(0.01, s, 0.1)`` and ``PiecewiseConstantDecay`` whose
    boundaries are floats (``5. * n_steps_per_epoch``) give Keras 3's rates and train."""
    X, y, _ = _data()
    n = 3
    ours = [keras.optimizers.schedules.ExponentialDecay(0.01, 20 * len(X) // 32, 0.1),
            keras.optimizers.schedules.PiecewiseConstantDecay(
                boundaries=[5.0 * n, 15.0 * n], values=[0.01, 0.005, 0.001])]  # fmt: skip
    with keras_ref():
        refs = [keras3.optimizers.schedules.ExponentialDecay(0.01, 20 * len(X) // 32, 0.1),
                keras3.optimizers.schedules.PiecewiseConstantDecay(
                    boundaries=[5.0 * n, 15.0 * n], values=[0.01, 0.005, 0.001])]  # fmt: skip
        want = [[float(r(s)) for s in (0, 14, 15, 16, 44, 46, 90)] for r in refs]
    got = [[float(o(s)) for s in (0, 14, 15, 16, 44, 46, 90)] for o in ours]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for schedule in ours:
        model = _mlp(keras, keras.optimizers.SGD(schedule))
        assert math.isfinite(model.fit(X, y, epochs=1, verbose=0).history["loss"][0])


def _regularized_net(lib, partial_dense):
    RegularizedDense = functools.partial(lib.layers.Dense, activation="elu",
                                         kernel_initializer="he_normal",
                                         kernel_regularizer=lib.regularizers.l2(0.01))  # fmt: skip
    MaxNormDense = functools.partial(lib.layers.Dense, activation="selu",
                                     kernel_initializer="lecun_normal",
                                     kernel_constraint=partial_dense(1.0))  # fmt: skip
    model = lib.models.Sequential([
        lib.layers.Input((8,)), RegularizedDense(12), MaxNormDense(12),
        lib.layers.BatchNormalization(),
        lib.layers.Dense(12, kernel_initializer="he_normal", use_bias=False),
        lib.layers.BatchNormalization(), lib.layers.Activation("elu"),
        lib.layers.Dense(3, activation="softmax")])  # fmt: skip
    return model


@pytest.mark.slow
def test_partial_regularized_maxnorm_and_bn_before_activation_match_keras(keras3):
    """Ch. 11: ``functools.partial`` dense layers (``l2``, ``max_norm``), batch norm before
    the activation with ``use_bias=False``, ``SGD(lr=, momentum=0.9, nesterov=True)``: the
    losses and moving statistics are Keras 3's; the constrained columns' norms stay <= 1."""
    X, y, _ = _data()
    model = _regularized_net(keras, keras.constraints.max_norm)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True))  # fmt: skip

    def build():
        ref = _regularized_net(keras3, keras3.constraints.max_norm)
        ref.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                    optimizer=keras3.optimizers.SGD(0.05, momentum=0.9, nesterov=True))  # fmt: skip
        return ref

    ref = _ref_like(model, build)
    got = model.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    with keras_ref():
        want = ref.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
        ref_weights = ref.get_weights()
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-4)
    for a, b in zip(model.get_weights(), ref_weights):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    assert np.sqrt((model.layers[1].get_weights()[0] ** 2).sum(0)).max() <= 1.0 + 1e-5
    assert [(v.name, v.trainable) for v in model.layers[2].variables] == [
        ("gamma", True),
        ("beta", True),
        ("moving_mean", False),
        ("moving_variance", False),
    ]
    assert len(model.losses) == 1  # the l2 penalty


@pytest.mark.slow
def test_mc_dropout_subclasses_sample_at_inference():
    """Ch. 11: ``MCDropout(keras.layers.Dropout)`` whose ``call`` passes ``training=True``
    (and ``MCAlphaDropout``) sample at ``predict``; a plain ``Dropout`` model does not; the
    ``mc_model`` built from the trained model's layers has its weights."""

    class MCDropout(keras.layers.Dropout):
        def call(self, inputs):
            return super().call(inputs, training=True)

    class MCAlphaDropout(keras.layers.AlphaDropout):
        def call(self, inputs):
            return super().call(inputs, training=True)

    X, y, _ = _data()
    model = keras.models.Sequential([
        keras.layers.Dense(16, activation="selu", kernel_initializer="lecun_normal",
                           input_shape=[8]),
        keras.layers.AlphaDropout(rate=0.2),
        keras.layers.Dense(3, activation="softmax")])  # fmt: skip
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.SGD(lr=0.01, momentum=0.9, nesterov=True))  # fmt: skip
    model.fit(X, y, epochs=1, verbose=0)
    plain = model.predict(X[:4], verbose=0)
    np.testing.assert_allclose(plain, model.predict(X[:4], verbose=0))
    mc_model = keras.models.Sequential([
        MCAlphaDropout(layer.rate) if isinstance(layer, keras.layers.AlphaDropout) else layer
        for layer in model.layers])  # fmt: skip
    mc_model.build([None, 8])
    mc_model.set_weights(model.get_weights())
    y_probas = np.stack([mc_model.predict(X[:4], verbose=0) for _ in range(5)])
    assert y_probas.std(axis=0).max() > 1e-3
    np.testing.assert_allclose(y_probas.sum(-1), 1.0, rtol=1e-5)
    stacked = np.stack([model(X[:4], training=True) for _ in range(3)])
    assert stacked.std(axis=0).max() > 1e-3
    mcd = keras.models.Sequential([keras.layers.Dense(8, input_shape=[8]), MCDropout(0.5)])
    a, b = mcd.predict(X[:4], verbose=0), mcd.predict(X[:4], verbose=0)
    assert (
        not np.allclose(a, b)
        and (
            (a == 0)
            | np.isclose(
                a, 2 * (X[:4] @ mcd.get_weights()[0] + mcd.get_weights()[1]), rtol=1e-4, atol=1e-6
            )
        ).all()
    )  # noqa: E501


# ------------------------------------------------------------------ Géron, chapters 10, 12


def _wide_deep(lib):
    input_A = lib.layers.Input(shape=[5], name="wide_input")
    input_B = lib.layers.Input(shape=[6], name="deep_input")
    hidden1 = lib.layers.Dense(8, activation="relu")(input_B)
    hidden2 = lib.layers.Dense(8, activation="relu")(hidden1)
    concat = lib.layers.concatenate([input_A, hidden2])
    output = lib.layers.Dense(1, name="main_output")(concat)
    aux_output = lib.layers.Dense(1, name="aux_output")(hidden2)
    return lib.models.Model(inputs=[input_A, input_B], outputs=[output, aux_output])


@pytest.mark.slow
def test_wide_and_deep_two_inputs_two_outputs_loss_weights_match_keras(keras3):
    """Ch. 10's wide & deep model: two named inputs, ``main_output``/``aux_output`` with
    ``loss=["mse", "mse"], loss_weights=[0.9, 0.1]``; fit on tuples, then on dicts keyed by
    the names; ``evaluate`` returns ``total, main, aux``; Keras 3's numbers."""
    X, _, y = _data(cols=8)
    XA, XB = X[:, :5], X[:, 2:]
    model = _wide_deep(keras)
    model.compile(loss=["mse", "mse"], loss_weights=[0.9, 0.1],
                  optimizer=keras.optimizers.SGD(lr=1e-2))  # fmt: skip

    def build():
        ref = _wide_deep(keras3)
        ref.compile(loss=["mse", "mse"], loss_weights=[0.9, 0.1],
                    optimizer=keras3.optimizers.SGD(1e-2))  # fmt: skip
        return ref

    ref = _ref_like(model, build)
    got = model.fit((XA, XB), [y, y], epochs=2, batch_size=16, shuffle=False, verbose=0,
                    validation_data=((XA, XB), [y, y])).history  # fmt: skip
    with keras_ref():
        want = ref.fit((XA, XB), [y, y], epochs=2, batch_size=16, shuffle=False, verbose=0,
                       validation_data=((XA, XB), [y, y])).history  # fmt: skip
        want_eval = ref.evaluate((XA, XB), [y, y], verbose=0)
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, err_msg=key)
    total_loss, main_loss, aux_loss = model.evaluate((XA, XB), [y, y], verbose=0)
    np.testing.assert_allclose([total_loss, main_loss, aux_loss], want_eval, rtol=1e-5)
    y_pred_main, y_pred_aux = model.predict((XA[:3], XB[:3]), verbose=0)
    assert y_pred_main.shape == y_pred_aux.shape == (3, 1)
    h = model.fit({"wide_input": XA, "deep_input": XB}, {"main_output": y, "aux_output": y},
                  epochs=1, verbose=0)  # fmt: skip
    assert h.history["loss"][0] < got["loss"][0]


@pytest.mark.slow
def test_subclassed_wide_and_deep_logs_output_n_losses():
    """Ch. 10's ``WideAndDeepModel(keras.models.Model)`` returning two outputs: tf.keras 2
    names their losses ``output_1_loss``/``output_2_loss``; ``loss="mse"`` applies to both
    and the total is the weighted sum."""

    class WideAndDeepModel(keras.models.Model):
        def __init__(self, units=8, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.hidden1 = keras.layers.Dense(units, activation=activation)
            self.hidden2 = keras.layers.Dense(units, activation=activation)
            self.main_output = keras.layers.Dense(1)
            self.aux_output = keras.layers.Dense(1)

        def call(self, inputs):
            input_A, input_B = inputs
            hidden1 = self.hidden1(input_B)
            hidden2 = self.hidden2(hidden1)
            concat = keras.layers.concatenate([input_A, hidden2])
            return self.main_output(concat), self.aux_output(hidden2)

    X, _, y = _data()
    model = WideAndDeepModel(8, activation="relu")
    model.compile(loss="mse", loss_weights=[0.9, 0.1], optimizer=keras.optimizers.SGD(lr=1e-3))
    h = model.fit((X[:, :5], X[:, 2:]), (y, y), epochs=1, verbose=0)
    assert sorted(h.history) == ["loss", "output_1_loss", "output_2_loss"]
    total, main, aux = model.evaluate((X[:, :5], X[:, 2:]), (y, y), verbose=0)
    assert total == pytest.approx(0.9 * main + 0.1 * aux, rel=1e-5)


def _create_huber(threshold=1.0):
    def huber_fn(y_true, y_pred):
        error = y_true - y_pred
        is_small_error = K.abs(error) < threshold
        squared_loss = K.square(error) / 2
        linear_loss = threshold * K.abs(error) - threshold**2 / 2
        return K.switch(is_small_error, squared_loss, linear_loss)

    return huber_fn


class _HuberLoss(keras.losses.Loss):
    def __init__(self, threshold=1.0, **kwargs):
        self.threshold = threshold
        super().__init__(**kwargs)

    def call(self, y_true, y_pred):
        return _create_huber(self.threshold)(y_true, y_pred)

    def get_config(self):
        base_config = super().get_config()
        return {**base_config, "threshold": self.threshold}


def my_softplus(z):
    return K.log(K.exp(z) + 1.0)


def my_glorot_initializer(shape, dtype=None):
    stddev = K.sqrt(2.0 / (shape[0] + shape[1]))
    return K.random_normal(shape, stddev=stddev, dtype=dtype)


def my_positive_weights(weights):
    return K.switch(weights < 0.0, K.zeros_like(weights), weights)


class _MyL1Regularizer(keras.regularizers.Regularizer):
    def __init__(self, factor):
        self.factor = factor

    def __call__(self, weights):
        return K.sum(K.abs(self.factor * weights))

    def get_config(self):
        return {"factor": self.factor}


@pytest.mark.slow
def test_custom_loss_activation_initializer_regularizer_constraint_through_h5(tmp_path):
    """Ch. 12: every custom component as a function or a class with ``get_config``; the model
    saved to ``.h5`` loads with ``custom_objects``; ``model.loss.threshold`` survives, the
    predictions are equal, the constraint kept the kernel non-negative, and the loss is the
    Huber loss plus the L1 penalty computed with NumPy."""
    X, _, y = _data()
    model = keras.models.Sequential([
        keras.layers.Dense(8, activation="selu", kernel_initializer="lecun_normal",
                           input_shape=[8]),
        keras.layers.Dense(1, activation=my_softplus, kernel_initializer=my_glorot_initializer,
                           kernel_regularizer=_MyL1Regularizer(0.01),
                           kernel_constraint=my_positive_weights)])  # fmt: skip
    model.compile(loss=_HuberLoss(2.0), optimizer="nadam", metrics=[_create_huber(2.0)])
    model.fit(X, y, epochs=2, verbose=0)
    assert (model.layers[1].get_weights()[0] >= 0).all()
    model.save(tmp_path / "my_model_with_many_custom_parts.h5")
    loaded = keras.models.load_model(
        tmp_path / "my_model_with_many_custom_parts.h5",
        custom_objects={"HuberLoss": _HuberLoss, "_HuberLoss": _HuberLoss,
                        "my_softplus": my_softplus, "huber_fn": _create_huber(2.0),
                        "my_glorot_initializer": my_glorot_initializer,
                        "_MyL1Regularizer": _MyL1Regularizer,
                        "my_positive_weights": my_positive_weights})  # fmt: skip
    assert loaded.loss.threshold == 2.0
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    w1, b1, w2, b2 = model.get_weights()
    h = X @ w1 + b1
    h = 1.0507009873554805 * np.where(h > 0, h, 1.6732632423543772 * (np.exp(h) - 1))
    pred = np.log1p(np.exp(h @ w2 + b2))
    err = np.abs(y - pred)
    huber = np.where(err < 2.0, err**2 / 2, 2.0 * err - 2.0).mean()
    loss, metric = loaded.evaluate(X, y, verbose=0)
    assert loss == pytest.approx(huber + 0.01 * np.abs(w2).sum(), rel=1e-4)
    assert metric == pytest.approx(huber, rel=1e-4)


# ------------------------------------------------------------------------- Chollet


def _imdb_net(lib, metric):
    model = lib.models.Sequential()
    model.add(lib.layers.Dense(16, activation="relu", input_shape=(40,)))
    model.add(lib.layers.Dense(16, activation="relu"))
    model.add(lib.layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=lib.optimizers.RMSprop(learning_rate=0.001),
                  loss="binary_crossentropy", metrics=[metric])  # fmt: skip
    return model


@pytest.mark.slow
def test_imdb_dense_nb_epoch_and_acc_history_keys_match_keras(keras3):
    """Ch. 3: ``optimizers.RMSprop(lr=0.001)``, ``metrics=['acc']``, ``fit(..., nb_epoch=)``
    with ``validation_data``: ``history['acc']``/``history['val_acc']`` hold Keras 3's
    ``accuracy`` values; ``model.metrics_names`` is ``['loss', 'acc']``."""
    from lamina import layers, models, optimizers

    rng = np.random.default_rng(3)
    x = (rng.random((40, 40)) > 0.5).astype("float32")
    y = rng.integers(0, 2, 40).astype("float32")
    model = models.Sequential()
    model.add(layers.Dense(16, activation="relu", input_shape=(40,)))
    model.add(layers.Dense(16, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizers.RMSprop(lr=0.001), loss="binary_crossentropy",
                  metrics=["acc"])  # fmt: skip
    ref = _ref_like(model, lambda: _imdb_net(keras3, "accuracy"))
    history = model.fit(x[:30], y[:30], nb_epoch=2, batch_size=8, shuffle=False, verbose=0,
                        validation_data=(x[30:], y[30:]))  # fmt: skip
    with keras_ref():
        want = ref.fit(x[:30], y[:30], epochs=2, batch_size=8, shuffle=False, verbose=0,
                       validation_data=(x[30:], y[30:])).history  # fmt: skip
    history_dict = history.history
    assert sorted(history_dict) == ["acc", "loss", "val_acc", "val_loss"]
    np.testing.assert_allclose(history_dict["loss"], want["loss"], rtol=1e-5)
    np.testing.assert_allclose(history_dict["acc"], want["accuracy"])
    np.testing.assert_allclose(history_dict["val_acc"], want["val_accuracy"])
    assert model.metrics_names == ["loss", "acc"]


def _temperature_generator(data, lookback, delay, min_index, max_index, batch_size=8, step=2):
    """Ch. 6's ``generator`` (sequential branch): windows of ``lookback // step`` rows."""
    if max_index is None:
        max_index = len(data) - delay - 1
    i = min_index + lookback
    while 1:
        if i + batch_size >= max_index:
            i = min_index + lookback
        rows = np.arange(i, min(i + batch_size, max_index))
        i += len(rows)
        samples = np.zeros((len(rows), lookback // step, data.shape[-1]))
        targets = np.zeros((len(rows),))
        for j, _row in enumerate(rows):
            indices = range(rows[j] - lookback, rows[j], step)
            samples[j] = data[indices]
            targets[j] = data[rows[j] + delay][1]
        yield samples, targets


@pytest.mark.slow
def test_fit_generator_conv1d_gru_and_evaluate_predict_generator(keras3):
    """Ch. 6: ``Conv1D``/``MaxPooling1D`` in front of ``GRU(dropout=, recurrent_dropout=)``,
    trained with ``fit_generator(steps_per_epoch=, validation_data=gen, validation_steps=)``;
    ``evaluate_generator(gen, steps=)`` and ``predict_generator(gen, steps=)`` give Keras 3's
    ``evaluate``/``predict`` over the same batches."""
    from lamina import layers, models, optimizers

    float_data = np.random.default_rng(5).random((120, 3)).astype("float32")
    model = models.Sequential()
    model.add(layers.Conv1D(4, 3, activation="relu", input_shape=(None, float_data.shape[-1])))
    model.add(layers.MaxPooling1D(2))
    model.add(layers.GRU(4, dropout=0.1, recurrent_dropout=0.5))
    model.add(layers.Dense(1))
    model.compile(optimizer=optimizers.RMSprop(), loss="mae")
    history = model.fit_generator(_temperature_generator(float_data, 20, 3, 0, 80),
                                  steps_per_epoch=3, epochs=2, verbose=0,
                                  validation_data=_temperature_generator(float_data, 20, 3, 81, None),
                                  validation_steps=2)  # fmt: skip
    assert sorted(history.history) == ["loss", "val_loss"]
    assert history.params["steps"] == 3

    def build():
        ref = keras3.models.Sequential([
            keras3.layers.Input((None, 3)), keras3.layers.Conv1D(4, 3, activation="relu"),
            keras3.layers.MaxPooling1D(2), keras3.layers.GRU(4), keras3.layers.Dense(1)])  # fmt: skip
        ref.compile(optimizer="rmsprop", loss="mae")
        return ref

    ref = _ref_like(model, build)
    val = _temperature_generator(float_data, 20, 3, 81, None)
    batches = [next(val) for _ in range(2)]
    xs = np.concatenate([b[0] for b in batches]).astype("float32")
    ys = np.concatenate([b[1] for b in batches]).astype("float32")
    got_loss = model.evaluate_generator(_temperature_generator(float_data, 20, 3, 81, None),
                                        steps=2)  # fmt: skip
    got_pred = model.predict_generator(_temperature_generator(float_data, 20, 3, 81, None),
                                       steps=2)  # fmt: skip
    with keras_ref():
        want_loss = ref.evaluate(xs, ys, batch_size=8, verbose=0)
        want_pred = ref.predict(xs, verbose=0)
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    np.testing.assert_allclose(got_pred, want_pred, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_augmented_flow_separable_conv_with_keras2_callbacks(tmp_path):
    """Ch. 5/7: ``ImageDataGenerator(rescale=1./255, rotation_range=40, ...)``'s ``flow``
    feeding ``fit_generator`` of a ``SeparableConv2D`` net with ``ReduceLROnPlateau``,
    ``ModelCheckpoint(save_best_only=True)``, ``EarlyStopping(monitor='acc')`` and
    ``TensorBoard(histogram_freq=1, embeddings_freq=1)``; the checkpoint loads, the learning
    rate log is ``history['lr']`` (the epoch's rate, before the cut), and the activation model of ch. 5 returns each layer's
    output."""
    from lamina import callbacks, layers, models, optimizers
    from lamina.preprocessing.image import ImageDataGenerator

    rng = np.random.default_rng(2)
    x = rng.integers(0, 255, (16, 12, 12, 3)).astype("float32")
    y = rng.integers(0, 2, 16)
    datagen = ImageDataGenerator(rescale=1.0 / 255, rotation_range=40, width_shift_range=0.2,
                                 height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,
                                 horizontal_flip=True, fill_mode="nearest")  # fmt: skip
    batch, labels = next(datagen.flow(x, y, batch_size=4))
    assert batch.shape == (4, 12, 12, 3) and batch.max() <= 1.0 and labels.shape == (4,)
    model = models.Sequential()
    model.add(layers.SeparableConv2D(4, 3, activation="relu", input_shape=(12, 12, 3)))
    model.add(layers.Conv2D(4, (3, 3), activation="relu", name="conv_last"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer=optimizers.RMSprop(lr=1e-3),
                  metrics=["acc"])  # fmt: skip
    callbacks_list = [
        callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=0, min_delta=10),
        callbacks.ModelCheckpoint(filepath=str(tmp_path / "my_model.h5"), monitor="val_loss",
                                  save_best_only=True),
        callbacks.EarlyStopping(monitor="acc", patience=5),
        callbacks.TensorBoard(log_dir=str(tmp_path / "my_log_dir"), histogram_freq=1,
                              embeddings_freq=1)]  # fmt: skip
    history = model.fit_generator(datagen.flow(x, y, batch_size=4), steps_per_epoch=4,
                                  epochs=2, callbacks=callbacks_list, verbose=0,
                                  validation_data=ImageDataGenerator(rescale=1.0 / 255).flow(
                                      x, y, batch_size=8),
                                  validation_steps=2)  # fmt: skip
    # tf.keras 2 logs the epoch's rate, then cuts it: the second epoch saw no improvement
    # of 10 (``min_delta``), so the optimizer ends at a tenth.
    np.testing.assert_allclose(history.history["lr"], [1e-3, 1e-3], rtol=1e-5)
    assert np.isclose(K.get_value(model.optimizer.lr), 1e-4, rtol=1e-4)
    best = models.load_model(str(tmp_path / "my_model.h5"))
    assert best.predict(x[:2] / 255.0, verbose=0).shape == (2, 1)
    layer_outputs = [layer.output for layer in model.layers[:2]]
    activation_model = models.Model(inputs=model.input, outputs=layer_outputs)
    first, second = activation_model.predict(x[:1] / 255.0, verbose=0)
    assert first.shape == (1, 10, 10, 4) and second.shape == (1, 8, 8, 4)
    np.testing.assert_allclose(first, model.layers[0](x[:1] / 255.0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_filter_visualization_gradients_match_finite_differences():
    """Ch. 5's filter visualization and ch. 8's deep dream: ``K.gradients`` of a loss built
    from ``layer.output`` (starting from ``K.variable(0.)``, grown with ``+=``) with respect
    to ``model.input``, run through ``K.function``; the gradient matches central differences
    of the same function, and gradient ascent raises the loss."""
    from lamina import layers, models

    rng = np.random.default_rng(4)
    model = models.Sequential([
        layers.Conv2D(3, 3, activation="tanh", input_shape=(None, None, 2), name="block1"),
        layers.Conv2D(2, 3, activation="tanh", name="block2")])  # fmt: skip
    layer_dict = {layer.name: layer for layer in model.layers}
    loss = K.variable(0.0)
    for layer_name, coeff in {"block1": 0.5, "block2": 2.0}.items():
        activation = layer_dict[layer_name].output
        scaling = K.prod(K.cast(K.shape(activation), "float32"))
        loss += coeff * K.sum(K.square(activation[:, 1:-1, 1:-1, :])) / scaling
    layer_output = model.get_layer("block2").output
    filter_loss = K.mean(layer_output[:, :, :, 0])
    grads = K.gradients(loss, model.input)[0]
    filter_grads = K.gradients(filter_loss, model.input)[0]
    filter_grads /= K.sqrt(K.mean(K.square(filter_grads))) + 1e-5
    fetch_loss_and_grads = K.function([model.input], [loss, grads])
    iterate = K.function([model.input], [filter_loss, filter_grads])
    x = rng.random((1, 7, 6, 2)).astype("float32")
    value, grad = fetch_loss_and_grads([x])
    eps = 1e-2
    for index in [(0, 0, 0, 0), (0, 3, 2, 1), (0, 6, 5, 0)]:
        up, down = x.astype("float64").copy(), x.astype("float64").copy()
        up[index] += eps
        down[index] -= eps
        numeric = (fetch_loss_and_grads([up])[0] - fetch_loss_and_grads([down])[0]) / (2 * eps)
        assert grad[index] == pytest.approx(numeric, rel=2e-2, abs=1e-5)
    start, _ = iterate([x])
    for _ in range(5):
        loss_value, grads_value = iterate([x])
        x += 0.05 * grads_value
    assert loss_value > start


def test_saved_huber_loss_keeps_its_delta(tmp_path, keras3):
    """Ch. 12 compiles with ``keras.losses.Huber(2.0)``.  tf.keras 2's config kept ``delta``
    (Keras 3.15's drops it, so its reloaded model trains with ``delta=1``): the ``.h5`` and
    ``.keras`` copies evaluate as the original, and Keras 3 rebuilds the loss from the
    config."""
    X, _, y = _data()
    y = y * 6.0  # errors above 1, where the two deltas differ
    model = keras.models.Sequential([keras.layers.Dense(1, input_shape=[8])])
    model.compile(loss=keras.losses.Huber(2.0), optimizer="nadam", metrics=["mae"])
    want = model.evaluate(X, y, verbose=0)
    for name in ("huber.h5", "huber.keras"):
        model.save(tmp_path / name)
        loaded = keras.models.load_model(tmp_path / name)
        assert loaded.loss.get_config()["delta"] == 2.0
        np.testing.assert_allclose(loaded.evaluate(X, y, verbose=0), want, rtol=1e-6)
    with keras_ref():
        ref = keras3.losses.Huber.from_config(keras.losses.Huber(2.0).get_config())
        y_true, y_pred = np.array([[0.0], [0.0]]), np.array([[3.0], [0.5]])
        want_value = float(ref(y_true, y_pred))
    assert float(keras.losses.Huber(2.0)(y_true, y_pred)) == pytest.approx(want_value)
    assert want_value == pytest.approx((2.0 * 3.0 - 2.0 + 0.125) / 2)


@pytest.mark.slow
def test_keras_regressor_randomized_search_over_build_fn_arguments():
    """Ch. 10: ``keras.wrappers.scikit_learn.KerasRegressor(build_model)`` fitted with
    ``validation_data`` and ``EarlyStopping``; ``score`` is the negative MSE; a
    ``RandomizedSearchCV`` over ``n_hidden``/``n_neurons``/``learning_rate`` refits the best
    and exposes ``best_estimator_.model``."""
    from scipy.stats import reciprocal
    from sklearn.model_selection import RandomizedSearchCV

    X, _, y = _data()
    y = y.ravel()

    def build_model(n_hidden=1, n_neurons=8, learning_rate=3e-3, input_shape=[8]):  # noqa: B006
        model = keras.models.Sequential()
        model.add(keras.layers.InputLayer(input_shape=input_shape))
        for _layer in range(n_hidden):
            model.add(keras.layers.Dense(n_neurons, activation="relu"))
        model.add(keras.layers.Dense(1))
        optimizer = keras.optimizers.SGD(lr=learning_rate)
        model.compile(loss="mse", optimizer=optimizer)
        return model

    keras_reg = keras.wrappers.scikit_learn.KerasRegressor(build_model)
    keras_reg.fit(X, y, epochs=2, validation_data=(X, y), verbose=0,
                  callbacks=[keras.callbacks.EarlyStopping(patience=10)])  # fmt: skip
    mse_test = keras_reg.score(X, y)
    assert mse_test == pytest.approx(-keras_reg.model.evaluate(X, y, verbose=0), rel=1e-5)
    assert keras_reg.predict(X[:3]).shape == (3,)
    param_distribs = {"n_hidden": [0, 1], "n_neurons": np.arange(1, 10),
                      "learning_rate": reciprocal(3e-4, 3e-2)}  # fmt: skip
    rnd_search_cv = RandomizedSearchCV(keras_reg, param_distribs, n_iter=2, cv=2,
                                       random_state=0)  # fmt: skip
    rnd_search_cv.fit(X, y, epochs=1, verbose=0)
    assert set(rnd_search_cv.best_params_) == {"n_hidden", "n_neurons", "learning_rate"}
    best = rnd_search_cv.best_estimator_.model
    assert len(best.layers) == 1 + rnd_search_cv.best_params_["n_hidden"]
    assert K.get_value(best.optimizer.lr) == pytest.approx(
        rnd_search_cv.best_params_["learning_rate"], rel=1e-6
    )


# ------------------------------------------------------------------- Géron, chapter 15


def _last_time_step_mse(lib):
    def last_time_step_mse(Y_true, Y_pred):
        return lib.metrics.mean_squared_error(Y_true[:, -1], Y_pred[:, -1])

    return last_time_step_mse


def _conv_gru(lib):
    return lib.models.Sequential([
        lib.layers.Input((None, 1)),
        lib.layers.Conv1D(filters=6, kernel_size=4, strides=2, padding="valid"),
        lib.layers.GRU(6, return_sequences=True),
        lib.layers.TimeDistributed(lib.layers.Dense(4))])  # fmt: skip


def _wavenet(lib):
    model = lib.models.Sequential()
    model.add(lib.layers.InputLayer(input_shape=[None, 1]) if lib is keras
              else lib.layers.Input((None, 1)))  # fmt: skip
    for rate in (1, 2, 4) * 2:
        model.add(lib.layers.Conv1D(filters=6, kernel_size=2, padding="causal",
                                    activation="relu", dilation_rate=rate))  # fmt: skip
    model.add(lib.layers.Conv1D(filters=4, kernel_size=1))
    return model


@pytest.mark.slow
def test_conv1d_gru_time_distributed_and_wavenet_match_keras(keras3):
    """Ch. 15's sequence-to-sequence forecasters: a strided ``padding="valid"`` ``Conv1D``
    before ``GRU(return_sequences=True)`` and ``TimeDistributed(Dense)`` (targets
    ``Y[:, 3::2]``), and the WaveNet stack of dilated causal convolutions, both with the
    ``last_time_step_mse`` metric: losses and metric are Keras 3's."""
    rng = np.random.default_rng(6)
    series = rng.random((16, 24, 1)).astype("float32")
    X = series[:, :20]
    Y = np.stack([series[:, i + 1 : i + 5, 0] for i in range(20)], axis=1)
    for build, target in ((_conv_gru, Y[:, 3::2]), (_wavenet, Y)):
        model = build(keras)
        model.compile(loss="mse", optimizer="adam", metrics=[_last_time_step_mse(keras)])

        def build_ref(build=build):
            ref = build(keras3)
            ref.compile(loss="mse", optimizer="adam", metrics=[_last_time_step_mse(keras3)])
            return ref

        ref = _ref_like(model, build_ref)
        got = model.fit(X, target, epochs=2, batch_size=8, shuffle=False, verbose=0,
                        validation_data=(X, target)).history  # fmt: skip
        with keras_ref():
            want = ref.fit(X, target, epochs=2, batch_size=8, shuffle=False, verbose=0,
                           validation_data=(X, target)).history  # fmt: skip
        assert sorted(got) == ["last_time_step_mse", "loss", "val_last_time_step_mse",
                               "val_loss"]  # fmt: skip
        for key in got:
            np.testing.assert_allclose(got[key], want[key], rtol=2e-4, err_msg=key)


# ------------------------------------------------------------------ Chollet, chapters 7-8


def _social_net(lib):
    posts_input = lib.layers.Input(shape=(None,), dtype="int32", name="posts")
    embedded_posts = lib.layers.Embedding(50, 8)(posts_input)
    x = lib.layers.Conv1D(8, 3, activation="relu")(embedded_posts)
    x = lib.layers.GlobalMaxPooling1D()(x)
    x = lib.layers.Dense(8, activation="relu")(x)
    age_prediction = lib.layers.Dense(1, name="age")(x)
    income_prediction = lib.layers.Dense(4, activation="softmax", name="income")(x)
    gender_prediction = lib.layers.Dense(1, activation="sigmoid", name="gender")(x)
    model = lib.models.Model(posts_input, [age_prediction, income_prediction, gender_prediction])
    model.compile(optimizer="rmsprop",
                  loss={"age": "mse", "income": "categorical_crossentropy",
                        "gender": "binary_crossentropy"},
                  loss_weights={"age": 0.25, "income": 1.0, "gender": 10.0})  # fmt: skip
    return model


@pytest.mark.slow
def test_multi_output_dict_losses_and_weights_match_keras(keras3):
    """Ch. 7's age/income/gender model: losses and ``loss_weights`` as dicts keyed by the
    output layers' names, targets as a dict: per-output logs are Keras 3's."""
    rng = np.random.default_rng(8)
    posts = rng.integers(1, 50, (16, 10))
    targets = {"age": (rng.random(16) * 5).astype("float32"),
               "income": keras.utils.to_categorical(rng.integers(0, 4, 16), 4),
               "gender": rng.integers(0, 2, 16).astype("float32")}  # fmt: skip
    model = _social_net(keras)
    ref = _ref_like(model, lambda: _social_net(keras3))
    got = model.fit(posts, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    with keras_ref():
        want = ref.fit(posts, targets, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert sorted(got) == ["age_loss", "gender_loss", "income_loss", "loss"]
    for key in got:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, err_msg=key)


@pytest.mark.slow
def test_callback_validation_data_is_keras2s_list():
    """Ch. 7's ``ActivationLogger`` reads ``self.validation_data[0][0:1]`` in
    ``on_epoch_end`` and builds ``Model(model.input, layer_outputs)`` in ``set_model``:
    Keras 2 set ``validation_data`` to ``[x_val, y_val, sample_weights]`` (also for
    ``validation_split``) and left it ``None`` without validation."""
    seen = []

    class ActivationLogger(keras.callbacks.Callback):
        def set_model(self, model):
            self.model = model
            layer_outputs = [layer.output for layer in model.layers]
            self.activations_model = keras.models.Model(model.input, layer_outputs)

        def on_epoch_end(self, epoch, logs=None):
            if self.validation_data is None:
                seen.append(None)
                return
            validation_sample = self.validation_data[0][0:1]
            seen.append([a.shape for a in self.activations_model.predict(validation_sample,
                                                                         verbose=0)])  # fmt: skip
            seen.append([np.shape(v) for v in self.validation_data])

    X, _, y = _data(rows=12)
    model = keras.models.Sequential([keras.layers.Dense(4, activation="relu", input_shape=(8,)),
                                     keras.layers.Dense(1)])  # fmt: skip
    model.compile("rmsprop", "mse")
    model.fit(X, y, epochs=1, validation_data=(X[:6], y[:6]), callbacks=[ActivationLogger()],
              verbose=0)  # fmt: skip
    model.fit(X, y, epochs=1, validation_split=0.25, callbacks=[ActivationLogger()], verbose=0)
    model.fit(X, y, epochs=1, callbacks=[ActivationLogger()], verbose=0)
    assert seen == [[(1, 4), (1, 1)], [(6, 8), (6, 1), (6,)],
                    [(1, 4), (1, 1)], [(3, 8), (3, 1), (3,)], None]  # fmt: skip


@pytest.mark.slow
def test_vae_with_add_loss_inputs_and_loss_none():
    """Ch. 8's VAE: ``Lambda(sampling)`` drawing ``K.random_normal(shape=(K.shape(z_mean)[0],
    latent_dim))``, a ``CustomVariationalLayer`` calling ``self.add_loss(loss, inputs=inputs)``
    and returning its input, ``compile(loss=None)``, ``fit(x=x, y=None)`` with
    ``validation_data=(x, None)``: the logged loss is the layer's loss alone, and the decoder
    generates images on its own."""
    from lamina import layers
    from lamina.models import Model

    img_shape, latent_dim = (8, 8, 1), 2
    input_img = keras.Input(shape=img_shape)
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(input_img)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", strides=(2, 2))(x)
    shape_before_flattening = K.int_shape(x)
    x = layers.Flatten()(x)
    x = layers.Dense(8, activation="relu")(x)
    z_mean = layers.Dense(latent_dim)(x)
    z_log_var = layers.Dense(latent_dim)(x)

    def sampling(args):
        z_mean, z_log_var = args
        epsilon = K.random_normal(shape=(K.shape(z_mean)[0], latent_dim), mean=0.0, stddev=1.0)
        return z_mean + K.exp(z_log_var) * epsilon

    z = layers.Lambda(sampling)([z_mean, z_log_var])
    decoder_input = layers.Input(K.int_shape(z)[1:])
    x = layers.Dense(int(np.prod(shape_before_flattening[1:])), activation="relu")(decoder_input)
    x = layers.Reshape(shape_before_flattening[1:])(x)
    x = layers.Conv2DTranspose(4, 3, padding="same", activation="relu", strides=(2, 2))(x)
    x = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    decoder = Model(decoder_input, x)
    z_decoded = decoder(z)

    class CustomVariationalLayer(keras.layers.Layer):
        def vae_loss(self, x, z_decoded):
            x = K.flatten(x)
            z_decoded = K.flatten(z_decoded)
            xent_loss = keras.metrics.binary_crossentropy(x, z_decoded)
            kl_loss = -5e-4 * K.mean(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var),
                                     axis=-1)  # fmt: skip
            return K.mean(xent_loss + kl_loss)

        def call(self, inputs):
            x, z_decoded = inputs[0], inputs[1]
            self.add_loss(self.vae_loss(x, z_decoded), inputs=inputs)
            return x

    y = CustomVariationalLayer()([input_img, z_decoded])
    vae = Model(input_img, y)
    vae.compile(optimizer="rmsprop", loss=None)
    x_train = np.random.default_rng(9).random((8, 8, 8, 1)).astype("float32")
    history = vae.fit(x=x_train, y=None, shuffle=True, epochs=2, batch_size=4, verbose=0,
                      validation_data=(x_train, None))  # fmt: skip
    assert sorted(history.history) == ["loss", "val_loss"]
    assert all(0.5 < v < 0.8 for v in history.history["loss"])  # ~ binary entropy of U(0,1)
    np.testing.assert_allclose(vae.predict(x_train[:2], verbose=0), x_train[:2])
    generated = decoder.predict(np.zeros((1, latent_dim)), batch_size=1, verbose=0)
    assert generated.shape == (1, 8, 8, 1) and ((generated > 0) & (generated < 1)).all()
