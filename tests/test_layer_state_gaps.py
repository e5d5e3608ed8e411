"""Two Keras 3 semantics of layer state, against real Keras 3 (JAX backend):

* a non-trainable weight a layer writes in ``call`` (a counter's ``assign_add``, a moving
  statistic's ``assign``) keeps what ``predict``, ``evaluate``, ``fit``'s validation and
  eager calls wrote, batch after batch, the short last batch at its real size; built-in
  layers' inference leaves their state alone;
* a layer with weights used as another layer's activation (``Dense(3, activation=PReLU())``)
  holds its weights in that layer: listed, trained, counted and saved as Keras does.
"""

import zipfile

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _centering(k):
    """A layer counting its calls and centering its inputs by a moving mean it updates."""

    class Centering(k.layers.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="count"
            )
            self.mean = self.add_weight(
                shape=(input_shape[-1],), initializer="zeros", trainable=False, name="mean"
            )

        def call(self, x):
            self.count.assign_add(1.0)
            self.mean.assign(0.5 * self.mean + 0.5 * k.ops.mean(x, axis=0))
            return x - self.mean

    return Centering


def _model(k, kind):
    """A model holding a ``Centering`` layer; returns ``(model, centering layer)``."""
    centering = _centering(k)()
    dense = k.layers.Dense(1, kernel_initializer="ones")
    if kind == "sequential":
        model = k.Sequential([k.Input((3,)), centering, dense])
    elif kind == "functional":
        inputs = k.Input((3,))
        model = k.Model(inputs, dense(centering(inputs)))
    else:

        class Sub(k.Model):
            def __init__(self):
                super().__init__()
                self.centering, self.dense = centering, dense

            def call(self, x):
                return self.dense(self.centering(x))

        model = Sub()
    model.compile(k.optimizers.SGD(0.05), "mse")
    return model, centering


def _state(layer):
    return float(np.asarray(layer.count)), np.asarray(layer.mean)


def _inference_trace(k, kind, x, y):
    """What ``predict``, ``evaluate`` and eager calls return and leave in the layer."""
    model, layer = _model(k, kind)
    out = [model.predict(x, batch_size=16, verbose=0), _state(layer)]  # 16, 16, 16, 2 rows
    out += [model.evaluate(x, y, batch_size=20, verbose=0), _state(layer)]
    out += [np.asarray(model(x)), _state(layer)]
    out += [np.asarray(model(x[:5], training=True)), _state(layer)]
    out += [model.predict(x[:5], verbose=0), _state(layer)]
    return out


def _logs(history):
    return {k: list(v) for k, v in sorted(history.history.items())}


def _assert_close(ours, ref):
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_inference_keeps_written_state(keras, rng, kind):
    x = rng.normal(size=(50, 3)).astype("f4")
    y = rng.normal(size=(50, 1)).astype("f4")
    with keras_ref():
        ref = _inference_trace(keras, kind, x, y)
    ours = _inference_trace(lamina, kind, x, y)
    assert ours[1][0] == ref[1][0] == 4.0  # Keras's batches: the partial last one counts
    _assert_close(ours, ref)


def _fit_trace(k, x, y, batch_size):
    model, layer = _model(k, "sequential")
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=2,
        shuffle=False,
        verbose=0,
        validation_data=(x[:30], y[:30]),
        validation_batch_size=7,
    )
    return [_logs(history), _state(layer), model.get_weights()]


@pytest.mark.parametrize("batch_size", [10, 16])
def test_fit_and_validation_keep_written_state(keras, rng, batch_size):
    """Validation writes the state the next epoch trains from; a short training batch's
    statistic is taken over its real rows (50 rows in batches of 16: 2 rows last)."""
    x = rng.normal(size=(50, 3)).astype("f4")
    y = rng.normal(size=(50, 1)).astype("f4")
    with keras_ref():
        ref = _fit_trace(keras, x, y, batch_size)
    ours = _fit_trace(lamina, x, y, batch_size)
    _assert_close(ours, ref)


def _streamed_trace(k, x, y):
    class Batches(k.utils.PyDataset):
        def __len__(self):
            return 4  # 30, 30, 30, 10 rows

        def __getitem__(self, i):
            return x[30 * i : 30 * (i + 1)], y[30 * i : 30 * (i + 1)]

    def inputs():
        for i in range(0, len(x), 16):
            yield (x[i : i + 16],)

    model, layer = _model(k, "sequential")
    out = [model.evaluate(Batches(), verbose=0), _state(layer)]
    out += [model.predict(inputs(), verbose=0), _state(layer)]
    return out


def test_streamed_inference_keeps_written_state(keras, rng):
    x = rng.normal(size=(100, 3)).astype("f4")
    y = rng.normal(size=(100, 1)).astype("f4")
    with keras_ref():
        ref = _streamed_trace(keras, x, y)
    ours = _streamed_trace(lamina, x, y)
    assert ours[3][0] == ref[3][0] == 11.0
    _assert_close(ours, ref)


def _untouched_trace(k, x, y):
    """A layer writing only in training, and a BatchNormalization: inference leaves both."""

    class TrainingCount(k.layers.Layer):
        def build(self, input_shape):
            self.n = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x, training=False):
            if training:
                self.n.assign_add(1.0)
            return x

    counting = TrainingCount()
    norm = k.layers.BatchNormalization()
    model = k.Sequential(
        [k.Input((3,)), counting, norm, k.layers.Dense(1, kernel_initializer="ones")]
    )
    model.compile("sgd", "mse")
    model.predict(x, batch_size=8, verbose=0)
    model.evaluate(x, y, batch_size=8, verbose=0)
    model(x)
    before = [float(np.asarray(counting.n)), *[np.asarray(w) for w in norm.weights]]
    model(x, training=True)
    after = [float(np.asarray(counting.n)), *[np.asarray(w) for w in norm.weights]]
    return before, after


def test_inference_leaves_training_only_state(keras, rng):
    x = rng.normal(loc=2.0, size=(20, 3)).astype("f4")
    y = rng.normal(size=(20, 1)).astype("f4")
    with keras_ref():
        ref = _untouched_trace(keras, x, y)
    ours = _untouched_trace(lamina, x, y)
    _assert_close(ours, ref)
    assert ours[0][0] == 0.0 and ours[1][0] == 1.0


def test_eager_inference_calls_carry_stateful_rnn_states(keras, rng):
    """Keras 3's eager call carries a stateful layer's states in inference too."""
    x = rng.normal(size=(2, 3, 2)).astype("f4")
    ours = lamina.Sequential(
        [lamina.Input(batch_shape=(2, 3, 2)), lamina.layers.GRU(4, stateful=True)]
    )
    with keras_ref():
        ref = keras.Sequential(
            [keras.Input(batch_shape=(2, 3, 2)), keras.layers.GRU(4, stateful=True)]
        )
        ours.set_weights(ref.get_weights())
        expected = [np.asarray(ref(x)), np.asarray(ref(x))]
    got = [np.asarray(ours(x)), np.asarray(ours(x))]
    _assert_close(got, expected)
    assert not np.allclose(got[0], got[1])


def test_state_carrying_programs_only_where_state_is_written(rng):
    """A model whose inference writes no state keeps its plain inference programs: one
    output per model output, no carried state; a model with a writing layer carries it."""
    x = rng.normal(size=(8, 3)).astype("f4")
    plain = lamina.Sequential(
        [
            lamina.Input((3,)),
            lamina.layers.Dense(4),
            lamina.layers.BatchNormalization(),
            lamina.layers.Dense(1),
        ]
    )
    writing, _ = _model(lamina, "sequential")
    found = []
    for model in (plain, writing):
        model.compile("sgd", "mse")
        model.predict(x, verbose=0)
        binding = model._binding()
        program, ts = binding.program(), binding.get_state()
        found.append(program.writes_state(ts, x))
        if not found[-1]:
            lowered = program.predict_chunk.lower(ts, x[None])
            assert len(jax.tree_util.tree_leaves(lowered.out_info)) == 1
    assert found == [False, True]


# ----------------------------------------------------------- a layer as an activation
def _prelu_dense(k):
    prelu = k.layers.PReLU(
        alpha_initializer=k.initializers.Constant(0.25),
        alpha_regularizer=k.regularizers.L2(0.1),
    )
    model = k.Sequential([k.Input((4,)), k.layers.Dense(3, activation=prelu)])
    model.compile(k.optimizers.SGD(0.1), "mse")
    return model


def _described(model):
    return [(w.name, tuple(w.shape), w.trainable) for w in model.weights]


def test_prelu_activation_weights_train_as_keras(keras, rng):
    x = rng.normal(size=(8, 4)).astype("f4")
    y = rng.normal(size=(8, 3)).astype("f4")
    with keras_ref():
        ref = _prelu_dense(keras)
        ref(x)  # Keras builds the activation layer on its first call
        start = ref.get_weights()
        ref_history = _logs(ref.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0))
        ref_eval = ref.evaluate(x[::-1] + 1, y, verbose=0)
    ours = _prelu_dense(lamina)
    assert _described(ours) == _described(ref)  # kernel, bias, then the activation's alpha
    assert ours.count_params() == ref.count_params() == 18
    ours.set_weights(start)
    history = _logs(ours.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0))
    _assert_close([history, ours.get_weights()], [ref_history, ref.get_weights()])
    np.testing.assert_allclose(ours.evaluate(x[::-1] + 1, y, verbose=0), ref_eval, rtol=1e-5)
    alpha = ours.layers[0].activation.alpha  # the sub-layer's own view of its weight
    np.testing.assert_allclose(np.asarray(alpha), ref.get_weights()[2], rtol=1e-5)


def _conv_model(k):
    return k.Sequential(
        [
            k.Input((5, 6, 3)),
            k.layers.Conv2D(4, 3, activation=k.layers.PReLU(alpha_initializer="random_uniform")),
            k.layers.Conv2D(2, 2, activation=k.layers.LeakyReLU(0.1)),
            k.layers.Conv2D(2, 1, activation=k.layers.PReLU(shared_axes=[1, 2])),
            k.layers.Flatten(),
            k.layers.Dense(3, activation=k.layers.PReLU(alpha_initializer="ones")),
        ]
    )


def test_activation_layers_in_convolutions_match_keras(keras, rng):
    x = rng.normal(size=(2, 5, 6, 3)).astype("f4")
    with keras_ref():
        ref = _conv_model(keras)
        ref(x)
        weights = ref.get_weights()
        expected = np.asarray(ref(x))
        counts = [layer.count_params() for layer in ref.layers]
    ours = _conv_model(lamina)
    assert _described(ours) == _described(ref)
    assert [layer.count_params() for layer in ours.layers] == counts
    ours.set_weights(weights)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    summary = []
    ours.summary(print_fn=summary.append)
    assert f"Total params: {sum(counts)}" in "\n".join(summary)


def test_activation_layers_save_and_load_with_keras(keras, rng, tmp_path):
    x = rng.normal(size=(2, 5, 6, 3)).astype("f4")
    keras_file, our_file = str(tmp_path / "keras.keras"), str(tmp_path / "ours.keras")
    with keras_ref():
        ref = _conv_model(keras)
        ref(x)
        ref.save(keras_file)
        expected = np.asarray(ref(x))
    ours = lamina.models.load_model(keras_file)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours.save(our_file)
    with zipfile.ZipFile(our_file) as z, zipfile.ZipFile(keras_file) as zk:
        import h5py

        def datasets(archive):
            with h5py.File(archive.open("model.weights.h5")) as f:
                found = []
                f.visititems(lambda n, o: found.append((n, o.shape)) if hasattr(o, "shape") else 0)
                return found

        assert datasets(z) == datasets(zk)  # layers/conv2d/activation/vars/0, ...
    with keras_ref():
        back = keras.models.load_model(our_file)
        np.testing.assert_allclose(np.asarray(back(x)), expected, rtol=1e-5, atol=1e-6)


def test_standalone_layer_with_activation_layer(keras, rng):
    x = rng.normal(size=(2, 4)).astype("f4")
    with keras_ref():
        ref = keras.layers.Dense(3, activation=keras.layers.PReLU(alpha_initializer="ones"))
        ref(x)
    ours = lamina.layers.Dense(3, activation=lamina.layers.PReLU(alpha_initializer="ones"))
    ours(x)
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [
        (w.name, tuple(w.shape)) for w in ref.weights
    ]
    ours.set_weights(ref.get_weights())
    with keras_ref():
        expected = np.asarray(ref(x))
    np.testing.assert_allclose(np.asarray(ours(x)), expected, rtol=1e-5, atol=1e-6)


def test_activation_layer_with_weights_refused_in_a_recurrent_cell():
    """Keras builds it inside the cell; Lamina's cells run their activations in the loop, so
    it is refused when the layer is made rather than left untrained."""
    with pytest.raises(ValueError, match=r"LSTMCell\(activation=PReLU\(...\)\).*not supported"):
        lamina.layers.LSTM(4, activation=lamina.layers.PReLU())
    with pytest.raises(ValueError, match=r"GRUCell\(recurrent_activation=PReLU"):
        lamina.layers.GRU(4, recurrent_activation=lamina.layers.PReLU())
    with pytest.raises(ValueError, match=r"ConvLSTM2D\(activation=PReLU"):
        lamina.layers.ConvLSTM2D(2, 3, activation=lamina.layers.PReLU())
    lamina.layers.LSTM(4, activation=lamina.layers.LeakyReLU(0.1))  # no weights: a function


def test_one_activation_layer_for_two_layers_is_refused():
    """Keras shares one PReLU's weights between the layers it activates; Lamina keeps an
    activation's weights in the layer it activates, so it refuses rather than split them."""
    prelu = lamina.layers.PReLU()
    model = lamina.Sequential(
        [
            lamina.Input((3,)),
            lamina.layers.Dense(3, activation=prelu),
            lamina.layers.Dense(3, activation=prelu),
        ]
    )
    with pytest.raises(ValueError, match="activation of two layers.*its own PReLU"):
        model.count_params()
