"""``lamina.layers.conv_ops``: XLA's convolution forward, a taps-times-matrix derivative; values,
gradients, forward-mode and second derivatives equal XLA's own for every stride, dilation,
padding, grouping, layout and rank the conv layers use."""

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
    ((2, 6, 7, 4), (3, 3, 4, 6), (2, 2), [(2, 0), (1, 3)], (1, 1)),  # uneven explicit padding
    ((1, 4, 4, 2), (5, 5, 2, 3), (1, 1), "VALID", (1, 1)),  # kernel larger than the input
    ((3, 12, 5), (7, 5, 8), (3,), "SAME", (1,)),
]


def _direct(x, w, strides, padding, dilation):
    dn = conv_ops.dimension_numbers(w.ndim - 2, "channels_last")
    return jax.lax.conv_general_dilated(
        x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=dn
    )


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_taps_derivative_matches_xla_convolution(case):
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


def _grads(f, x, w):
    return jax.grad(lambda a, b: jnp.sum(jnp.sin(f(a, b))), (0, 1))(x, w)


def _rand(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype("float32"))


@pytest.mark.parametrize(
    "xs, ws, groups, fmt",
    [
        ((2, 6, 6, 4), (3, 3, 1, 8), 4, "channels_last"),  # depthwise, multiplier 2
        ((2, 6, 6, 4), (3, 3, 2, 6), 2, "channels_last"),  # two groups
        ((2, 9, 6), (3, 1, 6), 6, "channels_last"),  # Conv1D depthwise
        ((2, 3, 6, 7), (3, 3, 3, 5), 1, "channels_first"),
        ((2, 4, 6, 7), (3, 2, 2, 6), 2, "channels_first"),
        ((2, 2, 4, 5, 3), (2, 3, 2, 2, 4), 1, "channels_first"),  # Conv3D
    ],
)
def test_groups_and_channels_first_match_xla(xs, ws, groups, fmt):
    x, w = _rand(xs, 1), _rand(ws, 2)
    rank = w.ndim - 2
    one = (1,) * rank

    def ours(a, b):
        return conv_ops.conv(a, b, (2,) + one[1:], "SAME", one, groups, fmt)

    def want(a, b):
        return jax.lax.conv_general_dilated(
            a, b, (2,) + one[1:], "SAME", dimension_numbers=conv_ops.dimension_numbers(rank, fmt),
            feature_group_count=groups,
        )  # fmt: skip

    np.testing.assert_allclose(ours(x, w), want(x, w), rtol=1e-5, atol=1e-5)
    for a, b in zip(_grads(ours, x, w), _grads(want, x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "xs, ws, strides, pads, dilation, fmt",
    [
        ((2, 5, 3), (3, 4, 3), (2,), [(2, 3)], (1,), "channels_last"),
        ((2, 4, 5, 3), (3, 3, 6, 3), (2, 2), [(2, 2), (1, 2)], (1, 1), "channels_last"),
        ((2, 4, 5, 3), (2, 3, 6, 3), (1, 2), [(1, 1), (2, 2)], (2, 1), "channels_last"),
        ((2, 3, 4, 5), (3, 3, 6, 3), (2, 2), [(2, 3), (2, 3)], (1, 1), "channels_first"),
    ],
)
def test_conv_transpose_matches_lax(xs, ws, strides, pads, dilation, fmt):
    x, w = _rand(xs, 3), _rand(ws, 4)
    dn = conv_ops.dimension_numbers(w.ndim - 2, fmt)

    def ours(a, b):
        return conv_ops.conv_transpose(a, b, strides, pads, dilation, fmt)

    def want(a, b):
        return jax.lax.conv_transpose(
            a, b, strides, pads, rhs_dilation=dilation, transpose_kernel=True,
            dimension_numbers=dn,
        )  # fmt: skip

    np.testing.assert_allclose(ours(x, w), want(x, w), rtol=1e-5, atol=1e-5)
    for a, b in zip(_grads(ours, x, w), _grads(want, x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def _ours2d(a, b):
    return conv_ops.conv(a, b, (1, 2), "SAME", (1, 1), 1, "channels_last")


def _want2d(a, b):
    return _direct(a, b, (1, 2), "SAME", (1, 1))


def test_forward_mode_and_second_derivatives_match_xla():
    x, w = _rand((2, 6, 7, 3), 5), _rand((3, 3, 3, 4), 6)

    def loss(f):
        return lambda a, b: jnp.sum(jnp.sin(f(a, b)))

    np.testing.assert_allclose(
        jax.jvp(loss(_ours2d), (x, w), (w[0, 0, 0, 0] * x, w))[1],
        jax.jvp(loss(_want2d), (x, w), (w[0, 0, 0, 0] * x, w))[1],
        rtol=1e-4,
    )
    hess_ours = jax.hessian(loss(_ours2d), 1)(x, w)
    hess_want = jax.hessian(loss(_want2d), 1)(x, w)
    np.testing.assert_allclose(hess_ours, hess_want, rtol=1e-3, atol=1e-3)


def test_value_is_xla_convolution_and_gradient_has_no_convolution():
    """Predict runs XLA's convolution; the gradient adds only matrix products (the XLA kernel
    gradient is the convolution that becomes a slow loop inside ``lax.scan``)."""
    x, w = _rand((2, 6, 7, 3), 7), _rand((3, 3, 3, 4), 8)
    forward = str(jax.make_jaxpr(_ours2d)(x, w))
    assert forward.count("conv_general_dilated") == 1

    def loss(a, b):
        return jnp.sum(_ours2d(a, b) ** 2)

    for argnums in (1, (0, 1)):
        backward = str(jax.make_jaxpr(jax.grad(loss, argnums))(x, w))
        assert backward.count("conv_general_dilated") == 1  # the forward value only
        assert "dot_general" in backward


def test_xla_gradients_block_gives_the_same_numbers_through_xla_rules():
    """A per-step program may take XLA's own gradient (fastest outside ``lax.scan``)."""
    x, w = _rand((2, 6, 7, 3), 9), _rand((3, 3, 3, 4), 10)

    def loss(a, b):
        return jnp.sum(jnp.sin(_ours2d(a, b)))

    with conv_ops.xla_gradients():
        plain = jax.grad(loss, (0, 1))(x, w)
        jaxpr = str(jax.make_jaxpr(jax.grad(loss, 1))(x, w))
    assert jaxpr.count("conv_general_dilated") >= 2  # XLA's kernel gradient is a convolution
    assert "custom_jvp" not in jaxpr
    for a, b in zip(plain, jax.grad(loss, (0, 1))(x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    outside = str(jax.make_jaxpr(jax.grad(loss, 1))(x, w))
    assert outside.count("conv_general_dilated") == 1  # the block ended: taps again


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU-only lowering")
@pytest.mark.parametrize(
    "strides, dilation", [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((1, 1), (2, 2))]
)
def test_training_convs_run_large_unpadded_convolutions_padded_with_the_same_numbers(
    strides, dilation
):
    """In a training step an unpadded 2D convolution of 32+ channels and 16+ outputs per side
    runs with one more stride of padding, sliced (XLA's CPU convolution of it is faster)."""
    x, w = _rand((2, 40, 38, 32), 11), _rand((3, 3, 32, 4), 12)

    def ours(a, b):
        return conv_ops.conv(a, b, strides, "VALID", dilation, 1, "channels_last")

    def loss(a, b):
        return jnp.sum(jnp.sin(ours(a, b)))

    want = _direct(x, w, strides, "VALID", dilation)
    want_grads = jax.grad(
        lambda a, b: jnp.sum(jnp.sin(_direct(a, b, strides, "VALID", dilation))), (0, 1)
    )(x, w)
    with conv_ops.training_convs():
        jaxpr = str(jax.make_jaxpr(ours)(x, w))
        got = ours(x, w)
        grads = jax.grad(loss, (0, 1))(x, w)
        with conv_ops.xla_gradients():
            xla_grads = jax.grad(loss, (0, 1))(x, w)
    assert "padding=((0, " in jaxpr and "slice" in jaxpr
    outside = str(jax.make_jaxpr(lambda a, b: ours(a, b))(x, w))  # a new trace
    assert "slice" not in outside  # predict: unpadded, as asked
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for g in (grads, xla_grads):
        for a, b in zip(g, want_grads):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_training_convs_leave_small_or_few_channel_convolutions_unpadded():
    small = (_rand((2, 12, 12, 32), 13), _rand((3, 3, 32, 4), 14))  # 10x10 outputs
    narrow = (_rand((2, 30, 30, 8), 15), _rand((3, 3, 8, 4), 16))  # 8 input channels
    with conv_ops.training_convs():
        for x, w in (small, narrow):
            jaxpr = str(jax.make_jaxpr(lambda a, b: conv_ops.conv(
                a, b, (1, 1), "VALID", (1, 1), 1, "channels_last"))(x, w))  # fmt: skip
            assert "slice" not in jaxpr
