"""keras.applications.MobileNetV3Small / MobileNetV3Large against real Keras 3."""

import os

import numpy as np
import pytest

import lamina
from lamina import applications
from tests import _applications_ref as ref
from tests.helpers import keras_ref

#: (count_params, number of weights, listed layers) of Keras's models (32x32 inputs), recorded
#: with Keras 3 (the slow tests below compare the whole architecture live).
KERAS_COUNTS = {
    ("MobileNetV3Small", ()): (2554968, 210, 164),
    ("MobileNetV3Large", ()): (5507432, 266, 194),
}


@pytest.mark.parametrize("name", ["MobileNetV3Small", "MobileNetV3Large"])
def test_counts_match_keras(name):
    model = getattr(applications, name)(weights=None, input_shape=(32, 32, 3))
    want = KERAS_COUNTS[(name, ())]
    assert (model.count_params(), len(model.weights), len(ref.listed(model))) == want
    assert model.name == name and model.output_shape == (None, 1000)


def test_options_shape_the_model():
    kw = dict(weights=None, input_shape=(32, 32, 3))
    small = applications.MobileNetV3Small(include_top=False, pooling="avg", **kw)
    assert small.output_shape == (None, 576)
    assert type(small.layers[1]).__name__ == "Rescaling"
    raw = applications.MobileNetV3Small(include_top=False, include_preprocessing=False, **kw)
    assert type(raw.layers[1]).__name__ == "Conv2D"
    minimal = applications.MobileNetV3Large(minimalistic=True, alpha=0.75, classes=7, **kw)
    assert minimal.output_shape == (None, 7)
    kinds = {type(x).__name__ for x in minimal.layers}
    assert "Multiply" not in kinds  # no squeeze-excite when minimalistic
    acts = {
        x.get_config()["activation"] for x in minimal.layers if type(x).__name__ == "Activation"
    }
    assert "hard_silu" not in acts
    full = applications.MobileNetV3Large(classes=7, **kw)
    assert "hard_silu" in {  # Keras 3 names hard_swish so
        x.get_config()["activation"] for x in full.layers if type(x).__name__ == "Activation"
    }
    free = applications.MobileNetV3Small(weights=None, include_top=False)
    assert free.input_shape == (None, None, None, 3)


def test_module_path_and_preprocessing():
    from lamina.applications.mobilenet_v3 import MobileNetV3Large, preprocess_input

    assert MobileNetV3Large is applications.MobileNetV3Large
    x = np.full((1, 2, 2, 3), 200.0, "float32")
    assert preprocess_input(x) is x
    assert lamina.applications.mobilenet_v3.decode_predictions is (
        applications.imagenet_utils.decode_predictions
    )


def test_imagenet_argument_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="alpha can be one of `0.75`, `1.0`"):
        applications.MobileNetV3Small(alpha=0.5)
    with pytest.raises(ValueError, match="alpha can be one of"):
        applications.MobileNetV3Large(alpha=0.75, minimalistic=True)
    with pytest.raises(ValueError, match="at least 32x32"):
        applications.MobileNetV3Small(weights=None, input_shape=(16, 16, 3))
    with pytest.raises(FileNotFoundError) as info:
        applications.MobileNetV3Large(include_top=False, input_shape=(224, 224, 3))
    name = "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"
    assert name in str(info.value)
    assert "keras-applications/mobilenet_v3/" + name in str(info.value)
    with (
        pytest.warns(UserWarning, match="Weights for input shape"),
        pytest.raises(
            FileNotFoundError, match="weights_mobilenet_v3_small_minimalistic_224_1.0_float.h5"
        ),
    ):
        applications.MobileNetV3Small(minimalistic=True, input_shape=(96, 96, 3))


# ------------------------------------------------------------------ live Keras (slow)
@pytest.mark.slow
def test_keras_files_and_imagenet_cache_load(keras, tmp_path, monkeypatch):
    kw = dict(input_shape=(32, 32, 3), include_top=False)
    with keras_ref():
        ker = keras.applications.MobileNetV3Small(weights=None, **kw)
    lam = applications.MobileNetV3Small(weights=None, **kw)
    x, want = ref.assert_same_predictions(lam, ker, (32, 32, 3))
    ref.assert_keras_files_load(applications.MobileNetV3Small, ker, kw, x, want, tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    file_name = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
    ref.keras_legacy_h5(ker, os.path.join(str(tmp_path), "models", file_name))
    with pytest.warns(UserWarning, match="Weights for input shape"):
        lam = applications.MobileNetV3Small(weights="imagenet", **kw)
    np.testing.assert_allclose(lam.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


def test_input_tensor_is_used():
    inp = lamina.Input((40, 32, 3))
    model = applications.MobileNetV3Small(weights=None, input_tensor=inp, include_top=False)
    assert model.inputs[0] is inp
    assert model.output_shape == (None, 2, 1, 576)
