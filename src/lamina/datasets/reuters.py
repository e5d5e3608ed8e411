"""Reuters newswire topics (``keras.datasets.reuters``).

Reads ``reuters.npz`` and ``reuters_word_index.json`` from Keras's cache
(``$KERAS_HOME/datasets``); without them, returns learnable stand-in newswires with a one-time
``UserWarning`` saying where to place the real files.

>>> import warnings
>>> from lamina.datasets import reuters
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=10000)
>>> x_train.shape, x_test.shape, len(reuters.get_label_names())
((8982,), (2246,), 46)
"""

from __future__ import annotations

import numpy as np

from lamina.datasets import _files, _sequences, _standin

__all__ = ["get_label_names", "get_word_index", "load_data"]

_VOCAB = 30979


@_sequences.keras1_nb_words("reuters")
def load_data(
    path="reuters.npz",
    num_words=None,
    skip_top=0,
    maxlen=None,
    test_split=0.2,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """Loads the Reuters newswire data set: 11,228 newswires labelled with 46 topics.

    Args:
        path: the file name inside Keras's cache folder.
        num_words: keep only the ``num_words`` most frequent words.
        skip_top: skip the most frequent words (they become ``oov_char``).
        maxlen: drop newswires of ``maxlen`` words or more.
        test_split: the fraction kept for the test set.
        seed: seed of the shuffle.
        start_char: the index marking the start of a newswire (``None``: none).
        oov_char: the index of cut-out words (``None``: drop them).
        index_from: the offset added to every word index.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of int lists and ``int64``
        topic labels in 0-45.

    Keras 1's ``nb_words=`` is read as ``num_words=``, as Keras 2 did.
    """
    found = _files.find(path)
    if found is not None:
        f = _files.load_npz(found)
        flat, lengths = _sequences.ragged(f["x"])
        labels = f["y"]
    else:
        _files.warn_standin("reuters", _files.expected_path(path), f"{_files.ORIGIN}reuters.npz")
        flat, lengths, labels = _standin.sequences(1987, 11228, 46, _VOCAB, 145.0, 2376)
    rng = np.random.RandomState(seed)
    indices = np.arange(len(lengths))
    rng.shuffle(indices)
    flat, lengths = _sequences.take(flat, lengths, indices)
    labels = np.asarray(labels)[indices]
    flat, lengths = _sequences.shift(flat, lengths, start_char, index_from)
    if maxlen:
        flat, lengths, labels = _sequences.remove_long(maxlen, flat, lengths, labels)
    flat, lengths = _sequences.limit_words(flat, lengths, num_words, skip_top, oov_char)
    xs = _sequences.to_object_array(flat, lengths)
    idx = int(len(xs) * (1 - test_split))
    return (xs[:idx], np.array(labels[:idx])), (xs[idx:], np.array(labels[idx:]))


def get_word_index(path="reuters_word_index.json"):
    """The ``{word: rank}`` dict of the Reuters data set (ranks start at 1)."""
    return _sequences.word_index("reuters", path, _VOCAB)


def get_label_names():
    """The 46 topic names, indexed by label (Keras's list).

    >>> get_label_names()[:3]
    ('cocoa', 'grain', 'veg-oil')
    """
    return (
        "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing",
        "money-supply", "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass",
        "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum",
        "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi",
        "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
        "dlr", "gas", "silver", "wpi", "hog", "lead",
    )  # fmt: skip
