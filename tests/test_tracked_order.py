"""A custom layer lists its sub-layers' weights in the order Keras tracked the sub-layers
(``Layer._tracker``): when each was assigned, or appended into a list or dict attribute.
Two lists filled in one loop interleave (keras.io's memory-efficient embeddings example:
``a[0], b[0], a[1], b[1]``, not ``a[0], a[1], b[0], b[1]``), a dict's entries come when they
were set, and layers made in ``build`` after those made in ``__init__``.  So
``set_weights(keras_model.get_weights())`` fits, and the optimizer variables a ``.keras`` or
``.weights.h5`` file lists (in ``trainable_variables`` order) load in the other library."""

import re
import warnings

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _interleaved(k):
    class Interleaved(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a, self.b = [], []
            for i in range(2):
                self.a.append(k.layers.Dense(3 + i))
                self.b.append(k.layers.Dense(5))

        def call(self, x):
            return sum(self.b[i](self.a[i](x)) for i in range(2))

    return Interleaved


def _dict_of_layers(k):
    class Heads(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.heads = {}
            self.trunk = k.layers.Dense(6)
            self.heads["second"] = k.layers.Dense(5)
            self.heads["first"] = k.layers.BatchNormalization()

        def call(self, x):
            h = self.trunk(x)
            return self.heads["second"](self.heads["first"](h))

    return Heads


def _built_in_build(k):
    class Late(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.extra = []
            self.first = k.layers.Dense(3)

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            self.extra.append(k.layers.Dense(5))
            self.last = k.layers.Dense(2)

        def call(self, x):
            return self.last(self.extra[0](self.first(x * self.scale)))

    return Late


def _nested_lists(k):
    class Grid(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.rows = [[], []]
            self.out = k.layers.Dense(2)
            for i in range(2):
                for j in range(2):
                    self.rows[j].append(k.layers.Dense(2 + i + 2 * j))

        def call(self, x):
            return self.out(sum(d(x)[..., :2] for row in self.rows for d in row))

    return Grid


def _subclassed_model(k):
    class Towers(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj, self.norm = [], []
            for i in range(2):
                self.proj.append(k.layers.Dense(3 + i))
                self.norm.append(k.layers.LayerNormalization())

        def call(self, x):
            return sum(self.norm[i](self.proj[i](x))[..., :3] for i in range(2))

    return Towers


LAYERS = [_interleaved, _dict_of_layers, _built_in_build, _nested_lists, _subclassed_model]


def _listing(weights):
    # An unnamed weight is "variable" plus a process-wide counter in Keras ("variable_12"
    # after other tests): compared without the counter.
    return [(re.sub(r"^variable_\d+$", "variable", w.name), tuple(w.shape)) for w in weights]


@pytest.mark.parametrize("make", LAYERS, ids=lambda f: f.__name__.strip("_"))
def test_weight_order_matches_keras(keras, make):
    x = np.zeros((2, 4), "float32")
    with keras_ref():
        ref = make(keras)()
        ref(x)
        want = _listing(ref.weights), _listing(ref.trainable_variables)
    layer = make(lamina)()
    layer(x)
    assert (_listing(layer.weights), _listing(layer.trainable_variables)) == want
    assert [w.shape for w in layer.get_weights()] == [s for _, s in want[0]]


def _graph(k):
    layer_class = _interleaved(k)
    # Each library has its own registry: the same name in both lets files cross.
    k.saving.register_keras_serializable(package="tracked_order", name="Interleaved")(layer_class)
    inputs = k.Input((4,))
    return k.Model(inputs, k.layers.Dense(1)(layer_class()(inputs)))


def test_set_weights_from_keras_model(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype("float32")
    with keras_ref():
        ref = _graph(keras)
        weights = [rng.normal(size=w.shape).astype("float32") for w in ref.get_weights()]
        ref.set_weights(weights)
        want = ref.predict(x, verbose=0)
        names = _listing(ref.weights)
    model = _graph(lamina)
    assert _listing(model.weights) == names
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    for got, w in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, w)


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, (x @ rng.normal(size=(4, 1))).astype("float32")


def _fitted(k):
    model = _graph(k)
    model.compile(optimizer=k.optimizers.Adam(0.01), loss="mse")
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return model


def _continue_both(km, lm):
    x, y = _data()
    with keras_ref():
        kh = km.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history["loss"]
        k_weights = km.get_weights()
    lh = lm.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(lh, kh, rtol=2e-4, atol=2e-5)
    for got, want in zip(lm.get_weights(), k_weights):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def _optimizer_warnings(caught):
    return [str(w.message) for w in caught if "optimizer" in str(w.message).lower()]


@pytest.mark.parametrize("ext", [".keras", ".weights.h5"])
def test_lamina_file_loads_in_keras_with_its_optimizer_state(keras, tmp_path, ext):
    lm = _fitted(lamina)
    path = tmp_path / f"lamina{ext}"
    with keras_ref(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if ext == ".keras":
            lm.save(path)
            _graph(keras)  # registers Keras's class under the file's name (as below)
            km = keras.models.load_model(path)
        else:
            lm.save_weights(path)
            km = _graph(keras)
            km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
            km.optimizer.build(km.trainable_variables)
            km.load_weights(path)
    assert not _optimizer_warnings(caught)
    with keras_ref():
        assert int(km.optimizer.iterations) == 4
    _continue_both(km, lm)


@pytest.mark.parametrize("ext", [".keras", ".weights.h5"])
def test_keras_file_loads_in_lamina_with_its_optimizer_state(keras, tmp_path, ext):
    path = tmp_path / f"keras{ext}"
    with keras_ref():
        km = _fitted(keras)
        km.save(path) if ext == ".keras" else km.save_weights(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if ext == ".keras":
            _graph(lamina)  # registers Lamina's class under the file's name (not left to
            lm = lamina.models.load_model(path)  # whichever test ran before in this process)
        else:
            lm = _graph(lamina)
            lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="mse")
            lm.load_weights(path)
    assert not _optimizer_warnings(caught)
    assert int(lamina.optimizers.get_iterations(lm._train_state.opt_state)) == 4
    _continue_both(km, lm)
