"""More hostile model configs (``.keras`` files, JSON, ``deserialize_keras_object``): dtypes
that are not numbers, flags that are not booleans, array arguments that are not arrays, sizes
of the wrong type, activations of terabytes, FeatureSpace assets beyond the archive's budget,
nestings deep enough to exhaust the stack.  Each is refused with a clear ``ValueError`` (or
``TypeError``) naming what was expected and what was received, before anything is allocated;
the legitimate neighbours still load."""

import json
import stat
import sys
import zipfile

import numpy as np
import pytest

import lamina
from lamina import layers
from lamina.saving import keras_assets
from lamina.saving.safety import FileFormatError
from lamina.utils import deserialize_keras_object
from tests.helpers import keras_ref, rewrite_config


def _seq(*entries, shape=(None, 4), input_dtype="float32"):
    inp = {"module": "keras.layers", "class_name": "InputLayer",
           "config": {"batch_shape": list(shape), "dtype": input_dtype, "name": "x"}}  # fmt: skip
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": "s", "trainable": True, "layers": [inp, *(
                {"module": "keras.layers", "class_name": c, "config": cfg} for c, cfg in entries
            )]}}  # fmt: skip


def _from_json(config):
    return lamina.models.model_from_json(json.dumps(config))


def _keras_file(tmp_path, config, name="bad.keras"):
    """A real ``.keras`` archive (a saved Dense model) whose config.json is ``config``."""
    good = tmp_path / "good.keras"
    if not good.exists():
        lamina.models.Sequential([layers.Input((4,)), layers.Dense(2, name="d")]).save(good)
    return rewrite_config(good, tmp_path / name, config)


def _dense(**config):
    return ("Dense", {"units": 2, "name": "d", **config})


# ------------------------------------------------------------------ 1. dtypes
BAD_DTYPES = ["object", "V8", "S5", "U3", "datetime64", "(2,)f4", "int4"]


@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_a_layer_dtype_that_is_not_numeric_is_refused(tmp_path, dtype):
    config = _seq(_dense(dtype=dtype))
    with pytest.raises(ValueError, match="DTypePolicy") as info:
        _from_json(config)
    assert "numeric dtype" in str(info.value)
    with pytest.raises(FileFormatError, match="DTypePolicy"):
        lamina.models.load_model(_keras_file(tmp_path, config))
    with pytest.raises(ValueError, match="DTypePolicy"):
        layers.Dense.from_config({"units": 2, "dtype": dtype})


@pytest.mark.parametrize("dtype", BAD_DTYPES)
def test_a_dtype_policy_dict_naming_a_non_numeric_dtype_is_refused(dtype):
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}}
    with pytest.raises(ValueError, match="DTypePolicy"):
        _from_json(_seq(_dense(dtype=policy)))
    with pytest.raises(ValueError, match="DTypePolicy"):
        lamina.dtype_policies.deserialize(policy)
    mapped = {"module": "keras.dtype_policies", "class_name": "DTypePolicyMap",
              "config": {"default_policy": "float32", "policy_map": {"d": dtype}}}  # fmt: skip
    with pytest.raises(ValueError, match="DTypePolicy"):
        lamina.dtype_policies.deserialize(mapped)


@pytest.mark.parametrize("dtype", ["V8", "datetime64", "(2,)f4"])
def test_an_input_dtype_that_is_not_numeric_is_refused(dtype):
    with pytest.raises(ValueError, match="Invalid dtype"):
        _from_json(_seq(_dense(), input_dtype=dtype))
    with pytest.raises(ValueError, match="Invalid dtype"):
        layers.Input((4,), dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool", "complex128", "mixed_bfloat16"])
def test_dtypes_keras_accepts_still_load(dtype):
    model = _from_json(_seq(_dense(dtype=dtype)))
    assert model.layers[0].dtype_policy.name == dtype
    # "string" (a lookup layer's policy in Keras files) is read as the default policy.
    assert _from_json(_seq(_dense(dtype="string"))).layers[0].dtype == "float32"


# ------------------------------------------------------------------ 2. booleans
@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, 2.5, [True]])
def test_trainable_must_be_a_boolean(tmp_path, value):
    config = _seq(_dense(trainable=value))
    with pytest.raises(ValueError, match="`trainable` to be a boolean"):
        _from_json(config)
    with pytest.raises(FileFormatError, match="`trainable` to be a boolean"):
        lamina.models.load_model(_keras_file(tmp_path, config))
    with pytest.raises(ValueError, match="`trainable` to be a boolean"):
        layers.Dense.from_config({"units": 2, "trainable": value})
    with pytest.raises(ValueError, match="`trainable` to be a boolean"):
        layers.Dense(2, trainable=value)


def test_a_model_trainable_flag_must_be_a_boolean(tmp_path):
    config = _seq(_dense())
    config["config"]["trainable"] = "no"
    with pytest.raises(ValueError, match="'trainable': 'no'.*expected a boolean"):
        _from_json(config)
    with pytest.raises(FileFormatError, match="expected a boolean"):
        lamina.models.load_model(_keras_file(tmp_path, config))
    inner = {"name": "inner", "trainable": 0,
             "layers": [{"class_name": "Dense", "config": {"units": 2}}]}  # fmt: skip
    nested = _seq(("Sequential", inner))
    with pytest.raises(ValueError, match="'inner' has 'trainable': 0"):
        _from_json(nested)


@pytest.mark.parametrize(
    "class_name, config, arg",
    [
        ("Dense", {"units": 2, "use_bias": "no"}, "use_bias"),
        ("LSTM", {"units": 2, "return_sequences": "yes"}, "return_sequences"),
        ("Embedding", {"input_dim": 5, "output_dim": 2, "mask_zero": 1}, "mask_zero"),
        ("BatchNormalization", {"center": "false"}, "center"),
        ("Normalization", {"invert": "yes"}, "invert"),
    ],
)
def test_boolean_arguments_must_be_booleans(class_name, config, arg):
    """A string ``"no"`` (or a number) would be read by its truthiness: refused, naming it."""
    shape = (None, 3, 4) if class_name == "LSTM" else (None, 4)
    with pytest.raises(ValueError, match=f"`{arg}` to be a boolean"):
        _from_json(_seq((class_name, config), shape=shape))


# ------------------------------------------------------------------ 3. array arguments
@pytest.mark.parametrize(
    "entry, match",
    [
        (("Normalization", {"mean": "abc", "variance": 1.0}), r"Normalization\(mean=\.\.\.\)"),
        (("Normalization", {"mean": 0.0, "variance": "abc"}), r"Normalization\(variance=\.\.\.\)"),
        (("Normalization", {"mean": {"a": 1}, "variance": 1.0}), r"Normalization\(mean="),
        (("Normalization", {"mean": [[1, 2], [3]], "variance": 1.0}), "ragged"),
        (("Normalization", {"mean": [1, None], "variance": [1, 1]}), r"Normalization\(mean="),
        (("Normalization", {"axis": "x"}), r"Normalization\(axis=\.\.\.\)"),
        (("Rescaling", {"scale": "abc"}), r"Rescaling\(scale=\.\.\.\)"),
        (("Rescaling", {"scale": 1.0, "offset": {"a": 1}}), r"Rescaling\(offset=\.\.\.\)"),
        (("Discretization", {"bin_boundaries": "abc"}), r"bin_boundaries=\.\.\.\) must be a num"),
        (("Discretization", {"bin_boundaries": [[0.0], [1.0]]}), "flat list"),
        (("Discretization", {"bin_boundaries": [3.0, 1.0, 2.0]}), "sorted"),
        (("Discretization", {"num_bins": "3"}), r"num_bins=\.\.\.\) must be an integer"),
        (("IntegerLookup", {"vocabulary": {"a": 1}}), r"IntegerLookup\(vocabulary=\.\.\.\)"),
        (("IntegerLookup", {"vocabulary": [[1], [2]]}), "received an entry"),
        (("IntegerLookup", {"vocabulary": ["a", "b"]}), "list of integers"),
        (("IntegerLookup", {"max_tokens": "x"}), r"max_tokens=\.\.\.\) must be an integer"),
        (("StringLookup", {"vocabulary": 5}), r"StringLookup\(vocabulary=\.\.\.\)"),
        (("StringLookup", {"vocabulary": ["a", 1, None]}), "list of strings"),
        (
            ("StringLookup", {"vocabulary": ["a"], "output_mode": "tf_idf", "idf_weights": "x"}),
            r"idf_weights=\.\.\.\)",
        ),
        (("TextVectorization", {"vocabulary": 7}), r"vocabulary=\.\.\.\) must be a list"),
        (("CategoryEncoding", {"num_tokens": "x"}), "an integer"),
        (("Hashing", {"num_bins": "3"}), "positive integer"),
    ],
)
def test_preprocessing_arguments_are_checked_when_the_layer_is_made(entry, match):
    with pytest.raises(ValueError, match=match):
        _from_json(_seq(entry))
    with pytest.raises(ValueError, match=match):
        layers.deserialize({"class_name": entry[0], "config": entry[1]})


def test_normalization_constants_that_do_not_fit_the_input_fail_at_loading():
    entry = ("Normalization", {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 1.0, 1.0]})
    with pytest.raises(ValueError, match=r"mean and variance of shape \(3,\) do not fit"):
        _from_json(_seq(entry))  # 4 features: refused when built, not at the first call
    model = _from_json(_seq(("Normalization", {"mean": [1.0] * 4, "variance": [4.0] * 4})))
    np.testing.assert_allclose(model.predict(np.full((1, 4), 3.0, "float32"), verbose=0), 1.0)


# ------------------------------------------------------------------ 4. FeatureSpace assets
def _feature_space_file(tmp_path, assets, vocab_mode=None):
    """A FeatureSpace archive whose lookups read their vocabularies from ``assets``
    (``{member name: (bytes, mode)}``), as Keras's files do."""
    from lamina.utils import FeatureSpace

    fs = FeatureSpace(
        features={"a": "string_categorical", "b": "string_categorical"}, output_mode="concat"
    )
    fs.adapt({"a": np.array(["x", "y"]), "b": np.array(["p", "q"])})
    src = tmp_path / "fs.keras"
    fs.save(src)
    dst = tmp_path / "fs_bad.keras"
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for name in zi.namelist():
            if name.startswith("assets/"):
                continue
            data = zi.read(name)
            if name == "config.json":
                config = json.loads(data)
                for feature in config["config"]["features"].values():
                    feature["config"]["preprocessor"]["config"]["vocabulary"] = None
                data = json.dumps(config).encode()
            zo.writestr(name, data)
        for name, (data, mode) in assets.items():
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zo.writestr(info, data)
    return dst


def _vocab(prefix, n):
    return "\n".join(f"{prefix}{i:06d}" for i in range(n)).encode()


FS_A = "assets/features/feature/preprocessor/vocabulary.txt"
FS_B = "assets/features/feature_1/preprocessor/vocabulary.txt"


def test_feature_space_assets_share_the_archive_total_budget(tmp_path, monkeypatch):
    path = _feature_space_file(
        tmp_path, {FS_A: (_vocab("a", 300), None), FS_B: (_vocab("b", 300), None)}
    )
    loaded = lamina.models.load_model(path)  # each file alone, and both, fit the default
    assert len(loaded.features["b"].preprocessor.get_vocabulary()) == 301
    monkeypatch.setattr(keras_assets, "MAX_ASSETS_BYTES", 3000)  # each file is 2,399 bytes
    with pytest.raises(FileFormatError, match="assets exceed the 3000-byte limit"):
        lamina.models.load_model(path)


def test_feature_space_assets_have_the_per_file_limits(tmp_path, monkeypatch):
    path = _feature_space_file(tmp_path, {FS_A: (_vocab("a", 100), None)})
    monkeypatch.setattr(keras_assets, "MAX_ASSET_LINES", 50)
    with pytest.raises(FileFormatError, match="more than 50 lines"):
        lamina.models.load_model(path)
    linked = _feature_space_file(tmp_path, {FS_A: (b"/etc/passwd", stat.S_IFLNK | 0o777)})
    with pytest.raises(FileFormatError, match="symbolic link"):
        lamina.models.load_model(linked)


# ------------------------------------------------------------------ 5. sizes and shapes
@pytest.mark.parametrize(
    "entry, shape, match",
    [
        (
            ("Conv2D", {"filters": 2, "kernel_size": [[3, 3], [3, 3]]}),
            (None, 8, 8, 3),
            r"kernel_size=\.\.\.\) must be an int or a tuple of 2 ints",
        ),
        (("Conv2D", {"filters": 2, "kernel_size": 2.5}), (None, 8, 8, 3), "tuple of 2 ints"),
        (("Conv2D", {"filters": 2, "kernel_size": "3"}), (None, 8, 8, 3), "kernel_size='3'"),
        (("MaxPooling2D", {"pool_size": [2, "2"]}), (None, 8, 8, 3), "tuple of 2 ints"),
        (("Reshape", {"target_shape": "ab"}), (None, 4), r"target_shape=\.\.\.\) must be a tuple"),
        (("Reshape", {"target_shape": 4}), (None, 4), "must be a tuple of integers"),
        (("Reshape", {"target_shape": [[2], 2]}), (None, 4), "must be a tuple of integers"),
        (("Permute", {"dims": "ab"}), (None, 4, 3), r"Permute\(dims=\.\.\.\) must be a tuple"),
        (("ZeroPadding2D", {"padding": -1}), (None, 8, 8, 3), "cannot be negative"),
        (("ZeroPadding1D", {"padding": [1, -2]}), (None, 8, 3), "cannot be negative"),
        (("UpSampling1D", {"size": "2"}), (None, 8, 3), r"size=\.\.\.\) must be an integer"),
        (("Dropout", {"rate": 0.5, "noise_shape": "x"}), (None, 4), "noise_shape"),
        (("Flatten", {"data_format": 5}), (None, 4), "data_format"),
        (("BatchNormalization", {"momentum": "x"}), (None, 4), r"momentum=\.\.\.\) must be a num"),
        (("BatchNormalization", {"axis": "x"}), (None, 4), r"axis=\.\.\.\) must be an integer"),
        (("LayerNormalization", {"epsilon": "x"}), (None, 4), r"epsilon=\.\.\.\) must be a num"),
        (("LeakyReLU", {"negative_slope": "x"}), (None, 4), "negative_slope"),
    ],
)
def test_size_arguments_of_the_wrong_type_are_clear_errors(entry, shape, match):
    with pytest.raises(ValueError, match=match):
        _from_json(_seq(entry, shape=shape))


@pytest.mark.parametrize(
    "entry, shape",
    [
        (("RepeatVector", {"n": 10**12}), (None, 4)),
        (("UpSampling2D", {"size": 10**9}), (None, 8, 8, 3)),
        (("ZeroPadding2D", {"padding": 10**9}), (None, 8, 8, 3)),
        (("CategoryEncoding", {"num_tokens": 10**12}), (None, 4)),
        (("TextVectorization", {"output_sequence_length": 10**12}), (None, 1)),
        (("Flatten", {}), (None, 10**6, 10**6)),  # the input itself
    ],
)
def test_an_activation_of_terabytes_is_refused_before_anything_runs(tmp_path, entry, shape):
    """Weightless layers can declare outputs no machine holds (XLA aborts the process on the
    first call); a per-sample activation limit refuses them at loading."""
    config = _seq(entry, shape=shape)
    with pytest.raises(ValueError, match="bytes per sample"):
        _from_json(config)
    with pytest.raises(FileFormatError, match="bytes per sample"):
        lamina.models.load_model(_keras_file(tmp_path, config))


def test_an_activation_of_terabytes_in_a_functional_graph_is_refused():
    config = _graph()
    dense = config["config"]["layers"][1]
    dense.update(class_name="RepeatVector", config={"name": "d", "n": 10**12})
    with pytest.raises(ValueError, match="the model's output .* bytes per sample"):
        _from_json(config)


@pytest.mark.parametrize(
    "shape, match",
    [
        ("ab", "input_shape=..."),
        ((None, 4.5), "must be a tuple of integers"),
        ((None, [4]), "must be a tuple of integers"),
        (("x", 4), r"batch_size=\.\.\.\) must be an integer"),
    ],
)
def test_input_shapes_of_the_wrong_type_are_clear_errors(shape, match):
    config = _seq(_dense(), shape=shape)
    with pytest.raises(ValueError, match=match.replace("...", r"\.\.\.")):
        _from_json(config)


def test_build_config_shapes_are_checked(tmp_path):
    config = {"class_name": "Sequential",
              "config": {"layers": [{"class_name": "Dense", "config": {"units": 2}}]},
              "build_config": {"input_shape": "abc"}}  # fmt: skip
    with pytest.raises(ValueError, match="build config's 'input_shape'"):
        _from_json(config)
    config["build_config"]["input_shape"] = [[None, 4], [None, 3]]
    with pytest.raises(ValueError, match="one input"):
        _from_json(config)


# ------------------------------------------------------------------ names and structure
@pytest.mark.parametrize("name", [5, [1], {"a": 1}])
def test_layer_and_model_names_must_be_strings(tmp_path, name):
    with pytest.raises(ValueError, match="`name` of a Dense layer must be a string"):
        _from_json(_seq(_dense(name=name)))
    with pytest.raises(ValueError, match="`name` must be a string"):
        layers.Dense(2, name=name)
    config = _seq(_dense())
    config["config"]["name"] = name
    with pytest.raises(FileFormatError, match="'name' must be a string"):
        lamina.models.load_model(_keras_file(tmp_path, config))


@pytest.mark.parametrize(
    "config, match",
    [
        ({"class_name": [5], "config": {}}, "'class_name' is a string"),
        ({"class_name": {"a": 1}, "config": {}}, "'class_name' is a string"),
        ({"class_name": "Sequential", "config": "abc"}, "model config should be a dict"),
        ({"class_name": "Sequential", "config": {"layers": "abc"}}, "expected a list"),
        ({"class_name": "Sequential", "config": {"layers": ["abc"]}}, "layer entry"),
        (
            {"class_name": "Sequential", "config": {"layers": [{"class_name": ["Dense"]}]}},
            "layer entry",
        ),
        (
            {
                "class_name": "Sequential",
                "config": {"layers": [{"class_name": "Dense", "config": [2]}]},
            },
            "config must be a dict of its arg",
        ),
        (
            {
                "class_name": "Sequential",
                "config": {
                    "layers": [{"module": ["os"], "class_name": "Dense", "config": {"units": 2}}]
                },
            },
            "'module' must be a string",
        ),
        (
            {
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        {"registered_name": {"a": 1}, "class_name": "Dense", "config": {"units": 2}}
                    ]
                },
            },
            "'registered_name' must be a string",
        ),
    ],
)
def test_malformed_model_structure_is_a_clear_error(config, match):
    with pytest.raises(ValueError, match=match):
        _from_json(config)


def test_json_nested_beyond_the_stack_is_a_clear_error(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nests lists or objects too deeply"):
        lamina.models.model_from_json(deep)
    rewrite_config(_keras_file(tmp_path, {}), tmp_path / "deep.keras", deep.encode())
    with pytest.raises(FileFormatError, match="too deeply"):
        lamina.models.load_model(tmp_path / "deep.keras")


# ------------------------------------------------------------------ deserialize_keras_object
def _nested(depth, leaf):
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "config, error, match",
    [
        (_nested(100_000, 1), ValueError, "nest more than"),
        ({"class_name": ["Dense"], "config": {}}, TypeError, "'class_name' must be a string"),
        (
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": 2},
                "registered_name": 5,
            },
            TypeError,
            "'registered_name' must be a string",
        ),
        ({"module": 5, "class_name": "Dense", "config": {}}, TypeError, "'module' must be"),
        ({"class_name": "function", "config": ["relu"]}, TypeError, "registered name"),
        (
            {"module": "keras.layers", "class_name": "Dense", "config": None},
            ValueError,
            "config of a Dense layer must be a dict",
        ),
        (
            {"module": "keras.layers", "class_name": "Dense", "config": [2]},
            ValueError,
            "config of a Dense layer must be a dict",
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {"units": 2, "trainable": "no"},
            },
            ValueError,
            "`trainable` to be a boolean",
        ),
    ],
)
def test_deserialize_keras_object_refuses_malformed_entries(config, error, match):
    with pytest.raises(error, match=match):
        deserialize_keras_object(config)


def test_a_module_named_in_a_config_is_never_imported():
    for module in ("tabnanny", "this"):  # stdlib modules nothing in Lamina imports
        sys.modules.pop(module, None)
        entry = {"module": module, "class_name": "Anything", "config": {},
                 "registered_name": f"{module}>Anything"}  # fmt: skip
        with pytest.raises(ValueError, match="Could not locate class"):
            deserialize_keras_object(entry)
        with pytest.raises(ValueError):
            _from_json({**entry, "config": {"layers": []}})
        assert module not in sys.modules


# ------------------------------------------------------------------ functional graphs
def _graph():
    x = {"module": "keras.layers", "class_name": "InputLayer", "name": "x",
         "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "x"},
         "inbound_nodes": []}  # fmt: skip
    tensor = {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, 4], "dtype": "float32", "keras_history": ["x", 0, 0]},
    }
    d = {"module": "keras.layers", "class_name": "Dense", "name": "d",
         "config": {"name": "d", "units": 2},
         "inbound_nodes": [{"args": [tensor], "kwargs": {}}]}  # fmt: skip
    return {"module": "keras", "class_name": "Functional",
            "config": {"name": "f", "trainable": True, "layers": [x, d],
                       "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}}  # fmt: skip


def _set(path, value):
    def edit(config):
        node = config["config"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    "edit, match",
    [
        (_set(["layers", 1, "inbound_nodes"], "abc"), "'inbound_nodes'"),
        (_set(["layers", 1, "inbound_nodes"], ["abc"]), "'inbound_nodes'"),
        (_set(["layers", 1, "inbound_nodes", 0, "args"], "abc"), "'inbound_nodes'"),
        (_set(["layers", 1, "inbound_nodes", 0, "kwargs"], "abc"), "'inbound_nodes'"),
        (
            _set(["layers", 1, "inbound_nodes", 0, "args", 0, "config", "keras_history"], "abc"),
            "keras_history",
        ),
        (_set(["layers", 1, "inbound_nodes", 0, "args", 0, "config"], "abc"), "keras_history"),
        (_set(["input_layers"], "abc"), "'input_layers' should hold"),
        (_set(["input_layers"], [[["x"], 0, 0]]), "'input_layers' should hold"),  # was a hang
        (_set(["output_layers"], {"a": 1}), "'output_layers' should hold"),
        (_set(["output_layers"], [["zz", 0, 0]]), "no layer of the config makes it"),
        (_set(["layers", 0, "config", "batch_shape"], None), "needs 'batch_shape'"),
    ],
)
def test_malformed_graph_entries_are_clear_errors(tmp_path, edit, match):
    config = _graph()
    edit(config)
    with pytest.raises(ValueError, match=match) as info:
        _from_json(config)
    assert "Recursion" not in str(info.value)
    with pytest.raises(FileFormatError, match=match):
        lamina.models.load_model(_keras_file(tmp_path, config))
    assert _from_json(_graph()).output_shape == (None, 2)


def test_a_layer_name_with_a_slash_is_refused_as_in_keras(keras):
    with keras_ref():
        with pytest.raises(ValueError, match="cannot contain character `/`"):
            keras.layers.Dense(2, name="../../etc")
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        layers.Dense(2, name="../../etc")
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        _from_json(_seq(_dense(name="a/b")))


def test_a_mel_filter_bank_of_terabytes_is_refused_at_load():
    mel = {"num_mel_bins": 10**6, "fft_length": 2**20, "sequence_length": 2**20}
    config = _seq(("MelSpectrogram", mel), shape=(None, 16000))
    with pytest.raises(ValueError, match="filter bank would hold"):
        _from_json(config)
    with pytest.raises(ValueError, match="must be an integer"):
        layers.MelSpectrogram(num_mel_bins="many")
    layers.MelSpectrogram(num_mel_bins=128, fft_length=2048)  # Keras's defaults still build
