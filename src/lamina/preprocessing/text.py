"""Keras 2's ``keras.preprocessing.text``: ``Tokenizer``, ``one_hot``, ``hashing_trick``.

Word indices follow Keras 2 exactly: index 0 is never a word, the ``oov_token`` (if any) is 1,
then words by decreasing count (ties in first-seen order); ``num_words`` keeps only indices
below it when converting.  ``to_json``/``tokenizer_from_json`` round-trip the vocabulary in
Keras 2's JSON layout.

>>> from lamina.preprocessing.text import Tokenizer
>>> tok = Tokenizer(oov_token="<unk>")
>>> tok.fit_on_texts(["the cat sat", "the dog"])
>>> tok.word_index["the"], tok.texts_to_sequences(["the bird sat"])
(2, [[2, 1, 4]])
"""

from __future__ import annotations

import collections
import json
import warnings

import numpy as np

# The word functions live in text_words; ``name as name`` keeps them importable from here.
from lamina.preprocessing.text_words import DEFAULT_FILTERS as DEFAULT_FILTERS
from lamina.preprocessing.text_words import base_filter as base_filter
from lamina.preprocessing.text_words import hashing_trick as hashing_trick
from lamina.preprocessing.text_words import one_hot as one_hot
from lamina.preprocessing.text_words import (
    text_to_word_sequence as text_to_word_sequence,
)

__all__ = [
    "Tokenizer",
    "base_filter",
    "hashing_trick",
    "one_hot",
    "text_to_word_sequence",
    "tokenizer_from_json",
]


class Tokenizer:
    """Builds a word (or character) vocabulary and turns texts into index sequences or matrices.

    Args:
        num_words: keep only the ``num_words - 1`` most frequent words when converting
            (``None``: all).
        filters: characters removed from texts.
        lower: lower-case texts.
        split: the word separator.
        char_level: treat each character as a token.
        oov_token: a token given index 1 and used for unknown (or dropped) words.
        analyzer: a function text -> tokens replacing the built-in splitting.
        **kwargs: ``nb_words`` (Keras 1's name for ``num_words``) and ``document_count``.

    Attributes:
        word_counts: ``OrderedDict`` word -> occurrences.
        word_docs: word -> number of texts containing it.
        word_index / index_word: the vocabulary and its inverse.
        index_docs: index -> number of texts containing it.
        document_count: texts (and sequences) seen.

    Raises:
        TypeError: for an unknown keyword argument.

    >>> tok = Tokenizer(num_words=3)
    >>> tok.fit_on_texts(["a a b c", "a b"])
    >>> tok.texts_to_sequences(["a b c"]), tok.texts_to_matrix(["a b c"]).tolist()
    ([[1, 2]], [[0.0, 1.0, 1.0]])
    """

    def __init__(
        self,
        num_words=None,
        filters=DEFAULT_FILTERS,
        lower=True,
        split=" ",
        char_level=False,
        oov_token=None,
        analyzer=None,
        **kwargs,
    ):
        if "nb_words" in kwargs:
            warnings.warn("Tokenizer: `nb_words` was renamed `num_words`.", stacklevel=2)
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError(
                f"Tokenizer got unexpected keyword arguments {sorted(kwargs)}. Expected: "
                f"num_words, filters, lower, split, char_level, oov_token, analyzer."
            )
        if num_words is not None and (
            isinstance(num_words, bool) or not isinstance(num_words, int | np.integer)
        ):
            raise TypeError(f"num_words must be an integer or None. Received: {num_words!r}.")
        self.word_counts = collections.OrderedDict()
        self.word_docs = collections.defaultdict(int)
        self.index_docs = collections.defaultdict(int)
        self.word_index, self.index_word = {}, {}
        self.filters, self.split, self.lower = filters, split, lower
        self.num_words, self.document_count = num_words, document_count
        self.char_level, self.oov_token, self.analyzer = char_level, oov_token, analyzer

    def _tokens(self, text):
        # A list is taken as already tokenized; char_level iterates over the string.
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return text
        if self.analyzer is not None:
            return self.analyzer(text)
        if not isinstance(text, str):
            raise TypeError(
                f"Tokenizer expects texts as strings (or lists of tokens). Received an item of "
                f"type {type(text).__name__}: {text!r}."
            )
        return text_to_word_sequence(text, filters=self.filters, lower=self.lower, split=self.split)

    def _check_texts(self, texts, method):
        if isinstance(texts, str):
            # Keras 2 iterates over the characters of a lone string; keep that, but say so.
            warnings.warn(
                f"{method} received a single string, so each character is taken as a text. "
                f"Pass a list of texts: {method}([text]).",
                stacklevel=3,
            )

    def fit_on_texts(self, texts):
        """Updates the vocabulary from a list of texts (or of token lists).

        Args:
            texts: an iterable of strings or lists of tokens.
        """
        self._check_texts(texts, "fit_on_texts")
        for text in texts:
            self.document_count += 1
            tokens = self._tokens(text)
            for w in tokens:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(tokens):
                self.word_docs[w] += 1
        # sorted() is stable: words with equal counts keep their first-seen order.
        ranked = sorted(self.word_counts.items(), key=lambda wc: wc[1], reverse=True)
        vocab = ([] if self.oov_token is None else [self.oov_token]) + [w for w, _ in ranked]
        self.word_index = {w: i for i, w in enumerate(vocab, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        for w, c in list(self.word_docs.items()):
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences):
        """Updates the document counts (for ``'tfidf'``) from index sequences.

        Args:
            sequences: an iterable of lists of word indices.
        """
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts):
        """Converts texts to lists of word indices.

        Args:
            texts: an iterable of strings (or token lists).

        Returns:
            A list of lists of integers.
        """
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        """Yields the index sequence of each text (see ``texts_to_sequences``)."""
        self._check_texts(texts, "texts_to_sequences")
        oov = self.word_index.get(self.oov_token)
        for text in texts:
            seq = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None and not (self.num_words and i >= self.num_words):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            yield seq

    def sequences_to_texts(self, sequences):
        """Converts index sequences back to space-joined texts.

        Args:
            sequences: an iterable of lists of word indices.

        Returns:
            A list of strings.
        """
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences):
        """Yields the text of each index sequence (see ``sequences_to_texts``)."""
        oov = self.word_index.get(self.oov_token)
        for seq in sequences:
            words = []
            for i in seq:
                w = self.index_word.get(i)
                if w is not None and not (self.num_words and i >= self.num_words):
                    words.append(w)
                elif self.oov_token is not None and oov is not None:
                    words.append(self.index_word[oov])
            yield " ".join(words)

    def texts_to_matrix(self, texts, mode="binary"):
        """``sequences_to_matrix(texts_to_sequences(texts), mode)``."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """Bag-of-words matrix of shape ``(len(sequences), num_words)``.

        Args:
            sequences: lists of word indices.
            mode: ``'binary'`` (presence), ``'count'``, ``'freq'`` (count / length) or
                ``'tfidf'`` (``(1 + log count) * log(1 + docs / (1 + docs containing it))``).

        Returns:
            A float64 array; indices ``>= num_words`` are ignored.

        Raises:
            ValueError: for an unknown mode, no ``num_words`` and no vocabulary, or
                ``'tfidf'`` before any fit.
        """
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError(
                f"Unknown vectorization mode {mode!r}. Expected 'binary', 'count', 'freq' or "
                f"'tfidf'."
            )
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError(
                "Tokenizer has no vocabulary size: pass num_words=... or call fit_on_texts first."
            )
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using mode='tfidf'.")
        out = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            if not len(seq):
                continue
            counts = collections.Counter(j for j in seq if j < width)
            for j, c in counts.items():
                if mode == "count":
                    out[row, j] = c
                elif mode == "freq":
                    out[row, j] = c / len(seq)
                elif mode == "binary":
                    out[row, j] = 1
                else:
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    out[row, j] = (1 + np.log(c)) * idf
        return out

    def get_config(self):
        """Returns the settings and the vocabulary (dictionaries as JSON strings), as Keras 2."""
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs):
        """Returns the tokenizer as a JSON string (read back with ``tokenizer_from_json``).

        Args:
            **kwargs: passed to ``json.dumps``.
        """
        return json.dumps(
            {"class_name": type(self).__name__, "config": self.get_config()}, **kwargs
        )


def tokenizer_from_json(json_string):
    """Rebuilds a ``Tokenizer`` from ``Tokenizer.to_json()`` (also Keras 2's files).

    Args:
        json_string: the JSON text.

    Returns:
        A ``Tokenizer``.

    Raises:
        ValueError: if the text is not a tokenizer's JSON.

    >>> tok = Tokenizer()
    >>> tok.fit_on_texts(["a b b"])
    >>> tokenizer_from_json(tok.to_json()).word_index
    {'b': 1, 'a': 2}
    """
    try:
        config = dict(json.loads(json_string)["config"])
        tables = {
            k: json.loads(config.pop(k))
            for k in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")
        }
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"Not a Tokenizer JSON string (expected the output of Tokenizer.to_json()): {e}"
        ) from e
    tokenizer = Tokenizer(**config)
    # JSON object keys are strings; the index tables are keyed by integers.
    tokenizer.word_counts = collections.OrderedDict(tables["word_counts"])
    tokenizer.word_docs = collections.defaultdict(int, tables["word_docs"])
    tokenizer.index_docs = collections.defaultdict(
        int, {int(k): v for k, v in tables["index_docs"].items()}
    )
    tokenizer.index_word = {int(k): v for k, v in tables["index_word"].items()}
    tokenizer.word_index = tables["word_index"]
    return tokenizer
