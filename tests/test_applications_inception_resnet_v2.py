"""keras.applications.InceptionResNetV2 against real Keras 3."""

import os

import numpy as np
import pytest

import lamina
from lamina import applications
from lamina.applications._inception_resnet_v2 import CustomScaleLayer
from tests import _applications_ref as ref
from tests.helpers import keras_ref


def test_structure():
    model = applications.InceptionResNetV2(weights=None, include_top=False, input_shape=(75, 75, 3))
    assert model.name == "inception_resnet_v2" and model.output_shape == (None, 1, 1, 1536)
    names = [x.name for x in model.layers]
    for name in ["mixed_5b", "block35_10_ac", "mixed_6a", "block17_20_conv", "block8_10_conv"]:
        assert name in names
    assert "block8_10_ac" not in names  # the last block has no activation, as in Keras
    assert names[-3:] == ["conv_7b", "conv_7b_bn", "conv_7b_ac"]
    scales = [x.scale for x in model.layers if isinstance(x, CustomScaleLayer)]
    assert scales == [0.17] * 10 + [0.1] * 20 + [0.2] * 9 + [1.0]


def test_custom_scale_layer():
    out, _ = CustomScaleLayer(0.1).apply({}, {}, [np.ones((1, 2)), np.full((1, 2), 5.0)])
    np.testing.assert_allclose(out, [[1.5, 1.5]])
    with pytest.raises(ValueError, match="list of two tensors"):
        CustomScaleLayer(0.1).apply({}, {}, np.ones((1, 2)))


def test_module_path_and_errors(tmp_path, monkeypatch):
    from lamina.applications.inception_resnet_v2 import InceptionResNetV2, preprocess_input

    assert InceptionResNetV2 is applications.InceptionResNetV2
    x = np.full((1, 1, 1, 3), 255.0, "float32")
    np.testing.assert_allclose(preprocess_input(x), 1.0)  # "tf" mode
    assert lamina.applications.inception_resnet_v2.decode_predictions is (
        applications.imagenet_utils.decode_predictions
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        applications.InceptionResNetV2(include_top=False, input_shape=(75, 75, 3))
    name = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert "keras-applications/inception_resnet_v2/" + name in str(info.value)
    with pytest.raises(ValueError, match="at least 75x75"):
        applications.InceptionResNetV2(weights=None, include_top=False, input_shape=(64, 64, 3))


# ------------------------------------------------------------------ live Keras (slow)
@pytest.mark.slow
def test_keras_files_and_imagenet_cache_load(keras, tmp_path, monkeypatch):
    kw = dict(input_shape=(75, 75, 3), include_top=False, pooling="avg")
    with keras_ref():
        # Shifts Keras's automatic names (conv2d_N, ...) away from Lamina's: loads go by order.
        keras.layers.Conv2D(1, 1)
        keras.layers.BatchNormalization()
        keras.layers.Activation("relu")
        ker = keras.applications.InceptionResNetV2(weights=None, **kw)
    lam = applications.InceptionResNetV2(weights=None, **kw)
    x, want = ref.assert_same_predictions(lam, ker, (75, 75, 3), atol=1e-3)
    ref.assert_keras_files_load(applications.InceptionResNetV2, ker, kw, x, want, tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    name = "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ref.keras_legacy_h5(ker, os.path.join(str(tmp_path), "models", name))
    lam = applications.InceptionResNetV2(weights="imagenet", **kw)  # auto-named: by order
    np.testing.assert_allclose(lam.predict(x, verbose=0), want, rtol=1e-4, atol=1e-3)
