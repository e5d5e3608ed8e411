"""A layer used in several places of one model (two nested models, a nested model and the outer
graph, twice in one graph) has one set of weights, as Keras's: listed once, trained once per
step with the gradients of its uses added up, and saved once."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3)).astype("float32")


def _towers(lib):
    """Two ``Sequential`` towers sharing a ``Dense``, concatenated."""
    L = lib.layers
    shared = L.Dense(4, name="shared", kernel_regularizer=lib.regularizers.L2(0.01))
    a = lib.Sequential([lib.Input((3,)), shared, L.Dense(2, name="head_a")], name="tower_a")
    b = lib.Sequential([lib.Input((3,)), shared, L.Dense(5, name="head_b")], name="tower_b")
    inp = lib.Input((3,))
    return lib.Model(inp, L.Concatenate()([a(inp), b(inp)]))


def _nested_and_outer(lib):
    """A ``Dense`` used by a nested model and by the outer graph."""
    L = lib.layers
    shared = L.Dense(3, name="shared")
    inner = lib.Sequential([lib.Input((3,)), shared, L.Dense(2, name="head")], name="inner")
    inp = lib.Input((3,))
    return lib.Model(inp, L.Concatenate()([inner(inp), shared(inp)]))


def _twice_in_graph(lib):
    """One ``Dense`` applied twice in one functional graph."""
    L = lib.layers
    shared = L.Dense(3, name="shared")
    inp = lib.Input((3,))
    return lib.Model(inp, L.Dense(2, name="out")(shared(shared(inp))))


def _nested_then_outer_bn(lib):
    """Towers sharing a frozen-statistics ``BatchNormalization`` (a non-trainable weight)."""
    L = lib.layers
    bn = L.BatchNormalization(name="bn")
    a = lib.Sequential([lib.Input((3,)), bn, L.Dense(2, name="ha")], name="ta")
    b = lib.Sequential([lib.Input((3,)), bn, L.Dense(2, name="hb")], name="tb")
    inp = lib.Input((3,))
    return lib.Model(inp, L.Add()([a(inp), b(inp)]))


def _subclassed(lib):
    """A subclassed model holding two towers that share a ``Dense``."""
    L = lib.layers

    class Towers(lib.Model):
        def __init__(self):
            super().__init__()
            shared = L.Dense(4, name="shared")
            self.a = lib.Sequential([lib.Input((3,)), shared, L.Dense(2)], name="tower_a")
            self.b = lib.Sequential([lib.Input((3,)), shared, L.Dense(3)], name="tower_b")

        def call(self, x):
            return L.Concatenate()([self.a(x), self.b(x)])

    model = Towers()
    model(X[:1])
    return model


BUILDERS = [_towers, _nested_and_outer, _twice_in_graph, _nested_then_outer_bn, _subclassed]
FITTED = [_towers, _nested_and_outer, _twice_in_graph, _subclassed]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_weight_lists_match_keras(keras, build):
    with keras_ref():
        km = build(keras)
        k_weights = km.get_weights()
        k_trainable = [w.shape for w in km.trainable_weights]
        k_count = km.count_params()
    m = build(lamina)
    m.set_weights(k_weights)
    got = m.get_weights()
    assert [w.shape for w in got] == [w.shape for w in k_weights]
    for g, k in zip(got, k_weights):
        np.testing.assert_array_equal(g, k)
    assert len(m.weights) == len(k_weights)
    assert [tuple(w.shape) for w in m.trainable_weights] == [tuple(s) for s in k_trainable]
    assert m.count_params() == k_count
    with keras_ref():
        want = np.asarray(km.predict(X, verbose=0))
    np.testing.assert_allclose(m.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_set_weights_rejects_the_duplicated_list():
    m = _towers(lamina)
    doubled = [np.zeros(s) for s in [(3, 4), (4,), (4, 2), (2,), (3, 4), (4,), (4, 5), (5,)]]
    with pytest.raises(ValueError, match="expected a list of 6 arrays"):
        m.set_weights(doubled)


@pytest.mark.parametrize("build", FITTED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_fit_trains_shared_weights_once_as_keras(keras, build, opt):
    y_rng = np.random.default_rng(1)
    with keras_ref():
        km = build(keras)
        y = y_rng.normal(size=(16, km(X[:1]).shape[-1])).astype("float32")
        init = km.get_weights()
        kopt = keras.optimizers.SGD(0.1) if opt == "sgd" else keras.optimizers.Adam(0.05)
        km.compile(optimizer=kopt, loss="mse")
        k_hist = km.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        k_after = km.get_weights()
    m = build(lamina)
    m.set_weights(init)
    lopt = lamina.optimizers.SGD(0.1) if opt == "sgd" else lamina.optimizers.Adam(0.05)
    m.compile(optimizer=lopt, loss="mse")
    hist = m.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(hist["loss"], k_hist["loss"], rtol=1e-4)
    after = m.get_weights()
    assert len(after) == len(k_after)
    for g, k in zip(after, k_after):
        np.testing.assert_allclose(g, k, rtol=1e-4, atol=1e-5)
    # every place of the shared layer reads the trained weights
    if build in (_towers, _subclassed):
        tower_b = m.get_layer("tower_b")
        np.testing.assert_allclose(tower_b.get_weights()[0], k_after[0], rtol=1e-4, atol=1e-5)
        with keras_ref():
            want_b = np.asarray(km.get_layer("tower_b").predict(X, verbose=0))
        np.testing.assert_allclose(tower_b.predict(X, verbose=0), want_b, rtol=1e-4, atol=1e-5)
    else:
        shared = m.get_layer("shared")
        np.testing.assert_allclose(shared.get_weights()[0], k_after[0], rtol=1e-4, atol=1e-5)
    with keras_ref():
        want = np.asarray(km.predict(X, verbose=0))
    np.testing.assert_allclose(m.predict(X, verbose=0), want, rtol=1e-4, atol=1e-5)


def test_summary_counts_shared_weights_once(keras, capsys):
    with keras_ref():
        km = _towers(keras)
        total = km.count_params()
    m = _towers(lamina)
    m.summary()
    out = capsys.readouterr().out
    assert f"Total params: {total:,}" in out


def _random_weights(km):
    rng = np.random.default_rng(7)
    return [rng.normal(size=w.shape).astype("float32") for w in km.get_weights()]


SAVED = [_towers, _nested_and_outer, _nested_then_outer_bn]


@pytest.mark.parametrize("ext", [".weights.h5", ".keras"])
@pytest.mark.parametrize("build", SAVED, ids=lambda f: f.__name__)
def test_lamina_file_loads_in_keras(keras, tmp_path, build, ext):
    with keras_ref():
        km = build(keras)
    weights = _random_weights(km)
    m = build(lamina)
    m.set_weights(weights)
    path = str(tmp_path / f"m{ext}")
    m.save_weights(path) if ext == ".weights.h5" else m.save(path)
    with keras_ref():
        k2 = build(keras)
        k2.load_weights(path)  # Keras reads a shared layer's weights at its first place only
        got = k2.get_weights()
    assert len(got) == len(weights)
    for g, w in zip(got, weights):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("ext", [".weights.h5", ".keras", ".h5"])
@pytest.mark.parametrize("build", SAVED, ids=lambda f: f.__name__)
def test_keras_file_loads_in_lamina(keras, tmp_path, build, ext):
    path = str(tmp_path / f"k{ext}")
    with keras_ref():
        km = build(keras)
        weights = _random_weights(km)
        km.set_weights(weights)
        km.save_weights(path) if ext == ".weights.h5" else km.save(path)
        want = np.asarray(km.predict(X, verbose=0))
    m = build(lamina)
    m.load_weights(path)
    got = m.get_weights()
    assert len(got) == len(weights)
    for g, w in zip(got, weights):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_allclose(m.predict(X, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_keras_archive_round_trip_keeps_the_layer_shared(keras, tmp_path):
    with keras_ref():
        n_keras = len(_towers(keras).get_weights())
    m = _towers(lamina)
    m.set_weights([w + 1.0 for w in m.get_weights()])
    path = str(tmp_path / "m.keras")
    m.save(path)
    m2 = lamina.models.load_model(path)
    assert len(m2.get_weights()) == n_keras
    for a, b in zip(m2.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(m2.predict(X, verbose=0), m.predict(X, verbose=0), atol=1e-6)
    assert m2.get_layer("tower_a").layers[0] is m2.get_layer("tower_b").layers[0]


def test_legacy_h5_moves_to_keras(keras, tmp_path):
    """Keras's legacy ``.h5`` lists a nested model's weights in full (the shared layer's in
    each tower's group): Lamina's file loads in Keras with the same weights."""
    m = _towers(lamina)
    m.set_weights([w - 0.5 for w in m.get_weights()])
    path = str(tmp_path / "m.h5")
    m.save_weights(path)
    with keras_ref():
        km = _towers(keras)
        km.load_weights(path)
        got = km.get_weights()
    want = m.get_weights()
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_fit_then_save_optimizer_slots_once(keras, tmp_path):
    """Keras's optimizer has one slot per variable: the file holds none for the copies."""
    y = np.random.default_rng(3).normal(size=(16, 7)).astype("float32")
    with keras_ref():
        km = _towers(keras)
        km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        km.fit(X, y, epochs=1, batch_size=8, verbose=0)
        n_keras = len(km.optimizer.variables)
    m = _towers(lamina)
    m.compile(optimizer=lamina.optimizers.Adam(0.01), loss="mse")
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    path = str(tmp_path / "m.weights.h5")
    m.save_weights(path)
    import h5py

    with h5py.File(path) as f:
        assert len(f["optimizer/vars"]) == n_keras
    with keras_ref():
        km.load_weights(path)  # Keras loads the slots too
        np.testing.assert_allclose(km.get_weights()[0], m.get_weights()[0], rtol=1e-6)
