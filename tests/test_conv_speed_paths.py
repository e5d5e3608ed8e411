"""The speed paths of pooling and embeddings compute what the plain XLA forms compute.

Max pooling over up to ``MAX_TAPS`` window positions is differentiated as a running max over
strided slices (fast inside ``lax.scan``); values and gradients must equal ``reduce_window``'s,
including where a window holds ties (the first maximal entry receives the gradient, as XLA's
``select_and_scatter`` and Keras-JAX do).  The embedding gradient must be a scatter-add, never a
dense one-hot matrix product.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina import layers
from lamina.layers import pooling
from tests.helpers import keras_ref


def _reduce_window(x, op, window, strides, padding):
    if op == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, padding)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, padding)
    ones = jnp.ones(x.shape, x.dtype)
    return total / jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, padding)


CASES = [
    # (layer class, kwargs, input shape)
    ("MaxPooling2D", dict(pool_size=2), (2, 6, 7, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 7, 2)),
    ("MaxPooling2D", dict(pool_size=(2, 3), data_format="channels_first"), (2, 3, 6, 7)),
    ("MaxPooling1D", dict(pool_size=3, strides=1, padding="same"), (2, 9, 4)),
    ("AveragePooling2D", dict(pool_size=2), (2, 6, 6, 3)),
    ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 8, 2)),
    ("AveragePooling1D", dict(pool_size=4, strides=3, padding="same"), (2, 11, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape", CASES)
def test_pooling_taps_match_reduce_window(name, kwargs, shape):
    layer = getattr(layers, name)(**kwargs)
    window = layer._window(layer.pool_size)
    strides = layer._window(layer.strides)
    # Quantized values: many windows hold ties, the case where gradients could disagree.
    x = jnp.asarray(np.random.default_rng(0).integers(0, 3, size=shape).astype("float32"))
    op = "max" if name.startswith("Max") else "avg"

    def ours(a):
        return layer.apply({}, {}, a)[0]

    def want(a):
        return _reduce_window(a, op, window, strides, layer.padding.upper())

    np.testing.assert_allclose(ours(x), want(x), rtol=1e-6)
    cot = jnp.asarray(np.random.default_rng(1).normal(size=ours(x).shape).astype("float32"))
    g_ours = jax.grad(lambda a: jnp.sum(ours(a) * cot))(x)
    g_want = jax.grad(lambda a: jnp.sum(want(a) * cot))(x)
    np.testing.assert_allclose(g_ours, g_want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, kwargs, shape", CASES[:2] + CASES[5:6])
def test_pooling_matches_keras(name, kwargs, shape):
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    ours = np.asarray(getattr(layers, name)(**kwargs).apply({}, {}, x)[0])
    keras = pytest.importorskip("keras")
    with keras_ref():
        want = np.asarray(getattr(keras.layers, name)(**kwargs)(x))
    np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-6)


def test_max_pooling_propagates_nan():
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 1, 1, 0] = np.nan
    y = np.asarray(layers.MaxPooling2D(2).apply({}, {}, x)[0])
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 1, 1, 0])


def _grad_jaxpr(layer, x):
    return str(jax.make_jaxpr(jax.grad(lambda a: jnp.sum(layer.apply({}, {}, a)[0] ** 2)))(x))


def test_value_is_reduce_window_and_gradient_has_no_select_and_scatter():
    x = jnp.ones((1, 10, 10, 1))
    small, large = layers.MaxPooling2D(pool_size=2), layers.MaxPooling2D(pool_size=5)
    assert 4 <= pooling.MAX_TAPS < 25
    for layer in (small, large):  # predict: XLA's reduce_window
        forward = jax.make_jaxpr(lambda a, pool=layer: pool.apply({}, {}, a)[0])(x)
        assert "reduce_window_max" in str(forward)
    assert "select_and_scatter" not in _grad_jaxpr(small, x)
    assert "select_and_scatter" in _grad_jaxpr(large, x)


def test_embedding_gradient_is_a_scatter_add():
    emb = layers.Embedding(50_000, 16)
    params, state = emb.init(jax.random.key(0), (None, 7))
    idx = jnp.asarray(np.random.default_rng(3).integers(0, 50_000, size=(4, 7)))

    def loss(p):
        return jnp.sum(emb.apply(p, state, idx)[0] ** 2)

    jaxpr = str(jax.make_jaxpr(jax.grad(loss))(params))
    assert "scatter-add" in jaxpr or "scatter_add" in jaxpr
    assert "dot_general" not in jaxpr  # no (tokens x vocabulary) one-hot product
    grad = jax.grad(loss)(params)["embeddings"]
    want = np.zeros((50_000, 16), np.float32)
    np.add.at(
        want, np.asarray(idx).ravel(), 2 * np.asarray(params["embeddings"])[np.asarray(idx).ravel()]
    )
    np.testing.assert_allclose(grad, want, rtol=1e-6)
