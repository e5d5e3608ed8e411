"""GroupNormalization and UnitNormalization against real Keras 3 (EinsumDense is tested with
MultiHeadAttention in test_layers_attention.py)."""

import numpy as np
import pytest

import lamina
from lamina.layers import GroupNormalization, UnitNormalization
from tests.helpers import keras_ref

ATOL = 2e-5


def _rand(*shape, seed=0):
    return (np.random.default_rng(seed).normal(size=shape) * 3 + 1).astype("float32")


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(groups=2), (3, 8)),
        (dict(groups=4), (2, 5, 8)),
        (dict(groups=-1), (2, 4, 4, 6)),
        (dict(groups=3, axis=1, epsilon=1e-5), (2, 6, 5)),
        (dict(groups=1, center=False), (2, 3, 4)),
        (dict(groups=2, scale=False), (2, 3, 4)),
    ],
)
def test_group_normalization_matches_keras(keras, kwargs, shape):
    x = _rand(*shape)
    with keras_ref():
        kl = keras.layers.GroupNormalization(**kwargs)
        kl(x)
        weights = [np.random.default_rng(2).normal(size=w.shape).astype("float32") for w in kl.weights]
        kl.set_weights(weights)
        want = np.asarray(kl(x))
        kcfg = kl.get_config()
    ll = GroupNormalization(**kwargs)
    ll(x)
    assert [w.name for w in ll.weights] == [w.name for w in kl.weights]
    ll.set_weights(weights)
    np.testing.assert_allclose(ll(x), want, atol=ATOL)
    cfg = ll.get_config()
    for key in ("axis", "epsilon", "center", "scale"):
        assert cfg[key] == kcfg[key], key


def test_group_normalization_in_a_model_and_errors():
    inp = lamina.layers.Input((4, 6))
    model = lamina.models.Model(inp, GroupNormalization(groups=3)(inp))
    assert model.predict(_rand(2, 4, 6), verbose=0).shape == (2, 4, 6)
    clone = lamina.layers.deserialize(lamina.layers.serialize(GroupNormalization(groups=3)))
    assert isinstance(clone, GroupNormalization) and clone.groups == 3
    with pytest.raises(ValueError, match="groups"):
        GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="multiple"):
        GroupNormalization(groups=4)(_rand(2, 6))
    with pytest.raises(ValueError, match="cannot be more"):
        GroupNormalization(groups=8)(_rand(2, 6))


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_unit_normalization_matches_keras(keras, axis):
    x = _rand(2, 3, 4)
    x[0, 0] = 0.0  # an all-zero row: Keras's epsilon keeps it finite
    with keras_ref():
        kl = keras.layers.UnitNormalization(axis=axis)
        want = np.asarray(kl(x))
        kcfg = kl.get_config()
    ll = UnitNormalization(axis=axis)
    np.testing.assert_allclose(ll(x), want, atol=ATOL)
    assert ll.get_config()["axis"] == kcfg["axis"]
    with pytest.raises(TypeError, match="axis"):
        UnitNormalization(axis="x")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rms_scaling=True),
        dict(rms_scaling=True, axis=[1, 2]),
        dict(axis=[1, 2]),
        dict(axis=[-2, -1], center=False),
    ],
)
def test_layer_normalization_options_match_keras(keras, kwargs):
    x = _rand(2, 3, 4)
    with keras_ref():
        kl = keras.layers.LayerNormalization(**kwargs)
        kl(x)
        weights = [np.random.default_rng(2).normal(size=w.shape).astype("float32") for w in kl.weights]
        kl.set_weights(weights)
        want = np.asarray(kl(x))
    if kwargs.get("rms_scaling"):
        with pytest.warns(UserWarning, match="rms_scaling"):
            ll = lamina.layers.LayerNormalization(**kwargs)
    else:
        ll = lamina.layers.LayerNormalization(**kwargs)
    ll(x)
    assert [tuple(w.shape) for w in ll.weights] == [w.shape for w in weights]
    ll.set_weights(weights)
    np.testing.assert_allclose(ll(x), want, atol=ATOL)
    assert ll.get_config()["rms_scaling"] == kwargs.get("rms_scaling", False)

