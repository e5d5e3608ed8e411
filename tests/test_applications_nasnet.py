"""keras.applications.NASNetMobile / NASNetLarge against real Keras 3.

The counts and shapes in the fast tests are Keras 3.15's (``len(model.layers)``,
``count_params()``, ``output_shape`` of the same call); the slow tests build Keras's models
(15-25 s each on two cores) and compare layer for layer, weights and predictions.
"""

import os

import numpy as np
import pytest

import lamina
from lamina import applications
from lamina.applications import imagenet_utils
from lamina.applications._nasnet import NASNet
from tests import _applications_ref as ref
from tests.helpers import keras_ref

_SMALL = dict(weights=None, include_top=False, input_shape=(32, 32, 3))
_URL = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"


# ------------------------------------------------------------------ Lamina only (fast)
def test_module_paths():
    from lamina.applications.nasnet import NASNetLarge, NASNetMobile, preprocess_input

    assert NASNetMobile is applications.NASNetMobile
    assert NASNetLarge is applications.NASNetLarge
    assert lamina.applications.nasnet.decode_predictions is imagenet_utils.decode_predictions
    x = np.array([[[[0.0, 127.5, 255.0]]]], "float32")
    np.testing.assert_allclose(preprocess_input(x), [[[[-1.0, 0.0, 1.0]]]])  # "tf" mode


def test_mobile_structure_and_input_tensor():
    inp = lamina.Input((32, 32, 3))
    model = applications.NASNetMobile(weights=None, include_top=False, input_tensor=inp)
    assert model.inputs[0] is inp
    assert model.name == "nasnet_mobile"
    # Keras 3: 769 layers, 4,269,716 parameters, a 1x1x1056 feature map for 32x32.
    assert len(ref.listed(model)) == 769
    assert model.count_params() == 4269716
    assert model.output_shape == (None, 1, 1, 1056)
    names = [x.name for x in model.layers]
    for name in ["stem_conv1", "reduction_concat_stem_2", "normal_concat_3", "adjust_conv_2_5",
                 "adjust_conv_projection_reduce_4", "reduction_add3_reduce_8", "normal_concat_12"]:  # fmt: skip
        assert name in names
    assert "normal_concat_13" not in names


def test_mobile_default_input_without_top():
    model = applications.NASNetMobile(weights=None, include_top=False, pooling="max")
    assert model.input_shape == (None, 224, 224, 3)  # as Keras: 224x224 even without the top
    assert model.output_shape == (None, 1056)


def test_large_structure():
    model = applications.NASNetLarge(**_SMALL)
    assert model.name == "nasnet_large"
    # Keras 3: 1039 layers, 84,916,818 parameters.
    assert len(ref.listed(model)) == 1039
    assert model.count_params() == 84916818
    assert model.output_shape == (None, 1, 1, 4032)
    names = [x.name for x in model.layers]
    # Keras's numbering: normal cells 0-5, reduce_6, 7-12, reduce_12, 13-18.
    for name in ["normal_concat_5", "reduction_concat_reduce_6", "normal_concat_7",
                 "reduction_concat_reduce_12", "normal_concat_12", "normal_concat_18"]:  # fmt: skip
        assert name in names
    assert "normal_concat_6" not in names and "normal_concat_19" not in names


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="`weights` argument should be either"):
        applications.NASNetMobile(weights=str(tmp_path / "nope.h5"))
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        applications.NASNetLarge(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="must be static"):
        applications.NASNetMobile(include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"should be \(224, 224, 3\)"):
        applications.NASNetMobile(input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"should be \(331, 331, 3\)"):
        applications.NASNetLarge(input_shape=(224, 224, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        applications.NASNetMobile(weights=None, include_top=False, input_shape=(31, 64, 3))
    with pytest.raises(ValueError, match="Only `None` and `softmax`"):
        applications.NASNetMobile(classifier_activation="relu")
    with pytest.raises(ValueError, match="`pooling` must be None, 'avg' or 'max'"):
        applications.NASNetMobile(**_SMALL, pooling="mean")
    with pytest.raises(ValueError, match="`penultimate_filters` must be a multiple of 24"):
        NASNet(weights=None, input_shape=(32, 32, 3), penultimate_filters=100)
    lamina.backend.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="NASNet does not support the `channels_first`"):
            applications.NASNetMobile(weights=None)
    finally:
        lamina.backend.set_image_data_format("channels_last")


def test_imagenet_file_missing_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        applications.NASNetMobile(include_top=False, input_shape=(32, 32, 3))
    msg = str(info.value)
    assert "'nasnet_mobile_no_top.h5'" in msg
    assert _URL + "NASNet-mobile-no-top.h5" in msg
    assert os.path.join(str(tmp_path), "models") in msg


# ------------------------------------------------------------------ live Keras (slow)
_TOP_KW = dict(input_shape=(32, 32, 3), classes=5, classifier_activation=None)
_TOP = dict(weights=None, **_TOP_KW)


@pytest.fixture(scope="module")
def keras_mobile():
    keras = pytest.importorskip("keras")
    with keras_ref():
        return keras.applications.NASNetMobile(**_TOP)


@pytest.fixture(scope="module")
def mobile_features(keras_mobile):
    """Keras's randomized weights, an input batch and Keras's outputs: logits and features."""
    import keras

    ref.randomize(keras_mobile, seed=0)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    with keras_ref():
        logits = keras_mobile.predict(x, verbose=0)
        body = keras.Model(keras_mobile.inputs, keras_mobile.layers[-3].output)
        features = body.predict(x, verbose=0)
    return x, logits, features


@pytest.mark.slow
def test_mobile_matches_keras_and_its_files_load(keras_mobile, mobile_features, tmp_path):
    lam = applications.NASNetMobile(**_TOP)
    ref.assert_same_architecture(lam, keras_mobile)
    assert lam.layers[-1].get_config()["activation"] == "linear"
    x, logits, _ = mobile_features
    lam.set_weights(keras_mobile.get_weights())
    assert float(np.std(logits)) > 1e-3
    np.testing.assert_allclose(lam.predict(x, verbose=0), logits, rtol=1e-4, atol=1e-4)
    ref.assert_keras_files_load(applications.NASNetMobile, keras_mobile, _TOP_KW, x, logits,
                                tmp_path)  # fmt: skip


@pytest.mark.slow
def test_mobile_imagenet_cache_file_loads(keras_mobile, mobile_features, tmp_path, monkeypatch):
    """The published files are legacy ``.h5``; every weighted layer has a fixed name, so they
    load by name (the no-top file here also holds Keras's classifier, which is skipped)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    path = os.path.join(str(tmp_path), "models", "nasnet_mobile_no_top.h5")
    ref.keras_legacy_h5(keras_mobile, path)
    lam = applications.NASNetMobile(include_top=False, input_shape=(32, 32, 3))
    x, _, features = mobile_features
    np.testing.assert_allclose(lam.predict(x, verbose=0), features, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_mobile_pooling_matches_keras_features(keras_mobile, mobile_features, pooling):
    lam = applications.NASNetMobile(**_SMALL, pooling=pooling)
    lam.set_weights(keras_mobile.get_weights()[:-2])  # all but the classifier
    x, _, features = mobile_features
    want = features.mean(axis=(1, 2)) if pooling == "avg" else features.max(axis=(1, 2))
    assert lam.output_shape == (None, 1056)
    np.testing.assert_allclose(lam.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_large_matches_keras(keras):
    with keras_ref():
        ker = keras.applications.NASNetLarge(**_SMALL)
    lam = applications.NASNetLarge(**_SMALL)
    ref.assert_same_architecture(lam, ker)
    ref.assert_same_predictions(lam, ker, (32, 32, 3), atol=1e-3)
