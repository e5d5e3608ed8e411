"""Keras's word-index processing shared by IMDB and Reuters (``start_char``, ``oov_char``,
``index_from``, ``num_words``, ``skip_top``, ``maxlen``), applied to real or stand-in data.

Keras runs these steps as Python list comprehensions; here they run on a ragged pair
``(flat int64 words, lengths)`` with the same results, ten times faster.
"""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np

from lamina.datasets import _files, _standin


def keras1_nb_words(data_set: str):
    """Decorates a ``load_data`` to read Keras 1's ``nb_words=`` as ``num_words=``, with a
    warning, as Keras 2 did (Keras 3 ignores it, keeping every word, or refuses it).  The
    signature shown stays Keras 3's."""

    def decorate(load_data):
        @functools.wraps(load_data)
        def wrapper(*args, **kwargs):
            if "nb_words" in kwargs:
                warnings.warn(
                    f"{data_set}.load_data(nb_words=...) is the Keras 1 spelling; Lamina "
                    "translates it as Keras 2 did. Use num_words=... instead.",
                    UserWarning,
                    stacklevel=2,
                )
                kwargs["num_words"] = kwargs.pop("nb_words")
            return load_data(*args, **kwargs)

        return wrapper

    return decorate


def ragged(seqs) -> tuple[np.ndarray, np.ndarray]:
    """``(flat, lengths)`` of a sequence of int lists."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if not lengths.sum():
        return np.zeros(0, np.int64), lengths
    return np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs if len(s)]), lengths


def _starts(lengths):
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def take(flat, lengths, indices):
    """The sequences ``indices`` (in that order) as a ragged pair."""
    lens = lengths[indices]
    src = np.repeat(_starts(lengths)[indices] - _starts(lens), lens) + np.arange(lens.sum())
    return flat[src], lens


def shift(flat, lengths, start_char, index_from):
    """Adds ``index_from`` to every word and prepends ``start_char`` (Keras's order)."""
    if start_char is None:
        return (flat + index_from if index_from else flat), lengths
    flat = flat + index_from
    new_lengths = lengths + 1
    out = np.empty(flat.size + lengths.size, np.int64)
    firsts = _starts(new_lengths)
    is_first = np.zeros(out.size, bool)
    is_first[firsts] = True
    out[firsts] = start_char
    out[~is_first] = flat
    return out, new_lengths


def remove_long(maxlen, flat, lengths, labels):
    """Keeps the sequences shorter than ``maxlen`` (Keras's ``remove_long_seq``)."""
    keep = np.flatnonzero(lengths < maxlen)
    flat, lengths = take(flat, lengths, keep)
    return flat, lengths, np.asarray(labels)[keep]


def limit_words(flat, lengths, num_words, skip_top, oov_char):
    """Keras's vocabulary cut: words outside ``[skip_top, num_words)`` become ``oov_char``
    (or are dropped when ``oov_char`` is ``None``)."""
    if not num_words:
        num_words = int(flat.max())
    inside = (flat >= skip_top) & (flat < num_words)
    if oov_char is not None:
        return np.where(inside, flat, oov_char), lengths
    owner = np.repeat(np.arange(lengths.size), lengths)
    return flat[inside], np.bincount(owner[inside], minlength=lengths.size).astype(np.int64)


def to_object_array(flat, lengths) -> np.ndarray:
    """An object array of Python int lists, as Keras returns."""
    words = flat.tolist()
    ends = np.cumsum(lengths).tolist()
    out = np.empty(lengths.size, dtype=object)
    out[:] = [words[e - k : e] for e, k in zip(ends, lengths.tolist(), strict=True)]
    return out


def word_index(dataset: str, path, vocab: int) -> dict:
    """The cached ``*_word_index.json`` or, without it, the stand-in vocabulary."""
    found = _files.find(path)
    if found is not None:
        with open(found) as f:
            return json.load(f)
    _files.warn_standin(
        f"{dataset}.get_word_index", _files.expected_path(path), f"{_files.ORIGIN}{path}"
    )
    return _standin.word_index(vocab)
