"""Keras-compat gaps of user layers in graphs: ``build`` runs once per layer instance, and a
functional graph runs its nodes in Keras's order (a layer shared by sibling branches updates
its state as Keras's does).  Each test compares with real Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _both(keras, fn):
    with keras_ref():
        expected = fn(keras)
    return fn(lamina), expected


def _xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    return x, rng.normal(size=(8, 3)).astype("float32")


def _counting_layer(k, calls):
    class Scale(k.layers.Layer):
        def build(self, input_shape):
            calls.append(tuple(input_shape)[1:])
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    return Scale


def _fit_and_predict(model):
    x, y = _xy()
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    model.predict(x, verbose=0)


# --------------------------------------------------------------------- build runs once
def _build_counts(k):
    calls, out = [], {}
    scale = _counting_layer(k, calls)

    def count(name, make):
        calls.clear()
        _fit_and_predict(make())
        out[name] = list(calls)

    count("sequential", lambda: k.Sequential([k.Input((3,)), scale()]))
    count("sequential_without_input", lambda: k.Sequential([scale()]))

    def reused():
        inputs, layer = k.Input((3,)), scale()
        return k.Model(inputs, layer(layer(inputs)))

    count("functional_reused", reused)

    def built_by_user():
        layer = scale()
        layer.build((None, 3))
        inputs = k.Input((3,))
        return k.Model(inputs, layer(inputs))

    count("functional_built_by_user", built_by_user)

    class Holder(k.Model):
        def __init__(self):
            super().__init__()
            self.scale = scale()

        def call(self, x):
            return self.scale(x)

    count("subclassed", Holder)
    return out


@pytest.mark.slow
def test_build_runs_once_per_layer_as_keras(keras):
    ours, expected = _both(keras, _build_counts)
    assert ours == expected
    assert all(len(v) == 1 for v in expected.values())


@pytest.mark.slow
def test_build_once_keeps_weight_objects_and_seeds(keras):
    """Weights made in ``build`` stay the same objects through fit; initializers named in
    ``build`` draw their seeds once, so the weights match Keras's after set_random_seed."""

    def run(k):
        class Block(k.layers.Layer):
            def build(self, input_shape):
                self.proj = k.layers.Dense(4)
                self.inner = k.layers.Dense(4)
                self.inner.build(input_shape)  # built by hand inside build
                self.w = self.add_weight(shape=(4,), initializer="random_normal")

            def call(self, x):
                return self.proj(x) + self.inner(x) * self.w

        k.utils.set_random_seed(5)
        block = Block()
        inputs = k.Input((3,))
        model = k.Model(inputs, block(inputs))
        first = block.w
        initial = [np.asarray(w) for w in model.weights]
        _fit_and_predict_4(model)
        return {"same": block.w is first, "initial": initial,
                "trained": [np.asarray(w) for w in model.weights]}  # fmt: skip

    ours, expected = _both(keras, run)
    assert ours["same"] and expected["same"]
    for key in ("initial", "trained"):
        assert len(ours[key]) == len(expected[key])
        for a, b in zip(ours[key], expected[key]):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=key)


def _fit_and_predict_4(model):
    x, _ = _xy()
    model.compile("sgd", "mse")
    model.fit(x, np.ones((8, 4), "float32"), epochs=1, batch_size=4, shuffle=False, verbose=0)


# ------------------------------------------------ shared state updates in Keras's order
def _shared_batch_norm(k, outputs):
    bn = k.layers.BatchNormalization(momentum=0.5)
    a, b = k.Input((4,)), k.Input((4,))
    ha = k.layers.Dense(4, kernel_initializer="ones")(a)
    hb = k.layers.Activation("relu")(b)
    model = k.Model([a, b], outputs(k, bn, a, ha, hb))
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 4)).astype("float32") + 2]
    y = [rng.normal(size=tuple(t.shape[1:]) and (8, *t.shape[1:])).astype("float32")
         for t in model.outputs]  # fmt: skip
    model.compile("sgd", ["mse"] * len(y))
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    out = {"mean": np.asarray(bn.moving_mean), "variance": np.asarray(bn.moving_variance)}
    model([x[0][:2], x[1][:2]], training=True)
    out["after_call"] = np.asarray(bn.moving_mean)
    return out


def _close(ours, expected):
    for key in expected:
        np.testing.assert_allclose(ours[key], expected[key], atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_batch_norm_shared_by_sibling_outputs_updates_in_keras_order(keras):
    def outputs(k, bn, a, ha, hb):
        return [bn(ha), k.layers.Concatenate()([bn(hb), bn(a)])]

    _close(*_both(keras, lambda k: _shared_batch_norm(k, outputs)))


@pytest.mark.slow
def test_batch_norm_shared_by_separate_outputs_updates_in_keras_order(keras):
    def outputs(k, bn, a, ha, hb):
        return [bn(a), bn(hb), bn(ha)]

    _close(*_both(keras, lambda k: _shared_batch_norm(k, outputs)))


def test_functional_layers_and_weights_keep_keras_order(keras):
    """Running sibling branches in Keras's order leaves ``model.layers`` and the weight order
    as Keras lists them."""

    def run(k):
        a, b = k.Input((2,), name="a"), k.Input((3,), name="b")
        da, db = k.layers.Dense(2, name="da"), k.layers.Dense(2, name="db")
        shared = k.layers.Dense(1, name="shared")
        model = k.Model([a, b], [shared(da(a)), shared(db(b))])
        return [la.name for la in model.layers], [w.shape for w in model.weights]

    ours, expected = _both(keras, run)
    assert ours[0] == expected[0]
    assert [tuple(s) for s in ours[1]] == [tuple(s) for s in expected[1]]


# ----------------------------------------- a call's own ``training`` default in a graph
def _training_defaults(k):
    class Doubles(k.layers.Layer):
        def call(self, x, training=True):  # Keras uses this default when none is given
            return x * 2.0 if training else x

    class Holds(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = Doubles()

        def call(self, x):
            return self.inner(x)

    x = np.ones((4, 1), "float32")
    out = {}
    for name, make in (("direct", Doubles), ("held", Holds)):
        inputs = k.Input((1,))
        model = k.Model(inputs, make()(inputs))
        outer_in = k.Input((1,))
        outer = k.Model(outer_in, model(outer_in))
        model.compile("sgd", "mae")
        out[name] = [
            float(np.asarray(model(x))[0, 0]),
            float(np.asarray(model(x, training=False))[0, 0]),
            float(np.asarray(outer(x))[0, 0]),
            float(model.predict(x, verbose=0)[0, 0]),
            round(float(model.evaluate(x, x, verbose=0)), 4),
            round(float(model.fit(x, x, verbose=0).history["loss"][0]), 4),
        ]
    return out


@pytest.mark.slow
def test_call_training_default_in_functional_model_as_keras(keras):
    ours, expected = _both(keras, _training_defaults)
    assert ours == expected
    assert expected["direct"][0] == 2.0  # model(x): the layer's own default, True
