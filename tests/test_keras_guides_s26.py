"""Keras 3's developer guides (keras.io/guides) run under ``import lamina as keras``.

The guides' code is copied nearly verbatim, on small stand-in data (no downloads), and compared
with real Keras on the same weights where that is cheap:

* "Working with RNNs" (``working_with_rnns.py``): ``return_sequences``/``return_state``,
  ``initial_state``, LSTM vs ``RNN(LSTMCell)`` on shared weights, stateful ``reset_states``,
  ``Bidirectional``, and the custom ``NestedCell`` with nested input, state and output
  structures (``state_size`` as shapes; a tuple of inputs; ``unroll``).
* "Writing your own callbacks" (``writing_your_own_callbacks.py``): every hook and its logs'
  keys, the per-batch/epoch loss printer, ``EarlyStoppingAtMinLoss`` with
  ``get_weights``/``set_weights``, the learning-rate scheduler setting
  ``self.model.optimizer.learning_rate``.
* "Writing a training loop from scratch in JAX" (``writing_a_custom_training_loop_in_jax.py``):
  ``stateless_call`` (with ``return_losses``), ``optimizer.build``/``stateless_apply``, the
  metrics' ``stateless_update_state``/``stateless_result``/``stateless_reset_state`` and
  assigning the variables back.
"""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


# --------------------------------------------------------------------- Working with RNNs
def _nested_cell_class(keras):
    ops = keras.ops

    @keras.saving.register_keras_serializable()
    class NestedCell(keras.layers.Layer):
        def __init__(self, unit_1, unit_2, unit_3, **kwargs):
            self.unit_1 = unit_1
            self.unit_2 = unit_2
            self.unit_3 = unit_3
            self.state_size = [(unit_1,), (unit_2, unit_3)]
            self.output_size = [(unit_1,), (unit_2, unit_3)]
            super().__init__(**kwargs)

        def build(self, input_shapes):
            # expect input_shape to contain 2 items, [(batch, i1), (batch, i2, i3)]
            i1 = input_shapes[0][1]
            i2 = input_shapes[1][1]
            i3 = input_shapes[1][2]
            self.kernel_1 = self.add_weight(
                shape=(i1, self.unit_1), initializer="uniform", name="kernel_1"
            )
            self.kernel_2_3 = self.add_weight(
                shape=(i2, i3, self.unit_2, self.unit_3), initializer="uniform", name="kernel_2_3"
            )

        def call(self, inputs, states):
            input_1, input_2 = keras.tree.flatten(inputs)
            s1, s2 = states
            output_1 = ops.matmul(input_1, self.kernel_1)
            output_2_3 = ops.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
            state_1 = s1 + output_1
            state_2_3 = s2 + output_2_3
            output = (output_1, output_2_3)
            new_states = (state_1, state_2_3)
            return output, new_states

        def get_config(self):
            return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3}

    return NestedCell


def _nested_reference(x1, x2, k1, k23, go_backwards=False):
    """The guide's cell run with NumPy: each step's outputs and the final states."""
    s1 = np.zeros((x1.shape[0], k1.shape[1]))
    s2 = np.zeros((x2.shape[0], *k23.shape[2:]))
    outs = []
    steps = range(x1.shape[1])
    for t in reversed(steps) if go_backwards else steps:
        o1 = x1[:, t] @ k1
        o2 = np.einsum("bij,ijkl->bkl", x2[:, t], k23)
        s1, s2 = s1 + o1, s2 + o2
        outs.append((o1, o2))
    return outs, (s1, s2)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_rnn_guide_nested_cell_trains():
    keras = lamina
    NestedCell = _nested_cell_class(keras)
    unit_1, unit_2, unit_3 = 10, 20, 30
    i1, i2, i3 = 32, 64, 32
    batch_size, num_batches, timestep = 8, 2, 5

    cell = NestedCell(unit_1, unit_2, unit_3)
    rnn = keras.layers.RNN(cell)
    input_1 = keras.Input((None, i1))
    input_2 = keras.Input((None, i2, i3))
    outputs = rnn((input_1, input_2))
    model = keras.models.Model([input_1, input_2], outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])

    rs = np.random.RandomState(0)
    input_1_data = rs.random_sample((batch_size * num_batches, timestep, i1))
    input_2_data = rs.random_sample((batch_size * num_batches, timestep, i2, i3))
    target_1_data = rs.random_sample((batch_size * num_batches, unit_1))
    target_2_data = rs.random_sample((batch_size * num_batches, unit_2, unit_3))
    input_data = [input_1_data, input_2_data]
    target_data = [target_1_data, target_2_data]

    assert [tuple(o.shape) for o in outputs] == [(None, unit_1), (None, unit_2, unit_3)]
    k1, k23 = [np.asarray(w, np.float64) for w in model.get_weights()]
    pred = model.predict(input_data, verbose=0)
    outs, _ = _nested_reference(input_1_data, input_2_data, k1, k23)
    np.testing.assert_allclose(pred[0], outs[-1][0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pred[1], outs[-1][1], rtol=1e-4, atol=1e-4)
    history = model.fit(input_data, target_data, batch_size=batch_size, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"return_sequences": True},
        {"return_sequences": True, "unroll": True},
        {"go_backwards": True, "return_state": True},
    ],
)
def test_rnn_guide_nested_cell_flags(kwargs):
    NestedCell = _nested_cell_class(lamina)
    rs = np.random.RandomState(1)
    x1 = rs.rand(3, 4, 5).astype("float32")
    x2 = rs.rand(3, 4, 6, 2).astype("float32")
    rnn = lamina.layers.RNN(NestedCell(2, 3, 4), **kwargs)
    out = rnn((x1, x2))
    k1, k23 = [np.asarray(w, np.float64) for w in rnn.get_weights()]
    outs, (s1, s2) = _nested_reference(x1, x2, k1, k23, kwargs.get("go_backwards", False))
    if kwargs.get("return_sequences"):
        assert [tuple(o.shape) for o in out] == [(3, 4, 2), (3, 4, 3, 4)]
        np.testing.assert_allclose(out[1][:, 2], outs[2][1], rtol=1e-4, atol=1e-5)
    else:
        assert [tuple(o.shape) for o in out] == [(3, 2), (3, 3, 4), (3, 2), (3, 3, 4)]
        np.testing.assert_allclose(out[0], outs[-1][0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out[3], s2, rtol=1e-4, atol=1e-5)


def test_rnn_nested_state_sizes_tensorshape_like_and_mask():
    """``state_size`` entries spelled as TensorShape-like objects (tf.keras's guide); masked
    steps keep the previous states and outputs, row by row, for states of any rank."""

    class Shape:
        def __init__(self, dims):
            self.dims = dims

        def as_list(self):
            return list(self.dims)

    class Cell(lamina.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size = [Shape([2]), Shape([2, 3])]
            self.output_size = Shape([2, 3])

        def call(self, inputs, states):
            s1, s2 = states
            new2 = s2 + lamina.ops.sum(inputs, axis=-1)[:, None, None]
            return new2, [s1 + 1.0, new2]

    x = np.ones((2, 3, 4), "float32")
    mask = np.array([[True, True, True], [True, False, True]])
    out, s1, s2 = lamina.layers.RNN(Cell(), return_state=True)(x, mask=mask)
    assert tuple(out.shape) == (2, 2, 3) and tuple(s2.shape) == (2, 2, 3)
    np.testing.assert_allclose(np.asarray(s1)[:, 0], [3.0, 2.0])
    np.testing.assert_allclose(np.asarray(out)[:, 0, 0], [12.0, 8.0])


def test_rnn_nested_state_size_error():
    class Cell(lamina.layers.Layer):
        state_size = [(2, "a")]

        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(ValueError, match="state_size must be an integer"):
        lamina.layers.RNN(Cell())


def _rnn_guide_models(keras):
    layers = keras.layers
    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=50, output_dim=8)(encoder_input)
    output, state_h, state_c = layers.LSTM(8, return_state=True, name="encoder")(encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=60, output_dim=8)(decoder_input)
    decoder_output = layers.LSTM(8, name="decoder")(decoder_embedded, initial_state=encoder_state)
    output = layers.Dense(10)(decoder_output)
    seq2seq = keras.Model([encoder_input, decoder_input], output)

    bidi = keras.Sequential()
    bidi.add(keras.Input(shape=(5, 10)))
    bidi.add(layers.Bidirectional(layers.LSTM(6, return_sequences=True)))
    bidi.add(layers.Bidirectional(layers.LSTM(4)))
    bidi.add(layers.Dense(10))

    def build_model(allow_cudnn_kernel=True):
        if allow_cudnn_kernel:
            lstm_layer = keras.layers.LSTM(8)
        else:
            lstm_layer = keras.layers.RNN(keras.layers.LSTMCell(8))
        return keras.models.Sequential(
            [
                keras.Input((None, 7)),
                lstm_layer,
                keras.layers.BatchNormalization(),
                keras.layers.Dense(10),
            ]
        )

    return seq2seq, bidi, build_model(True), build_model(False)


@pytest.mark.slow
def test_rnn_guide_models_match_keras(keras):
    rs = np.random.RandomState(0)
    ids = [rs.randint(0, 50, (2, 5)), rs.randint(0, 60, (2, 7))]
    seq = rs.rand(2, 5, 10).astype("float32")
    digits = rs.rand(2, 6, 7).astype("float32")
    ours = _rnn_guide_models(lamina)
    with keras_ref():
        theirs = _rnn_guide_models(keras)
        for a, b in zip(ours, theirs):
            b.set_weights(a.get_weights())
        expected = [m.predict(x, verbose=0) for m, x in zip(theirs, [ids, seq, digits, digits])]
    got = [m.predict(x, verbose=0) for m, x in zip(ours, [ids, seq, digits, digits])]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)
    # The guide's "cuDNN" LSTM and RNN(LSTMCell) share weights and results.
    ours[3].set_weights(ours[2].get_weights())
    np.testing.assert_allclose(
        ours[3].predict_on_batch(digits), ours[2].predict_on_batch(digits), rtol=1e-5, atol=1e-6
    )


def test_rnn_guide_stateful_and_state_reuse():
    keras = lamina
    layers = keras.layers
    rs = np.random.RandomState(0)
    paragraph1, paragraph2, paragraph3 = (rs.rand(4, 3, 5).astype("float32") for _ in range(3))
    lstm_layer = layers.LSTM(6, stateful=True)
    lstm_layer(paragraph1)
    lstm_layer(paragraph2)
    existing_state = lstm_layer.states
    new_lstm_layer = layers.LSTM(6)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
    assert tuple(new_output.shape) == (4, 6)
    assert float(np.abs(np.asarray(existing_state[0])).sum()) > 0
    lstm_layer.reset_states()
    assert all(float(np.abs(np.asarray(s)).sum()) == 0 for s in lstm_layer.states)


# ------------------------------------------------------------ Writing your own callbacks
def _callbacks_guide(keras):
    """The guide's code on stand-in data; returns what its callbacks saw."""
    rs = np.random.RandomState(0)
    x_train = rs.rand(512, 20).astype("float32")
    y_train = rs.randint(0, 10, 512).astype("float32")
    x_test = rs.rand(256, 20).astype("float32")
    y_test = rs.randint(0, 10, 256).astype("float32")
    weights = [rs.randn(20, 1).astype("float32") * 0.1, np.zeros(1, "float32")]

    def get_model():
        model = keras.Sequential()
        model.add(keras.layers.Dense(1))
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
            loss="mean_squared_error",
            metrics=["mean_absolute_error"],
        )
        model.build((None, 20))
        model.set_weights(weights)
        return model

    seen = []

    class CustomCallback(keras.callbacks.Callback):
        pass

    for hook in ("train", "test", "predict"):
        for when in ("begin", "end"):
            setattr(
                CustomCallback,
                f"on_{hook}_{when}",
                lambda self, logs=None, n=f"{hook}_{when}": seen.append((n, sorted(logs))),
            )
            setattr(
                CustomCallback,
                f"on_{hook}_batch_{when}",
                lambda self, b, logs=None, n=f"{hook}_batch_{when}": seen.append(
                    (n, b, sorted(logs))
                ),
            )
    for when in ("begin", "end"):
        setattr(
            CustomCallback,
            f"on_epoch_{when}",
            lambda self, e, logs=None, n=f"epoch_{when}": seen.append((n, e, sorted(logs))),
        )

    model = get_model()
    model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=1,
        verbose=0,
        validation_split=0.5,
        shuffle=False,
        callbacks=[CustomCallback()],
    )
    model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[CustomCallback()])
    model.predict(x_test, batch_size=128, verbose=0, callbacks=[CustomCallback()])

    printed = []

    class LossAndErrorPrintingCallback(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            printed.append(("batch", batch, float(logs["loss"])))

        def on_test_batch_end(self, batch, logs=None):
            printed.append(("test", batch, float(logs["loss"])))

        def on_epoch_end(self, epoch, logs=None):
            printed.append(
                ("epoch", epoch, float(logs["loss"]), float(logs["mean_absolute_error"]))
            )

    class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
        def __init__(self, patience=0):
            super().__init__()
            self.patience = patience
            self.best_weights = None

        def on_train_begin(self, logs=None):
            self.wait = 0
            self.stopped_epoch = 0
            self.best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            current = logs.get("loss")
            if np.less(current, self.best):
                self.best = current
                self.wait = 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
                    self.model.stop_training = True
                    self.model.set_weights(self.best_weights)

    class CustomLearningRateScheduler(keras.callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_epoch_begin(self, epoch, logs=None):
            if not hasattr(self.model.optimizer, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
            lr = self.model.optimizer.learning_rate
            scheduled_lr = self.schedule(epoch, lr)
            self.model.optimizer.learning_rate = scheduled_lr
            printed.append(("lr", epoch, float(np.asarray(scheduled_lr))))

    LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]

    def lr_schedule(epoch, lr):
        if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
            return lr
        for i in range(len(LR_SCHEDULE)):
            if epoch == LR_SCHEDULE[i][0]:
                return LR_SCHEDULE[i][1]
        return lr

    model = get_model()
    model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[LossAndErrorPrintingCallback()],
    )
    model.evaluate(
        x_test, y_test, batch_size=128, verbose=0, callbacks=[LossAndErrorPrintingCallback()]
    )
    model = get_model()
    stopper = EarlyStoppingAtMinLoss()
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        steps_per_epoch=5,
        epochs=30,
        verbose=0,
        shuffle=False,
        callbacks=[stopper],
    )
    stopped = (
        len(history.history["loss"]),
        stopper.stopped_epoch,
        float(stopper.best),
        model.get_weights(),
    )
    model = get_model()
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        steps_per_epoch=5,
        epochs=15,
        verbose=0,
        shuffle=False,
        callbacks=[CustomLearningRateScheduler(lr_schedule)],
    )
    return seen, printed, stopped, history.history["loss"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_callbacks_guide_matches_keras(keras):
    seen, printed, stopped, lr_losses = _callbacks_guide(lamina)
    with keras_ref():
        k_seen, k_printed, k_stopped, k_lr_losses = _callbacks_guide(keras)
    assert seen == k_seen
    assert [p[:2] for p in printed] == [p[:2] for p in k_printed]
    np.testing.assert_allclose(
        [v for p in printed if p[0] != "lr" for v in p[2:]],
        [v for p in k_printed if p[0] != "lr" for v in p[2:]],
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        [p[2] for p in printed if p[0] == "lr"],
        [p[2] for p in k_printed if p[0] == "lr"],
        rtol=1e-6,
    )
    assert stopped[:2] == k_stopped[:2]
    np.testing.assert_allclose(stopped[2], k_stopped[2], rtol=1e-4)
    for a, b in zip(stopped[3], k_stopped[3]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lr_losses, k_lr_losses, rtol=1e-4)


@pytest.mark.filterwarnings("ignore:Your input ran out")
def test_steps_per_epoch_short_epoch_logs_without_batch_hooks():
    """An epoch cut short by the end of the arrays (``steps_per_epoch`` not dividing the
    batches, as in the guide's ``EarlyStoppingAtMinLoss``) still logs its loss, as Keras's."""
    rs = np.random.RandomState(0)
    x, y = rs.rand(512, 20).astype("float32"), rs.rand(512).astype("float32")
    seen = []

    class Printer(lamina.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(sorted(logs))

    model = lamina.Sequential([lamina.Input((20,)), lamina.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(
        x,
        y,
        batch_size=64,
        steps_per_epoch=5,
        epochs=5,
        verbose=0,
        shuffle=False,
        callbacks=[Printer()],
    )
    assert seen == [["loss"]] * 5
    assert len(history.history["loss"]) == 5


# ------------------------------------------------- Writing a training loop from scratch in JAX
def _jax_loop_guide(keras):
    """The guide's stateless loop on stand-in data; returns the numbers it prints."""
    rs = np.random.RandomState(0)
    x_all = rs.rand(96, 16).astype("float32")
    y_all = np.eye(10, dtype="float32")[rs.randint(0, 10, 96)]
    train_dataset = [(x_all[i : i + 32], y_all[i : i + 32]) for i in (0, 32)]
    val_dataset = [(x_all[64:], y_all[64:])]
    wrs = np.random.RandomState(1)

    def get_model(regularized=False):
        inputs = keras.Input(shape=(16,), name="digits")
        x = keras.layers.Dense(8, activation="relu")(inputs)
        if regularized:
            x = ActivityRegularizationLayer()(x)
        x = keras.layers.Dense(8, activation="relu")(x)
        outputs = keras.layers.Dense(10, name="predictions")(x)
        model = keras.Model(inputs=inputs, outputs=outputs)
        model.set_weights(
            [wrs.randn(*w.shape).astype("float32") * 0.3 for w in model.get_weights()]
        )
        return model

    class ActivityRegularizationLayer(keras.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * jax.numpy.sum(inputs))
            return inputs

    # jax >= 0.7 no longer turns Variables into arrays inside jit (real Keras fails too):
    # the state is the variables' arrays.
    def values(variables):
        return [v.value for v in variables]

    printed = []
    model = get_model()
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    train_acc_metric = keras.metrics.CategoricalAccuracy()
    val_acc_metric = keras.metrics.CategoricalAccuracy()

    def compute_loss_and_updates(
        trainable_variables, non_trainable_variables, metric_variables, x, y
    ):
        y_pred, non_trainable_variables, losses = model.stateless_call(
            trainable_variables, non_trainable_variables, x, return_losses=True
        )
        loss = loss_fn(y, y_pred)
        if losses:
            loss += sum(losses)
        metric_variables = train_acc_metric.stateless_update_state(metric_variables, y, y_pred)
        return loss, (non_trainable_variables, metric_variables)

    grad_fn = jax.value_and_grad(compute_loss_and_updates, has_aux=True)

    @jax.jit
    def train_step(state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metric_variables = state
        x, y = data
        (loss, (non_trainable_variables, metric_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, metric_variables, x, y
        )
        trainable_variables, optimizer_variables = optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables
        )
        return loss, (
            trainable_variables,
            non_trainable_variables,
            optimizer_variables,
            metric_variables,
        )

    @jax.jit
    def eval_step(state, data):
        trainable_variables, non_trainable_variables, metric_variables = state
        x, y = data
        y_pred, non_trainable_variables = model.stateless_call(
            trainable_variables, non_trainable_variables, x
        )
        loss = loss_fn(y, y_pred)
        metric_variables = val_acc_metric.stateless_update_state(metric_variables, y, y_pred)
        return loss, (trainable_variables, non_trainable_variables, metric_variables)

    state = (
        values(model.trainable_variables),
        values(model.non_trainable_variables),
        values(optimizer.variables),
        values(train_acc_metric.variables),
    )
    for _ in range(2):
        for data in train_dataset:
            loss, state = train_step(state, data)
            for variable, value in zip(train_acc_metric.variables, state[3]):
                variable.assign(value)
            printed.append((float(loss), float(train_acc_metric.result())))
        printed.append(float(train_acc_metric.stateless_result(state[3])))
        reset = train_acc_metric.stateless_reset_state()
        printed.append([float(np.asarray(v)) for v in reset])
        state = (*state[:3], reset)
    trainable_variables, non_trainable_variables, _, _ = state
    state = trainable_variables, non_trainable_variables, values(val_acc_metric.variables)
    for data in val_dataset:
        loss, state = eval_step(state, data)
        for variable, value in zip(val_acc_metric.variables, state[2]):
            variable.assign(value)
        printed.append((float(loss), float(val_acc_metric.result())))
    trainable_variables, non_trainable_variables, _ = state
    for variable, value in zip(model.trainable_variables, trainable_variables):
        variable.assign(value)
    for variable, value in zip(model.non_trainable_variables, non_trainable_variables):
        variable.assign(value)
    printed.append(model.predict(x_all[:2], verbose=0).tolist())

    model = get_model(regularized=True)  # the guide's add_loss section
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    state = (
        values(model.trainable_variables),
        values(model.non_trainable_variables),
        values(optimizer.variables),
        values(train_acc_metric.variables),
    )
    for data in train_dataset:
        loss, state = train_step(state, data)
        printed.append(float(loss))
    return printed


@pytest.mark.slow
def test_jax_training_loop_guide_matches_keras(keras):
    ours = _jax_loop_guide(lamina)
    with keras_ref():
        theirs = _jax_loop_guide(keras)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------ Transfer learning & fine-tuning
def test_transfer_learning_guide_trainable_semantics():
    keras = lamina
    counts = []
    for layer in (keras.layers.Dense(3), keras.layers.BatchNormalization()):
        layer.build((None, 4))
        counts.append(
            (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights))
        )
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    layer.trainable = False
    counts.append(
        (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights))
    )
    assert counts == [(2, 2, 0), (4, 2, 2), (2, 0, 2)]  # as the guide prints

    layer1 = keras.layers.Dense(3, activation="relu")
    layer2 = keras.layers.Dense(3, activation="sigmoid")
    model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])
    layer1.trainable = False
    initial_layer1_weights_values = layer1.get_weights()
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((2, 3)), np.random.random((2, 3)), verbose=0)
    final_layer1_weights_values = layer1.get_weights()
    np.testing.assert_allclose(initial_layer1_weights_values[0], final_layer1_weights_values[0])
    np.testing.assert_allclose(initial_layer1_weights_values[1], final_layer1_weights_values[1])

    inner_model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(3, activation="relu"),
        ]
    )
    model = keras.Sequential(
        [keras.Input(shape=(3,)), inner_model, keras.layers.Dense(3, activation="sigmoid")]
    )
    model.trainable = False
    assert inner_model.trainable is False
    assert inner_model.layers[0].trainable is False


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_transfer_learning_guide_xception_fine_tuning():
    """The guide's end-to-end example with ``weights=None``: the frozen base does not move, the
    counts of (non-)trainable weights are Keras's, and fine-tuning with the base called as
    ``base_model(x, training=False)`` moves its BatchNormalization statistics once the base
    is unfrozen: Keras 3's ``fit`` runs every layer of a functional graph in training mode
    over the node's ``training=False`` (keras-team/keras#20285; only ``trainable=False``
    keeps a BatchNormalization in inference mode)."""
    keras = lamina
    layers = keras.layers
    rs = np.random.RandomState(0)
    x_data = (rs.rand(4, 72, 72, 3) * 255).astype("float32")
    y_data = rs.randint(0, 2, (4, 1)).astype("float32")
    data_augmentation_layers = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]

    def data_augmentation(x):
        for layer in data_augmentation_layers:
            x = layer(x)
        return x

    assert tuple(data_augmentation(x_data).shape) == x_data.shape
    base_model = keras.applications.Xception(
        weights=None, input_shape=(72, 72, 3), include_top=False
    )
    base_model.trainable = False
    inputs = keras.Input(shape=(72, 72, 3))
    scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
    x = scale_layer(inputs)
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    assert (len(model.trainable_weights), len(model.non_trainable_weights)) == (2, 234)
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy()],
    )
    before = base_model.get_weights()
    model.fit(x_data, y_data, epochs=1, batch_size=4, verbose=0)
    for a, b in zip(before, base_model.get_weights()):
        np.testing.assert_array_equal(a, b)

    base_model.trainable = True
    assert (len(model.trainable_weights), len(model.non_trainable_weights)) == (156, 80)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy()],
    )
    model.fit(x_data, y_data, epochs=1, batch_size=4, verbose=0)
    bn = base_model.get_layer("block1_conv1_bn")
    assert not np.allclose(np.asarray(bn.moving_mean), 0.0)
    conv = base_model.get_layer("block1_conv1")
    assert not np.array_equal(np.asarray(conv.kernel), before[0])


# ------------------------------------------------------- Distributed training (Distribution API)
def _distribution_guide_model(keras, rs_seed=1):
    layers = keras.layers
    inputs = layers.Input(shape=(28, 28, 1))
    y = layers.Flatten()(inputs)
    y = layers.Dense(units=20, use_bias=False, activation="relu", name="d1")(y)
    y = layers.Dropout(0.4)(y)
    y = layers.Dense(units=10, activation="softmax", name="d2")(y)
    model = keras.Model(inputs=inputs, outputs=y)
    wrs = np.random.RandomState(rs_seed)
    model.set_weights([wrs.randn(*w.shape).astype("float32") * 0.1 for w in model.get_weights()])
    model.compile(loss="mse")
    return model


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_distribution_guide_on_two_host_devices():
    keras = lamina
    devices = keras.distribution.list_devices()
    assert len(devices) == 2
    mesh_1d = keras.distribution.DeviceMesh(shape=(2,), axis_names=["data"], devices=devices)
    mesh_2d = keras.distribution.DeviceMesh(
        shape=(1, 2), axis_names=["data", "model"], devices=devices
    )
    keras.distribution.TensorLayout(axes=("model", "data"), device_mesh=mesh_2d)
    keras.distribution.TensorLayout(axes=("data", None, None, "model"), device_mesh=mesh_2d)
    rs = np.random.RandomState(0)
    inputs = rs.normal(size=(32, 28, 28, 1)).astype("float32")
    labels = rs.normal(size=(32, 10)).astype("float32")
    expected = _distribution_guide_model(keras).evaluate(inputs, labels, batch_size=16, verbose=0)

    layout_map = keras.distribution.LayoutMap(mesh_2d)
    layout_map["d1/kernel"] = (None, "model")
    layout_map["d1/bias"] = ("model",)
    layout_map["d2/output"] = ("data", None)
    distributions = [
        keras.distribution.DataParallel(devices=devices),
        keras.distribution.DataParallel(device_mesh=mesh_1d),
        keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="data"),
    ]
    try:
        for dist in distributions:
            keras.distribution.set_distribution(dist)
            model = _distribution_guide_model(keras)
            # Before training the distributed model evaluates as the plain one.
            got = model.evaluate(inputs, labels, batch_size=16, verbose=0)
            np.testing.assert_allclose(got, expected, rtol=1e-5)
            history = model.fit(inputs, labels, batch_size=16, epochs=2, verbose=0)
            assert np.all(np.isfinite(history.history["loss"]))
            kernel = model.get_layer("d1").kernel
            spec = tuple(getattr(kernel, "value", kernel).sharding.spec)
            if isinstance(dist, keras.distribution.ModelParallel):
                assert spec == (None, "model")
            else:
                assert all(axis is None for axis in spec)
    finally:
        keras.distribution.set_distribution(None)
    assert keras.distribution.distribution() is None


# ------------------------------------------------------------ Working with preprocessing layers
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_preprocessing_guide_lookups():
    keras = lamina
    layers = keras.layers
    data = np.array([[0.1, 0.2, 0.3], [0.8, 0.9, 1.0], [1.5, 1.6, 1.7]])
    layer = layers.Normalization()
    layer.adapt(data)
    normalized_data = np.asarray(layer(data))
    assert abs(normalized_data.mean()) < 1e-6 and abs(normalized_data.std() - 1.0) < 1e-4

    vocab = ["a", "b", "c", "d"]
    data = np.array([["a", "c", "d"], ["d", "z", "b"]])
    layer = layers.StringLookup(vocabulary=vocab)
    np.testing.assert_array_equal(np.asarray(layer(data)), [[1, 3, 4], [4, 0, 2]])

    vocab = np.array(["a", "b", "c"])
    lookup = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")
    test_data = np.array(["a", "b", "c", "d", "e", ""])
    np.testing.assert_array_equal(
        np.asarray(lookup(test_data)), np.eye(4)[[1, 2, 3, 0, 0, 0]]
    )  # the guide's printed output

    data = np.random.randint(0, 100000, size=(1000, 1))
    hasher = layers.Hashing(num_bins=64, salt=1337)
    encoder = layers.CategoryEncoding(num_tokens=64, output_mode="multi_hot")
    assert tuple(encoder(hasher(data)).shape) == (1000, 64)

    adapt_data = [
        "The Brain is wider than the Sky",
        "For put them side by side",
        "The one the other will contain",
        "With ease and You beside",
    ]
    text_vectorizer = layers.TextVectorization(output_mode="int")
    text_vectorizer.adapt(adapt_data)
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(input_dim=text_vectorizer.vocabulary_size(), output_dim=16)(inputs)
    x = layers.GRU(8)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mse")
    model.fit(np.asarray(text_vectorizer(np.array(adapt_data))), np.array([1, 0, 1, 0]), verbose=0)
    inputs = keras.Input(shape=(1,), dtype="string")
    end_to_end_model = keras.Model(inputs, model(text_vectorizer(inputs)))
    out = end_to_end_model(np.array([["The one the other will absorb"]]))
    assert tuple(np.asarray(out).shape) == (1, 1)


def test_preprocessing_guide_integer_lookup_one_hot_drops_mask_column():
    """Keras keeps the mask token out of the encoded modes (IndexLookup's
    ``_oov_start_index`` is 1 only for ``output_mode="int"``): the guide's 5 columns."""
    data = np.array([[10], [20], [20], [10], [30], [0]])
    test_data = np.array([[10], [10], [20], [50], [60], [0]])
    printed = np.eye(5, dtype="float32")[[2, 2, 1, 0, 0, 4]]  # the guide's printed output
    for mask in (None, -1):
        lookup = lamina.layers.IntegerLookup(output_mode="one_hot", mask_token=mask)
        lookup.adapt(data)
        np.testing.assert_array_equal(np.asarray(lookup(test_data)), printed)
        assert lookup.get_vocabulary() == [-1, 20, 10, 30, 0]  # OOV first, no mask entry
    counted = lamina.layers.IntegerLookup(output_mode="count", mask_token=-1)
    counted.adapt(data)
    np.testing.assert_array_equal(  # mask tokens count nowhere
        np.asarray(counted(np.array([[10, -1, -1, 50]]))), [[1, 0, 1, 0, 0]]
    )


def test_rnn_guide_nested_cell_model_saves_and_loads(tmp_path):
    keras = lamina
    NestedCell = _nested_cell_class(keras)
    rnn = keras.layers.RNN(NestedCell(2, 3, 4))
    input_1 = keras.Input((None, 5))
    input_2 = keras.Input((None, 6, 2))
    model = keras.models.Model([input_1, input_2], rnn((input_1, input_2)))
    rs = np.random.RandomState(0)
    x = [rs.rand(2, 3, 5), rs.rand(2, 3, 6, 2)]
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "nested.keras")
    after = keras.models.load_model(tmp_path / "nested.keras").predict(x, verbose=0)
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-6)
