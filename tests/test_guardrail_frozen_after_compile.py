"""Keras 2's GAN recipe under Keras 3's rules: ``discriminator.trainable = False`` after its
``compile`` freezes it for ``discriminator.train_on_batch`` too (Keras 3 reads the flag when
training; Keras 2 fixed it at compile).  Lamina matches Keras 3 and says so once."""

import warnings

import numpy as np
import pytest

import lamina
from lamina.training.guardrails import GuardrailWarning
from tests.helpers import keras_ref


def _gan(k):
    d = k.Sequential([k.Input((2,)), k.layers.Dense(4, activation="relu"),
                      k.layers.Dense(1, activation="sigmoid")])  # fmt: skip
    d.compile(loss="binary_crossentropy", optimizer=k.optimizers.Adam(0.01))
    g = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
    d.trainable = False
    gan = k.Sequential([g, d])
    gan.compile(loss="binary_crossentropy", optimizer=k.optimizers.Adam(0.01))
    return d, g, gan


def _step(d, gan):
    rng = np.random.default_rng(0)
    before = [w.copy() for w in d.get_weights()]
    d.train_on_batch(rng.normal(size=(8, 2)), np.ones((8, 1)))
    changed = not all(np.allclose(a, b) for a, b in zip(before, d.get_weights()))
    gan.train_on_batch(rng.normal(size=(8, 3)), np.ones((8, 1)))
    return changed


def test_a_discriminator_frozen_after_compile_does_not_train_as_in_keras3(keras):
    with keras_ref():
        kd, _, kgan = _gan(keras)
        keras_changed = _step(kd, kgan)
    d, _, gan = _gan(lamina)
    with pytest.warns(GuardrailWarning, match=r"compiled while trainable but is now frozen"):
        changed = _step(d, gan)
    assert changed is keras_changed is False


def test_the_warning_comes_once_and_not_when_trainable_again():
    d, _, gan = _gan(lamina)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _step(d, gan)
        _step(d, gan)
    assert sum("now frozen" in str(w.message) for w in caught) == 1
    d2, _, gan2 = _gan(lamina)
    d2.trainable = True  # the Keras 3 way: unfreeze to train it, freeze for the GAN step
    with warnings.catch_warnings():
        warnings.simplefilter("error", GuardrailWarning)
        assert _step(d2, gan2) is True
