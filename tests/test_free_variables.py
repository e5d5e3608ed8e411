"""``keras.Variable(...)`` made directly (free-standing, or set as a layer attribute) and Keras
1/2's ``K.variable`` weights, against real Keras where it has the same API."""

import numpy as np
import pytest

import lamina
from lamina import backend as K
from tests.helpers import keras_ref

W0 = np.array([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]], "float32")
X = np.linspace(-1.0, 1.0, 64, dtype="float32").reshape(32, 2)
Y = (X @ np.array([[1.0], [-2.0]], "float32") + 0.5).repeat(3, axis=1)


def _linear_class(k):
    class Linear(k.layers.Layer):
        """The first layer of Keras's subclassing guide, with ``keras.Variable`` weights."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = k.Variable(initializer=W0, trainable=True)
            b_init = k.initializers.Zeros()
            self.b = k.Variable(b_init(shape=(3,)), trainable=True, name="bias")
            self.calls = k.Variable(0.0, trainable=False, name="calls")

        def call(self, inputs):
            self.calls.assign_add(1.0)
            return k.ops.matmul(inputs, self.w) + self.b

    return Linear


def _fit(k):
    inputs = k.Input((2,))
    model = k.Model(inputs, _linear_class(k)()(inputs))
    model.compile(optimizer=k.optimizers.SGD(0.1), loss="mse")
    hist = model.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    layer = model.layers[1]
    return (
        hist.history["loss"],
        [w.numpy() for w in layer.trainable_weights],
        float(layer.calls.numpy()),
        [(w.name, w.trainable, tuple(w.shape)) for w in layer.weights][1:],
    )


def test_keras_variable_weights_fit_as_in_keras(keras):
    with keras_ref():
        ref = _fit(keras)
    got = _fit(lamina)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
    for g, r in zip(got[1], ref[1]):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    assert got[3] == ref[3] == [("bias", True, (3,)), ("calls", False, ())]
    assert got[2] > 0  # the non-trainable variable is updated in call(), as in Keras


def test_standalone_layer_lists_and_uses_its_variables(keras):
    def run(k):
        layer = _linear_class(k)()
        listed = [(w.trainable, tuple(w.shape)) for w in layer.weights]
        y = np.asarray(layer(np.ones((2, 2), "float32")))
        return listed, y, float(layer.calls.numpy())

    with keras_ref():
        ref = run(keras)
    got = run(lamina)
    assert got[0] == ref[0]
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-6)
    assert got[2] == ref[2] == 1.0


@pytest.mark.parametrize(
    "init",
    [np.ones((2,)), np.ones((2,), "int64"), 3, 2.5, [1, 2], np.ones(2, "float16"), True],
    ids=["f64", "i64", "int", "float", "list", "f16", "bool"],
)
def test_free_variable_dtype_and_shape_as_in_keras(keras, init):
    ref = keras.Variable(init)
    got = lamina.Variable(init)
    assert (got.dtype, got.shape, got.trainable) == (ref.dtype, ref.shape, ref.trainable)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_free_variable_assign_initializer_and_repr(keras):
    v = lamina.Variable("ones", shape=(2,), dtype="int32", name="v")
    ref = keras.Variable("ones", shape=(2,), dtype="int32", name="v")
    assert (v.dtype, v.numpy().tolist()) == (ref.dtype, ref.numpy().tolist())
    v.assign_add(np.array([1, 2], "int32"))
    ref.assign_add(np.array([1, 2], "int32"))
    assert v.numpy().tolist() == ref.numpy().tolist() == [2, 3]
    assert repr(v) == repr(ref)
    assert np.asarray(v * 2).tolist() == [4, 6]


def test_free_variable_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="the `shape` argument should be specified"):
        lamina.Variable("zeros")
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        lamina.Variable(1.0, name="a/b")
    with pytest.raises(ValueError, match="has shape"):
        lamina.Variable(np.zeros(2)).assign(np.zeros(3))
    with pytest.raises(ValueError, match="needs an initial value"):
        lamina.Variable()


def test_variables_made_in_build_and_in_lists():
    class Gate(lamina.layers.Layer):
        def build(self, input_shape):
            self.pair = [
                lamina.Variable(np.full((input_shape[-1],), 2.0, "float32"), name="scale"),
                lamina.Variable(np.ones((input_shape[-1],), "float32"), name="shift"),
            ]

        def call(self, x):
            return x * self.pair[0] + self.pair[1]

    layer = Gate()
    y = layer(np.ones((1, 3), "float32"))
    assert np.asarray(y).tolist() == [[3.0, 3.0, 3.0]]
    assert [w.name for w in layer.trainable_weights] == ["scale", "shift"]
    layer.set_weights([np.zeros(3, "float32"), np.full(3, 5.0, "float32")])
    assert np.asarray(layer(np.ones((1, 3), "float32"))).tolist() == [[5.0, 5.0, 5.0]]


def test_assign_before_build_is_the_starting_value():
    class Offset(lamina.layers.Layer):
        def __init__(self):
            super().__init__()
            self.o = lamina.Variable(np.zeros((2,), "float32"))

        def call(self, x):
            return x + self.o

    layer = Offset()
    layer.o.assign(np.array([1.0, 2.0], "float32"))
    assert layer.o.numpy().tolist() == [1.0, 2.0]
    assert np.asarray(layer(np.zeros((1, 2), "float32"))).tolist() == [[1.0, 2.0]]


def test_keras1_k_variable_and_trainable_weights_assignment():
    """Keras 1's "Writing your own layers": ``self.W = K.variable(...)`` in ``build`` and
    ``self.trainable_weights = [self.W]``."""

    class MyLayer(lamina.layers.Layer):
        def __init__(self, output_dim, **kwargs):
            self.output_dim = output_dim
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.W = K.variable(np.full((input_shape[1], self.output_dim), 0.5))
            self.trainable_weights = [self.W]

        def call(self, x, mask=None):
            return K.dot(x, self.W)

    model = lamina.Sequential([lamina.Input((2,)), MyLayer(3)])
    np.testing.assert_allclose(model.predict(X, verbose=0), X @ np.full((2, 3), 0.5), rtol=1e-6)
    assert len(model.trainable_weights) == 1
    model.compile("sgd", "mse")

    def mse():
        return float(np.mean((model.predict(X, verbose=0) - Y) ** 2))

    before = mse()
    model.fit(X, Y, epochs=5, verbose=0)
    assert mse() < before


def test_trainable_weights_rejects_foreign_objects():
    class Bad(lamina.layers.Layer):
        def build(self, input_shape):
            self.trainable_weights = [np.zeros(2)]

        def call(self, x):
            return x

    with pytest.raises(ValueError, match="can only list this layer's own variables"):
        Bad()(np.ones((1, 2), "float32"))


def test_a_variable_set_on_a_subclassed_model_is_its_own_weight():
    # Keras tracks it on the model (tests/test_model_own_variables.py compares the rest).
    class M(lamina.Model):
        def __init__(self):
            super().__init__()
            self.scale = lamina.Variable(np.full((3,), 2.0, "float32"), name="scale")

        def call(self, x):
            return x * self.scale

    model = M()
    assert model(np.ones((1, 3), "float32")).tolist() == [[2.0, 2.0, 2.0]]
    assert [w.path for w in model.weights] == [f"{model.name}/scale"]


def _saved_linear(k):
    @k.saving.register_keras_serializable(package="free_variables_test")
    class SavedLinear(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = k.Variable(np.zeros((2, 3), "float32"), name="w")
            self.b = k.Variable(np.zeros(3, "float32"), name="b")
            self.count = k.Variable(0.0, trainable=False, name="count")

        def call(self, x):
            return k.ops.matmul(x, self.w) + self.b

    return SavedLinear


def test_keras_variable_weights_round_trip_keras_files(keras, tmp_path):
    inputs = lamina.Input((2,))
    model = lamina.Model(inputs, _saved_linear(lamina)()(inputs))
    model.layers[1].set_weights([W0, np.ones(3, "float32"), np.array(5.0, "float32")])
    model.save(tmp_path / "a.keras")
    with keras_ref():
        _saved_linear(keras)
        ref = keras.saving.load_model(tmp_path / "a.keras")
        np.testing.assert_allclose(ref.predict(X, verbose=0), X @ W0 + 1.0, rtol=1e-6)
        assert [w.name for w in ref.layers[1].weights] == ["w", "b", "count"]
        ref.layers[1].count.assign(7.0)
        ref.save(tmp_path / "b.keras")
    back = lamina.saving.load_model(tmp_path / "b.keras")
    np.testing.assert_allclose(back.predict(X, verbose=0), X @ W0 + 1.0, rtol=1e-6)
    assert float(back.layers[1].count.numpy()) == 7.0
