"""``.keras`` files both ways for a functional model whose outputs come straight from a nested
functional model (Keras numbers such a model's calls from 1 in ``output_layers``: its own
built-in node comes first), and a ``Discretization`` layer (Keras's config has no
``trainable``)."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _nested(k, calls):
    x1, x2 = k.Input((4,)), k.Input((4,))
    a = k.Input((4,))
    inner = k.Model(a, k.layers.Dense(3)(a), name="inner")
    shared = k.layers.Dense(2)
    outputs = [shared(x1), inner(x1)] + ([inner(x2)] if calls == 2 else [])
    return k.Model([x1, x2], outputs)


def _discretized(k):
    inputs = k.Input((3,))
    bins = k.layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])(inputs)
    return k.Model(inputs, k.layers.Dense(2)(k.ops.cast(bins, "float32")))


@pytest.mark.parametrize("build", [lambda k: _nested(k, 1), lambda k: _nested(k, 2), _discretized])
def test_files_load_both_ways(keras, tmp_path, build):
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(5, 4)).astype("float32") for _ in range(2)]
    if build is _discretized:
        x = rng.normal(size=(5, 3)).astype("float32")
    with keras_ref():
        ref = build(keras)
        ref.set_weights([rng.normal(size=w.shape).astype("float32") for w in ref.get_weights()])
        want = ref.predict(x, verbose=0)
        ref.save(tmp_path / "keras.keras")
    model = lamina.models.load_model(tmp_path / "keras.keras")
    got = model.predict(x, verbose=0)
    for a, b in zip(
        got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "lamina.keras")
    with keras_ref():
        back = keras.models.load_model(tmp_path / "lamina.keras").predict(x, verbose=0)
    for a, b in zip(
        back if isinstance(back, list) else [back], want if isinstance(want, list) else [want]
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
