"""String inputs reaching models: a nested lookup model on a string ``Input``, lookups inside a
traced ``call`` (a clear error), and the forms of string data ``predict`` takes.

Keras's lookup layers need TensorFlow (absent here), so the reference is the same Keras model
fed the ids the lookup gives (``a`` -> 1, ``b`` -> 2, ``c`` -> 3, anything else -> 0), with
Lamina's weights.
"""

import numpy as np
import pytest

import lamina
from lamina import layers
from tests.helpers import keras_ref

VOCAB = ["a", "b", "c"]
WORDS = np.array([["a"], ["b"], ["z"], ["c"], ["b"], ["a"]])
IDS = np.array([[1], [2], [0], [3], [2], [1]], "int32")
Y = np.array([[1.0], [0.0], [1.0], [0.0], [0.5], [1.0]], "float32")


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def _lamina_model(kind):
    lamina.utils.set_random_seed(3)
    inner = lamina.Sequential([layers.StringLookup(vocabulary=VOCAB), layers.Embedding(4, 3)])
    if kind == "sequential":
        return lamina.Sequential(
            [lamina.Input(shape=(1,), dtype="string"), inner, layers.Flatten(), layers.Dense(1)]
        )
    text = lamina.Input(shape=(1,), dtype="string")
    return lamina.Model(text, layers.Dense(1)(layers.Flatten()(inner(text))))


def _keras_model(keras, weights):
    ids = keras.Input(shape=(1,), dtype="int32")
    inner = keras.Sequential([keras.layers.Embedding(4, 3)])
    model = keras.Model(ids, keras.layers.Dense(1)(keras.layers.Flatten()(inner(ids))))
    model.set_weights(weights)
    return model


@pytest.mark.filterwarnings("ignore:evaluate")  # on the training rows, as the reference
@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_nested_lookup_model_on_a_string_input_matches_keras(keras, kind):
    model = _lamina_model(kind)
    weights = model.get_weights()
    pred = model.predict(WORDS, verbose=0)
    model.compile(optimizer=lamina.optimizers.SGD(0.1), loss="mse")
    hist = model.fit(WORDS, Y, batch_size=3, epochs=2, shuffle=False, verbose=0)
    ev = model.evaluate(WORDS, Y, verbose=0)
    with keras_ref():
        km = _keras_model(keras, weights)
        k_pred = km.predict(IDS, verbose=0)
        km.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        k_hist = km.fit(IDS, Y, batch_size=3, epochs=2, shuffle=False, verbose=0)
        k_ev = km.evaluate(IDS, Y, verbose=0)
        k_after = km.predict(IDS, verbose=0)
    _close(pred, k_pred)
    _close(hist.history["loss"], k_hist.history["loss"])
    _close(ev, k_ev)
    _close(model.predict(WORDS, verbose=0), k_after)


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_nested_lookup_model_survives_a_keras_file_round_trip(tmp_path, kind):
    model = _lamina_model(kind)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(WORDS, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = lamina.models.load_model(tmp_path / "m.keras")
    _close(loaded.predict(WORDS, verbose=0), model.predict(WORDS, verbose=0))
    nested = [la for la in loaded.layers if isinstance(la, lamina.Sequential)][0]
    assert nested.layers[0].get_vocabulary() == ["[UNK]", *VOCAB]
    assert np.isfinite(loaded.fit(WORDS, Y, epochs=1, verbose=0).history["loss"]).all()


def test_nested_functional_lookup_model_and_an_own_string_input():
    lamina.utils.set_random_seed(0)
    words = lamina.Input(shape=(1,), dtype="string")
    ids = layers.StringLookup(vocabulary=VOCAB, output_mode="one_hot")(words)
    encoder = lamina.Model(words, layers.Dense(2)(ids))
    own = lamina.Sequential(
        [lamina.Input(shape=(1,), dtype="string"), layers.StringLookup(vocabulary=VOCAB),
         layers.Embedding(4, 2), layers.Flatten()]
    )  # fmt: skip
    text = lamina.Input(shape=(1,), dtype="string")
    model = lamina.Model(text, layers.Concatenate()([encoder(text), own(text)]))
    out = model.predict(WORDS, verbose=0)
    _close(out[:, :2], encoder.predict(WORDS, verbose=0))
    _close(out[:, 2:], own.predict(WORDS, verbose=0))
    model.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(model.fit(WORDS, np.zeros((6, 4)), epochs=1, verbose=0).history["loss"])


def test_a_nested_model_without_lookups_is_still_refused_strings():
    text = lamina.Input(shape=(1,), dtype="string")
    dense = lamina.Sequential([layers.Dense(2)], name="numbers_only")
    with pytest.raises(ValueError, match="'numbers_only' .*receives the string input"):
        lamina.Model(text, dense(text))


# ------------------------------------------------------------------- lookups inside ``call``
class _Classifier(lamina.Model):
    def __init__(self, layer):
        super().__init__()
        self.lookup = layer
        self.embed = layers.Embedding(8, 2)
        self.flat = layers.Flatten()
        self.out = layers.Dense(1)

    def call(self, inputs):
        return self.out(self.flat(self.embed(self.lookup(inputs))))


class _LookupLayer(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lookup = layers.StringLookup(vocabulary=VOCAB)
        self.embed = layers.Embedding(4, 2)

    def call(self, x):
        return self.embed(self.lookup(x))


_FIX = r"traced `call`.*cannot enter a compiled JAX program.*functional model.*dataset.map"


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.StringLookup(vocabulary=VOCAB, name="words"),
        lambda: layers.TextVectorization(vocabulary=VOCAB, output_sequence_length=1, name="words"),
    ],
)
def test_a_string_layer_in_a_subclassed_call_says_how_to_fix_it(make):
    model = _Classifier(make())
    with pytest.raises(ValueError, match="'words' was called inside a " + _FIX):
        model(WORDS)
    text = lamina.Input(shape=(1,), dtype="string")
    with pytest.raises(ValueError, match=_FIX):
        _Classifier(make())(text)


def test_a_string_layer_in_a_custom_layer_call_says_how_to_fix_it():
    text = lamina.Input(shape=(1,), dtype="string")
    with pytest.raises(ValueError, match="StringLookup .*" + _FIX):
        lamina.Model(text, _LookupLayer()(text))


def test_the_fix_the_error_names_works():
    """The lookup moved into a functional model on the string ``Input``: the same classifier."""
    lamina.utils.set_random_seed(0)
    text = lamina.Input(shape=(1,), dtype="string")
    ids = layers.StringLookup(vocabulary=VOCAB)(text)
    body = _Classifier(layers.Identity())
    model = lamina.Model(text, body(ids))
    _close(model.predict(WORDS, verbose=0), body.predict(IDS, verbose=0))


# ------------------------------------------------------------------- forms of string data
def _functional_lookup_model():
    lamina.utils.set_random_seed(2)
    text = lamina.Input(shape=(1,), dtype="string", name="text")
    ids = layers.StringLookup(vocabulary=VOCAB)(text)
    return lamina.Model(text, layers.Dense(1)(layers.Flatten()(layers.Embedding(4, 2)(ids))))


@pytest.mark.parametrize(
    "data",
    [
        ["a", "b", "z", "c", "b", "a"],
        [["a"], ["b"], ["z"], ["c"], ["b"], ["a"]],
        np.array(["a", "b", "z", "c", "b", "a"], dtype=object),
        np.array([np.str_(w) for w in "abzcba"]),
        np.array([b"a", b"b", b"z", b"c", b"b", b"a"]),
        {"text": np.array(["a", "b", "z", "c", "b", "a"], dtype=object)},
    ],
    ids=["list", "nested-list", "object", "np-str", "bytes", "dict"],
)
def test_predict_takes_every_form_of_string_data_as_keras(keras, data):
    model = _functional_lookup_model()
    with keras_ref():
        ids = keras.Input(shape=(1,), dtype="int32")
        km = keras.Model(
            ids,
            keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.Embedding(4, 2)(ids))),
        )
        km.set_weights(model.get_weights())
        expected = km.predict(IDS, verbose=0)
    _close(model.predict(data, verbose=0), expected)


def test_generators_of_strings_fit_evaluate_and_predict():
    model = _functional_lookup_model()
    expected = model.predict(WORDS, verbose=0)

    def batches(with_y):
        while True:
            for i in (0, 3):
                yield (WORDS[i : i + 3], Y[i : i + 3]) if with_y else WORDS[i : i + 3]

    _close(model.predict(batches(False), steps=2, verbose=0), expected)
    model.compile(optimizer="sgd", loss="mse")
    _close(model.evaluate(batches(True), steps=2, verbose=0), model.evaluate(WORDS, Y, verbose=0))
    hist = model.fit(batches(True), steps_per_epoch=2, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["loss"]).all()


def test_hashing_in_a_subclassed_call_on_strings_says_how_to_fix_it():
    model = _Classifier(layers.Hashing(num_bins=8, name="words"))
    with pytest.raises(ValueError, match="string or integer.*given strings.*" + _FIX):
        model(WORDS)
