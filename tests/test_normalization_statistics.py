"""``Normalization.mean`` / ``.variance`` as Keras reads them: broadcast to the input's rank
(the Auto MPG tutorial prints ``normalizer.mean.numpy()``), also for a layer adapted inside a
``Sequential`` that has no input shape yet (the ViT example's ``data_augmentation``)."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _cases(k, x):
    standalone = k.layers.Normalization(axis=-1)
    standalone.adapt(x)
    scalar = k.layers.Normalization(axis=None)
    scalar.adapt(x[:, 0])
    seq = k.Sequential([k.layers.Normalization(), k.layers.Dense(2)])
    seq.layers[0].adapt(x)
    inputs = k.Input((3,))
    given = k.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 4.0, 4.0])
    k.Model(inputs, given(inputs))
    return [standalone, scalar, seq.layers[0], given]


def test_statistics_shapes_and_values_match_keras(keras):
    x = np.random.default_rng(0).random((20, 3)).astype("float32")
    with keras_ref():
        want = [(np.asarray(n.mean), np.asarray(n.variance)) for n in _cases(keras, x)]
    got = _cases(lamina, x)
    for layer, (mean, variance) in zip(got, want):
        assert layer.mean.shape == mean.shape and layer.variance.shape == variance.shape
        np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(layer.variance), variance, rtol=1e-5)


def test_statistics_before_adapt_are_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'mean'"):  # as Keras
        _ = lamina.layers.Normalization().mean
