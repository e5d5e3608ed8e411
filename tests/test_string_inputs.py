"""String inputs in compiled models (``Input(dtype="string")``): the host prefix.

Keras 3's string layers need TensorFlow (absent here), and in Keras they run outside the jitted
step anyway, so the reference is real Keras 3 running the same network on the ids: Lamina's
model takes the text and runs its lookup / vectorizer on the host; Keras's model takes the ids
those layers give (checked against NumPy statements of the vocabulary here, and against Keras's
own layers in ``test_layers_text_vectorization.py`` / ``test_layers_lookup.py``).  Same starting
weights, ``shuffle=False``: History, evaluate and predict agree to float32 rounding.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import lamina
from lamina import layers
from lamina.utils import PyDataset
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL, ATOL = 2e-4, 2e-5
HAS_TF = importlib.util.find_spec("tensorflow") is not None

REVIEWS = np.array(
    [
        "a great movie, great acting", "terrible plot and bad acting", "great fun",
        "bad, bad, bad", "I loved it: great!", "boring and terrible", "what a great cast",
        "the worst movie", "great story and great music", "bad music, bad story",
        "loved the acting", "terrible!", "fun fun fun", "not good, boring", "a great time",
        "bad movie", "superb and great", "awful and boring", "great", "the plot was bad",
    ]
)  # fmt: skip
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], "float32")
WORDS = np.array([["red"], ["green"], ["red"], ["blue"], ["red"], ["green"], ["cyan"]] * 3)


def _allclose(a, b, what=""):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL, err_msg=what)


def _fit_both(keras, km, lm, k_x, l_x, y, *, val=None, **kw):
    """Fits both models the same way; compares History, evaluate and predict."""
    with keras_ref():
        km.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy",
                   metrics=["accuracy"])  # fmt: skip
        kh = km.fit(k_x, y, shuffle=False, verbose=0,
                    validation_data=None if val is None else (val[0], val[2]), **kw)  # fmt: skip
        k_eval = km.evaluate(k_x, y, verbose=0, batch_size=8)
        k_pred = km.predict(k_x, verbose=0, batch_size=8)
    lm.compile(optimizer=lamina.optimizers.Adam(0.05), loss="binary_crossentropy",
               metrics=["accuracy"])  # fmt: skip
    lh = lm.fit(l_x, y, shuffle=False, verbose=0,
                validation_data=None if val is None else (val[1], val[2]), **kw)  # fmt: skip
    assert list(lh.history) == list(kh.history)
    for key in kh.history:
        _allclose(lh.history[key], kh.history[key], key)
    _allclose(lm.evaluate(l_x, y, verbose=0, batch_size=8), k_eval, "evaluate")
    _allclose(lm.predict(l_x, verbose=0, batch_size=8), k_pred, "predict")
    return kh, lh


@pytest.mark.slow
def test_text_classification_from_scratch_matches_keras(keras):
    """keras.io's "text classification from scratch" pattern, the vectorizer inside the model."""
    vectorizer = layers.TextVectorization(max_tokens=20, output_mode="int",
                                          output_sequence_length=5)  # fmt: skip
    vectorizer.adapt(REVIEWS)
    vocab = vectorizer.get_vocabulary()
    assert vocab[:4] == ["", "[UNK]", "great", "bad"]  # by count: great x9, bad x8
    ids = np.asarray(vectorizer(REVIEWS))
    table = {t: i for i, t in enumerate(vocab)}
    assert ids[0].tolist() == [table["a"], 2, table["movie"], 2, table["acting"]]
    lm = lamina.Sequential(
        [lamina.Input(shape=(), dtype="string"), vectorizer, layers.Embedding(20, 4),
         layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    with keras_ref():
        km = keras.Sequential(
            [keras.Input((5,), dtype="int32"), keras.layers.Embedding(20, 4),
             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, activation="sigmoid")]
        )  # fmt: skip
    lm.set_weights(km.get_weights())
    val = (ids[:6], REVIEWS[:6], LABELS[:6])
    _fit_both(keras, km, lm, ids, REVIEWS, LABELS, val=val, batch_size=8, epochs=3)
    with keras_ref():
        k_call, k_batch = km(ids[:3]), km.predict_on_batch(ids[:4])
        k_loss = km.train_on_batch(ids[:8], LABELS[:8])
    _allclose(lm(REVIEWS[:3]), k_call, "model(x)")
    _allclose(lm.predict_on_batch(REVIEWS[:4]), k_batch, "predict_on_batch")
    _allclose(lm.train_on_batch(REVIEWS[:8], LABELS[:8]), k_loss, "train_on_batch")


@pytest.mark.slow
def test_string_lookup_embedding_with_a_numeric_input_matches_keras(keras):
    """A functional model: one string input (StringLookup -> Embedding) plus a numeric one."""
    lookup = layers.StringLookup()
    lookup.adapt(WORDS)
    # By count (red 9, green 6), ties by descending token (cyan, blue: 3 each), as Keras.
    assert lookup.get_vocabulary() == ["[UNK]", "red", "green", "cyan", "blue"]
    ids = np.asarray(lookup(WORDS))
    assert ids[:4, 0].tolist() == [1, 2, 1, 4]
    nums = np.random.default_rng(0).normal(size=(len(WORDS), 3)).astype("float32")
    y = (WORDS[:, 0] == "red").astype("float32")

    def build(lib, first, dtype):
        words, num = lib.Input((1,), dtype=dtype, name="word"), lib.Input((3,), name="num")
        emb = lib.layers.Flatten()(lib.layers.Embedding(5, 3)(first(words)))
        out = lib.layers.Dense(1, activation="sigmoid")(lib.layers.Concatenate()([emb, num]))
        return lib.Model([words, num], out)

    lm = build(lamina, lookup, "string")
    with keras_ref():
        km = build(keras, lambda t: t, "int32")
    lm.set_weights(km.get_weights())
    _fit_both(keras, km, lm, [ids, nums], [WORDS, nums], y, batch_size=4, epochs=2)
    with keras_ref():
        k_call, k_pred = km([ids, nums]), km.predict([ids, nums], verbose=0)
    _allclose(lm({"word": WORDS, "num": nums}), k_call, "model(dict)")
    # A 1-D array of words fits Input((1,)) as in Keras (the trailing axis is added).
    _allclose(lm.predict([WORDS[:, 0], nums], verbose=0), k_pred, "1-D words")


@pytest.mark.parametrize("mode", ["one_hot", pytest.param("multi_hot", marks=pytest.mark.slow)])
def test_string_lookup_encodings_into_dense_match_keras(keras, mode):
    vocab = ["red", "green", "blue"]
    lookup = layers.StringLookup(vocabulary=vocab, output_mode=mode)
    width = 1 if mode == "one_hot" else 2
    x = WORDS if mode == "one_hot" else np.concatenate([WORDS, WORDS[::-1]], axis=1)
    index = {"red": 1, "green": 2, "blue": 3}
    encoded = np.zeros((len(x), 4), "float32")  # NumPy statement: OOV ("cyan") is index 0
    for r, row in enumerate(x):
        for w in row:
            encoded[r, index.get(w, 0)] = 1.0
    np.testing.assert_array_equal(np.asarray(lookup(x)), encoded)
    y = (x[:, 0] == "green").astype("float32")
    lm = lamina.Sequential(
        [lamina.Input((width,), dtype="string"), lookup, layers.Dense(1, activation="sigmoid")]
    )
    with keras_ref():
        km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    lm.set_weights(km.get_weights())
    val = (encoded[:6], x[:6], y[:6])
    _fit_both(keras, km, lm, encoded, x, y, val=val, batch_size=5, epochs=2)


class _Reviews(PyDataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        return REVIEWS[i * 7 : (i + 1) * 7], LABELS[i * 7 : (i + 1) * 7]


@pytest.mark.parametrize("kind", ["generator", pytest.param("pydataset", marks=pytest.mark.slow)])
def test_streamed_string_batches_match_keras_on_the_ids(keras, kind):
    vectorizer = layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorizer.adapt(REVIEWS)
    ids = np.asarray(vectorizer(REVIEWS))
    lm = lamina.Sequential(
        [lamina.Input(shape=(), dtype="string"), vectorizer, layers.Embedding(20, 4),
         layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")]
    )  # fmt: skip
    with keras_ref():
        km = keras.Sequential(
            [keras.Input((5,)), keras.layers.Embedding(20, 4),
             keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, activation="sigmoid")]
        )  # fmt: skip
        lm.set_weights(km.get_weights())
        km.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
        kh = km.fit(ids, LABELS, batch_size=7, epochs=2, shuffle=False, verbose=0)
        k_pred = km.predict(ids, verbose=0)
    lm.compile(optimizer=lamina.optimizers.SGD(0.5), loss="binary_crossentropy")
    losses = []
    for _ in range(2):
        ds = _Reviews()
        data = ds if kind == "pydataset" else (ds[i] for i in range(len(ds)))
        losses += lm.fit(data, epochs=1, shuffle=False, verbose=0).history["loss"]
    _allclose(losses, kh.history["loss"], "loss")
    batches = (REVIEWS[i : i + 7] for i in range(0, 20, 7))
    _allclose(lm.predict(batches, verbose=0), k_pred, "streamed predict")


def test_sequential_string_lookup_keeps_its_input_dtype_through_save_and_load(tmp_path):
    lookup = layers.StringLookup()
    lookup.adapt(WORDS)
    model = lamina.Sequential(
        [lamina.Input((1,), dtype="string"), lookup, layers.Embedding(5, 2), layers.Flatten(),
         layers.Dense(1)]
    )  # fmt: skip
    assert model.get_config()["layers"][0]["config"]["dtype"] == "string"
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.get_config()["layers"][0]["config"]["dtype"] == "string"
    np.testing.assert_array_equal(loaded.predict(WORDS, verbose=0), model.predict(WORDS, verbose=0))


@pytest.mark.slow
def test_functional_text_model_round_trips_and_trains_after_loading(tmp_path):
    vectorizer = layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorizer.adapt(REVIEWS)
    text = lamina.Input(shape=(), dtype="string")
    pooled = layers.GlobalAveragePooling1D()(layers.Embedding(20, 4)(vectorizer(text)))
    model = lamina.Model(text, layers.Dense(1, activation="sigmoid")(pooled))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(REVIEWS, LABELS, epochs=1, verbose=0)
    path = tmp_path / "f.keras"
    model.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.inputs[0].dtype == "string"
    np.testing.assert_array_equal(
        loaded.predict(REVIEWS, verbose=0), model.predict(REVIEWS, verbose=0)
    )
    history = loaded.fit(REVIEWS, LABELS, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and len(history.history["loss"]) == 2


def test_real_keras_model_with_a_string_input_loads_and_predicts_the_same(tmp_path):
    """Needs TensorFlow: Keras's lookup layers run on ``tf.lookup`` whatever the backend."""
    pytest.importorskip("tensorflow")
    import keras

    with keras_ref():
        lookup = keras.layers.StringLookup()
        lookup.adapt(WORDS)
        km = keras.Sequential(
            [keras.Input((1,), dtype="string"), lookup, keras.layers.Embedding(5, 2),
             keras.layers.Flatten(), keras.layers.Dense(1)]
        )  # fmt: skip
        k_pred = np.asarray(km.predict(WORDS, verbose=0))
        km.save(tmp_path / "k.keras")
    loaded = lamina.models.load_model(tmp_path / "k.keras")
    _allclose(loaded.predict(WORDS, verbose=0), k_pred)


def test_a_layer_that_cannot_run_on_the_host_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"Layer 'dense_on_text' \(Dense\) receives the model's"):
        lamina.Sequential(
            [lamina.Input((1,), dtype="string"), layers.Dense(2, name="dense_on_text")]
        )
    text = lamina.Input((1,), dtype="string", name="text")
    with pytest.raises(ValueError, match="receives the string input 'text'.*data pipeline"):
        lamina.Model(text, layers.Dense(2, name="dense_f")(text))
    inverted = layers.StringLookup(vocabulary=["a"], invert=True)
    ids = lamina.Input((1,))
    strings = inverted(ids)  # numbers in, strings out: fine while no layer takes the strings
    with pytest.raises(ValueError, match="Layer 'flat' .* the string input 'text'"):
        lamina.Model(text, layers.Flatten(name="flat")(text))
    assert strings is not None


def test_wrong_data_for_a_string_input_says_what_it_expects():
    lookup = layers.StringLookup(vocabulary=["red", "green"])
    model = lamina.Sequential(
        [lamina.Input((1,), dtype="string"), lookup, layers.Embedding(3, 2), layers.Flatten()]
    )
    with pytest.raises(TypeError, match="feeds a string input .* float32 values"):
        model.predict(np.zeros((2, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"has shape \(2, 3\), but the string input expects"):
        model.predict(np.array([["red"] * 3] * 2), verbose=0)


def test_copies_keep_the_string_input_and_hashing_feeds_dense():
    import pickle

    hashing = layers.Hashing(num_bins=4, output_mode="one_hot")
    model = lamina.Sequential([lamina.Input((1,), dtype="string"), hashing, layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    y = (WORDS[:, 0] == "red").astype("float32")
    model.fit(WORDS, y, epochs=1, verbose=0, validation_split=0.25)
    kernel, bias = model.get_weights()
    want = np.asarray(hashing(WORDS)) @ kernel + bias  # NumPy: the dense layer on the bins
    _allclose(model.predict(WORDS, verbose=0), want)
    for copy in (pickle.loads(pickle.dumps(model)), lamina.models.clone_model(model)):
        assert copy.get_config()["layers"][0]["config"]["dtype"] == "string"
        assert copy.predict(WORDS, verbose=0).shape == (len(WORDS), 1)


def test_a_model_without_a_string_input_says_how_to_take_text():
    # (A model whose first layer is a string layer learns a string input from the text:
    # tests/test_string_inputs_deferred.py.)
    model = lamina.Sequential([layers.Dense(2)])
    with pytest.raises(TypeError, match=r"Input\(dtype='string'\) followed by an adapted"):
        model.predict(WORDS, verbose=0)
