"""A ``Sequential`` repeating one layer instance shares its weights, as in Keras 3: the layer
is listed at each position of ``model.layers`` and in the summary, its weights exist once
(``weights``, ``get_weights``, ``count_params``), every position applies them and their
gradients sum over the uses ("Hands-On Machine Learning", ch. 12: ``block1`` three times).

Reference: real Keras 3 on JAX.  Keras 3.15.1 writes a repeated layer once into the model's
config (``Sequential.get_config`` iterates its deduplicated layers), so its own ``.keras`` file
of such a model loads as another model (or fails) and its legacy ``.h5`` save raises; Lamina
writes every position, so its files load back as the model saved, and moves weight files
(``.weights.h5``) both ways with Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = [
    pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning"),
    pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning"),  # Keras's
]

RTOL, ATOL = 2e-4, 2e-5


def _twice(k):
    """``d`` twice, then a head: the smallest repeat."""
    d = k.layers.Dense(4, activation="tanh", name="d")
    return k.Sequential([k.Input((4,)), d, d, k.layers.Dense(1, name="out")], name="twice")


def _book(k):
    """The book's model: a nested ``Sequential`` block used three times."""
    block1 = k.Sequential(
        [
            k.layers.Dense(30, activation="elu", name="b1"),
            k.layers.Dense(30, activation="elu", name="b2"),
        ],
        name="block1",
    )
    return k.Sequential(
        [
            k.layers.Dense(30, activation="elu", input_shape=[8], name="first"),
            block1,
            block1,
            block1,
            k.layers.Dense(1, name="head"),
        ],
        name="book",
    )


def _batchnorm(k):
    """A ``BatchNormalization`` used twice: its moving statistics update at each use.  (No
    biases before it: their gradients are rounding noise, which Adam would magnify.)"""
    bn = k.layers.BatchNormalization(name="bn")
    a = k.layers.Dense(4, use_bias=False, name="a")
    b = k.layers.Dense(4, use_bias=False, name="b")
    return k.Sequential([k.Input((4,)), a, bn, b, bn], name="bn_twice")


BUILDS = {"twice": _twice, "book": _book, "batchnorm": _batchnorm}


def _data(model, n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, model.input_shape[-1])).astype("float32")
    y = rng.random((n, model.output_shape[-1])).astype("float32")
    return x, y


def _text(model):
    lines = []
    model.summary(print_fn=lambda s, **_: lines.append(s))
    return "".join(lines)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_layers_weights_and_summary_as_in_keras(keras, monkeypatch, name):
    monkeypatch.setenv("COLUMNS", "80")
    with keras_ref():
        ref = BUILDS[name](keras)
        ref_layers = [la.name for la in ref.layers]
        ref_paths = [w.path for w in ref.weights]
        ref_shapes = [w.shape for w in ref.get_weights()]
        ref_count = ref.count_params()
        ref_text = _text(ref)
    model = BUILDS[name](lamina)
    assert [la.name for la in model.layers] == ref_layers  # the repeat at each position
    paths = [w.path for w in model.weights]  # its weights once (Keras prefixes the model)
    assert len(paths) == len(ref_paths)
    assert all(ref.endswith(path) for ref, path in zip(ref_paths, paths)), (paths, ref_paths)
    assert [w.shape for w in model.get_weights()] == ref_shapes
    assert model.count_params() == ref_count
    assert _text(model) == ref_text
    repeated = [la for la in model.layers if model.layers.count(la) > 1]
    assert repeated and all(la is repeated[0] for la in repeated)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_fit_matches_keras_with_the_same_starting_weights(keras, name):
    """One set of weights applied at every position: the gradients of all uses add up (and a
    shared ``BatchNormalization`` updates its statistics at each use), as in Keras."""
    with keras_ref():
        ref = BUILDS[name](keras)
        x, y = _data(ref)
        start = ref.get_weights()
        ref.compile(keras.optimizers.Adam(0.01), "mse")
        hist = ref.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
        ref_pred = ref.predict(x, verbose=0)
        ref_weights = ref.get_weights()
    model = BUILDS[name](lamina)
    model.set_weights(start)
    model.compile(lamina.optimizers.Adam(0.01), "mse")
    got = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], hist["loss"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref_pred, rtol=RTOL, atol=ATOL)
    assert len(model.get_weights()) == len(ref_weights)
    for a, b in zip(model.get_weights(), ref_weights):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_gradients_of_the_uses_add_up():
    """``y = x W W``: one SGD step moves ``W`` by the sum of both uses' gradients."""
    d = lamina.layers.Dense(2, use_bias=False, kernel_initializer="ones", name="d")
    model = lamina.Sequential([lamina.Input((2,)), d, d])
    model.compile(lamina.optimizers.SGD(0.1), "mse")
    model.fit(np.ones((1, 2), "float32"), np.zeros((1, 2), "float32"), epochs=1, verbose=0)
    # loss = mean((x W W)^2) = 16; each use contributes 8 to every entry of dL/dW.
    np.testing.assert_allclose(model.get_weights()[0], np.full((2, 2), 1 - 0.1 * 16), rtol=1e-6)
    np.testing.assert_allclose(d.get_weights()[0], model.get_weights()[0])


@pytest.mark.parametrize("name", ["twice", "book"])
def test_weight_files_move_both_ways_with_keras(keras, tmp_path, name):
    """``.weights.h5``: Keras names each entry of ``model.layers`` in turn (a repeat takes its
    count but writes nothing), so the files of Keras and Lamina are the same layout."""
    with keras_ref():
        ref = BUILDS[name](keras)
        x, _ = _data(ref)
        ref.save_weights(tmp_path / "keras.weights.h5")
        ref_pred = ref.predict(x, verbose=0)
    model = BUILDS[name](lamina)
    model.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), ref_pred, rtol=1e-5, atol=1e-6)
    fresh = BUILDS[name](lamina)
    fresh.set_weights([w + 0.25 for w in model.get_weights()])
    fresh.save_weights(tmp_path / "lamina.weights.h5")
    with keras_ref():
        back = BUILDS[name](keras)
        back.load_weights(tmp_path / "lamina.weights.h5")
        back_pred = back.predict(x, verbose=0)
    np.testing.assert_allclose(back_pred, fresh.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("name", ["twice", "book"])
def test_saved_model_loads_back_with_the_layer_shared(tmp_path, name, ext):
    model = BUILDS[name](lamina)
    x, y = _data(model)
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / f"model.{ext}"
    model.save(path)
    loaded = lamina.models.load_model(path)
    assert [la.name for la in loaded.layers] == [la.name for la in model.layers]
    assert len(loaded.weights) == len(model.weights)
    repeated = [la for la in loaded.layers if loaded.layers.count(la) > 1]
    assert len(repeated) >= 2
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7
    )
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # still one set of weights to train
    assert len(loaded.get_weights()) == len(model.get_weights())


def test_keras_files_of_a_repeat_load_as_keras_loads_them(keras, tmp_path):
    """Keras writes the repeat once into its config: its file loads, in Keras as in Lamina, as
    the model without the repeat (Keras 3.15.1's behaviour, kept for its files)."""

    def build(k):
        d = k.layers.Dense(4, name="d")
        return k.Sequential([k.Input((4,)), k.layers.Dense(4, name="first"), d, d], name="m")

    x = np.random.default_rng(1).random((5, 4)).astype("float32")
    with keras_ref():
        build(keras).save(tmp_path / "keras.keras")
        ref = keras.models.load_model(tmp_path / "keras.keras")
        ref_names = [la.name for la in ref.layers]
        ref_pred = ref.predict(x, verbose=0)
    loaded = lamina.models.load_model(tmp_path / "keras.keras")
    assert [la.name for la in loaded.layers] == ref_names == ["first", "d"]
    # Float32 rounding: two products of random weights differ by a few ulps between the two
    # programs (a 6e-6 relative difference on a value near 0.02 was seen).
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ref_pred, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_keras_refuses_lamina_files_of_a_repeat_by_its_unique_names_rule(keras, tmp_path, ext):
    """Lamina's config lists the repeat at each position; Keras's ``Sequential.from_config``
    cannot share a layer between entries and says so (rather than loading another model)."""
    model = _twice(lamina)
    model.save(tmp_path / f"model.{ext}")
    with keras_ref(), pytest.raises(ValueError, match="should have unique names"):
        keras.models.load_model(tmp_path / f"model.{ext}")


def test_config_lists_every_position_and_from_config_shares_again():
    model = _book(lamina)
    config = model.get_config()
    names = [spec["config"]["name"] for spec in config["layers"]]
    assert config["layers"][0]["class_name"] == "InputLayer"
    assert names[1:] == ["first", "block1", "block1", "block1", "head"]
    again = lamina.Sequential.from_config(config)
    assert [la.name for la in again.layers] == ["first", "block1", "block1", "block1", "head"]
    assert again.layers[1] is again.layers[2] is again.layers[3]
    assert again.count_params() == model.count_params() == 2161


def test_clone_model_keeps_the_sharing_as_keras(keras):
    with keras_ref():
        ref = keras.models.clone_model(_twice(keras))
        ref_names = [la.name for la in ref.layers]
        ref_shared = ref.layers[0] is ref.layers[1]
        ref_count = len(ref.weights)
    model = _twice(lamina)
    clone = lamina.models.clone_model(model)
    assert [la.name for la in clone.layers] == ref_names
    assert (clone.layers[0] is clone.layers[1]) == ref_shared is True
    assert clone.layers[0] is not model.layers[0]
    assert len(clone.weights) == ref_count


def test_copies_and_pickles_keep_the_sharing():
    import copy
    import pickle

    model = _twice(lamina)
    x, _ = _data(model, n=4)
    expected = model.predict(x, verbose=0)
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model), copy.copy(model)):
        assert other.layers[0] is other.layers[1]
        assert len(other.get_weights()) == 4
        np.testing.assert_allclose(other.predict(x, verbose=0), expected, rtol=1e-6)


def test_pop_and_get_layer_follow_the_positions(keras):
    def build(k):
        d = k.layers.Dense(4, name="d")
        return k.Sequential([k.Input((4,)), d, k.layers.Dense(4, name="e"), d], name="m")

    with keras_ref():
        ref = build(keras)
        ref.pop()
        ref_after = ([la.name for la in ref.layers], len(ref.weights))
    model = build(lamina)
    assert model.get_layer(index=2) is model.get_layer("d") is model.layers[0]
    model.pop()
    assert ([la.name for la in model.layers], len(model.weights)) == ref_after
    model.pop()
    assert [la.name for la in model.layers] == ["d"] and len(model.weights) == 2


def test_two_different_layers_with_one_name_are_refused_as_in_keras(keras):
    with keras_ref(), pytest.raises(ValueError) as ref:
        keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="a"), keras.layers.Dense(4, name="a")])  # fmt: skip
    with pytest.raises(ValueError) as got:
        lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(4, name="a"), lamina.layers.Dense(4, name="a")])  # fmt: skip
    assert "All layers added to a Sequential model should have unique names" in str(ref.value)
    assert "All layers added to a Sequential model should have unique names" in str(got.value)
    assert "'a'" in str(got.value) and "name" in str(got.value)


def test_a_repeat_its_weights_do_not_fit_is_refused_when_added():
    d = lamina.layers.Dense(4, name="d")
    with pytest.raises(ValueError, match="'d'.*\\(None, 8\\).*\\(None, 4\\)"):
        lamina.Sequential([lamina.Input((8,)), d, d])
    d = lamina.layers.Dense(4, name="d")
    model = lamina.Sequential([d, d])  # no input yet: refused when the shapes are known
    with pytest.raises(ValueError, match="'d'"):
        model.build((None, 8))


def test_repeated_weightless_layers_and_regularizers():
    """A weightless layer may repeat on any shape; a weight regularizer counts once, an
    activity regularizer at every use (Keras lists three losses here)."""
    act = lamina.layers.Activation("relu", name="act")
    model = lamina.Sequential([lamina.Input((8,)), act, lamina.layers.Dense(4), act])
    assert model.output_shape == (None, 4)
    d = lamina.layers.Dense(4, name="d", kernel_regularizer="l2", activity_regularizer="l1")
    model = lamina.Sequential([lamina.Input((4,)), d, d])
    model(np.ones((2, 4), "float32"))
    assert len(model.losses) == 3
