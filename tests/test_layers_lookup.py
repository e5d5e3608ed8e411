"""Lookup and encoding preprocessing layers against Keras 3 (and NumPy where Keras needs TF).

Keras 3.15's IntegerLookup/StringLookup/Hashing need TensorFlow, which the test environment
lacks: those are compared with real Keras when TensorFlow is importable, and always with an
independent NumPy/Counter statement of Keras's documented rules (and pyfarmhash for hashing).
"""

import importlib.util
from collections import Counter

import numpy as np
import pytest

from lamina import layers as L
from tests.helpers import keras_ref

HAS_TF = importlib.util.find_spec("tensorflow") is not None
RNG = np.random.default_rng(0)
INTS = RNG.choice([3, 17, 42, 99, 1000, 7], size=(20, 5), p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
WORDS = np.array(
    [["the", "cat", "sat"], ["the", "dog", "ran"], ["a", "cat", "ran"], ["the", "end", "zz"]]
)


def _keras():
    import keras

    return keras


# ------------------------------------------------------------------ CategoryEncoding
@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(6,), (4, 3), (5, 1)])
def test_category_encoding_matches_keras(mode, shape):
    x = RNG.integers(0, 5, size=shape)
    with keras_ref():
        want = np.asarray(_keras().layers.CategoryEncoding(5, output_mode=mode)(x))
    got = np.asarray(L.CategoryEncoding(5, output_mode=mode)(x))
    np.testing.assert_allclose(got, want)
    layer = L.CategoryEncoding(5, output_mode=mode)
    assert layer.compute_output_shape(x.shape) == want.shape


def test_category_encoding_count_weights_and_errors():
    x = np.array([[0, 1, 1], [2, 2, 0]])
    w = np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 3.0]], "float32")
    with keras_ref():
        want = np.asarray(
            _keras().layers.CategoryEncoding(3, output_mode="count")(x, count_weights=w)
        )
    np.testing.assert_allclose(
        np.asarray(L.CategoryEncoding(3, output_mode="count")(x, count_weights=w)), want
    )
    with pytest.raises(ValueError, match="num_tokens"):
        L.CategoryEncoding()
    with pytest.raises(ValueError, match="output_mode"):
        L.CategoryEncoding(3, output_mode="bogus")


# ------------------------------------------------------------------ Discretization
@pytest.mark.parametrize("num_bins,epsilon", [(4, 0.01), (3, 0.1), (7, 0.01)])
def test_discretization_adapt_matches_keras_quantiles(num_bins, epsilon):
    from keras.src.layers.preprocessing import discretization as kd

    data = RNG.normal(size=(500, 2)).astype("float32")
    batches = [data[:200], data[200:]]
    summary = np.array([[], []], "float32")
    for b in batches:  # Keras's adapt loop, with Keras's own functions
        summary = kd.merge_summaries(kd.summarize(b, epsilon), summary, epsilon)
    want = kd.get_bin_boundaries(summary, num_bins).tolist()
    layer = L.Discretization(num_bins=num_bins, epsilon=epsilon)
    layer.adapt(batches)
    np.testing.assert_allclose(layer.bin_boundaries, want, rtol=1e-6)
    whole = L.Discretization(num_bins=num_bins, epsilon=epsilon)
    whole.adapt(data)
    np.testing.assert_allclose(
        whole.bin_boundaries,
        kd.get_bin_boundaries(
            kd.merge_summaries(kd.summarize(data, epsilon), np.array([[], []], "float32"), epsilon),
            num_bins,
        ),
        rtol=1e-6,
    )


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_call_matches_keras(mode):
    bounds = [-0.5, 0.0, 0.7]
    x = np.array([[-1.0, -0.5, 0.0, 0.3], [0.7, 2.0, 0.69, -0.6]], "float32")
    with keras_ref():
        want = np.asarray(
            _keras().layers.Discretization(bin_boundaries=bounds, output_mode=mode)(x)
        )
    layer = L.Discretization(bin_boundaries=bounds, output_mode=mode)
    np.testing.assert_array_equal(np.asarray(layer(x)), want)
    clone = L.Discretization.from_config(layer.get_config())
    np.testing.assert_array_equal(np.asarray(clone(x)), want)


def test_discretization_errors():
    with pytest.raises(ValueError, match="either `num_bins` or `bin_boundaries`"):
        L.Discretization()
    with pytest.raises(ValueError, match="Both"):
        L.Discretization(bin_boundaries=[0.0], num_bins=2)
    with pytest.raises(ValueError, match="Cannot adapt"):
        L.Discretization(bin_boundaries=[0.0]).adapt(np.zeros(3))


# ------------------------------------------------------------------ Hashing
def test_farmhash_matches_pyfarmhash():
    farmhash = pytest.importorskip("farmhash")
    from lamina.layers._farmhash import fingerprint64

    for n in [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300]:
        s = RNG.integers(0, 256, size=n).astype(np.uint8).tobytes()
        assert fingerprint64(s) == farmhash.fingerprint64(s)


@pytest.mark.parametrize("mask_value", [None, "the"])
@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_hashing_bins(mask_value, mode):
    farmhash = pytest.importorskip("farmhash")
    got = np.asarray(L.Hashing(5, mask_value=mask_value, output_mode=mode)(WORDS))
    off = mask_value is not None
    ids = np.array(
        [
            [0 if w == mask_value else farmhash.fingerprint64(w) % (5 - off) + off for w in r]
            for r in WORDS
        ]
    )
    want = (
        ids
        if mode == "int"
        else np.asarray(L.CategoryEncoding(5, output_mode=mode if mode != "int" else "count")(ids))
    )
    np.testing.assert_array_equal(got, want)
    ints = np.array([[1, 22], [333, -4]])  # integers hash as their decimal strings (as TF does)
    want_int = [[farmhash.fingerprint64(str(v)) % 5 for v in r] for r in ints]
    assert np.asarray(L.Hashing(5)(ints)).tolist() == want_int
    if HAS_TF:
        with keras_ref():
            k = np.asarray(
                _keras().layers.Hashing(5, mask_value=mask_value, output_mode=mode)(WORDS)
            )
        np.testing.assert_array_equal(got, k)


def test_hashing_errors():
    with pytest.raises(ValueError, match="num_bins"):
        L.Hashing(0)
    with pytest.raises(ValueError, match="string or integer"):
        L.Hashing(3)(np.array([1.5]))


# ------------------------------------------------------------------ lookups
def _keras_order(tokens, drop=()):
    counts = Counter(t for t in np.asarray(tokens).reshape(-1).tolist() if t not in drop)
    return sorted(counts, key=lambda t: (counts[t], t), reverse=True)


def test_integer_lookup_adapt_vocabulary_and_int_output():
    layer = L.IntegerLookup()
    layer.adapt(INTS)
    vocab = _keras_order(INTS)
    assert layer.get_vocabulary() == [-1, *vocab]
    assert layer.vocabulary_size() == len(vocab) + 1
    x = np.array([[3, 17, 5000], [42, 7, -3]])
    want = [[vocab.index(v) + 1 if v in vocab else 0 for v in r] for r in x.tolist()]
    assert np.asarray(layer(x)).tolist() == want
    if HAS_TF:
        with keras_ref():
            k = _keras().layers.IntegerLookup()
            k.adapt(INTS)
            assert layer.get_vocabulary() == [int(v) for v in k.get_vocabulary()]
            np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(k(x)))


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count", "tf_idf"])
def test_string_lookup_output_modes(mode):
    layer = L.StringLookup(output_mode=mode, max_tokens=6, pad_to_max_tokens=True)
    layer.adapt(WORDS)
    vocab = _keras_order(WORDS)[:5]
    assert layer.get_vocabulary() == ["[UNK]", *vocab]
    x = np.array([["the", "cat", "cat"], ["zebra", "ran", "the"]])
    ids = np.array([[vocab.index(w) + 1 if w in vocab else 0 for w in r] for r in x])
    enc = "count" if mode == "tf_idf" else mode
    want = np.asarray(L.CategoryEncoding(6, output_mode=enc)(ids))
    if mode == "tf_idf":
        docs = Counter(w for r in WORDS for w in set(r.tolist()))
        idf = np.array([np.log(1 + len(WORDS) / (1 + docs[w])) for w in vocab], "float32")
        want = want * np.concatenate([[idf.mean()], idf])
    np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-6)
    if HAS_TF:
        with keras_ref():
            k = _keras().layers.StringLookup(output_mode=mode, max_tokens=6, pad_to_max_tokens=True)
            k.adapt(WORDS)
            np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(k(x)), rtol=1e-6)


def test_mask_oov_and_invert():
    layer = L.StringLookup(vocabulary=["a", "b", "c"], mask_token="", num_oov_indices=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "[UNK]", "a", "b", "c"]
    out = np.asarray(layer(np.array(["", "b", "zz"]))).tolist()
    assert out[:2] == [0, 4] and out[2] in (1, 2)
    inv = L.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert inv(np.array([[1, 3, 0, 9]])).tolist() == [["a", "c", "[UNK]", "[UNK]"]]
    ilk = L.IntegerLookup(vocabulary=[12, 36], mask_token=0, num_oov_indices=3)
    # OOV integers go to 1 + value % 3 (Keras's floormod rule), the mask to 0.
    assert np.asarray(ilk(np.array([0, 12, 36, 5, -1]))).tolist() == [
        0,
        4,
        5,
        1 + 5 % 3,
        1 + (-1) % 3,
    ]
    iinv = L.IntegerLookup(vocabulary=[12, 36], invert=True)
    assert np.asarray(iinv(np.array([1, 2, 0, 7]))).tolist() == [12, 36, -1, -1]
    strict = L.StringLookup(vocabulary=["a"], num_oov_indices=0)
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        strict(np.array(["b"]))


def test_lookup_config_round_trip_and_set_vocabulary():
    layer = L.StringLookup(output_mode="tf_idf", vocabulary=["x", "y"], idf_weights=[0.5, 2.0])
    clone = L.StringLookup.from_config(layer.get_config())
    assert clone.get_vocabulary() == layer.get_vocabulary()
    x = np.array([["x", "y", "q"]])
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(layer(x)))
    ilk = L.IntegerLookup()
    ilk.set_vocabulary([-1, 5, 9])  # leading special tokens are accepted, as get_vocabulary gives
    assert ilk.get_vocabulary() == [-1, 5, 9]
    with pytest.raises(ValueError, match="repeated"):
        ilk.set_vocabulary([5, 5])
    with pytest.raises(ValueError, match="invert"):
        L.IntegerLookup(invert=True, output_mode="one_hot")


def test_integer_lookup_embedding_model_fits():
    import lamina

    x = INTS[:, :4]
    y = (x == 42).any(axis=1).astype("float32")
    lookup = L.IntegerLookup()
    lookup.adapt(x)
    model = lamina.models.Sequential(
        [
            lamina.Input((4,), dtype="int32"),
            lookup,
            L.Embedding(lookup.vocabulary_size(), 4),
            L.Flatten(),
            L.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(lamina.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=40, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    # The lookup ran inside the compiled program: predictions equal the eager composition.
    ids = np.asarray(lookup(x))
    assert ids.min() >= 1 and ids.max() < lookup.vocabulary_size()


def test_lookup_runs_inside_jit_and_survives_save(tmp_path):
    import jax

    import lamina

    layer = L.IntegerLookup(vocabulary=[12, 36, 1138], mask_token=0, output_mode="count")
    x = np.array([[12, 0, 5, 36], [1138, 1138, 7, 12]])
    eager = np.asarray(layer(x))
    fn = jax.jit(lambda a: layer.apply({}, {}, a)[0])
    np.testing.assert_array_equal(np.asarray(fn(x)), eager)
    disc = L.Discretization(bin_boundaries=[0.5, 2.0], output_mode="one_hot")
    np.testing.assert_array_equal(
        np.asarray(jax.jit(lambda a: disc.apply({}, {}, a)[0])(np.array([0.1, 1.0, 3.0]))),
        np.asarray(disc(np.array([0.1, 1.0, 3.0]))),
    )

    lookup = L.IntegerLookup()
    lookup.adapt(INTS)
    model = lamina.models.Sequential(
        [lamina.Input((5,), dtype="int32"), lookup, L.Embedding(lookup.vocabulary_size(), 2)]
    )
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.layers[0].get_vocabulary() == lookup.get_vocabulary()
    np.testing.assert_allclose(loaded.predict(INTS, verbose=0), model.predict(INTS, verbose=0))


def test_salted_hashing_and_hashed_oov():
    farmhash = pytest.importorskip("farmhash")
    from lamina.layers._farmhash import siphash64

    # SipHash-2-4 reference vectors (Aumasson & Bernstein, key 00..0f, messages 00..n-1).
    key = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
    assert siphash64(*key, b"") == 0x726FDB47DD0E0E31
    assert siphash64(*key, bytes(range(15))) == 0xA129CA6149BE45E5
    # Keras 3.15's Hashing docstring examples (TensorFlow's to_hash_bucket_strong).
    abc = [["A"], ["B"], ["C"], ["D"], ["E"]]
    assert np.asarray(L.Hashing(3, salt=[133, 137])(abc)).ravel().tolist() == [1, 2, 1, 0, 2]
    assert np.asarray(L.Hashing(3, salt=133)(abc)).ravel().tolist() == [0, 0, 2, 1, 0]
    with pytest.raises(ValueError, match="salt"):
        L.Hashing(3, salt="x")
    # IntegerLookup(oov_method="farmhash") hashes OOV integers as decimal strings, in jit too.
    layer = L.IntegerLookup(vocabulary=[5], num_oov_indices=4, oov_method="farmhash")
    x = np.array([5, 7, 123456, -9])
    want = [5 if v == 5 else farmhash.fingerprint64(str(v)) % 4 for v in x.tolist()]
    want = [4 if v == 5 else w for v, w in zip(x.tolist(), want, strict=True)]
    assert np.asarray(layer(x)).tolist() == want
    with pytest.raises(ValueError, match="oov_method='farmhash'"):
        L.IntegerLookup(salt=3)
    s = L.StringLookup(vocabulary=["a"], num_oov_indices=3, salt=[1, 2])
    assert np.asarray(s(np.array(["zz"]))).tolist() == [siphash64(1, 2, b"zz") % 3]


def test_integer_lookup_64_bit_ids_on_the_host():
    big = [2**40, 7, -(2**35)]
    layer = L.IntegerLookup(vocabulary=big)
    x = np.array([[2**40, 8, -(2**35), 7]], np.int64)
    want = [[big.index(v) + 1 if v in big else 0 for v in row] for row in x.tolist()]
    assert np.asarray(layer(x)).tolist() == want
    with pytest.raises(ValueError, match="beyond int32"):
        layer.apply({}, {}, np.array([7], np.int32))


def test_keras_configs_deserialize():
    x = np.array([[0.2, 1.5], [3.0, -1.0]], "float32")
    with keras_ref():
        keras = _keras()
        pairs = [
            (keras.layers.CategoryEncoding(4, output_mode="count"), np.array([[0, 3, 3]])),
            (keras.layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode="one_hot"), x),
        ]
        for k, data in pairs:
            layer = L.deserialize(keras.layers.serialize(k))
            assert type(layer).__name__ == type(k).__name__
            assert set(k.get_config()) <= set(layer.get_config())
            np.testing.assert_array_equal(np.asarray(layer(data)), np.asarray(k(data)))
