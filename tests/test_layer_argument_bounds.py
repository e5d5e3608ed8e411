"""Sizes that cannot be are refused when the layer is made, as Keras refuses them.

Keras's ``standardize_tuple`` checks ``kernel_size``, ``strides``, ``dilation_rate``,
``pool_size`` and ``size`` (> 0), ``output_padding`` and ``cropping`` (>= 0), and
``Reshape`` its dimensions (>= 0 or -1); Lamina accepted them and failed later, or loaded a
hostile config with ``Cropping1D(cropping=[-10**9, 0])``.  Reference: real Keras raises too.
"""

from __future__ import annotations

import pytest

import lamina
from tests.helpers import keras_ref

CASES = [
    ("Cropping1D", {"cropping": (-1, 0)}, "cannot be negative"),
    ("UpSampling2D", {"size": -1}, "integers >= 1"),
    ("UpSampling3D", {"size": 0}, "integers >= 1"),
    ("Conv2D", {"filters": 2, "kernel_size": 0}, "integers >= 1"),
    ("Conv1D", {"filters": 2, "kernel_size": 3, "strides": 0}, "integers >= 1"),
    ("Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": (1, 0)}, "integers >= 1"),
    ("MaxPooling2D", {"pool_size": 0}, "integers >= 1"),
    ("AveragePooling1D", {"pool_size": 2, "strides": -1}, "integers >= 1"),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": -1},
     "integers >= 0"),
    ("Reshape", {"target_shape": (-2, 3)}, "non-negative integers, or -1"),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,kwargs,message", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_impossible_sizes_are_refused_as_keras_refuses_them(keras, name, kwargs, message):
    with keras_ref(), pytest.raises(ValueError):
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(lamina.layers, name)(**kwargs)


def test_valid_sizes_still_build():
    assert lamina.layers.Cropping1D((0, 2)).cropping == (0, 2)
    assert lamina.layers.Conv2D(2, 1, strides=1).kernel_size == (1, 1)
    assert lamina.layers.Conv2DTranspose(2, 3, strides=2, output_padding=0).output_padding == (0, 0)
    assert lamina.layers.Reshape((-1, 0)).target_shape == (-1, 0)
