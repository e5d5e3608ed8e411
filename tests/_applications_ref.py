"""Parity helpers for the application families added after the first set (MobileNetV3, ConvNeXt,
EfficientNetV2, InceptionResNetV2): architecture, weights and predictions against real Keras 3.

Keras writes ``x + 3.0`` and ``inputs + branch`` as graph operations that ``model.layers`` does
not list; Lamina records them as weightless ``TensorOp`` layers, so the comparisons skip those.
"""

import os
import re

import numpy as np

from lamina._naming import snake_case
from lamina.layers.symbolic import TensorOp
from tests.helpers import keras_ref
from tests.test_applications import _EXTRA_KEYS

#: Config entries where Lamina's layers still differ from Keras's (not the applications' doing):
#: LayerNormalization writes ``axis=-1`` where a built Keras layer writes ``[-1]``; a nested
#: Sequential's config lists its layers in another form and has no ``build_input_shape``.
_KNOWN_CONFIG_GAPS = {
    ("LayerNormalization", "axis"),
    ("Sequential", "layers"),
    ("Sequential", "build_input_shape"),
}


def listed(model):
    """``model.layers`` as Keras lists them (no graph operations)."""
    return [layer for layer in model.layers if not isinstance(layer, TensorOp)]


def _table(model):
    rows = []
    for layer in listed(model):
        kind = type(layer).__name__
        name = layer.name
        if kind == "InputLayer" or re.fullmatch(rf"{snake_case(kind)}(_\d+)?", name):
            name = re.sub(r"_\d+$", "", name)  # automatic names count every earlier layer
        rows.append((kind, name, [tuple(w.shape) for w in layer.weights]))
    return rows


def assert_same_architecture(lam, ker):
    """Equal model name, layer types/names/order, weight shapes and config values."""
    assert lam.name == ker.name
    assert _table(lam) == _table(ker)
    for a, b in zip(listed(lam), ker.layers):
        ca, cb = a.get_config(), b.get_config()
        for key in (set(ca) | set(cb)) - _EXTRA_KEYS - {"name"}:
            if (type(a).__name__, key) not in _KNOWN_CONFIG_GAPS:
                assert ca.get(key) == cb.get(key), (a.name, key, ca.get(key), cb.get(key))


def randomize(ker, seed=0):
    """Gives Keras's model non-trivial weights (fresh batch-norm statistics make the outputs of
    deep models nearly constant) and returns them."""
    rng = np.random.default_rng(seed)
    weights = []
    for v in ker.weights:
        w = np.asarray(v)
        if "variance" in v.path or "gamma" in v.path:
            w = rng.uniform(0.8, 1.2, w.shape)
        else:
            w = w * rng.uniform(0.8, 1.2, w.shape) + rng.normal(0, 0.02, w.shape)
        weights.append(w.astype("float32"))
    ker.set_weights(weights)
    return weights


def assert_same_predictions(lam, ker, shape, seed=0, atol=1e-4):
    """Copies Keras's (randomized) weights into Lamina's model by order; equal predictions."""
    randomize(ker, seed)
    lam.set_weights(ker.get_weights())
    x = np.random.default_rng(seed).uniform(0, 255, (2, *shape)).astype("float32")
    with keras_ref():
        want = ker.predict(x, verbose=0)
    got = lam.predict(x, verbose=0)
    assert float(np.std(want)) > 1e-3
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)
    return x, want


def assert_keras_files_load(lam_builder, ker, kw, x, want, tmp_path):
    """Keras's ``.weights.h5`` and ``.keras`` files load as ``weights=path``; Lamina's
    ``.weights.h5`` loads back into Keras."""
    paths = [str(tmp_path / "k.weights.h5"), str(tmp_path / "k.keras")]
    with keras_ref():
        ker.save_weights(paths[0])
        ker.save(paths[1])
    for path in paths:
        lam = lam_builder(weights=path, **kw)
        np.testing.assert_allclose(lam.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)
    back = os.path.join(str(tmp_path), "lamina.weights.h5")
    lam.save_weights(back)
    with keras_ref():
        ker.load_weights(back)
        again = ker.predict(x, verbose=0)
    np.testing.assert_allclose(again, want, rtol=1e-4, atol=1e-4)


def keras_legacy_h5(keras_model, path):
    """Writes Keras's legacy ``.h5`` weights file (the layout of the published ImageNet files)."""
    from tests.test_applications import _keras_legacy_h5

    _keras_legacy_h5(keras_model, path)
