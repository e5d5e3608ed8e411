"""IMDB movie-review sentiment (``keras.datasets.imdb``).

Reads ``imdb.npz`` and ``imdb_word_index.json`` from Keras's cache
(``$KERAS_HOME/datasets``); without them, returns learnable stand-in reviews (Zipf-distributed
word ranks, each sentiment favouring its own words) with a one-time ``UserWarning`` saying
where to place the real files.  The object arrays inside ``imdb.npz`` are read without
running code (see :mod:`lamina.datasets._files`).

>>> import warnings
>>> from lamina.datasets import imdb
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)
>>> x_train.shape, x_train.dtype, x_train[0][0], max(max(s) for s in x_train) < 10000
((25000,), dtype('O'), 1, True)
"""

from __future__ import annotations

import numpy as np

from lamina.datasets import _files, _sequences, _standin

__all__ = ["get_word_index", "load_data"]

_VOCAB = 88584


def _raw(path):
    """``[(flat, lengths, labels) for train, test]`` before Keras's processing."""
    found = _files.find(path)
    if found is not None:
        f = _files.load_npz(found)
        return [
            (*_sequences.ragged(f["x_train"]), f["y_train"]),
            (*_sequences.ragged(f["x_test"]), f["y_test"]),
        ]
    _files.warn_standin("imdb", _files.expected_path(path), f"{_files.ORIGIN}imdb.npz")
    flat, lengths, y = _standin.sequences(1011, 50000, 2, _VOCAB, 180.0, 2494)
    train = _sequences.take(flat, lengths, np.arange(25000))
    test = _sequences.take(flat, lengths, np.arange(25000, 50000))
    return [(*train, y[:25000]), (*test, y[25000:])]


@_sequences.keras1_nb_words("imdb")
def load_data(
    path="imdb.npz",
    num_words=None,
    skip_top=0,
    maxlen=None,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
    **kwargs,
):
    """Loads the IMDB data set: 25,000 training and 25,000 test reviews labelled 0/1.

    Each review is a list of word indices (``index_from`` + the word's frequency rank).

    Args:
        path: the file name inside Keras's cache folder.
        num_words: keep only the ``num_words`` most frequent words (others become
            ``oov_char``).
        skip_top: skip the most frequent words (they become ``oov_char``).
        maxlen: drop reviews of ``maxlen`` words or more.
        seed: seed of the shuffle.
        start_char: the index marking the start of a review (``None``: none).
        oov_char: the index of cut-out words (``None``: drop them).
        index_from: the offset added to every word index.
        **kwargs: Keras accepts and ignores its legacy arguments here; Keras 1's
            ``nb_words`` is read as ``num_words``, as Keras 2 did.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of int lists and ``int64``
        label arrays.

    Raises:
        ValueError: if ``maxlen`` leaves no review.
    """
    rng = np.random.RandomState(seed)
    parts = []
    for flat, lengths, labels in _raw(path):
        indices = np.arange(len(lengths))
        rng.shuffle(indices)  # train, then test: Keras's draws from one RandomState
        flat, lengths = _sequences.take(flat, lengths, indices)
        flat, lengths = _sequences.shift(flat, lengths, start_char, index_from)
        parts.append((flat, lengths, np.asarray(labels)[indices]))
    if maxlen:
        parts = [_sequences.remove_long(maxlen, *p) for p in parts]
        if not parts[0][1].size or not parts[1][1].size:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
                "kept. Increase maxlen."
            )
    flat = np.concatenate([parts[0][0], parts[1][0]])
    lengths = np.concatenate([parts[0][1], parts[1][1]])
    flat, lengths = _sequences.limit_words(flat, lengths, num_words, skip_top, oov_char)
    labels = np.concatenate([parts[0][2], parts[1][2]])
    xs = _sequences.to_object_array(flat, lengths)
    idx = parts[0][1].size
    return (xs[:idx], labels[:idx]), (xs[idx:], labels[idx:])


def get_word_index(path="imdb_word_index.json"):
    """The ``{word: rank}`` dict of the IMDB data set (ranks start at 1; add ``index_from``
    to match ``load_data``'s indices).

    >>> import warnings
    >>> from lamina.datasets import imdb
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     index = imdb.get_word_index()
    >>> index["the"]
    1
    """
    return _sequences.word_index("imdb", path, _VOCAB)
