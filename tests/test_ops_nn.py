"""``lamina.ops`` nn, math, linalg, image and core ops against real ``keras.ops``."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina.ops as L
from tests._ops_ref import compare

keras = pytest.importorskip("keras")
K = keras.ops

rng = np.random.default_rng(1)
F = rng.normal(size=(3, 4)).astype("float32")
P = np.abs(F) / np.abs(F).sum(-1, keepdims=True)
IMG = rng.uniform(size=(2, 6, 5, 3)).astype("float32")
SEQ = rng.normal(size=(2, 7, 3)).astype("float32")
SPD = (F[:3, :3] @ F[:3, :3].T + 3 * np.eye(3)).astype("float32")
Q = rng.normal(size=(2, 3, 2, 4)).astype("float32")
KV = rng.normal(size=(2, 5, 2, 4)).astype("float32")

NN = [
    ("softmax", (F,), {}), ("softmax", (F,), {"axis": 0}), ("softmax", (SEQ,), {"axis": (1, 2)}),
    ("log_softmax", (F,), {"axis": -1}), ("log_softmax", (SEQ,), {"axis": (0, 2)}),
    ("sparsemax", (F,), {}), ("glu", (F,), {}), ("gelu", (F,), {"approximate": False}),
    ("leaky_relu", (F,), {"negative_slope": 0.1}), ("elu", (F,), {"alpha": 0.5}),
    ("celu", (F,), {"alpha": 2.0}), ("threshold", (F, 0.1, -3.0), {}),
    ("soft_shrink", (F,), {"threshold": 0.3}), ("hard_shrink", (F,), {"threshold": 0.3}),
    ("squareplus", (F,), {"b": 2}),
    ("one_hot", (np.array([0, 2, -1, 1]), 3), {}), ("one_hot", (np.array([[0, 2]]), 3), {"axis": 0, "dtype": "int32"}),
    ("multi_hot", (np.array([[0, 2], [1, 1]]), 4), {}), ("multi_hot", (np.array([0, 3]), 4), {}),
    ("moments", (F, [0]), {}), ("moments", (SEQ, [0, 1]), {"keepdims": True}),
    ("moments", (F.astype("float16"), [1]), {}),
    ("batch_normalization", (F, F[0], np.abs(F[1]), -1), {"offset": F[2], "scale": F[0], "epsilon": 1e-2}),
    ("batch_normalization", (F.T, F[0], np.abs(F[1]), 0), {}),
    ("layer_normalization", (F,), {}), ("layer_normalization", (SEQ,), {"gamma": F[0, :3], "beta": F[1, :3]}),
    ("layer_normalization", (SEQ,), {"axis": [1, 2]}), ("rms_normalization", (F,), {"scale": F[0]}),
    ("normalize", (F,), {}), ("normalize", (F,), {"axis": 0, "order": 1}),
    ("categorical_crossentropy", (P, P[::-1]), {}), ("categorical_crossentropy", (P, F), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (np.array([0, 3, 1]), P), {}),
    ("sparse_categorical_crossentropy", (np.array([[0], [3], [1]]), F), {"from_logits": True}),
    ("binary_crossentropy", ((F > 0).astype("float32"), np.clip(P, 0, 1)), {}),
    ("binary_crossentropy", ((F > 0).astype("float32"), F), {"from_logits": True}),
    ("dot_product_attention", (Q, KV, KV), {}), ("dot_product_attention", (Q, KV, KV), {"is_causal": True}),
    ("dot_product_attention", (Q, KV, KV), {"scale": 0.3, "mask": np.tril(np.ones((3, 5), bool))[None, None]}),
    ("dot_product_attention", (Q, KV, KV), {"bias": rng.normal(size=(1, 2, 3, 5)).astype("float32")}),
    ("psnr", (F, F * 0.9, 3.0), {}), ("polar", (np.abs(F), F), {}),
    ("conv", (IMG, rng.normal(size=(3, 3, 3, 4)).astype("float32")), {}),
    ("conv", (IMG, rng.normal(size=(2, 2, 3, 4)).astype("float32")), {"strides": 2, "padding": "same"}),
    ("conv", (IMG, rng.normal(size=(3, 3, 1, 6)).astype("float32")), {"dilation_rate": (1, 2)}),
    ("conv", (SEQ, rng.normal(size=(3, 3, 2)).astype("float32")), {"padding": "same"}),
    ("conv", (np.moveaxis(IMG, -1, 1), rng.normal(size=(3, 3, 3, 2)).astype("float32")), {"data_format": "channels_first"}),
    ("depthwise_conv", (IMG, rng.normal(size=(3, 3, 3, 2)).astype("float32")), {"padding": "same"}),
    ("separable_conv", (IMG, rng.normal(size=(3, 3, 3, 2)).astype("float32"), rng.normal(size=(1, 1, 6, 4)).astype("float32")), {}),
    ("conv_transpose", (IMG, rng.normal(size=(3, 3, 4, 3)).astype("float32")), {"strides": 2}),
    ("conv_transpose", (IMG, rng.normal(size=(3, 3, 4, 3)).astype("float32")), {"strides": 2, "padding": "same", "output_padding": 1}),
    ("conv_transpose", (SEQ, rng.normal(size=(4, 2, 3)).astype("float32")), {"strides": 3}),
    # Keras 3.15's ops fail when strides=None (they convert pool_size twice): pass strides.
    ("max_pool", (IMG, 2), {"strides": 2}), ("max_pool", (IMG, (3, 2)), {"strides": 1, "padding": "same"}),
    ("average_pool", (IMG, 2), {"strides": 2, "padding": "same"}), ("average_pool", (SEQ, 3), {"strides": 2}),
    ("adaptive_average_pool", (IMG, (4, 3)), {}), ("adaptive_max_pool", (IMG, 2), {}),
    ("adaptive_average_pool", (SEQ, 3), {"data_format": "channels_last"}),
    ("depth_to_space", (rng.normal(size=(1, 2, 3, 8)).astype("float32"), 2), {}),
    ("space_to_depth", (rng.normal(size=(1, 4, 6, 2)).astype("float32"), 2), {}),
    ("unfold", (np.moveaxis(IMG, -1, 1), 2), {"stride": 2, "padding": 1}),
    ("fold", (rng.normal(size=(2, 12, 6)).astype("float32"), (4, 6), 2), {"stride": 2}),
    pytest.param("ctc_loss", (np.array([[1, 2, 0], [3, 3, 1]]), rng.normal(size=(2, 6, 5)).astype("float32"), np.array([2, 3]), np.array([6, 5])), {}, marks=pytest.mark.slow),
    ("ctc_decode", (jax.nn.softmax(rng.normal(size=(2, 6, 5))).astype("float32"), np.array([6, 4])), {}),
]  # fmt: skip

MATH = [
    ("logsumexp", (F,), {"axis": 1, "keepdims": True}), ("top_k", (F, 2), {}),
    ("in_top_k", (np.array([0, 1, 3]), F, 2), {}),
    ("segment_sum", (F, np.array([0, 0, 2]), 3), {}), ("segment_max", (F, np.array([1, 0, 1]), 2), {}),
    ("segment_min", (F, np.array([0, 1, 1]), 2), {"sorted": True}),
    ("extract_sequences", (SEQ[..., 0], 3, 2), {}), ("fft", ((F, F[::-1]),), {}),
    ("fft2", ((F, F[::-1]),), {}), ("ifft2", ((F, F[::-1]),), {}), ("rfft", (F,), {}),
    ("rfft", (F,), {"fft_length": 6}), ("irfft", ((F, F[::-1]),), {}),
    ("cdist", (F, F[:2]), {}), ("logdet", (SPD,), {}), ("view_as_real", (F[:, 0] + 1j * F[:, 1],), {}),
    ("view_as_complex", (F[:, :2].copy(),), {}),
    ("rearrange", (SEQ, "b t c -> c (b t)"), {}), ("rearrange", (F, "a (b c) -> (c a) b"), {"c": 2}),
]  # fmt: skip

LINALG = [
    ("cholesky", (SPD,), {}), ("cholesky", (SPD,), {"upper": True}),
    ("cholesky_inverse", (np.linalg.cholesky(SPD),), {}), ("det", (SPD,), {}), ("inv", (SPD,), {}),
    ("eigh", (SPD,), {}), ("lu_factor", (SPD,), {}), ("norm", (F,), {}), ("norm", (F,), {"ord": 1, "axis": 1}),
    ("norm", (F,), {"ord": "fro", "axis": (0, 1), "keepdims": True}), ("qr", (F,), {}),
    ("qr", (F,), {"mode": "complete"}), ("solve", (SPD, F[:, :3].T), {}),
    ("solve_triangular", (np.triu(SPD), F[0, :3]), {}), ("solve_triangular", (np.tril(SPD), F[0, :3]), {"lower": True}),
    ("svd", (F,), {"compute_uv": False}), ("lstsq", (F, F[:, 0]), {}), ("matrix_rank", (F,), {}),
    ("pinv", (F,), {}),
]  # fmt: skip

IMAGE = [
    ("resize", (IMG, (4, 8)), {}), ("resize", (IMG, (9, 4)), {"interpolation": "nearest"}),
    ("resize", (IMG, (3, 3)), {"interpolation": "bicubic", "antialias": True}),
    ("resize", (IMG, (4, 4)), {"crop_to_aspect_ratio": True}),
    ("resize", (IMG, (4, 8)), {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
    ("resize", (IMG[0], (3, 7)), {}),
    ("affine_transform", (IMG, np.array([[1.2, 0.1, -1.0, -0.2, 0.9, 0.5, 0, 0]] * 2, "float32")), {}),
    ("affine_transform", (IMG, np.array([[1, 0, 1, 0, 1, -1, 0, 0], [0.5, 0, 0, 0, 2, 0, 0, 0]], "float32")),
     {"interpolation": "nearest", "fill_mode": "reflect"}),
    ("affine_transform", (IMG[0], np.array([1, 0.3, 0, 0, 1, 0, 0, 0], "float32")), {"fill_mode": "wrap", "fill_value": 1}),
    ("extract_patches", (IMG, 2), {}), ("extract_patches", (IMG, (3, 2)), {"strides": 1, "padding": "same"}),
    ("extract_patches", (IMG[0], 2), {"dilation_rate": 2, "strides": 1}),
    ("rgb_to_grayscale", (IMG,), {}), ("rgb_to_grayscale", ((IMG * 255).astype("uint8"),), {}),
    ("rgb_to_hsv", (IMG,), {}), ("hsv_to_rgb", (IMG,), {}),
    ("pad_images", (IMG, 1, 2), {"target_height": 9, "target_width": 8}),
    ("pad_images", (IMG[0],), {"top_padding": 1, "bottom_padding": 0, "left_padding": 0, "right_padding": 3}),
    ("crop_images", (IMG, 1, 2), {"target_height": 3, "target_width": 2}),
    ("map_coordinates", (F, np.array([[0.5, 1.2, 2.9], [0.1, 3.5, -1.0]], "float32"), 1), {}),
    ("map_coordinates", (F, np.array([[0.5, 1.2], [0.1, 3.5]], "float32"), 0), {"fill_mode": "nearest"}),
]  # fmt: skip


def _ids(cases):
    return [f"{(c.values if hasattr(c, 'values') else c)[0]}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("name,args,kwargs", NN, ids=_ids(NN))
def test_nn_ops_match_keras(name, args, kwargs):
    assert compare(getattr(L.nn, name), getattr(K.nn, name), *args, rtol=1e-4, atol=1e-5, **kwargs)


@pytest.mark.parametrize("name,args,kwargs", MATH, ids=_ids(MATH))
def test_math_ops_match_keras(name, args, kwargs):
    assert compare(getattr(L, name), getattr(K, name), *args, rtol=1e-4, atol=1e-5, **kwargs)


@pytest.mark.parametrize("name,args,kwargs", LINALG, ids=_ids(LINALG))
def test_linalg_ops_match_keras(name, args, kwargs):
    assert compare(
        getattr(L.linalg, name), getattr(K.linalg, name), *args, rtol=1e-4, atol=1e-4, **kwargs
    )


@pytest.mark.parametrize("name,args,kwargs", IMAGE, ids=_ids(IMAGE))
def test_image_ops_match_keras(name, args, kwargs):
    assert compare(
        getattr(L.image, name), getattr(K.image, name), *args, rtol=1e-4, atol=1e-4, **kwargs
    )


def test_svd_eig_and_default_strides():
    u, s, vh = (np.asarray(t) for t in L.svd(F, full_matrices=False))
    np.testing.assert_allclose((u * s[None, :]) @ vh, F, atol=1e-5)
    w, v = (np.asarray(t) for t in L.eig(SPD))
    np.testing.assert_allclose(SPD @ v, v * w[None, :], atol=1e-4)
    np.testing.assert_array_equal(
        np.asarray(L.max_pool(IMG, 2)), np.asarray(L.max_pool(IMG, 2, strides=2))
    )
    one = np.array([1.2, 0.1, -1.0, -0.2, 0.9, 0.5, 0, 0], "float32")  # one transform, two images
    np.testing.assert_allclose(
        np.asarray(L.image.affine_transform(IMG, one)),
        np.asarray(L.image.affine_transform(IMG, np.stack([one, one]))),
    )


def test_ops_accept_variables_inside_jit():
    class Var:  # what a Lamina Variable exposes to ops
        def __init__(self, value):
            self.value = jnp.asarray(value)

        def __jax_array__(self):
            return self.value

    w = Var(F)

    @jax.jit
    def f(x):
        return L.sum(L.matmul(x, L.transpose(w))) + L.mean(L.relu(w)) + L.nn.softmax(w)[0, 0]

    expected = (F[:2] @ F.T).sum() + np.maximum(F, 0).mean() + np.asarray(jax.nn.softmax(F))[0, 0]
    np.testing.assert_allclose(f(F[:2]), expected, rtol=1e-5)


@pytest.mark.slow
def test_control_flow_matches_keras():
    with_keras = [
        (lambda ops: ops.cond(F.sum() > 0, lambda: 1.0, lambda: 2.0)),
        (lambda ops: ops.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s * 2.0), (0, 1.0))),
        (lambda ops: ops.while_loop(lambda i: i < 100, lambda i: i + 7, 0, maximum_iterations=4)),
        (lambda ops: ops.fori_loop(1, 4, lambda i, v: v * i, 1)),
        (lambda ops: ops.scan(lambda c, x: (c + x, c * x), 0.0, F[0], reverse=True)),
        (lambda ops: ops.switch(2, [lambda a: a, lambda a: a * 2, lambda a: -a], F)),
        (lambda ops: ops.map(lambda row: ops.sum(row), F)),
        (lambda ops: ops.vectorized_map(lambda row: row * 2, F)),
        (lambda ops: ops.associative_scan(lambda a, b: a + b, F, axis=1)),
        (lambda ops: ops.slice(F, (1, 1), (2, -1))),
        (lambda ops: ops.slice_update(F, (1, 2), np.ones((2, 2), "float32"))),
        (lambda ops: ops.scatter(np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0], "float32"), (3, 4))),
        (lambda ops: ops.scatter_update(F, np.array([[0, 1], [2, 3]]), np.array([9.0, 8.0], "float32"))),
        (lambda ops: ops.scatter_update(F, np.array([[0, 1]]), np.array([9.0], "float32"), reduction="add")),
        (lambda ops: ops.unstack(F, axis=1)), (lambda ops: ops.cast(F, "int8")),
        (lambda ops: ops.saturate_cast(F * 200, "uint8")), (lambda ops: ops.convert_to_tensor([1, 2.5])),
        (lambda ops: ops.convert_to_tensor(np.ones(2))), (lambda ops: ops.stop_gradient(F)),
    ]  # fmt: skip
    for build in with_keras:
        assert compare(functools.partial(build, L), functools.partial(build, K))
    assert L.shape(F) == K.shape(F) and L.dtype(F) == K.dtype(F) == "float32"
    assert L.is_tensor(L.ones(2)) and not L.is_tensor(np.ones(2))
    assert isinstance(L.convert_to_numpy(L.ones(2)), np.ndarray)


def test_custom_gradient_and_errors():
    @L.custom_gradient
    def clip_grad(x):
        return x * 2, lambda g: L.clip(g, -0.1, 0.1)

    assert float(jax.grad(lambda x: clip_grad(x))(3.0)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="num_segments"):
        L.segment_sum(F, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="Unsupported reduction"):
        L.scatter_update(F, [[0, 0]], [1.0], reduction="avg")
    with pytest.raises(ValueError, match="either both"):
        L.where(F > 0, F)
    with pytest.raises(ValueError, match="Invalid images rank"):
        L.image.gaussian_blur(IMG[0, 0])
    with pytest.raises(ValueError, match="interpolation"):
        L.image.resize(IMG, (2, 2), interpolation="cubicish")
    with pytest.raises(ValueError, match="4D inputs"):
        L.dot_product_attention(F, F, F)
    with pytest.raises(ValueError, match="padding"):
        L.conv(IMG, np.ones((2, 2, 3, 1), "float32"), padding="full")
    with pytest.raises(TypeError, match="list or tuple"):
        L.concatenate(F)
    with pytest.raises(ValueError, match="Cannot squeeze"):
        L.squeeze(F, axis=0)
    with pytest.raises(ValueError, match="matrix"):
        L.inv(F[0])


def test_ops_on_symbolic_tensors_build_a_functional_model():
    from lamina.layers import Dense, Input
    from lamina.models import Model

    a, b = Input((3,)), Input((3,))
    c = L.concatenate([a, L.relu(b)], axis=-1)
    d = L.sum(L.multiply(L.expand_dims(c, -1), 2.0), axis=-1)
    assert L.shape(c) == (None, 6) and d.shape == (None, 6) and L.nn.softmax(a).shape == (None, 3)
    model = Model([a, b], Dense(2)(d))
    x1, x2 = F[:, :3], -F[:, 1:]
    w, bias = model.layers[-1].get_weights()
    expected = (np.concatenate([x1, np.maximum(x2, 0)], -1) * 2) @ w + bias
    np.testing.assert_allclose(model.predict([x1, x2], verbose=0), expected, rtol=1e-5, atol=1e-5)
