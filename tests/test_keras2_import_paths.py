"""TensorFlow 2.x import paths of Keras 2 code: ``tf.keras.layers.experimental.preprocessing``
and ``tf.keras.optimizers.legacy`` / ``experimental`` give Lamina's classes, and a script
written against them trains like the same script with Keras 3's names."""

import numpy as np

import lamina
from lamina.layers.experimental import preprocessing
from lamina.optimizers import experimental, legacy


def test_paths_name_the_same_classes():
    assert preprocessing.Normalization is lamina.layers.Normalization
    assert preprocessing.TextVectorization is lamina.layers.TextVectorization
    assert lamina.layers.experimental.EinsumDense is lamina.layers.EinsumDense
    assert legacy.Adam is lamina.optimizers.Adam and legacy.SGD is lamina.optimizers.SGD
    assert experimental.AdamW is lamina.optimizers.AdamW


def _fit(norm_cls, opt):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
    lamina.utils.set_random_seed(4)
    norm = norm_cls()
    norm.adapt(x)
    model = lamina.Sequential([lamina.Input((3,)), norm, lamina.layers.Dense(1)])
    model.compile(opt, "mse")
    return model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]


def test_a_tf2_era_script_trains_like_its_keras3_spelling():
    old = _fit(preprocessing.Normalization, legacy.Adam(lr=0.01))
    new = _fit(lamina.layers.Normalization, lamina.optimizers.Adam(learning_rate=0.01))
    np.testing.assert_allclose(old, new, rtol=1e-6)
