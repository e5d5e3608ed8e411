"""Nested ``Sequential`` models built by their first call, and layer configs equal to Keras 3's.

* A ``Sequential`` declared without an input shape, called on a symbolic tensor or nested in
  another ``Sequential``, is built by that call as Keras builds it: weights, output shape,
  ``get_config`` (with its ``InputLayer``), predictions, training and saving.
* Normalization layers keep ``axis`` in their config as Keras does and load both forms.
* One table builds each layer in Lamina and Keras with the same arguments and compares the
  whole ``get_config()`` (only the ``dtype`` policy entry is normalized), then round-trips it
  through ``from_config`` in both libraries.
"""

import io
from contextlib import redirect_stdout

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL, ATOL = 1e-5, 1e-6


def _norm(value):
    """``value`` with every ``dtype`` policy entry as its name (Keras writes the default
    float32 policy as a dict, Lamina as ``"float32"``)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "dtype" and isinstance(v, dict) and v.get("class_name") == "DTypePolicy":
                v = v["config"]["name"]
            out[k] = _norm(v)
        return out
    if isinstance(value, list | tuple):
        return type(value)(_norm(v) for v in value)
    return value


def _model_config(config):
    """A model config with the auto-numbered ``InputLayer`` names set aside (the counters
    differ between the libraries), the rest compared as it is."""
    config = _norm(config)
    for spec in config.get("layers", []):
        if spec["class_name"] == "InputLayer":
            spec["config"]["name"] = "input_layer"
        if spec["class_name"] == "Sequential":
            spec["config"] = _model_config(spec["config"])
    return config


def _stack(lib, sizes=(4, 2)):
    layers = [lib.layers.Dense(n, name=f"d{i}") for i, n in enumerate(sizes)]
    return lib.Sequential(layers, name="inner")


# ------------------------------------------------------- item 1: nested Sequential
def test_sequential_without_input_is_built_by_a_symbolic_call(keras):
    with keras_ref():
        k_inner = _stack(keras)
        kx = keras.Input((3,))
        ky = k_inner(kx)
        k_model = keras.Model(kx, ky)
    l_inner = _stack(lamina)
    lx = lamina.Input((3,))
    ly = l_inner(lx)
    assert l_inner.built and k_inner.built
    assert tuple(ly.shape) == tuple(ky.shape) == (None, 2)
    assert l_inner.output_shape == tuple(k_inner.output_shape)
    assert [w.shape for w in l_inner.get_weights()] == [
        tuple(w.shape) for w in k_inner.get_weights()
    ]
    assert _model_config(l_inner.get_config()) == _model_config(k_inner.get_config())

    l_model = lamina.Model(lx, ly)
    l_model.set_weights(k_model.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    with keras_ref():
        want = k_model.predict(x, verbose=0)
    np.testing.assert_allclose(l_model.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(l_inner.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)

    text = io.StringIO()
    with redirect_stdout(text):
        l_model.summary()
    row = next(line for line in text.getvalue().splitlines() if "(Sequential)" in line)
    assert "(None, 2)" in row and row.split()[-2] == str(k_inner.count_params())


@pytest.mark.parametrize("declared", [True, False], ids=["outer_input", "build_call"])
def test_sequential_nested_in_sequential_without_shapes(keras, declared):
    def make(lib):
        inner = _stack(lib)
        head = [lib.Input((3,))] if declared else []
        outer = lib.Sequential([*head, inner, lib.layers.Dense(1, name="top")], name="outer")
        if not declared:
            outer.build((None, 3))
        return outer, inner

    with keras_ref():
        k_outer, k_inner = make(keras)
    l_outer, l_inner = make(lamina)
    l_outer.build((None, 3))
    assert l_inner.built and k_inner.built
    assert l_inner.output_shape == tuple(k_inner.output_shape)
    assert [w.shape for w in l_outer.get_weights()] == [
        tuple(w.shape) for w in k_outer.get_weights()
    ]
    assert len(l_inner.weights) == len(k_inner.weights) == 4
    assert _model_config(l_inner.get_config()) == _model_config(k_inner.get_config())
    assert _model_config(l_outer.get_config()) == _model_config(k_outer.get_config())
    l_outer.set_weights(k_outer.get_weights())
    x = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    with keras_ref():
        want = k_outer.predict(x, verbose=0)
    np.testing.assert_allclose(l_outer.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    # Each library rebuilds the other's config into the same model.
    rebuilt = lamina.Sequential.from_config(k_outer.get_config())
    rebuilt.set_weights(k_outer.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    with keras_ref():
        k_rebuilt = keras.Sequential.from_config(l_outer.get_config())
        k_rebuilt.set_weights(l_outer.get_weights())
        got = k_rebuilt.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_nested_sequential_trains_saves_and_loads_in_keras(keras, tmp_path):
    inner = _stack(lamina)
    x_in = lamina.Input((3,))
    model = lamina.Model(x_in, lamina.layers.Dense(1, name="top")(inner(x_in)))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    before = [w.copy() for w in inner.get_weights()]
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = inner.get_weights()  # the nested model's weights are the ones fit trained
    assert not np.allclose(before[0], after[0])
    np.testing.assert_allclose(after[0], model.get_weights()[0])
    path = str(tmp_path / "nested.keras")
    model.save(path)
    want = model.predict(x, verbose=0)
    again = lamina.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    with keras_ref():
        k_model = keras.models.load_model(path)
        got = k_model.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


# ------------------------------------------------ item 2: normalization axis configs
NORM_AXES = [
    ("LayerNormalization", {"axis": -1}),
    ("LayerNormalization", {"axis": [1, 2]}),
    ("LayerNormalization", {"axis": (1, 2)}),
    ("BatchNormalization", {"axis": -1}),
    ("BatchNormalization", {"axis": 1}),
    ("GroupNormalization", {"groups": 2, "axis": -1}),
    ("GroupNormalization", {"groups": 3, "axis": 1}),
    ("UnitNormalization", {"axis": -1}),
    ("UnitNormalization", {"axis": [1, 2]}),
    ("UnitNormalization", {"axis": (1, 2)}),
    ("Normalization", {"axis": -1, "mean": 0.5, "variance": 2.0}),
    ("Normalization", {"axis": (1, 2), "mean": 0.5, "variance": 2.0}),
    ("Normalization", {"axis": [1, 2], "mean": 0.5, "variance": 2.0}),
    ("Normalization", {"axis": 1, "invert": True, "mean": 0.5, "variance": 2.0}),
    ("Normalization", {"axis": None, "mean": 0.5, "variance": 2.0}),
]


@pytest.mark.parametrize("name,kwargs", NORM_AXES, ids=lambda v: str(v))
def test_normalization_axis_config_and_both_loads(keras, name, kwargs):
    # Named: an automatic name's counter depends on which tests ran before, in each library.
    kwargs = {"name": "probe", **kwargs}
    with keras_ref():
        k_layer = getattr(keras.layers, name)(**kwargs)
        k_config = k_layer.get_config()
    l_layer = getattr(lamina.layers, name)(**kwargs)
    config = l_layer.get_config()
    assert _norm(config) == _norm(k_config)
    x = np.random.default_rng(3).normal(size=(2, 6, 4)).astype("float32")
    with keras_ref():
        want = np.asarray(k_layer(x))
        from_lamina = getattr(keras.layers, name).from_config(config)
        np.testing.assert_allclose(np.asarray(from_lamina(x)), want, rtol=RTOL, atol=ATOL)
    loaded = getattr(lamina.layers, name).from_config(k_config)
    assert _norm(loaded.get_config()) == _norm(k_config)
    np.testing.assert_allclose(np.asarray(loaded(x)), want, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------- item 3: configs, key by key
_MHA_FULL = {
    "num_heads": 2,
    "key_dim": 4,
    "value_dim": 3,
    "dropout": 0.1,
    "output_shape": 6,
    "attention_axes": (1,),
    "use_bias": False,
    "kernel_initializer": "he_normal",
    "bias_initializer": "ones",
    "kernel_regularizer": "l2",
    "bias_regularizer": "l1",
    "activity_regularizer": "l2",
    "kernel_constraint": "non_neg",
    "bias_constraint": "non_neg",
    "seed": 3,
}
_RNN_FULL = {
    "units": 3,
    "activation": "relu",
    "use_bias": False,
    "dropout": 0.2,
    "recurrent_dropout": 0.1,
    "return_sequences": True,
    "return_state": True,
    "go_backwards": True,
    "kernel_regularizer": "l2",
    "recurrent_constraint": "max_norm",
    "seed": 7,
}

CONFIG_CASES = [
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "dropout": 0.3}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "output_shape": [2, 3]}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "attention_axes": [1, 2]}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "attention_axes": 2}),
    ("MultiHeadAttention", _MHA_FULL),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}),
    ("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [None, 4], "activation": "relu"}),
    ("GroupQueryAttention", {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2}),
    (
        "GroupQueryAttention",
        {
            "head_dim": 4,
            "num_query_heads": 4,
            "num_key_value_heads": 1,
            "dropout": 0.1,
            "use_bias": False,
            "kernel_regularizer": "l2",
            "activity_regularizer": "l1",
            "seed": 2,
        },
    ),  # fmt: skip
    ("LSTM", {"units": 3}),
    ("LSTM", {**_RNN_FULL, "unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"}),
    ("GRU", {"units": 3}),
    ("GRU", {**_RNN_FULL, "reset_after": False}),
    ("SimpleRNN", {"units": 3}),
    ("SimpleRNN", _RNN_FULL),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3}),
    (
        "ConvLSTM2D",
        {
            "filters": 2,
            "kernel_size": (3, 2),
            "padding": "same",
            "strides": 1,
            "return_sequences": True,
            "dropout": 0.1,
        },
    ),  # fmt: skip
    ("Embedding", {"input_dim": 10, "output_dim": 3}),
    (
        "Embedding",
        {
            "input_dim": 10,
            "output_dim": 3,
            "mask_zero": True,
            "embeddings_regularizer": "l2",
            "embeddings_initializer": "ones",
        },
    ),  # fmt: skip
    ("Conv2D", {"filters": 2, "kernel_size": 3}),
    (
        "Conv2D",
        {
            "filters": 4,
            "kernel_size": (3, 1),
            "strides": 2,
            "padding": "same",
            "dilation_rate": 1,
            "groups": 2,
            "activation": "relu",
            "use_bias": False,
            "kernel_constraint": "unit_norm",
            "activity_regularizer": "l2",
        },
    ),  # fmt: skip
    ("Dense", {"units": 3}),
    (
        "Dense",
        {
            "units": 3,
            "activation": "tanh",
            "use_bias": False,
            "bias_regularizer": "l1",
            "kernel_initializer": "orthogonal",
        },
    ),  # fmt: skip
    ("Dropout", {"rate": 0.3}),
    ("Dropout", {"rate": 0.3, "noise_shape": (None, 1), "seed": 4}),
    ("BatchNormalization", {}),
    (
        "BatchNormalization",
        {
            "momentum": 0.9,
            "epsilon": 1e-3,
            "center": False,
            "scale": False,
            "beta_regularizer": "l2",
            "gamma_constraint": "non_neg",
            "renorm": False,
            "synchronized": False,
        },
    ),  # fmt: skip
]

_BIDI_FULL = ("Bidirectional", {**_RNN_FULL, "go_backwards": False, "merge_mode": "sum"})


def _make(lib, name, kwargs):
    if name == "Bidirectional":
        kwargs = dict(kwargs)
        merge_mode = kwargs.pop("merge_mode", "concat")
        return lib.layers.Bidirectional(lib.layers.LSTM(**kwargs), merge_mode=merge_mode)
    return getattr(lib.layers, name)(**kwargs)


def _case_id(case):
    name, kwargs = case
    return f"{name}-{'-'.join(sorted(kwargs)) or 'defaults'}"


@pytest.mark.parametrize(
    "name,kwargs",
    [*CONFIG_CASES, ("Bidirectional", {"units": 3}), _BIDI_FULL],
    ids=[_case_id(c) for c in CONFIG_CASES] + ["Bidirectional-defaults", "Bidirectional-full"],
)
def test_get_config_equals_keras(keras, name, kwargs):
    kwargs = dict(kwargs)
    if name != "Bidirectional":
        kwargs["name"] = "layer_under_test"  # auto-names count separately in each library
    with keras_ref():
        k_layer = _make(keras, name, kwargs)
        k_config = k_layer.get_config()
    l_layer = _make(lamina, name, kwargs)
    config = l_layer.get_config()
    if name == "Bidirectional":  # auto-names (outer, and forward_/backward_ inner): counters
        config["name"] = k_config["name"]
        for side in ("layer", "backward_layer"):
            config[side]["config"]["name"] = k_config[side]["config"]["name"]
    assert sorted(config) == sorted(k_config)
    assert _norm(config) == _norm(k_config)
    # Round trips: each library reads the other's config and writes it back unchanged.
    cls = type(l_layer)
    assert _norm(cls.from_config(k_config).get_config()) == _norm(k_config)
    with keras_ref():
        again = type(k_layer).from_config(config).get_config()
    assert _norm(again) == _norm(k_config)


def test_group_query_attention_auto_name_is_keras(keras):
    with keras_ref():
        k_name = keras.layers.GroupQueryAttention(4, 4, 2).name
    name = lamina.layers.GroupQueryAttention(4, 4, 2).name
    assert k_name.startswith("grouped_query_attention")
    assert name.startswith("grouped_query_attention")


def test_multi_head_attention_rejects_unsupported_keras_options():
    # use_gate and sliding_window are supported (tests/test_attention_gate_window.py)
    with pytest.raises(ValueError, match="flash_attention=True.*not supported"):
        lamina.layers.MultiHeadAttention(2, 4, flash_attention=True)
    with pytest.raises(ValueError, match="`sliding_window` must be `None` or a positive"):
        lamina.layers.MultiHeadAttention(2, 4, sliding_window=0)
