"""TextVectorization against Keras 3's rules.

Keras 3.15's TextVectorization needs TensorFlow (absent here): outputs are compared with real
Keras when TensorFlow is importable, and always with an independent statement of Keras's rules
(ASCII lowercasing, its punctuation class, whitespace split, ngrams, count/tie order, idf).
"""

import importlib.util
import math
import re
import string
from collections import Counter

import numpy as np
import pytest

from lamina.layers import TextVectorization
from tests.helpers import keras_ref

HAS_TF = importlib.util.find_spec("tensorflow") is not None
CORPUS = np.array(
    [
        "The quick brown fox.",
        "the LAZY dog, the end!",
        "Quick: the fox's den",
        "Ünïcode stays Ünïcode",
        "a  b\tc",
    ]
)
QUERY = np.array([["the fox ate a dog"], ["unknown words only"], ["Quick quick QUICK"]])


def _tokens(text, ngrams=None):
    text = text.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))
    text = "".join(c for c in text if c not in string.punctuation)
    toks = text.split()
    if ngrams is None:
        return toks
    out = []
    for w in range(1, ngrams + 1):
        out += [" ".join(toks[i : i + w]) for i in range(len(toks) - w + 1)]
    return out


def _vocab(ngrams=None, max_tokens=None, special=2):
    docs = [_tokens(t, ngrams) for t in CORPUS]
    counts = Counter(t for d in docs for t in d)
    vocab = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
    return vocab[: max_tokens - special] if max_tokens else vocab, docs


@pytest.mark.parametrize("ngrams", [None, 2])
def test_adapt_vocabulary_and_int_output(ngrams):
    layer = TextVectorization(ngrams=ngrams, output_sequence_length=6)
    layer.adapt(CORPUS)
    vocab, _ = _vocab(ngrams)
    assert layer.get_vocabulary() == ["", "[UNK]", *vocab]
    ids = {t: i + 2 for i, t in enumerate(vocab)}
    want = np.zeros((3, 6), np.int64)
    for r, (text,) in enumerate(QUERY):
        row = [ids.get(t, 1) for t in _tokens(text, ngrams)][:6]
        want[r, : len(row)] = row
    np.testing.assert_array_equal(np.asarray(layer(QUERY)), want)
    if HAS_TF:
        import keras

        with keras_ref():
            k = keras.layers.TextVectorization(ngrams=ngrams, output_sequence_length=6)
            k.adapt(CORPUS)
            assert layer.get_vocabulary() == k.get_vocabulary()
            np.testing.assert_array_equal(np.asarray(layer(QUERY)), np.asarray(k(QUERY)))


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_bag_of_words_modes(mode):
    layer = TextVectorization(output_mode=mode, max_tokens=8, pad_to_max_tokens=True)
    layer.adapt(CORPUS)
    # Keras's encoded modes keep no column for the mask token: OOV is column 0, then the
    # vocabulary (IndexLookup._oov_start_index is 1 only for output_mode="int").
    vocab, docs = _vocab(max_tokens=8, special=1)
    assert layer.get_vocabulary() == ["[UNK]", *vocab]
    ids = {t: i + 1 for i, t in enumerate(vocab)}
    want = np.zeros((3, 8), np.float32)
    for r, (text,) in enumerate(QUERY):
        for t in _tokens(text):
            want[r, ids.get(t, 0)] += 1
    if mode == "multi_hot":
        want = np.minimum(want, 1)
    if mode == "tf_idf":
        df = Counter(t for d in docs for t in set(d))
        idf = [math.log(1 + len(docs) / (1 + df[t])) for t in vocab]
        want = want * np.array([np.mean(idf), *idf], np.float32)
    np.testing.assert_allclose(np.asarray(layer(QUERY)), want, rtol=1e-6)
    if HAS_TF:
        import keras

        with keras_ref():
            k = keras.layers.TextVectorization(
                output_mode=mode, max_tokens=8, pad_to_max_tokens=True
            )
            k.adapt(CORPUS)
            np.testing.assert_allclose(np.asarray(layer(QUERY)), np.asarray(k(QUERY)), rtol=1e-6)


def test_keras_docstring_examples():
    # The two examples of Keras 3.15's TextVectorization docstring.
    layer = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert np.asarray(layer([["foo qux bar"], ["qux baz"]])).tolist() == [
        [4, 1, 3, 0],
        [1, 2, 0, 0],
    ]
    fixed = TextVectorization(vocabulary=["earth", "wind", "and", "fire"], output_sequence_length=4)
    assert fixed.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]


def test_standardize_split_options_and_config():
    layer = TextVectorization(standardize="lower", split="character", vocabulary=list("ab,"))
    assert np.asarray(layer(np.array(["A,b", "bz"]))).tolist() == [[2, 4, 3], [3, 1, 0]]
    custom = TextVectorization(
        standardize=lambda x: np.char.replace(x.astype(str), "-", " "),
        split=lambda s: re.split(r"\s+", s.strip()),
        vocabulary=["x", "y"],
    )
    assert np.asarray(custom(np.array(["x-y  z"]))).tolist() == [[2, 3, 1]]
    none = TextVectorization(standardize=None, split=None, vocabulary=["Hello, World"])
    assert np.asarray(none(np.array(["Hello, World", "hello"]))).tolist() == [[2], [1]]
    adapted = TextVectorization(output_sequence_length=3)
    adapted.adapt(CORPUS)
    clone = TextVectorization.from_config(adapted.get_config())
    assert clone.get_vocabulary() == adapted.get_vocabulary()
    np.testing.assert_array_equal(np.asarray(clone(QUERY)), np.asarray(adapted(QUERY)))


def test_errors():
    with pytest.raises(ValueError, match="output_sequence_length"):
        TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="output_mode"):
        TextVectorization(output_mode="one_hot")
    with pytest.raises(ValueError, match="last shape dimension must be 1"):
        TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="ngrams"):
        TextVectorization(ngrams="2")


def test_assets_round_trip(tmp_path):
    layer = TextVectorization()
    layer.adapt(CORPUS)
    layer.save_assets(str(tmp_path))
    lines = (tmp_path / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    assert lines == layer.get_vocabulary()  # Keras's format: one token a line, "" first
    fresh = TextVectorization()
    fresh.load_assets(str(tmp_path))
    assert fresh.get_vocabulary() == layer.get_vocabulary()


def test_tensorflow_2_3_output_mode_spellings_mean_keras_3s():
    """Old tutorials write ``output_mode="tf-idf"`` / ``"binary"`` (TensorFlow 2.3-2.5)."""
    import numpy as np

    from lamina import layers

    texts = ["The Brain is wider than the Sky", "For put them side by side"]
    probe = ["The Brain is deeper than the sea"]
    for old, new in (("tf-idf", "tf_idf"), ("binary", "multi_hot")):
        a = layers.TextVectorization(output_mode=old, ngrams=2)
        b = layers.TextVectorization(output_mode=new, ngrams=2)
        a.adapt(texts)
        b.adapt(texts)
        assert a.output_mode == new
        np.testing.assert_allclose(np.asarray(a(probe)), np.asarray(b(probe)))
        lookup = layers.StringLookup(output_mode=old)
        lookup.adapt(np.array(["a", "b", "a"]))
        assert lookup.output_mode == new
