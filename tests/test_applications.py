"""keras.applications: architectures, weights files and ImageNet helpers against real Keras 3."""

import json
import os
import re

import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import applications
from lamina.applications import imagenet_utils
from tests.helpers import keras_ref

#: Keras config keys Lamina's layers do not write (defaults only).
_EXTRA_KEYS = {"dtype", "optional", "quantization_config", "build_config"}


def _auto(name):
    return re.sub(r"_\d+$", "", name)


def _snake(class_name):
    """Keras's automatic layer name of a class (``GlobalAveragePooling2D`` ->
    ``global_average_pooling2d``)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def assert_same_architecture(lam, ker, auto_names=False):
    """Equal model name, layer names/types/order, weight shapes and shared config values."""
    assert lam.name == ker.name
    def norm(layer):
        # An auto-named layer's counter (rescaling_9) counts every such layer made in the
        # process so far, in each library: it depends on which tests ran before.
        auto = auto_names or _auto(layer.name) == _snake(type(layer).__name__)
        return _auto(layer.name) if auto else layer.name

    got = [(type(x).__name__, norm(x), [tuple(w.shape) for w in x.weights]) for x in lam.layers]
    want = [(type(x).__name__, norm(x), [tuple(w.shape) for w in x.weights]) for x in ker.layers]
    assert got == want
    for a, b in zip(lam.layers, ker.layers):
        ca, cb = a.get_config(), b.get_config()
        for key in (set(ca) | set(cb)) - _EXTRA_KEYS - {"name"}:
            assert ca.get(key) == cb.get(key), (a.name, key)


def assert_same_outputs(lam, ker, shape, rng, atol=1e-4):
    lam.set_weights(ker.get_weights())
    x = rng.uniform(0, 255, (2, *shape)).astype("float32")
    with keras_ref():
        want = ker.predict(x, verbose=0)
    got = lam.predict(x, verbose=0)
    assert float(np.std(want)) > 0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)


# ------------------------------------------------------------------ architectures (fast)
#: One small Keras model shared by the default-suite tests (building Keras models is slow).
_SMALL = dict(alpha=0.25, input_shape=(32, 32, 3), include_top=False)


@pytest.fixture(scope="module")
def keras_mobilenet():
    keras = pytest.importorskip("keras")
    with keras_ref():
        return keras.applications.MobileNet(weights=None, **_SMALL)


def test_mobilenet_matches_keras(keras_mobilenet, rng):
    lam = lamina.applications.MobileNet(weights=None, **_SMALL)
    assert_same_architecture(lam, keras_mobilenet)
    assert lam.output_shape == (None, 1, 1, 256)
    assert_same_outputs(lam, keras_mobilenet, (32, 32, 3), rng)


def test_keras2_module_paths():
    from lamina.applications.mobilenet_v2 import MobileNetV2, preprocess_input
    from lamina.applications.vgg16 import VGG16

    assert VGG16 is applications.VGG16 and MobileNetV2 is applications.MobileNetV2
    assert float(preprocess_input(np.full((1, 1, 1, 3), 255.0, "float32")).max()) == 1.0
    assert lamina.applications.resnet50.ResNet50 is applications.ResNet50
    assert lamina.applications.densenet.DenseNet121 is applications.DenseNet121


def test_misspelled_application_is_named():
    with pytest.raises(AttributeError, match="Did you mean 'ResNet50'"):
        lamina.applications.ResNet5O  # noqa: B018


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="`weights` argument should be either"):
        applications.VGG16(weights=str(tmp_path / "nope.h5"))
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        applications.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="Input size must be at least 32"):
        applications.ResNet50(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="`pooling` must be None, 'avg' or 'max'"):
        applications.MobileNet(weights=None, include_top=False, input_shape=(32, 32, 3),
                               alpha=0.25, pooling="mean")  # fmt: skip
    with pytest.raises(ValueError, match="Only `None` and `softmax`"):
        applications.MobileNetV2(alpha=0.35, classifier_activation="relu", input_shape=(96, 96, 3))


def test_input_tensor_is_used():
    inp = lamina.Input((32, 32, 3))
    model = applications.MobileNetV2(weights=None, alpha=0.35, input_tensor=inp, include_top=False)
    assert model.inputs[0] is inp
    assert model.output_shape == (None, 1, 1, 1280)


# ------------------------------------------------------------------ weights files
def _keras_legacy_h5(keras_model, path):
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)


def _assert_same_weights(lam, ker):
    for a, b in zip(lam.get_weights(), ker.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_imagenet_weights_from_cache(keras_mobilenet, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    _keras_legacy_h5(keras_mobilenet, str(tmp_path / "models" / "mobilenet_2_5_224_tf_no_top.h5"))
    with pytest.warns(UserWarning, match="Weights for input shape"):
        lam = applications.MobileNet(weights="imagenet", **_SMALL)
    _assert_same_weights(lam, keras_mobilenet)


def test_imagenet_weights_missing_file_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        applications.MobileNetV2(weights="imagenet", alpha=0.35, include_top=False,
                                 input_shape=(96, 96, 3))  # fmt: skip
    msg = str(info.value)
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert name in msg
    assert (
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" + name in msg
    )
    assert os.path.join(str(tmp_path), "models") in msg


def test_keras_weights_h5_file_loads(keras_mobilenet, tmp_path):
    path = str(tmp_path / "mobilenet.weights.h5")
    with keras_ref():
        keras_mobilenet.save_weights(path)
    lam = applications.MobileNet(weights=path, **_SMALL)
    _assert_same_weights(lam, keras_mobilenet)


def test_wrong_weights_file_is_refused(keras_mobilenet, tmp_path):
    path = str(tmp_path / "mobilenet.h5")
    _keras_legacy_h5(keras_mobilenet, path)
    with pytest.raises(ValueError, match="layer"):
        applications.MobileNetV2(weights=path, alpha=0.35, input_shape=(32, 32, 3),
                                 include_top=False)  # fmt: skip


# ------------------------------------------------------------------ ImageNet helpers
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("ndim", [3, 4])
def test_preprocess_input_matches_keras(keras, rng, mode, data_format, ndim):
    from keras.src.applications import imagenet_utils as kiu

    shape = ((2,) if ndim == 4 else ()) + (
        (3, 4, 5) if data_format == "channels_first" else (4, 5, 3)
    )
    x = rng.uniform(0, 255, shape).astype("float32")
    with keras_ref():
        want = np.asarray(kiu.preprocess_input(x.copy(), data_format=data_format, mode=mode))
        want_t = np.asarray(
            kiu.preprocess_input(jnp.asarray(x), data_format=data_format, mode=mode)
        )
    got = imagenet_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
    got_t = imagenet_utils.preprocess_input(jnp.asarray(x), data_format=data_format, mode=mode)
    np.testing.assert_allclose(np.asarray(got_t), want_t, rtol=1e-6, atol=1e-5)


def test_preprocess_input_integer_and_errors():
    x = np.full((1, 1, 1, 3), 255, "uint8")
    out = lamina.applications.resnet50.preprocess_input(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, 0], [255 - 103.939, 255 - 116.779, 255 - 123.68], 1e-5)
    with pytest.raises(ValueError, match="Expected mode to be one of"):
        imagenet_utils.preprocess_input(x, mode="keras")
    with pytest.raises(ValueError, match="Expected data_format"):
        imagenet_utils.preprocess_input(x, data_format="nhwc")


def test_decode_predictions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    with pytest.raises(FileNotFoundError, match="imagenet_class_index.json"):
        applications.vgg16.decode_predictions(np.ones((1, 1000)))
    (tmp_path / "models").mkdir()
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    preds = np.zeros((2, 1000), "float32")
    preds[0, 7], preds[0, 3], preds[1, 999] = 0.9, 0.5, 0.4
    out = applications.vgg16.decode_predictions(preds, top=2)
    assert [r[:2] for r in out[0]] == [("n00000007", "class_7"), ("n00000003", "class_3")]
    assert out[1][0][:2] == ("n00000999", "class_999")
    assert out[0][0][2] == pytest.approx(0.9)
    with pytest.raises(ValueError, match=r"shape \(samples, 1000\)"):
        applications.vgg16.decode_predictions(np.ones((2, 10)))


def test_decode_predictions_refuses_bad_index(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "_CLASS_INDEX", None)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_text("not json")
    with pytest.raises(ValueError, match="not a valid ImageNet class index"):
        applications.vgg16.decode_predictions(np.ones((1, 1000)))


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_input_inside_a_functional_model(keras, rng, mode):
    from keras.src.applications import imagenet_utils as kiu

    inputs = lamina.Input((4, 5, 3))
    model = lamina.Model(inputs, imagenet_utils.preprocess_input(inputs, mode=mode))
    x = rng.uniform(0, 255, (2, 4, 5, 3)).astype("float32")
    with keras_ref():
        want = np.asarray(kiu.preprocess_input(x.copy(), mode=mode))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
