"""keras.applications.ConvNeXtTiny ... ConvNeXtXLarge against real Keras 3."""

import os

import jax
import numpy as np
import pytest

import lamina
from lamina import applications
from lamina.applications._convnext import LayerScale
from tests import _applications_ref as ref
from tests.helpers import keras_ref

#: (count_params, number of weights, listed layers) of Keras's models with their classifier
#: (32x32 inputs), recorded with Keras 3 (the slow tests compare the architecture live).
KERAS_COUNTS = {
    "ConvNeXtTiny": (28589128, 182, 135),
    "ConvNeXtSmall": (50223688, 344, 261),
    "ConvNeXtBase": (88591464, 344, 261),
    "ConvNeXtXLarge": (350196968, 344, 261),
}


@pytest.mark.slow  # initializing tens of millions of weights takes a minute on two cores
@pytest.mark.parametrize("name", sorted(KERAS_COUNTS))
def test_counts_match_keras(name):
    model = getattr(applications, name)(weights=None, input_shape=(32, 32, 3))
    assert (model.count_params(), len(model.weights), len(ref.listed(model))) == (
        KERAS_COUNTS[name]
    )
    assert model.output_shape == (None, 1000)


def test_layer_names_preprocessing_and_nested_stages():
    model = applications.ConvNeXtTiny(weights=None, include_top=False, input_shape=(32, 32, 3))
    names = [x.name for x in ref.listed(model)]
    assert names[1:4] == [
        "convnext_tiny_prestem_normalization",
        "convnext_tiny_stem",
        "convnext_tiny_stage_0_block_0_depthwise_conv",
    ]
    assert type(model.layers[-1]).__name__ == "LayerNormalization"  # Keras normalizes, too
    stem = model.get_layer("convnext_tiny_stem")
    assert [x.name for x in stem.layers] == [
        "convnext_tiny_stem_conv",
        "convnext_tiny_stem_layernorm",
    ]
    assert [w.shape for w in stem.get_weights()] == [(4, 4, 3, 96), (96,), (96,), (96,)]
    raw = applications.ConvNeXtTiny(
        weights=None, include_top=False, include_preprocessing=False, input_shape=(32, 32, 3)
    )
    assert raw.layers[1].name == "convnext_tiny_stem"


def test_layer_scale():
    layer = LayerScale(1e-6, 4, name="scale")
    params, state = layer.init(jax.random.key(0), (None, 3, 4))
    np.testing.assert_array_equal(params["gamma"], np.full((4,), 1e-6, "float32"))
    x = np.arange(12, dtype="float32").reshape(1, 3, 4)
    out, _ = layer.apply({"gamma": np.array([1.0, 2.0, 3.0, 4.0], "float32")}, state, x)
    np.testing.assert_allclose(out, x * np.array([1.0, 2.0, 3.0, 4.0]))
    assert layer.get_config()["init_values"] == 1e-6
    assert layer.get_config()["projection_dim"] == 4


def test_application_layers_draw_their_weights_on_the_host():
    """A model holding an application's own layer (LayerScale, InceptionResNetV2's scale) draws
    its initial weights on the host like the built-in layers: one jitted init program for all of
    InceptionResNetV2's 55M weights took 45 s to compile."""
    from lamina.applications._inception_resnet_v2 import CustomScaleLayer
    from lamina.models.initialization import _host_ready

    assert _host_ready(LayerScale(1e-6, 4)) and _host_ready(CustomScaleLayer(0.1))
    params, _ = LayerScale(1e-6, 4).init(lamina.utils.random.next_host_key(), (None, 3, 4))
    np.testing.assert_array_equal(params["gamma"], np.full((4,), 1e-6, "float32"))


def test_module_path_and_errors(tmp_path, monkeypatch):
    from lamina.applications.convnext import ConvNeXtXLarge, preprocess_input

    assert ConvNeXtXLarge is applications.ConvNeXtXLarge
    x = np.full((1, 2, 2, 3), 9.0, "float32")
    assert preprocess_input(x) is x
    assert lamina.applications.convnext.decode_predictions is (
        applications.imagenet_utils.decode_predictions
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match='Model name "mine" does not match weights variant'):
        applications.ConvNeXtTiny(name="mine", include_top=False, input_shape=(32, 32, 3))
    with pytest.raises(FileNotFoundError, match="convnext_small_notop.h5") as info:
        applications.ConvNeXtSmall(include_top=False, input_shape=(32, 32, 3))
    assert "keras-applications/convnext/convnext_small_notop.h5" in str(info.value)
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        applications.ConvNeXtBase(classes=3)


# ------------------------------------------------------------------ live Keras (slow)
@pytest.mark.slow
def test_keras_files_and_imagenet_cache_load(keras, tmp_path, monkeypatch):
    kw = dict(input_shape=(32, 32, 3), include_top=False)
    with keras_ref():
        ker = keras.applications.ConvNeXtTiny(weights=None, **kw)
    lam = applications.ConvNeXtTiny(weights=None, **kw)
    x, want = ref.assert_same_predictions(lam, ker, (32, 32, 3))
    ref.assert_keras_files_load(applications.ConvNeXtTiny, ker, kw, x, want, tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    ref.keras_legacy_h5(ker, os.path.join(str(tmp_path), "models", "convnext_tiny_notop.h5"))
    lam = applications.ConvNeXtTiny(weights="imagenet", **kw)
    np.testing.assert_allclose(lam.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_input_tensor_is_used():
    inp = lamina.Input((32, 32, 3))
    model = applications.ConvNeXtTiny(weights=None, input_tensor=inp, include_top=False)
    assert model.inputs[0] is inp
    assert model.output_shape == (None, 1, 1, 768)
