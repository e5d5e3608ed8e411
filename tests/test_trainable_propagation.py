"""``model.trainable = ...`` sets every layer's flag, as Keras's setter does (the transfer-learning
guide's freeze / unfreeze), while constructing or loading a model leaves its layers' own flags."""

import numpy as np

import lamina
from tests.helpers import keras_ref


def _guide(k):
    inner = k.Sequential([k.Input((3,)), k.layers.Dense(3), k.layers.Dense(3)])
    model = k.Sequential([k.Input((3,)), inner, k.layers.Dense(3, activation="sigmoid")])
    seen = []
    model.trainable = False  # freeze the outer model: every layer inside follows
    seen.append((inner.trainable, inner.layers[0].trainable, len(model.trainable_weights)))
    inner.layers[0].trainable = True  # the outer flag still gates the weights
    seen.append((inner.trainable, inner.layers[0].trainable, len(model.trainable_weights)))
    model.trainable = True  # unfreezes everything, the layer frozen alone included
    seen.append((inner.trainable, inner.layers[1].trainable, len(model.trainable_weights)))
    return seen


def test_setting_trainable_on_a_model_sets_its_layers_as_keras(keras):
    with keras_ref():
        expected = _guide(keras)
    assert _guide(lamina) == expected


def test_a_frozen_base_model_trains_only_the_head_then_unfreezes(keras):
    def build(k):
        base = k.Sequential([k.Input((4,)), k.layers.Dense(5), k.layers.BatchNormalization()])
        base.trainable = False
        inputs = k.Input((4,))
        outputs = k.layers.Dense(1)(base(inputs, training=False))
        return base, k.Model(inputs, outputs)

    with keras_ref():
        k_base, k_model = build(keras)
        k_counts = [(len(k_model.trainable_weights), len(k_model.non_trainable_weights))]
        k_base.trainable = True
        k_counts.append((len(k_model.trainable_weights), len(k_model.non_trainable_weights)))
    base, model = build(lamina)
    counts = [(len(model.trainable_weights), len(model.non_trainable_weights))]
    x, y = np.random.default_rng(0).normal(size=(16, 4)).astype("float32"), np.ones((16, 1))
    model.compile(optimizer="sgd", loss="mse")
    frozen = [w.copy() for w in base.get_weights()]
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(base.get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
    base.trainable = True
    counts.append((len(model.trainable_weights), len(model.non_trainable_weights)))
    assert counts == k_counts
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(base.get_weights()[0], frozen[0])


def test_construction_and_loading_keep_each_layers_flag(tmp_path):
    frozen = lamina.layers.Dense(2, name="frozen")
    frozen.trainable = False
    model = lamina.Sequential([lamina.Input((3,)), frozen, lamina.layers.Dense(1)])
    assert model.trainable and not model.layers[0].trainable
    model.save(tmp_path / "m.keras")
    loaded = lamina.models.load_model(tmp_path / "m.keras")
    assert loaded.trainable and [la.trainable for la in loaded.layers] == [False, True]
    inputs = lamina.Input((3,))
    functional = lamina.Model(inputs, lamina.layers.Dense(1)(frozen(inputs)), trainable=True)
    assert functional.trainable and not frozen.trainable
