"""lamina.preprocessing.text against tf-keras's code (kept in Keras 3 as
keras.src.legacy.preprocessing.text)."""

import json
import warnings

import numpy as np
import pytest

from lamina.preprocessing import text as ltext


@pytest.fixture(scope="module")
def K():
    pytest.importorskip("keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from keras.src.legacy.preprocessing import text

    return text


CORPUS = [
    "The cat sat on the mat.",
    "The dog ate my homework!!",
    "Cats and dogs; dogs and cats?",
    "A\tTAB\nnewline -- and punctuation: (yes) [no] {maybe}",
    "",
    "the the the end",
]
NEW = ["the unicorn sat", "dogs dogs cats", "", "mat homework zebra"]


def test_text_to_word_sequence_matches(K):
    for text in CORPUS + ["Hello,World", "UPPER lower", "x--y"]:
        for kw in (dict(), dict(lower=False), dict(split=","), dict(filters="")):
            assert ltext.text_to_word_sequence(text, **kw) == K.text_to_word_sequence(text, **kw)


def _tokenizer_state(tok):
    return (dict(tok.word_counts), dict(tok.word_docs), dict(tok.index_docs), tok.word_index,
            tok.index_word, tok.document_count)


TOKENIZER_CASES = [
    dict(),
    dict(num_words=5),
    dict(oov_token="<OOV>"),
    dict(num_words=4, oov_token="<OOV>"),
    dict(char_level=True),
    dict(lower=False, filters=""),
    dict(split=",", filters="."),
]


@pytest.mark.parametrize("kwargs", TOKENIZER_CASES)
def test_tokenizer_matches_keras2(K, kwargs):
    ours, ref = ltext.Tokenizer(**kwargs), K.Tokenizer(**kwargs)
    ours.fit_on_texts(CORPUS)
    ref.fit_on_texts(CORPUS)
    assert _tokenizer_state(ours) == _tokenizer_state(ref)
    assert list(ours.word_counts) == list(ref.word_counts)
    assert ours.texts_to_sequences(NEW + CORPUS) == ref.texts_to_sequences(NEW + CORPUS)
    seqs = ref.texts_to_sequences(NEW) + [[1, 2, 99], []]
    assert ours.sequences_to_texts(seqs) == ref.sequences_to_texts(seqs)
    for mode in ("binary", "count", "freq", "tfidf"):
        np.testing.assert_allclose(ours.texts_to_matrix(NEW, mode=mode),
                                   ref.texts_to_matrix(NEW, mode=mode))


def test_tokenizer_on_token_lists_and_sequences(K):
    docs = [["Alpha", "beta"], ["beta", "gamma", "beta"]]
    ours, ref = ltext.Tokenizer(), K.Tokenizer()
    ours.fit_on_texts(docs)
    ref.fit_on_texts(docs)
    assert ours.word_index == ref.word_index == {"beta": 1, "alpha": 2, "gamma": 3}
    ours.fit_on_sequences([[1, 2], [2, 2, 3]])
    ref.fit_on_sequences([[1, 2], [2, 2, 3]])
    assert _tokenizer_state(ours) == _tokenizer_state(ref)
    np.testing.assert_allclose(ours.sequences_to_matrix([[1, 1, 3]], mode="tfidf"),
                               ref.sequences_to_matrix([[1, 1, 3]], mode="tfidf"))


def test_tfidf_formula_by_hand():
    tok = ltext.Tokenizer()
    tok.fit_on_texts(["a b", "a c", "a"])
    row = tok.texts_to_matrix(["a a b"], mode="tfidf")[0]
    a, b = tok.word_index["a"], tok.word_index["b"]
    assert row[a] == pytest.approx((1 + np.log(2)) * np.log(1 + 3 / (1 + 3)))
    assert row[b] == pytest.approx(np.log(1 + 3 / (1 + 1)))
    assert tok.texts_to_matrix(["a a b"], mode="freq")[0][a] == pytest.approx(2 / 3)


def test_json_round_trips_both_ways(K):
    ours = ltext.Tokenizer(num_words=6, oov_token="?")
    ours.fit_on_texts(CORPUS)
    back = ltext.tokenizer_from_json(ours.to_json())
    assert _tokenizer_state(back) == _tokenizer_state(ours)
    assert back.texts_to_sequences(NEW) == ours.texts_to_sequences(NEW)
    np.testing.assert_allclose(back.texts_to_matrix(NEW, mode="tfidf"),
                               ours.texts_to_matrix(NEW, mode="tfidf"))
    # A Keras 2 tokenizer file loads here, and ours loads in Keras 2.
    ref = K.Tokenizer(num_words=6, oov_token="?")
    ref.fit_on_texts(CORPUS)
    assert ltext.tokenizer_from_json(ref.to_json()).texts_to_sequences(NEW) == \
        ref.texts_to_sequences(NEW)
    assert K.tokenizer_from_json(ours.to_json()).texts_to_sequences(NEW) == \
        ref.texts_to_sequences(NEW)
    assert json.loads(ours.to_json())["class_name"] == "Tokenizer"
    # A loaded tokenizer keeps learning like a fresh one.
    back.fit_on_texts(["zebra zebra"])
    ours.fit_on_texts(["zebra zebra"])
    assert back.word_index == ours.word_index


def test_hashing_trick_and_one_hot(K):
    for text in CORPUS:
        for n in (2, 7, 1000):
            assert ltext.hashing_trick(text, n, hash_function="md5") == K.hashing_trick(
                text, n, hash_function="md5")
            assert ltext.one_hot(text, n) == K.one_hot(text, n)
            got = ltext.hashing_trick(text, n, hash_function=len)
            assert got == K.hashing_trick(text, n, hash_function=len)
            assert all(1 <= i < n for i in got)


def test_text_errors_and_warnings():
    with pytest.raises(ValueError, match="vectorization mode"):
        ltext.Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="onehot")
    with pytest.raises(ValueError, match="num_words"):
        ltext.Tokenizer().sequences_to_matrix([[1]])
    with pytest.raises(ValueError, match="tfidf"):
        ltext.Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ltext.Tokenizer(num_word=3)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        ltext.hashing_trick("a", 1)
    with pytest.raises(TypeError, match="input_text must be a string"):
        ltext.text_to_word_sequence(b"bytes")
    with pytest.raises(TypeError, match="strings"):
        ltext.Tokenizer().fit_on_texts([3.5])
    with pytest.warns(UserWarning, match="renamed `num_words`"):
        assert ltext.Tokenizer(nb_words=9).num_words == 9
    with pytest.warns(UserWarning, match="single string"):
        ltext.Tokenizer().fit_on_texts("abc")
    with pytest.raises(ValueError, match="Tokenizer JSON"):
        ltext.tokenizer_from_json('{"config": {}}')


def test_keras1_base_filter():
    import string

    assert ltext.base_filter() == string.punctuation.replace("'", "") + "\t\n"
