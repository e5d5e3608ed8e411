"""lamina.utils.FeatureSpace against Keras 3's FeatureSpace semantics.

Keras's FeatureSpace needs TensorFlow to adapt or call (tf.data, StringLookup, Hashing,
HashedCrossing), which the test environment does not have.  So: configs are compared with a
real Keras FeatureSpace (its float features build without TensorFlow); Normalization and
Discretization numbers with real Keras layers fed the batches Keras's FeatureSpace feeds them
(32 rows, shape (32, 1)); lookups, one-hot encodings, hashes and crosses with NumPy by hand from
Keras's documented rules (vocabulary by descending count then descending value, OOV index 0;
TensorFlow's FarmHash Fingerprint64 and FingerprintCat64, whose Lamina ports are pinned to
Keras's documented outputs in their own doctests).
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.layers._farmhash import fingerprint64
from lamina.layers.hashed_crossing import fingerprint_cat64
from lamina.utils import FeatureSpace as FS
from lamina.utils import PyDataset
from tests.helpers import keras_ref

N = 90  # not a multiple of 32: the last adapt batch is short


def heart(n=N, seed=0):
    """Columns shaped like the UCI heart-disease data of Keras's FeatureSpace tutorial."""
    rng = np.random.default_rng(seed)
    return {
        "sex": rng.integers(0, 2, n),
        "cp": rng.integers(0, 5, n),
        "age": rng.uniform(29, 77, n).round(),
        "chol": rng.normal(245, 50, n).astype("float32"),
        "oldpeak": rng.exponential(1.0, n).astype("float32"),
        "trestbps": rng.normal(130, 17, n).astype("float32"),
        "thal": rng.choice(["normal", "fixed", "reversible"], n, p=[0.5, 0.2, 0.3]),
    }


def vocab(values):
    """Keras's adapted vocabulary: descending count, ties by descending value."""
    uniq, counts = np.unique(values, return_counts=True)
    return [v for _, v in sorted(zip(counts.tolist(), uniq.tolist()), reverse=True)]


def lookup_ids(values, vocabulary, num_oov=1):
    index = {v: i + num_oov for i, v in enumerate(vocabulary)}
    return np.array([index.get(v, 0) for v in values.tolist()])


def one_hot(ids, depth):
    return np.eye(depth, dtype="float32")[ids]


def batches32(col):
    return [col[i : i + 32, None].astype("float32") for i in range(0, len(col), 32)]


def cross_ids(a, b, bins):
    """tf.sparse.cross_hashed of two integer columns (what Keras's HashedCrossing runs)."""
    out = []
    for x, y in zip(a.tolist(), b.tolist()):
        h = fingerprint_cat64(fingerprint_cat64(0xDECAFCAFFE, x & (2**64 - 1)), y & (2**64 - 1))
        out.append(h % bins)
    return np.array(out)


def tutorial_space(output_mode="concat"):
    return FS(
        features={
            "sex": "integer_categorical",
            "cp": FS.integer_categorical(num_oov_indices=2),
            "age": FS.float_discretized(num_bins=6),
            "chol": "float_normalized",
            "oldpeak": "float",
            "trestbps": FS.float_rescaled(scale=0.01, offset=-1.0),
            "thal": "string_categorical",
        },
        crosses=[FS.cross(("sex", "age"), crossing_dim=16), FS.cross(("thal", "cp"), 8)],
        output_mode=output_mode,
    )


def reference(keras, data):
    """Keras's encoded features of ``tutorial_space`` for ``data``, by name."""
    with keras_ref():
        disc = keras.layers.Discretization(num_bins=6)
        for batch in batches32(data["age"]):  # Keras's adapt() loop (its list check needs TF)
            disc.update_state(batch)
        disc.finalize_state()
        age = np.asarray(disc(data["age"][:, None].astype("float32")))[:, 0]
        norm = keras.layers.Normalization(axis=-1)
        norm.adapt(data["chol"][:, None])
        chol = np.asarray(norm(data["chol"][:, None]))
    sex = lookup_ids(data["sex"], vocab(data["sex"]))
    cp_vocab = vocab(data["cp"])
    cp = lookup_ids(data["cp"], cp_vocab, num_oov=2)
    thal_vocab = vocab(data["thal"])
    thal = lookup_ids(data["thal"], thal_vocab)
    return {
        "age": one_hot(age, 6),
        "chol": chol,
        "cp": one_hot(cp, len(cp_vocab) + 2),
        "oldpeak": data["oldpeak"][:, None],
        "sex": one_hot(sex, len(vocab(data["sex"])) + 1),
        "thal": one_hot(thal, len(thal_vocab) + 1),
        "trestbps": data["trestbps"][:, None] * 0.01 - 1.0,
        "sex_X_age": one_hot(cross_ids(sex, age, 16), 16),
        "thal_X_cp": one_hot(cross_ids(thal, cp, 8), 8),
    }


def test_concat_output_matches_keras_semantics(keras):
    data = heart()
    fs = tutorial_space()
    fs.adapt(data)
    out = np.asarray(fs(data))
    ref = reference(keras, data)
    order = ["age", "chol", "cp", "oldpeak", "sex", "thal", "trestbps", "sex_X_age", "thal_X_cp"]
    expected = np.concatenate([ref[k] for k in order], axis=-1)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    one = np.asarray(fs({k: v[3] for k, v in data.items()}))  # one sample: no batch axis
    np.testing.assert_allclose(one, expected[3], rtol=1e-5, atol=1e-5)


def test_dict_output_matches_keras_semantics(keras):
    data = heart()
    fs = tutorial_space("dict")
    fs.adapt(data)
    out = fs(data)
    ref = reference(keras, data)
    assert list(out) == sorted(k for k in ref if "_X_" not in k) + ["sex_X_age", "thal_X_cp"]
    for name, value in out.items():
        np.testing.assert_allclose(np.asarray(value), ref[name], rtol=1e-5, atol=1e-5)


def test_int_output_modes_in_dict_mode():
    data = heart()
    fs = FS(
        {"thal": FS.string_categorical(output_mode="int"), "sex": "integer_categorical",
         "age": FS.float_discretized(num_bins=4, output_mode="int")},
        crosses=[FS.cross(("thal", "sex"), crossing_dim=8, output_mode="int")],
        output_mode="dict",
    )  # fmt: skip
    fs.adapt(data)
    out = fs({k: data[k] for k in ("thal", "sex", "age")})
    thal = lookup_ids(data["thal"], vocab(data["thal"]))
    sex = lookup_ids(data["sex"], vocab(data["sex"]))
    assert out["thal"].dtype == np.int32 and out["thal"].shape == (N, 1)
    np.testing.assert_array_equal(np.asarray(out["thal"])[:, 0], thal)
    np.testing.assert_array_equal(np.asarray(out["thal_X_sex"])[:, 0], cross_ids(thal, sex, 8))
    assert out["sex"].shape == (N, 3)  # one-hot: OOV + two values
    single = fs({"thal": "fixed", "sex": 1, "age": 50.0})
    assert single["thal"].shape == (1,) and single["sex"].shape == (3,)
    assert int(single["thal"][0]) == vocab(data["thal"]).index("fixed") + 1


def test_hashed_features_match_farmhash():
    letters = np.array(["A", "B", "C", "D", "E"])
    fs = FS({"s": "string_hashed", "i": FS.integer_hashed(num_bins=7)}, hashing_dim=3)
    out = np.asarray(fs({"s": letters, "i": np.array([1, 2, 3, 40, 500])}))
    # Keras's documented Hashing(num_bins=3) example: A..E -> 1, 0, 1, 1, 2.
    np.testing.assert_array_equal(out[:, 7:], one_hot(np.array([1, 0, 1, 1, 2]), 3))
    ints = np.array([fingerprint64(str(v).encode()) % 7 for v in (1, 2, 3, 40, 500)])
    np.testing.assert_array_equal(out[:, :7], one_hot(ints, 7))  # "i" sorts before "s"


def test_get_config_matches_keras(keras):
    with keras_ref():
        kfs = keras.utils.FeatureSpace(
            features={"a": "float_normalized", "b": keras.utils.FeatureSpace.float_discretized(
                num_bins=4), "c": "float", "d": "float_rescaled"},
            output_mode="dict", crossing_dim=16, num_discretization_bins=8,
        )  # fmt: skip
        kconfig = kfs.get_config()
    fs = FS({"a": "float_normalized", "b": FS.float_discretized(num_bins=4), "c": "float",
             "d": "float_rescaled"}, output_mode="dict", crossing_dim=16,
            num_discretization_bins=8)  # fmt: skip
    config = fs.get_config()
    assert sorted(config) == sorted(kconfig)
    for key in ("output_mode", "crosses", "crossing_dim", "hashing_dim", "num_discretization_bins"):
        assert config[key] == kconfig[key]
    for name, kfeat in kconfig["features"].items():
        feat = config["features"][name]
        assert (feat["module"], feat["class_name"]) == (kfeat["module"], kfeat["class_name"])
        assert sorted(feat["config"]) == sorted(kfeat["config"])
        kpre, pre = kfeat["config"]["preprocessor"], feat["config"]["preprocessor"]
        expected = {"TFDIdentity": "Identity"}.get(kpre["class_name"], kpre["class_name"])
        assert pre["class_name"] == expected
    # Keras's own config (DTypePolicy dicts, TFDIdentity) rebuilds a Lamina FeatureSpace.
    again = FS.from_config(kconfig)
    assert sorted(again.get_config()) == sorted(kconfig)
    assert type(again.preprocessors["b"]).__name__ == "Discretization"
    assert again.preprocessors["b"].num_bins == 4


def _adapted_graph():
    data = heart()
    fs = tutorial_space()
    fs.adapt(data)
    columns = {k: v[:, None] for k, v in data.items()}  # Input((1,)) takes (n, 1) columns
    return data, columns, fs, fs.get_inputs(), fs.get_encoded_features()


def test_encoded_features_graph_matches_eager_call():
    data, columns, fs, inputs, encoded = _adapted_graph()
    assert sorted(inputs) == sorted(fs.features)
    assert inputs["thal"].dtype == "string" and encoded.shape == (None, fs(data).shape[-1])
    # The graph (host lookups, compiled bins, hashing and crosses) computes the eager values.
    encoder = lamina.Model(inputs, encoded)
    np.testing.assert_allclose(encoder.predict(columns, verbose=0), fs(data), atol=1e-5)


@pytest.mark.slow
def test_functional_model_on_encoded_features_fits():
    data, columns, fs, inputs, encoded = _adapted_graph()
    x = lamina.layers.Dense(8, activation="relu")(encoded)
    model = lamina.Model(inputs, lamina.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    labels = np.random.default_rng(1).integers(0, 2, N).astype("float32")
    history = model.fit(columns, labels, epochs=3, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_save_and_load_model_roundtrip(tmp_path):
    data = heart()
    fs = tutorial_space()
    fs.adapt(data)
    path = tmp_path / "featurespace.keras"
    fs.save(path)
    again = lamina.models.load_model(path)
    assert isinstance(again, FS)
    np.testing.assert_allclose(again(data), fs(data), atol=1e-6)
    assert sorted(again.get_config()) == sorted(fs.get_config())
    with pytest.raises(ValueError, match=r"\.keras"):
        fs.save(tmp_path / "featurespace.h5")


class _Batches(PyDataset):
    def __init__(self, data):
        super().__init__()
        self.data = data

    def __len__(self):
        return 3

    def __getitem__(self, i):
        rows = slice(i * 32, (i + 1) * 32)
        return {k: v[rows] for k, v in self.data.items()}, np.zeros(32)


def test_adapt_accepts_dicts_frames_and_batch_iterables():
    data = heart()
    dict_batches = [{k: v[i : i + 32] for k, v in data.items()} for i in range(0, N, 32)]
    pandas = pytest.importorskip("pandas")
    sources = {
        "lists": {k: v.tolist() for k, v in data.items()},
        "frame": pandas.DataFrame(data),
        "list of dicts": dict_batches,
        "generator": (b for b in dict_batches),
        "pydataset": _Batches(data),
    }
    expected = None
    for label, source in sources.items():
        fs = tutorial_space()
        fs.adapt(source)
        out = np.asarray(fs(data))
        if expected is None:
            expected = out
        np.testing.assert_allclose(out, expected, atol=1e-5, err_msg=label)


def test_errors():
    data = heart()
    fs = tutorial_space()
    with pytest.raises(ValueError, match=r"call `\.adapt\(dataset\)`"):
        fs(data)
    with pytest.raises(ValueError, match=r"call `\.adapt\(dataset\)`"):
        fs.get_encoded_features()
    fs.adapt(data)
    with pytest.raises(ValueError, match=r"Unknown: \['height'\]"):
        fs({**{k: data[k] for k in fs.features}, "height": data["age"]})
    with pytest.raises(ValueError, match=r"missing: \['thal'\]"):
        fs({k: data[k] for k in fs.features if k != "thal"})
    with pytest.raises(ValueError, match="can only be called with a dict"):
        fs(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"unknown features: \['height'\]"):
        FS({"age": "float"}, crosses=[("age", "height")])
    with pytest.raises(ValueError, match="Invalid feature type: 'floatt'"):
        FS({"age": "floatt"})
    with pytest.raises(ValueError, match="cannot be None or empty"):
        FS({})
    with pytest.raises(ValueError, match="Expected one of {'dict', 'concat'}"):
        FS({"age": "float"}, output_mode="stack")
    with pytest.raises(ValueError, match="Cannot concatenate features because feature 'thal'"):
        FS({"thal": FS.string_categorical(output_mode="int")}).adapt(data)
    with pytest.raises(ValueError, match="expects a dict of arrays"):
        tutorial_space().adapt(np.zeros((4, 7)))
    with pytest.raises(ValueError, match="no entry 'thal'"):
        tutorial_space().adapt({k: v for k, v in data.items() if k != "thal"})
    with pytest.raises(TypeError, match="'thal' is a string feature"):
        fs({**{k: data[k] for k in fs.features}, "thal": np.arange(N)})
