"""Keras 2's ``keras.preprocessing.sequence``: padding, time-series batches and skip-grams.

``pad_sequences`` turns a list of variable-length sequences into one array; ``TimeseriesGenerator``
cuts a long series into ``(window, target)`` batches and is a ``PyDataset`` that ``fit`` accepts;
``skipgrams`` and ``make_sampling_table`` build word2vec training pairs.  Semantics follow
Keras 2.x (``keras_preprocessing`` / tf-keras), including its argument names.

>>> from lamina.preprocessing.sequence import pad_sequences
>>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2)
array([[0, 1],
       [2, 3],
       [5, 6]], dtype=int32)
"""

from __future__ import annotations

import random

import numpy as np

from lamina.data.pydataset import PyDataset

__all__ = ["TimeseriesGenerator", "make_sampling_table", "pad_sequences", "skipgrams"]


def _check_side(name, value):
    if value not in ("pre", "post"):
        raise ValueError(f"{name} must be 'pre' or 'post'. Received: {name}={value!r}.")


def pad_sequences(
    sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0
):
    """Pads (and truncates) sequences to one length.

    Args:
        sequences: a list (or other sized iterable) of sequences; each sequence is a list or
            array whose items are scalars or arrays of one shape.
        maxlen: the output length; ``None`` pads to the longest sequence.
        dtype: the output dtype; ``object`` or a string dtype pads sequences of strings.
        padding: ``'pre'`` or ``'post'``: add ``value`` before or after each sequence.
        truncating: ``'pre'`` or ``'post'``: drop items from the start or the end of sequences
            longer than ``maxlen``.
        value: the padding value (a string needs ``dtype=object`` or a string dtype).

    Returns:
        An array of shape ``(len(sequences), maxlen) + item_shape``.

    Raises:
        ValueError: for non-iterable items, unknown ``padding``/``truncating``, a string
            ``value`` with a numeric ``dtype``, or items of different shapes.

    >>> pad_sequences([[1, 2, 3], [4]], padding="post", value=-1)
    array([[ 1,  2,  3],
           [ 4, -1, -1]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            f"sequences must be a list of sequences. Received an object of type "
            f"{type(sequences).__name__} without a length; wrap it with list(...)."
        )
    _check_side("padding", padding)
    _check_side("truncating", truncating)
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, int | np.integer) or maxlen < 0
    ):
        raise ValueError(f"maxlen must be None or a non-negative integer. Received: {maxlen!r}.")
    lengths, item_shape, found = [], (), False
    for i, seq in enumerate(sequences):
        if isinstance(seq, str | bytes) or not hasattr(seq, "__len__"):
            raise ValueError(
                f"sequences must be a list of iterables (lists or arrays). Found a "
                f"{type(seq).__name__} at position {i}: {seq!r}."
            )
        lengths.append(len(seq))
        if not found and len(seq):
            # The item shape comes from the first non-empty sequence, as in Keras.
            item_shape = np.asarray(seq, dtype=object if dtype is object else None).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    is_text_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text_dtype:
        raise ValueError(
            f"dtype {dtype!r} cannot hold the string padding value {value!r}. Pass dtype=object "
            f"for variable-length strings."
        )
    out = np.full((len(lengths), maxlen) + tuple(item_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != tuple(item_shape):
            raise ValueError(
                f"All items must have one shape: sequence {i} has items of shape "
                f"{kept.shape[1:]}, expected {tuple(item_shape)} (from the first non-empty "
                f"sequence)."
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, maxlen - len(kept) :] = kept
    return out


class TimeseriesGenerator(PyDataset):
    """Batches of windows cut from a time series, each with the target at its end.

    Sample ``j`` of the series ends just before row ``r`` (``start_index + length <= r <=
    end_index``) and holds ``data[r - length : r : sampling_rate]``; its target is
    ``targets[r]``.  Consecutive samples are ``stride`` rows apart.

    Args:
        data: an indexable series (list or array) with time on axis 0.
        targets: per-row targets, as long as ``data``.
        length: the window length in rows (before sampling).
        sampling_rate: the step between rows inside a window.
        stride: the step between the end rows of consecutive windows.
        start_index: rows before it are not used as window ends' history.
        end_index: the last row usable as an end row (default: the last row).
        shuffle: draw the end rows of each batch at random (``np.random``) instead of in
            order.
        reverse: return the rows of each window in reverse time order.
        batch_size: windows per batch (the last batch may be smaller).
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` (``PyDataset``).

    Raises:
        ValueError: if ``data`` and ``targets`` differ in length, or no row is left for a
            window.

    >>> import numpy as np
    >>> gen = TimeseriesGenerator(np.arange(10), np.arange(10), length=3, batch_size=2)
    >>> len(gen), gen[0][0].tolist(), gen[0][1].tolist()
    (4, [[0, 1, 2], [1, 2, 3]], [3, 4])
    """

    def __init__(
        self,
        data,
        targets,
        length,
        sampling_rate=1,
        stride=1,
        start_index=0,
        end_index=None,
        shuffle=False,
        reverse=False,
        batch_size=128,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(data) != len(targets):
            raise ValueError(
                f"data and targets must have the same length. Received: len(data)={len(data)}, "
                f"len(targets)={len(targets)}."
            )
        for name, v, low in (
            ("length", length, 1),
            ("sampling_rate", sampling_rate, 1),
            ("stride", stride, 1),
            ("batch_size", batch_size, 1),
            ("start_index", start_index, 0),
        ):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}. Received: {name}={v!r}.")
        self.data, self.targets = data, targets
        self.length, self.sampling_rate, self.stride = length, sampling_rate, stride
        self.start_index = start_index + length
        self.end_index = len(data) - 1 if end_index is None else end_index
        self.shuffle, self.reverse, self.batch_size = shuffle, reverse, batch_size
        if self.start_index > self.end_index:
            raise ValueError(
                f"start_index + length = {self.start_index} > end_index = {self.end_index}: no "
                f"row would be left as a window's target. Use a shorter length or more data."
            )

    def __len__(self):
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def __getitem__(self, index):
        if self.shuffle:
            # Keras 2 draws the rows of a shuffled batch from the global NumPy generator.
            rows = np.random.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        else:
            if not -len(self) <= index < len(self):
                raise IndexError(f"batch index {index} out of range for {len(self)} batches.")
            index %= len(self)
            first = self.start_index + self.batch_size * self.stride * index
            last = min(first + self.batch_size * self.stride, self.end_index + 1)
            rows = np.arange(first, last, self.stride)
        samples = np.array([self.data[r - self.length : r : self.sampling_rate] for r in rows])
        targets = np.array([self.targets[r] for r in rows])
        if self.reverse:
            samples = samples[:, ::-1, ...]
        return samples, targets

    def get_config(self):
        """Returns the constructor arguments (``data``/``targets`` as JSON strings), as Keras 2.

        Raises:
            TypeError: if the data or targets cannot be written as JSON.
        """
        import json

        def as_json(name, value):
            value = value.tolist() if isinstance(value, np.ndarray) else value
            try:
                return json.dumps(value)
            except TypeError as e:
                raise TypeError(f"{name} cannot be written as JSON: {e}") from e

        return {
            "data": as_json("data", self.data),
            "targets": as_json("targets", self.targets),
            "length": self.length,
            "sampling_rate": self.sampling_rate,
            "stride": self.stride,
            "start_index": self.start_index,
            "end_index": self.end_index,
            "shuffle": self.shuffle,
            "reverse": self.reverse,
            "batch_size": self.batch_size,
        }

    def to_json(self, **kwargs):
        """Returns ``{"class_name": ..., "config": get_config()}`` as a JSON string."""
        import json

        return json.dumps(
            {"class_name": type(self).__name__, "config": self.get_config()}, **kwargs
        )


def make_sampling_table(size, sampling_factor=1e-5):
    """Word2vec's keep-probabilities for words ranked by frequency (Zipf's law approximation).

    ``table[i]`` is the probability of keeping the ``i``-th most frequent word:
    ``min(1, sqrt(f / sampling_factor) / (f / sampling_factor))`` with the frequency estimated
    as ``f(rank) ~ 1 / (rank (log rank + gamma) + 1/2 - 1/(12 rank))``.

    Args:
        size: the vocabulary size (table length).
        sampling_factor: word2vec's sampling factor.

    Returns:
        A float array of length ``size``.

    >>> table = make_sampling_table(5)
    >>> table.shape, bool(table[1] < table[4])
    ((5,), True)
    """
    gamma = 0.577
    rank = np.arange(size)
    if size:
        rank[0] = 1  # rank 0 is not a word; Keras gives it rank 1's value
    inv_freq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_freq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(
    sequence,
    vocabulary_size,
    window_size=4,
    negative_samples=1.0,
    shuffle=True,
    categorical=False,
    sampling_table=None,
    seed=None,
):
    """Skip-gram pairs: (word, neighbour) labelled 1 and (word, random word) labelled 0.

    Index 0 is a non-word and is skipped.  Randomness (sub-sampling with ``sampling_table``,
    negative words, the shuffle) uses Python's ``random`` module as in Keras 2; ``seed``
    fixes only the shuffle, as there.

    Args:
        sequence: a list of word indices.
        vocabulary_size: the largest word index + 1 (negatives are drawn from 1..size-1).
        window_size: half-width of the context window.
        negative_samples: negatives per positive pair (0 for none).
        shuffle: shuffle the pairs (and labels alike).
        categorical: labels as ``[0, 1]`` / ``[1, 0]`` pairs instead of 1 / 0.
        sampling_table: keep-probability per word index (see ``make_sampling_table``).
        seed: seed of the shuffle.

    Returns:
        ``(couples, labels)``: lists of ``[word, context]`` pairs and labels.

    >>> couples, labels = skipgrams([1, 2, 3], 4, window_size=1, negative_samples=0,
    ...                             shuffle=False)
    >>> couples, labels
    ([[1, 2], [2, 1], [2, 3], [3, 2]], [1, 1, 1, 1])
    """
    couples, labels = [], []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < random.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j == i or not sequence[j]:
                continue
            couples.append([wi, sequence[j]])
            labels.append([0, 1] if categorical else 1)
    if negative_samples > 0 and couples:
        n_neg = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [
            [words[i % len(words)], random.randint(1, vocabulary_size - 1)] for i in range(n_neg)
        ]
        labels += [[1, 0] if categorical else 0 for _ in range(n_neg)]
    if shuffle:
        if seed is None:
            seed = random.randint(0, 10_000_000)
        # Same seed for both shuffles keeps pairs and labels aligned (Keras 2's scheme).
        random.seed(seed)
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels
