"""Activation, merge, Masking and Identity layers against real Keras layers: outputs, output
shapes, masks and configs; registry round trips."""

import jax
import numpy as np
import pytest

import lamina.layers as LL
from lamina.layers.registry import deserialize, serialize
from tests.helpers import keras_ref

keras = pytest.importorskip("keras")

rng = np.random.default_rng(2)
X = rng.normal(size=(4, 3, 5)).astype("float32")


def _apply(layer, x, **kwargs):
    shapes = [(None, *v.shape[1:]) for v in x] if isinstance(x, list) else (None, *x.shape[1:])
    params, state = layer.init(jax.random.key(0), shapes)
    y, _ = layer.apply(params, state, x, **kwargs)
    return np.asarray(y), params


def _keras_out(klayer, x, **kwargs):
    with keras_ref():
        return np.asarray(klayer(x, **kwargs))


def _config_core(config):
    return {k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}


ACTIVATIONS = [
    ("ReLU", {}), ("ReLU", {"max_value": 1.0}), ("ReLU", {"negative_slope": 0.2, "threshold": 0.5}),
    ("ReLU", {"max_value": 6.0, "negative_slope": 0.1}), ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.05}), ("ELU", {}), ("ELU", {"alpha": 0.3}),
    ("Softmax", {}), ("Softmax", {"axis": 1}), ("Softmax", {"axis": (1, 2)}),
    ("PReLU", {"alpha_initializer": "ones"}), ("PReLU", {"shared_axes": [1], "alpha_initializer": "random_uniform"}),
    ("Identity", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,kwargs", ACTIVATIONS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ACTIVATIONS)]
)
def test_activation_layers_match_keras(name, kwargs):
    ours = getattr(LL, name)(**kwargs)
    y, params = _apply(ours, X)
    with keras_ref():
        theirs = getattr(keras.layers, name)(**kwargs)
        theirs.build((None, *X.shape[1:]))
        if params:
            theirs.set_weights([np.asarray(p) for p in params.values()])
            assert [w.shape for w in theirs.get_weights()] == [p.shape for p in params.values()]
    np.testing.assert_allclose(y, _keras_out(theirs, X), rtol=1e-6, atol=1e-6)
    assert ours.compute_output_shape((None, 3, 5)) == tuple(
        theirs.compute_output_shape((None, 3, 5))
    )
    ours_cfg, theirs_cfg = _config_core(ours.get_config()), _config_core(theirs.get_config())
    if name == "PReLU":
        theirs_cfg["alpha_initializer"] = ours_cfg["alpha_initializer"]  # serialization style
    if name == "Softmax" and isinstance(kwargs.get("axis"), tuple):
        theirs_cfg["axis"] = list(theirs_cfg["axis"])
    assert ours_cfg == theirs_cfg
    clone = deserialize(serialize(ours))
    assert type(clone) is type(ours) and _config_core(clone.get_config()) == ours_cfg


def test_softmax_mask_matches_keras():
    mask = rng.uniform(size=(4, 3, 5)) > 0.3
    mask[0, 0] = False  # a fully masked row gives zeros
    y, _ = _apply(LL.Softmax(), X, mask=mask)
    with keras_ref():
        expected = np.asarray(keras.layers.Softmax()(X, mask=mask))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
    y2, _ = _apply(LL.Softmax(), X, mask=mask[:, :1, :])  # broadcast mask
    with keras_ref():
        expected2 = np.asarray(keras.layers.Softmax()(X, mask=mask[:, :1, :]))
    np.testing.assert_allclose(y2, expected2, rtol=1e-6, atol=1e-7)


def test_thresholded_relu_and_leaky_alpha():
    y, _ = _apply(LL.ThresholdedReLU(theta=0.5), X)
    np.testing.assert_array_equal(y, np.where(X > 0.5, X, 0.0))
    layer = LL.LeakyReLU(alpha=0.1)  # Keras 2's argument name
    assert layer.get_config()["negative_slope"] == 0.1
    with pytest.raises(ValueError, match="max_value"):
        LL.ReLU(max_value=-1.0)
    with pytest.raises(ValueError, match="negative_slope"):
        LL.LeakyReLU(negative_slope=-0.1)


A, B, C = (rng.normal(size=(4, 3, 5)).astype("float32") for _ in range(3))
MERGES = [
    ("Add", [A, B, C], {}), ("Subtract", [A, B], {}), ("Multiply", [A, B], {}),
    ("Average", [A, B, C], {}), ("Maximum", [A, B], {}), ("Minimum", [A, B, C], {}),
    ("Add", [A, B[:, :1, :]], {}), ("Multiply", [A, B[:, 0, :]], {}),
    ("Concatenate", [A, B], {}), ("Concatenate", [A, B[:, :2]], {"axis": 1}),
    ("Dot", [A[:, 0], B[:, 0]], {"axes": 1}), ("Dot", [A, B], {"axes": (2, 2)}),
    ("Dot", [A, B], {"axes": 1, "normalize": True}), ("Dot", [A, B[:, :, :3]], {"axes": [1, 1]}),
    ("Dot", [A[:, 0], B], {"axes": (1, 2)}),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,inputs,kwargs", MERGES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MERGES)]
)
def test_merge_layers_match_keras(name, inputs, kwargs):
    ours = getattr(LL, name)(**kwargs)
    y, _ = _apply(ours, inputs)
    with keras_ref():
        theirs = getattr(keras.layers, name)(**kwargs)
        expected = np.asarray(theirs(inputs))
        shapes = [(None, *v.shape[1:]) for v in inputs]
        expected_shape = tuple(theirs.compute_output_shape(shapes))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert ours.compute_output_shape(shapes) == expected_shape
    ours_cfg, theirs_cfg = _config_core(ours.get_config()), _config_core(theirs.get_config())
    if "axes" in theirs_cfg:
        theirs_cfg["axes"] = (
            list(theirs_cfg["axes"])
            if isinstance(theirs_cfg["axes"], tuple)
            else theirs_cfg["axes"]
        )
    assert ours_cfg == theirs_cfg
    assert type(deserialize(serialize(ours))) is type(ours)


def test_functional_merge_forms_on_arrays():
    for fn in ("add", "subtract", "multiply", "average", "maximum", "minimum"):
        with keras_ref():
            expected = np.asarray(getattr(keras.layers, fn)([A, B]))
        np.testing.assert_allclose(np.asarray(getattr(LL, fn)([A, B])), expected, rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(LL.concatenate([A, B], axis=1)), np.concatenate([A, B], axis=1)
    )
    np.testing.assert_allclose(
        np.asarray(LL.dot([A[:, 0], B[:, 0]], axes=1)),
        (A[:, 0] * B[:, 0]).sum(-1, keepdims=True),
        rtol=1e-5,
    )


def test_merge_errors():
    with pytest.raises(ValueError, match="exactly 2"):
        LL.Subtract().apply({}, {}, [A, B, C])
    with pytest.raises(ValueError, match="incompatible shapes"):
        LL.Add().compute_output_shape([(None, 3, 5), (None, 3, 4)])
    with pytest.raises(ValueError, match="different batch sizes"):
        LL.Add().compute_output_shape([(2, 3), (4, 3)])
    with pytest.raises(ValueError, match="matching shapes except for the concatenation axis"):
        LL.Concatenate().compute_output_shape([(None, 3, 5), (None, 4, 5)])
    with pytest.raises(ValueError, match="list"):
        LL.Add().apply({}, {}, A)
    with pytest.raises(ValueError, match="Incompatible input shapes"):
        LL.Dot(axes=1).compute_output_shape([(None, 3), (None, 4)])
    with pytest.raises(TypeError, match="list or an int"):
        LL.Dot(axes="last")


def test_merge_masks_follow_keras_rules():
    m1 = np.array([[True, False, True]])
    m2 = np.array([[False, False, True]])
    np.testing.assert_array_equal(
        np.asarray(LL.Add().compute_mask([A[:1], B[:1]], [m1, m2])), m1 | m2
    )
    assert LL.Add().compute_mask([A, B], [m1, None]) is None
    cat = LL.Concatenate(axis=1).compute_mask([A[:1], B[:1]], [m1, None])
    with keras_ref():
        expected = keras.layers.Concatenate(axis=1).compute_mask([A[:1], B[:1]], [m1, None])
    np.testing.assert_array_equal(np.asarray(cat), np.asarray(expected))


def test_masking_matches_keras_and_feeds_rnn_masks():
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    x[0, 2:] = 0.0
    x[1, 0] = 0.0
    layer = LL.Masking()
    y, _ = _apply(layer, x)
    with keras_ref():
        k = keras.layers.Masking()
        expected = np.asarray(k(x))
        expected_mask = np.asarray(k.compute_mask(x))
    np.testing.assert_allclose(y, expected)
    np.testing.assert_array_equal(np.asarray(layer.compute_mask(x, None)), expected_mask)
    assert layer.get_config()["mask_value"] == k.get_config()["mask_value"]


@pytest.mark.slow
def test_masking_then_lstm_matches_keras():
    from lamina.models import Sequential

    x = rng.normal(size=(3, 5, 2)).astype("float32")
    x[0, 3:] = -1.0
    x[2, 1:] = -1.0
    model = Sequential([LL.Input((5, 2)), LL.Masking(mask_value=-1.0), LL.LSTM(3)])
    with keras_ref():
        ref = keras.Sequential(
            [keras.Input((5, 2)), keras.layers.Masking(mask_value=-1.0), keras.layers.LSTM(3)]
        )
        ref.set_weights(model.get_weights())
        expected = np.asarray(ref.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_keras_file_with_merge_and_activation_layers_loads(tmp_path):
    from lamina.models import load_model

    with keras_ref():
        i, j = keras.Input((5,)), keras.Input((5,))
        o = keras.layers.Dot(axes=1, normalize=True)(
            [keras.layers.PReLU()(i), keras.layers.Softmax()(j)]
        )
        o = keras.layers.Maximum()([o, keras.layers.Subtract()([o, o])])
        o = keras.layers.Concatenate()(
            [o, keras.layers.ReLU(max_value=0.5)(o), keras.layers.ELU()(o)]
        )
        ref = keras.Model([i, j], o)
        ref.save(tmp_path / "m.keras")
        x = [
            rng.uniform(-0.5, 0.5, size=(3, 5)).astype("float32"),
            rng.uniform(size=(3, 5)).astype("float32"),
        ]
        expected = ref.predict(x, verbose=0)
    model = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
