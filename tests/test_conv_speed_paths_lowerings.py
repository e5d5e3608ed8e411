"""Every lowering of a convolution's derivative gives XLA's numbers (float32 rounding).

Transposed convolutions (a convolution of a stride-dilated input) are differentiated per output
phase (``conv_ops._phase_taps``): only the taps that meet real input rows, over the undilated
input.  Values, gradients (input and kernel) and tangents must equal the ones JAX's own
convolution rules give (``conv_ops.xla_gradients``), for 1-3 spatial dims, both data formats,
uneven paddings and strides larger than the kernel.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import jaxprs_in_params

from lamina import layers
from lamina.layers import conv_ops

CASES = [
    # (input shape channels-last, kernel (*k, out, in), strides, pads)
    ((2, 7, 3), (3, 4, 3), (2,), [(1, 1)]),
    ((2, 5, 3), (4, 2, 3), (3,), [(3, 2)]),
    ((2, 6, 3), (7, 5, 3), (2,), [(4, 3)]),
    ((2, 6, 3), (1, 4, 3), (3,), [(0, 0)]),  # stride above the kernel: empty phases
    ((2, 4, 5, 3), (3, 3, 2, 3), (2, 2), [(2, 2), (1, 1)]),
    # 2-D and 3-D kernels compile many phases x taps: seconds each on a loaded machine.
    pytest.param(((2, 4, 5, 3), (2, 3, 2, 3), (2, 3), [(1, 0), (2, 2)]), marks=pytest.mark.slow),
    pytest.param(
        ((1, 3, 3, 2, 2), (2, 2, 2, 3, 2), (2, 2, 2), [(1, 1), (1, 1), (1, 1)]),
        marks=pytest.mark.slow,
    ),
]


def _pair(case, fmt, seed=0):
    xs, ws, strides, pads = case
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=xs).astype("float32"))
    if fmt == "channels_first":
        x = jnp.moveaxis(x, -1, 1)
    w = jnp.asarray(rng.normal(size=ws).astype("float32"))

    def f(a, k):
        return conv_ops.conv_transpose(a, k, strides, pads, (1,) * len(strides), fmt)

    return f, x, w


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("case", CASES)
def test_phase_derivative_matches_xla_rules(case, fmt):
    f, x, w = _pair(case, fmt)
    y = f(x, w)
    want_y = jax.lax.conv_transpose(
        x, w, case[2], case[3], dimension_numbers=conv_ops.dimension_numbers(w.ndim - 2, fmt),
        transpose_kernel=True,
    )  # fmt: skip
    np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
    cot = jnp.asarray(np.random.default_rng(1).normal(size=y.shape).astype("float32"))

    def grads():
        return jax.grad(lambda a, k: jnp.sum(f(a, k) * cot), argnums=(0, 1))(x, w)

    ours = grads()
    with conv_ops.xla_gradients():
        want = grads()
    for g, h in zip(ours, want):
        assert g.shape == h.shape
        np.testing.assert_allclose(g, h, rtol=1e-5, atol=1e-4)
    tangent = jax.jvp(f, (x, w), (0.5 * x, -0.3 * w))[1]
    with conv_ops.xla_gradients():
        want_t = jax.jvp(f, (x, w), (0.5 * x, -0.3 * w))[1]
    np.testing.assert_allclose(tangent, want_t, rtol=1e-5, atol=1e-4)


def _interior_pads(fn, *args):
    """Interior (dilating) paddings in the jaxpr of ``fn``, sub-jaxprs included."""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "pad":
                found.extend(c[2] for c in eqn.params["padding_config"] if c[2])
            for sub in jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


def test_transposed_kernel_gradient_skips_the_dilation_zeros():
    f, x, w = _pair(CASES[4], "channels_last")

    def kernel_grad(k):
        return jax.grad(lambda kk: jnp.sum(f(x, kk) ** 2))(k)

    assert _interior_pads(kernel_grad, w) == []
    with conv_ops.xla_gradients():  # JAX's own rule dilates the input (the check can fail)
        dilated = jax.make_jaxpr(kernel_grad)(w)
    assert "lhs_dilation=(2, 2)" in str(dilated)


def test_conv1d_transpose_layer_trains_to_the_same_weights_either_way():
    layer = layers.Conv1DTranspose(4, 5, strides=2, padding="same")
    params, state = layer.init(jax.random.key(0), (None, 9, 3))
    x = jnp.asarray(np.random.default_rng(2).normal(size=(4, 9, 3)).astype("float32"))

    def sgd(p):
        def step(p, _):
            g = jax.grad(lambda q: jnp.mean(layer.apply(q, state, x)[0] ** 2))(p)
            return jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, g), None

        return jax.jit(lambda p: jax.lax.scan(step, p, None, length=5)[0])(p)

    ours = sgd(params)
    with conv_ops.xla_gradients():
        want = sgd(params)
    for key in ours:
        np.testing.assert_allclose(ours[key], want[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name, kwargs, shape",
    [
        ("GlobalMaxPooling1D", {}, (3, 9, 4)),
        ("GlobalMaxPooling1D", dict(keepdims=True), (3, 9, 4)),
        ("GlobalMaxPooling2D", dict(data_format="channels_first"), (2, 3, 5, 4)),
        ("GlobalMaxPooling3D", dict(keepdims=True), (2, 3, 2, 4, 2)),
    ],
)
def test_global_max_pooling_derivative_is_jnp_max(name, kwargs, shape):
    layer = getattr(layers, name)(**kwargs)
    axes = layer._axes()
    # Quantized values with ReLU-like zeros: many ties, where a tie-breaking rule would show.
    x = np.random.default_rng(3).integers(-2, 3, size=shape).clip(0).astype("float32")
    x = jnp.asarray(x)

    def ours(a):
        return layer.apply({}, {}, a)[0]

    def want(a):
        return jnp.max(a, axis=axes, keepdims=layer.keepdims)

    np.testing.assert_array_equal(ours(x), want(x))
    cot = jnp.asarray(np.random.default_rng(4).normal(size=want(x).shape).astype("float32"))
    np.testing.assert_allclose(
        jax.grad(lambda a: jnp.sum(ours(a) * cot))(x),
        jax.grad(lambda a: jnp.sum(want(a) * cot))(x),
        rtol=1e-6, atol=1e-7,
    )  # fmt: skip
    t = jnp.asarray(np.random.default_rng(5).normal(size=shape).astype("float32"))
    np.testing.assert_allclose(
        jax.jvp(ours, (x,), (t,))[1], jax.jvp(want, (x,), (t,))[1], rtol=1e-6, atol=1e-7
    )
    nan = x.at[(0,) * len(shape)].set(jnp.nan)
    assert np.isnan(np.asarray(ours(nan))).sum() == np.isnan(np.asarray(want(nan))).sum() > 0
