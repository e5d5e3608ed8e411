"""``lamina.layers.conv_ops.conv``: the patches-times-matrix form equals XLA's convolution (values
and gradients) for every stride, dilation, padding and rank the conv layers use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina.layers import conv_ops

CASES = [
    # (input shape, kernel shape, strides, padding, dilation)
    ((2, 9, 3), (3, 3, 4), (1,), "VALID", (1,)),
    ((2, 9, 3), (3, 3, 4), (2,), "SAME", (1,)),
    ((2, 9, 3), (3, 3, 4), (1,), [(4, 0)], (2,)),  # Conv1D causal: left padding
    ((2, 7, 8, 2), (3, 3, 2, 5), (1, 1), "VALID", (1, 1)),
    ((2, 7, 8, 2), (3, 2, 2, 5), (2, 3), "SAME", (1, 1)),
    ((2, 7, 8, 2), (3, 3, 2, 5), (1, 1), "SAME", (2, 2)),
    ((2, 7, 8, 2), (1, 1, 2, 5), (1, 1), "SAME", (1, 1)),  # pointwise: a matmul
    ((2, 5, 5, 5, 1), (2, 2, 2, 1, 3), (1, 2, 1), "VALID", (1, 1, 1)),
]


def _direct(x, w, strides, padding, dilation):
    dn = conv_ops.dimension_numbers(w.ndim - 2, "channels_last")
    return jax.lax.conv_general_dilated(
        x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=dn
    )


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_patches_form_matches_xla_convolution(case):
    xs, ws, strides, padding, dilation = case
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=xs).astype("float32"))
    w = jnp.asarray(rng.normal(size=ws).astype("float32"))
    ours = conv_ops.conv(x, w, strides, padding, dilation, 1, "channels_last")
    want = _direct(x, w, strides, padding, dilation)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)

    def loss(f):
        return lambda a, b: jnp.sum(jnp.sin(f(a, b)))

    g_ours = jax.grad(
        loss(lambda a, b: conv_ops.conv(a, b, strides, padding, dilation, 1, "channels_last")),
        (0, 1),
    )(x, w)
    g_want = jax.grad(loss(lambda a, b: _direct(a, b, strides, padding, dilation)), (0, 1))(x, w)
    for a, b in zip(g_ours, g_want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_large_convolutions_keep_xla_convolution(monkeypatch):
    calls = []
    real = jax.lax.conv_general_dilated_patches
    monkeypatch.setattr(
        jax.lax, "conv_general_dilated_patches", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    x = jnp.ones((1, 40, 40, 64))
    w = jnp.ones((3, 3, 64, 2))  # 38 * 38 * 576 patch values per sample: above the limit
    conv_ops.conv(x, w, (1, 1), "VALID", (1, 1), 1, "channels_last")
    assert not calls
    conv_ops.conv(x[..., :2], w[:, :, :2], (1, 1), "VALID", (1, 1), 1, "channels_last")
    assert calls
