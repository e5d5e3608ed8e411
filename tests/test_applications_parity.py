"""Applications with real Keras 3: ImageNet files loaded by layer order, the EfficientNet
rescaling, a transfer-learning step (slow: building Keras's models takes seconds each). Every
architecture is compared with Keras's record in ``test_applications_record.py``."""

import os
import time

import numpy as np
import pytest

import lamina
from lamina import applications
from tests.helpers import keras_ref
from tests.test_applications import (
    _assert_same_weights,
    _keras_legacy_h5,
)

pytestmark = pytest.mark.slow

def test_resnet50_builds_fast():
    start = time.process_time()
    model = applications.ResNet50(weights=None)
    assert time.process_time() - start < 5.0
    assert model.count_params() == 25636712


def test_inception_imagenet_file_loads_by_layer_order(keras, tmp_path, monkeypatch):
    """Keras's auto-named layers (conv2d_12, ...) differ between sessions: files load in order."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    kw = dict(input_shape=(75, 75, 3), include_top=False)
    with keras_ref():
        keras.applications.InceptionV3(weights=None, **kw)  # shifts Keras's name counters
        ker = keras.applications.InceptionV3(weights=None, **kw)
    path = os.path.join(
        str(tmp_path), "models", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    _keras_legacy_h5(ker, path)
    lam = applications.InceptionV3(weights="imagenet", **kw)
    _assert_same_weights(lam, ker)


def test_efficientnet_imagenet_adds_the_stddev_rescaling(keras, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    kw = dict(input_shape=(32, 32, 3), include_top=False)
    with keras_ref():
        ker = keras.applications.EfficientNetB0(weights=None, **kw)
    _keras_legacy_h5(ker, os.path.join(str(tmp_path), "models", "efficientnetb0_notop.h5"))
    lam = applications.EfficientNetB0(weights="imagenet", **kw)
    assert [type(x).__name__ for x in lam.layers[1:4]] == [
        "Rescaling",
        "Normalization",
        "Rescaling",
    ]
    _assert_same_weights(lam, ker)


def _transfer_model(lib, base):
    base.trainable = False
    inputs = lib.Input((32, 32, 3))
    x = base(inputs, training=False)
    x = lib.layers.GlobalAveragePooling2D()(x)
    outputs = lib.layers.Dense(3, activation="softmax")(x)
    model = lib.Model(inputs, outputs)
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return model


def test_transfer_learning_step_matches_keras(keras, rng):
    kw = dict(weights=None, alpha=0.25, input_shape=(32, 32, 3), include_top=False)
    with keras_ref():
        ker = _transfer_model(keras, keras.applications.MobileNet(**kw))
    lam = _transfer_model(lamina, applications.MobileNet(**kw))
    for a, b in zip(lam.layers, ker.layers):  # per layer: see the report on nested weight order
        a.set_weights(b.get_weights())
    x = rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, (8,))
    with keras_ref():
        want = ker.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"]
    got = lam.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-4)
    assert len(lam.trainable_weights) == 2
    for la, lb in zip(lam.layers, ker.layers):
        for a, b in zip(la.get_weights(), lb.get_weights()):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
