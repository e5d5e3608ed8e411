"""keras.applications.EfficientNetV2B0 ... EfficientNetV2L against real Keras 3."""

import os

import numpy as np
import pytest

import lamina
from lamina import applications
from tests import _applications_ref as ref
from tests.helpers import keras_ref

#: (count_params, number of weights, listed layers) of Keras's models with their classifier
#: (32x32 inputs), recorded with Keras 3 (the slow tests compare the architecture live).
KERAS_COUNTS = {
    "EfficientNetV2B0": (7200312, 361, 273),
    "EfficientNetV2B1": (8212124, 443, 337),
    "EfficientNetV2B2": (10178374, 462, 352),
}


@pytest.mark.slow  # initializing millions of weights takes seconds on two cores
@pytest.mark.parametrize("name", sorted(KERAS_COUNTS))
def test_counts_match_keras(name):
    model = getattr(applications, name)(weights=None, input_shape=(32, 32, 3))
    assert (model.count_params(), len(model.weights), len(model.layers)) == KERAS_COUNTS[name]


def test_preprocessing_layers_and_names():
    kw = dict(weights=None, include_top=False, input_shape=(32, 32, 3))
    b0 = applications.EfficientNetV2B0(**kw)
    assert [type(x).__name__ for x in b0.layers[1:4]] == ["Rescaling", "Normalization", "Conv2D"]
    assert b0.name == "efficientnetv2-b0" and b0.output_shape == (None, 1, 1, 1280)
    names = {x.name for x in b0.layers}
    assert {"block1a_project_conv", "block2a_expand_conv", "block4a_dwconv2", "top_conv"} <= names
    s = applications.EfficientNetV2S(**kw)
    assert [type(x).__name__ for x in s.layers[1:3]] == ["Rescaling", "Conv2D"]
    assert s.layers[1].get_config()["offset"] == -1
    raw = applications.EfficientNetV2B0(include_preprocessing=False, **kw)
    assert type(raw.layers[1]).__name__ == "Conv2D"


def test_module_path_and_errors(tmp_path, monkeypatch):
    from lamina.applications.efficientnet_v2 import EfficientNetV2L, preprocess_input

    assert EfficientNetV2L is applications.EfficientNetV2L
    x = np.full((1, 2, 2, 3), 9.0, "float32")
    assert preprocess_input(x) is x
    assert lamina.applications.efficientnet_v2.decode_predictions is (
        applications.imagenet_utils.decode_predictions
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="efficientnetv2-s_notop.h5") as info:
        applications.EfficientNetV2S(include_top=False, input_shape=(32, 32, 3))
    assert "keras-applications/efficientnet_v2/efficientnetv2-s_notop.h5" in str(info.value)
    with pytest.raises(ValueError, match="should be \\(240, 240, 3\\)"):
        applications.EfficientNetV2B1(input_shape=(32, 32, 3))


@pytest.mark.slow
def test_keras_files_and_imagenet_cache_load(keras, tmp_path, monkeypatch):
    kw = dict(input_shape=(32, 32, 3), include_top=False, pooling="avg")
    with keras_ref():
        ker = keras.applications.EfficientNetV2B0(weights=None, **kw)
    lam = applications.EfficientNetV2B0(weights=None, **kw)
    x, want = ref.assert_same_predictions(lam, ker, (32, 32, 3))
    ref.assert_keras_files_load(applications.EfficientNetV2B0, ker, kw, x, want, tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = os.path.join(str(tmp_path), "models", "efficientnetv2-b0_notop.h5")
    ref.keras_legacy_h5(ker, path)
    lam = applications.EfficientNetV2B0(weights="imagenet", **kw)
    np.testing.assert_allclose(lam.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)
