"""lamina.preprocessing.sequence against Keras (pad_sequences: keras.utils; the rest: tf-keras's
code as Keras 3 keeps it in keras.src.legacy.preprocessing.sequence)."""

import json
import random
import warnings

import numpy as np
import pytest

from lamina.preprocessing import sequence as lseq
from tests.helpers import keras_ref


@pytest.fixture(scope="module")
def K():
    pytest.importorskip("keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from keras.src.legacy.preprocessing import sequence

    return sequence


SEQS = [[1], [2, 3], [4, 5, 6, 7], [], [8, 9, 10]]
PAD_CASES = [
    dict(),
    dict(maxlen=2),
    dict(maxlen=6),
    dict(padding="post"),
    dict(truncating="post", maxlen=3),
    dict(padding="post", truncating="post", maxlen=2, value=-1),
    dict(dtype="float32", value=0.5),
    dict(dtype="int64", maxlen=1),
]


@pytest.mark.parametrize("kwargs", PAD_CASES)
def test_pad_sequences_matches_keras(keras, kwargs):
    with keras_ref():
        ref = keras.utils.pad_sequences(SEQS, **kwargs)
    got = lseq.pad_sequences(SEQS, **kwargs)
    assert got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


def test_pad_sequences_random_against_keras(keras, rng):
    for _ in range(30):
        seqs = [list(rng.integers(1, 50, rng.integers(0, 8))) for _ in range(rng.integers(1, 6))]
        if not any(seqs):
            seqs[0] = [1]
        kw = dict(maxlen=int(rng.integers(1, 9)), padding=rng.choice(["pre", "post"]),
                  truncating=rng.choice(["pre", "post"]), value=int(rng.integers(-3, 3)))
        with keras_ref():
            ref = keras.utils.pad_sequences(seqs, **kw)
        np.testing.assert_array_equal(lseq.pad_sequences(seqs, **kw), ref)


def test_pad_sequences_strings_and_vectors(keras):
    words = [["a", "bb"], ["ccc"]]
    for kw in (dict(dtype=object, value="<pad>"), dict(dtype="<U5", value="-")):
        with keras_ref():
            ref = keras.utils.pad_sequences(words, maxlen=3, **kw)
        got = lseq.pad_sequences(words, maxlen=3, **kw)
        assert got.dtype == ref.dtype
        assert got.tolist() == ref.tolist()
    vecs = [np.ones((2, 3)), np.zeros((0, 3)), np.full((4, 3), 2.0)]
    with keras_ref():
        ref = keras.utils.pad_sequences(vecs, maxlen=3, dtype="float32")
    got = lseq.pad_sequences(vecs, maxlen=3, dtype="float32")
    assert got.shape == (3, 3, 3)
    np.testing.assert_array_equal(got, ref)


def test_pad_sequences_edge_cases():
    assert lseq.pad_sequences([]).shape == (0, 0)
    assert lseq.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)
    assert lseq.pad_sequences([[], []]).shape == (2, 0)
    np.testing.assert_array_equal(lseq.pad_sequences((np.arange(3), range(2))),
                                  [[0, 1, 2], [0, 0, 1]])


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        lseq.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating must be"):
        lseq.pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match="dtype=object"):
        lseq.pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match="list of iterables"):
        lseq.pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="list of iterables"):
        lseq.pad_sequences(["abc"])
    with pytest.raises(ValueError, match="one shape"):
        lseq.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="non-negative integer"):
        lseq.pad_sequences([[1]], maxlen=-1)
    with pytest.raises(ValueError, match="list of sequences"):
        lseq.pad_sequences(iter([[1]]))


TS_CASES = [
    dict(length=3, batch_size=2),
    dict(length=4, sampling_rate=2, stride=3, batch_size=3),
    dict(length=2, start_index=5, end_index=15, batch_size=4, reverse=True),
    dict(length=5, batch_size=128),
]


@pytest.mark.parametrize("kwargs", TS_CASES)
def test_timeseries_generator_matches_keras2(K, kwargs):
    data = np.arange(40, dtype="float32").reshape(20, 2)
    targets = np.arange(20) * 10
    ours, ref = lseq.TimeseriesGenerator(data, targets, **kwargs), K.TimeseriesGenerator(
        data, targets, **kwargs)
    assert len(ours) == len(ref)
    for i in range(len(ref)):
        for g, e in zip(ours[i], ref[i]):
            np.testing.assert_array_equal(g, e)
    # Keras 3's copy of get_config is broken (calls a missing super method): check tf-keras's
    # layout directly.
    config = json.loads(ours.to_json())["config"]
    assert json.loads(config["data"]) == data.tolist()
    assert json.loads(config["targets"]) == targets.tolist()
    assert config["start_index"] == ref.start_index and config["end_index"] == ref.end_index
    assert config["length"] == kwargs["length"]


def test_timeseries_generator_shuffle_uses_numpy_global_state(K):
    data, targets = np.arange(30)[:, None], np.arange(30)
    ours = lseq.TimeseriesGenerator(data, targets, length=3, shuffle=True, batch_size=5)
    ref = K.TimeseriesGenerator(data, targets, length=3, shuffle=True, batch_size=5)
    np.random.seed(1)
    a = ours[0]
    np.random.seed(1)
    b = ref[0]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # Each window ends right before its target row.
    np.testing.assert_array_equal(a[0][:, -1, 0] + 1, a[1])


def test_timeseries_generator_errors():
    with pytest.raises(ValueError, match="same length"):
        lseq.TimeseriesGenerator(np.zeros(5), np.zeros(4), length=2)
    with pytest.raises(ValueError, match="end_index"):
        lseq.TimeseriesGenerator(np.zeros(5), np.zeros(5), length=5)
    with pytest.raises(ValueError, match="length must be an integer"):
        lseq.TimeseriesGenerator(np.zeros(5), np.zeros(5), length=0)


def test_timeseries_generator_trains_with_fit():
    from lamina.layers import Dense, Flatten
    from lamina.models import Sequential

    series = np.sin(np.arange(200) / 5).astype("float32")[:, None]
    gen = lseq.TimeseriesGenerator(series, series[:, 0], length=6, batch_size=16)
    model = Sequential([Flatten(input_shape=(6, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(gen, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]


# Keras's own skipgrams calls random.randint(0, 10e6) (a float bound).
@pytest.mark.filterwarnings("ignore:non-integer arguments to randrange")
def test_skipgrams_matches_keras2(K):
    seq = [1, 2, 0, 3, 4, 5, 2, 1]
    for kw in (dict(), dict(window_size=2, negative_samples=0.5, categorical=True),
               dict(shuffle=False, negative_samples=0), dict(seed=3)):
        random.seed(7)
        ours = lseq.skipgrams(seq, 6, **kw)
        random.seed(7)
        ref = K.skipgrams(seq, 6, **kw)
        assert ours == ref
    couples, labels = lseq.skipgrams(seq, 6, negative_samples=0, shuffle=False)
    assert all(label == 1 for label in labels) and all(0 not in c for c in couples)
    table = lseq.make_sampling_table(10)
    random.seed(0)
    ours = lseq.skipgrams(seq, 10, sampling_table=table)
    random.seed(0)
    assert ours == K.skipgrams(seq, 10, sampling_table=table)


def test_make_sampling_table_matches_keras2(K):
    for size, factor in ((10, 1e-5), (1000, 1e-3), (1, 1e-5)):
        np.testing.assert_allclose(lseq.make_sampling_table(size, factor),
                                   K.make_sampling_table(size, factor))


def test_timeseries_dataset_from_array_windows():
    from lamina.preprocessing import timeseries_dataset_from_array
    from lamina.utils import timeseries_dataset_from_array as from_utils

    assert from_utils is timeseries_dataset_from_array
    data = np.arange(100)
    # Keras's documented example: length 10, sampling_rate 2, stride 3.
    ds = timeseries_dataset_from_array(data, None, sequence_length=10, sampling_rate=2,
                                       sequence_stride=3, batch_size=4)
    first = ds[0]
    np.testing.assert_array_equal(first[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(first[1], np.arange(3, 23, 2))
    starts = np.arange(0, 100 - 9 * 2, 3)
    assert len(ds) == -(-len(starts) // 4)
    all_windows = np.concatenate(list(ds))
    np.testing.assert_array_equal(all_windows[:, 0], starts)
    # Forecasting: targets = data[length:] puts the step after each window as its target.
    ds = timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10,
                                       batch_size=None, start_index=5, end_index=60)
    x, y = ds[0]
    np.testing.assert_array_equal(x, np.arange(5, 15))
    assert y == 15 and len(ds) == 60 - 5 - 9
    x_last, y_last = ds[-1]
    assert x_last[-1] == 59 and y_last == x_last[-1] + 1
    shuffled = timeseries_dataset_from_array(data, data, 5, shuffle=True, seed=1, batch_size=8)
    again = timeseries_dataset_from_array(data, data, 5, shuffle=True, seed=1, batch_size=8)
    np.testing.assert_array_equal(shuffled[0][0], again[0][0])
    np.testing.assert_array_equal(shuffled[0][0][:, 0], shuffled[0][1])
    with pytest.raises(ValueError, match="sampling_rate"):
        timeseries_dataset_from_array(data, None, 5, sampling_rate=0)
    with pytest.raises(ValueError, match="start_index"):
        timeseries_dataset_from_array(data, None, 5, start_index=100)
    with pytest.raises(ValueError, match="end_index"):
        timeseries_dataset_from_array(data, None, 5, start_index=10, end_index=5)
