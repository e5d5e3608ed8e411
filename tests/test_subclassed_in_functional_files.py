"""``.weights.h5`` both ways for a subclassed model (layers and a list of layers as attributes)
called inside a functional model: Keras stores each sub-layer under its attribute path
(``sub_model/first``, ``sub_model/blocks/dense``); Lamina wrote those groups empty."""

import numpy as np

import lamina
from tests.helpers import keras_ref


def _build(k, package, prebuilt=True):
    @k.saving.register_keras_serializable(package=package, name="SubModel")
    class SubModel(k.Model):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.first = k.layers.Dense(units)
            self.blocks = [k.layers.Dense(units), k.layers.Dense(units)]
            self.bn = k.layers.BatchNormalization()
            self.last = k.layers.Dense(2)

        def get_config(self):
            return {"units": self.units, "name": self.name}

        def call(self, x):
            h = self.first(x)
            for block in self.blocks:
                h = block(h)
            return self.last(self.bn(h))

    inputs = k.Input((4,))
    sub = SubModel(3)
    if prebuilt:
        sub(np.zeros((2, 4), "float32"))
    return k.Model(inputs, k.layers.Dense(2)(sub(inputs)))


def test_subclassed_model_in_a_graph_weights_load_both_ways(keras, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)).astype("float32")
    with keras_ref():
        ref = _build(keras, "lamina_test_keras")
        ref.set_weights([rng.normal(size=w.shape).astype("float32") + 1 for w in ref.get_weights()])
        want = ref.predict(x, verbose=0)
        ref.save_weights(tmp_path / "keras.weights.h5")
    model = _build(lamina, "lamina_test")
    model.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    model.save_weights(tmp_path / "lamina.weights.h5")
    with keras_ref():
        back = _build(keras, "lamina_test_keras")
        back.load_weights(tmp_path / "lamina.weights.h5")
        got = back.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_subclassed_model_first_called_in_a_graph_and_keras_files(keras, tmp_path):
    # Keras builds a subclassed model on its first call on a graph tensor; loading a .keras
    # file rebuilds the graph that way.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4)).astype("float32")
    with keras_ref():
        ref = _build(keras, "lamina_test_keras", prebuilt=False)
        ref.set_weights([rng.normal(size=w.shape).astype("float32") + 1 for w in ref.get_weights()])
        want = ref.predict(x, verbose=0)
        ref.save(tmp_path / "keras.keras")
    _build(lamina, "lamina_test", prebuilt=False)  # registers the class under its name
    model = lamina.models.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
