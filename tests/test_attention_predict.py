"""Attention's CPU formulation and predict tiles sized by attention scores."""

import jax
import numpy as np

import lamina
from lamina.layers.attention import fused_attention


def test_fused_attention_matches_jax_nn_with_masks_and_gradients():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 6, 2, 4)).astype("float32") for _ in range(3))
    mask = rng.random((2, 1, 6, 6)) > 0.4
    mask[0, 0, 2] = False  # a fully masked query row: uniform weights, as jax.nn gives
    ref = jax.nn.dot_product_attention(q, k, v, mask=mask, scale=0.5)
    np.testing.assert_allclose(fused_attention(q, k, v, mask, 0.5), ref, rtol=1e-5, atol=1e-6)
    loss = lambda f: lambda q, k, v: (f(q, k, v) ** 2).sum()  # noqa: E731
    ours = jax.grad(loss(lambda q, k, v: fused_attention(q, k, v, mask, 0.5)), (0, 1, 2))
    theirs = jax.grad(
        loss(lambda q, k, v: jax.nn.dot_product_attention(q, k, v, mask=mask, scale=0.5)),
        (0, 1, 2),
    )
    for a, b in zip(ours(q, k, v), theirs(q, k, v)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_predict_tiles_of_an_attention_model_count_its_scores():
    inputs = lamina.Input((50, 8))
    x = lamina.layers.MultiHeadAttention(num_heads=3, key_dim=4)(inputs, inputs)
    model = lamina.Model(inputs, lamina.layers.GlobalAveragePooling1D()(x))
    assert model._predict_width() == 3 * 50 * 50  # the scores, not the 50 x 8 activations
    x = np.ones((10, 50, 8), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x), rtol=1e-5, atol=1e-6)
