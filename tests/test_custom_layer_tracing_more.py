"""Keras-style custom layers whose first call builds them as Keras builds them: a sub-layer
built in ``build()`` and read there (keras.io PixelCNN), sub-layers built on the first call's
real shapes and dtypes (integer indices; a first axis that is not the batch, as keras.io's
graph layers), and dicts of inputs in the user's key order (keras.io's VariableSelection).
Each case is written once and run by real Keras 3 and by Lamina with the same weights."""

import numpy as np

import lamina
from tests.helpers import keras_ref

ATOL = 1e-5


def _both(keras, fn):
    """``fn(K)`` run with real Keras, then with Lamina."""
    with keras_ref():
        ref = fn(keras)
    return ref, fn(lamina)


# --------------------------------------------------------------- a sub-layer built in build()
def _masked_dense(K):
    class MaskedDense(K.layers.Layer):
        """PixelCNN's PixelConvLayer pattern: build the sub-layer, read its kernel's shape."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = K.layers.Dense(3)

        def build(self, input_shape):
            self.dense.build(input_shape)
            shape = tuple(K.ops.shape(self.dense.kernel))
            self.mask = np.tril(np.ones(shape, "float32"))

        def call(self, x):
            return K.ops.matmul(x, self.dense.kernel * self.mask) + self.dense.bias

    return MaskedDense


def test_sub_layer_built_in_build_eager(keras):
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")

    def run(K):
        layer = _masked_dense(K)()
        y = np.asarray(layer(x))
        return layer, y

    (k_layer, _), (l_layer, _) = _both(keras, run)
    assert [tuple(w.shape) for w in l_layer.weights] == [tuple(w.shape) for w in k_layer.weights]
    l_layer.set_weights(k_layer.get_weights())
    with keras_ref():
        want = np.asarray(k_layer(x))
    np.testing.assert_allclose(np.asarray(l_layer(x)), want, atol=ATOL)
    np.testing.assert_array_equal(l_layer.mask, k_layer.mask)


def test_sub_layer_built_in_build_in_a_model(keras):
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")

    def build(K):
        inputs = K.Input((4,))
        out = _masked_dense(K)()(inputs)
        return K.Model(inputs, out), out.shape

    (km, k_shape), (lm, l_shape) = _both(keras, build)
    assert l_shape == k_shape == (None, 3)
    assert [w.shape for w in lm.weights] == [tuple(w.shape) for w in km.weights]
    lm.set_weights(km.get_weights())
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, atol=ATOL)


def test_custom_sub_layer_built_in_build_is_built_once(keras):
    x = np.random.default_rng(7).normal(size=(2, 3)).astype("float32")

    def run(K):
        class Inner(K.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], 2), name="w")

            def call(self, x):
                return K.ops.matmul(x, self.w)

        class Outer(K.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.inner = Inner()

            def build(self, input_shape):
                self.inner.build(input_shape)
                self.scale = K.ops.ones(tuple(self.inner.w.shape)[-1:]) * 2.0

            def call(self, x):
                return self.inner(x) * self.scale

        eager = Outer()
        eager(x)
        inputs = K.Input((3,))
        model = K.Model(inputs, Outer()(inputs))
        return eager, model

    (k_eager, km), (l_eager, lm) = _both(keras, run)
    assert [tuple(w.shape) for w in l_eager.weights] == [(3, 2)]
    assert [w.shape for w in lm.weights] == [tuple(w.shape) for w in km.weights] == [(3, 2)]
    lm.set_weights(km.get_weights())
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, atol=ATOL)


# ------------------------------------------------------- sub-layers built on real inputs
def _gather(K):
    class Gather(K.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = K.layers.Dense(2)

        def call(self, inputs):
            x, idx = inputs
            return self.dense(K.ops.take(x, idx, axis=0))

    return Gather


def test_integer_inputs_stay_integers_when_sub_layers_are_built(keras):
    x = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
    idx = np.array([0, 2, 1], "int32")

    def run(K):
        layer = _gather(K)()
        return layer, np.asarray(layer((x, idx)))

    (k_layer, k_y), (l_layer, l_y) = _both(keras, run)
    assert l_y.shape == k_y.shape == (3, 2)
    l_layer.set_weights(k_layer.get_weights())
    np.testing.assert_allclose(np.asarray(l_layer((x, idx))), k_y, atol=ATOL)


def test_integer_symbolic_inputs_build_sub_layers_in_a_model(keras):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4)).astype("float32")
    idx = rng.integers(0, 4, size=(6, 2)).astype("int32")

    def build(K):
        class Pick(K.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = K.layers.Dense(2)

            def call(self, inputs):
                feats, ids = inputs
                return self.dense(K.ops.take_along_axis(feats, ids, axis=1))

        f, i = K.Input((4,)), K.Input((2,), dtype="int32")
        out = Pick()([f, i])
        return K.Model([f, i], out), out.shape

    (km, k_shape), (lm, l_shape) = _both(keras, build)
    assert l_shape == k_shape == (None, 2)
    assert [w.shape for w in lm.weights] == [tuple(w.shape) for w in km.weights]
    lm.set_weights(km.get_weights())
    with keras_ref():
        want = km.predict([x, idx], verbose=0)
    np.testing.assert_allclose(lm.predict([x, idx], verbose=0), want, atol=ATOL)


def _graph_layers(K):
    """keras.io's traffic forecasting GraphConv pattern: ``(num_nodes, batch, features)``."""

    class NodeMix(K.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = K.layers.Dense(2)

        def call(self, x):
            src = K.ops.convert_to_tensor([1, 2, 0])
            dst = K.ops.convert_to_tensor([0, 1, 2])
            agg = K.ops.segment_sum(K.ops.take(x, src, axis=0), dst, num_segments=3)
            return K.ops.concatenate([self.proj(x), agg], axis=-1)

    class Outer(K.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mix = NodeMix()

        def call(self, x):  # (batch, nodes, features) -> nodes first and back
            return K.ops.transpose(self.mix(K.ops.transpose(x, [1, 0, 2])), [1, 0, 2])

    return Outer


def test_first_axis_that_is_not_the_batch_keeps_its_size_eager(keras):
    x = np.random.default_rng(4).normal(size=(2, 3, 4)).astype("float32")

    def run(K):
        layer = _graph_layers(K)()
        return layer, np.asarray(layer(x))

    (k_layer, k_y), (l_layer, l_y) = _both(keras, run)
    assert l_y.shape == k_y.shape == (2, 3, 6)
    l_layer.set_weights(k_layer.get_weights())
    np.testing.assert_allclose(np.asarray(l_layer(x)), k_y, atol=ATOL)


def test_first_axis_that_is_not_the_batch_keeps_its_size_in_a_model(keras):
    x = np.random.default_rng(5).normal(size=(5, 3, 4)).astype("float32")

    def build(K):
        inputs = K.Input((3, 4))
        out = _graph_layers(K)()(inputs)
        return K.Model(inputs, out), out.shape

    (km, k_shape), (lm, l_shape) = _both(keras, build)
    assert l_shape == k_shape == (None, 3, 6)
    lm.set_weights(km.get_weights())
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, atol=ATOL)


def test_build_gets_the_first_calls_real_shapes(keras):
    def run(K):
        seen = []

        class Probe(K.layers.Layer):
            def build(self, input_shape):
                seen.append([tuple(s) for s in input_shape])

            def call(self, inputs):
                return inputs[0]

        Probe()([np.ones((2, 4), "float32"), np.ones((3,), "int32")])
        Probe()([K.Input((4,)), K.Input((3,), dtype="int32")])
        return seen

    k_seen, l_seen = _both(keras, run)
    assert l_seen[0] == k_seen[0] == [(2, 4), (3,)]
    assert l_seen[-1] == k_seen[-1] == [(None, 4), (None, 3)]


# ------------------------------------------------------------------- dicts of inputs
def _stack_dict(K):
    class StackDict(K.layers.Layer):
        def call(self, inputs):
            return K.ops.stack([inputs[k] for k in inputs], axis=-1)

    return StackDict


def test_dict_of_symbolic_inputs(keras):
    def build(K):
        inputs = {"b": K.Input((), name="b"), "a": K.Input((), name="a")}
        out = _stack_dict(K)()(inputs)
        return K.Model(inputs, out), out.shape

    (km, k_shape), (lm, l_shape) = _both(keras, build)
    assert l_shape == k_shape == (None, 2)
    data = {"a": np.zeros(3, "float32"), "b": np.ones(3, "float32")}
    with keras_ref():
        want = km.predict(data, verbose=0)
    np.testing.assert_allclose(lm.predict(data, verbose=0), want)  # ``b`` first, as built


def test_dict_of_arrays_keeps_the_users_key_order(keras):
    data = {"b": np.ones(3, "float32"), "a": np.zeros(3, "float32")}
    k_y, l_y = _both(keras, lambda K: np.asarray(_stack_dict(K)()(data)))
    np.testing.assert_array_equal(l_y, k_y)
    np.testing.assert_array_equal(l_y[0], [1.0, 0.0])


def test_build_gets_a_dict_of_shapes_in_the_users_order(keras):
    def run(K):
        class PerKey(K.layers.Layer):
            def build(self, input_shape):
                self.keys = list(input_shape)
                self.scales = [
                    self.add_weight(shape=(s[-1],), initializer="ones", name=k)
                    for k, s in input_shape.items()
                ]

            def call(self, inputs):
                return K.ops.concatenate(
                    [inputs[k] * w for k, w in zip(self.keys, self.scales)], axis=-1
                )

        inputs = {"b": K.Input((3,), name="b"), "a": K.Input((5,), name="a")}
        model = K.Model(inputs, PerKey()(inputs))
        eager = PerKey()
        eager({"b": np.ones((2, 3), "float32"), "a": np.ones((2, 5), "float32")})
        return model, [tuple(w.shape) for w in eager.weights]

    (km, k_eager), (lm, l_eager) = _both(keras, run)
    assert l_eager == k_eager == [(3,), (5,)]
    assert [w.shape for w in lm.weights] == [tuple(w.shape) for w in km.weights] == [(3,), (5,)]
    rng = np.random.default_rng(6)
    lm.set_weights([rng.normal(size=w.shape).astype("float32") for w in lm.weights])
    with keras_ref():
        km.set_weights(lm.get_weights())
    data = {"a": rng.normal(size=(4, 5)).astype("float32"), "b": np.ones((4, 3), "float32")}
    with keras_ref():
        want = km.predict(data, verbose=0)
    np.testing.assert_allclose(lm.predict(data, verbose=0), want, atol=ATOL)


def test_dict_inside_a_custom_layer_call_keeps_its_order(keras):
    """A dict built inside ``call`` and passed to a sub-layer reaches it in its order."""
    x = np.arange(6, dtype="float32").reshape(2, 3)

    def run(K):
        stack = _stack_dict(K)

        class Outer(K.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.stack = stack()

            def call(self, inputs):
                parts = {"b": inputs[:, 0], "a": inputs[:, 1]}
                return self.stack({k: parts[k] for k in ("b", "a")})

        return np.asarray(Outer()(x))

    k_y, l_y = _both(keras, run)
    np.testing.assert_array_equal(l_y, k_y)
    np.testing.assert_array_equal(l_y[:, 0], x[:, 0])
