"""Keras 2's remaining ``keras.backend`` functions: convolutions, pooling, paddings, resizes,
normalization, dropout, higher-order functions, variables and focal crossentropies.

References: real Keras 3 where it has the same operation (layers and ``keras.ops``), NumPy
otherwise.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import lamina
from lamina import backend as K
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)
IMG = RNG.normal(size=(2, 4, 5, 3)).astype("float32")
VOL = RNG.normal(size=(2, 4, 4, 5, 3)).astype("float32")


def _cf(x):
    return np.moveaxis(x, -1, 1)


# -- convolutions and pooling ----------------------------------------------------------------


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_conv2d_transpose_matches_keras_conv_transpose(keras, padding, strides):
    kernel = RNG.normal(size=(3, 3, 2, 3)).astype("float32")  # (h, w, out, in)
    with keras_ref():
        ref = np.asarray(keras.ops.conv_transpose(IMG, kernel, strides, padding))
    out = K.conv2d_transpose(IMG, kernel, (None, *ref.shape[1:]), strides, padding)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    out_cf = K.conv2d_transpose(_cf(IMG), kernel, (2, 2, *ref.shape[1:3]), strides, padding,
                                data_format="channels_first")  # fmt: skip
    np.testing.assert_allclose(out_cf, _cf(ref), rtol=1e-4, atol=1e-4)


def test_conv2d_transpose_refuses_a_wrong_output_shape():
    with pytest.raises(ValueError, match="output_shape"):
        K.conv2d_transpose(IMG, np.ones((3, 3, 2, 3), "float32"), (2, 9, 9, 2), (2, 2))
    with pytest.raises(ValueError, match="dilation_rate"):
        K.conv2d_transpose(IMG, np.ones((3, 3, 2, 3), "float32"), (2, 6, 7, 2),
                           dilation_rate=(1, 2))  # fmt: skip


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv3d_matches_keras_conv(keras, padding):
    kernel = RNG.normal(size=(2, 3, 2, 3, 4)).astype("float32")
    with keras_ref():
        ref = np.asarray(keras.ops.conv(VOL, kernel, (1, 2, 1), padding, dilation_rate=1))
    out = K.conv3d(VOL, kernel, (1, 2, 1), padding)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    out_cf = K.conv3d(_cf(VOL), kernel, (1, 2, 1), padding, data_format="channels_first")
    np.testing.assert_allclose(out_cf, _cf(ref), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool3d_matches_keras_pooling_with_keras2_default_strides(keras, mode):
    pool = keras.ops.max_pool if mode == "max" else keras.ops.average_pool
    with keras_ref():
        ref = np.asarray(pool(VOL, (2, 2, 2), (1, 1, 1), "valid"))  # Keras 2's strides default
        ref_same = np.asarray(pool(VOL, (2, 2, 2), (2, 2, 2), "same"))
    np.testing.assert_allclose(K.pool3d(VOL, (2, 2, 2), pool_mode=mode), ref, rtol=1e-5)
    np.testing.assert_allclose(K.pool3d(VOL, (2, 2, 2), (2, 2, 2), "same", pool_mode=mode),
                               ref_same, rtol=1e-5)  # fmt: skip
    out_cf = K.pool3d(_cf(VOL), (2, 2, 2), data_format="channels_first", pool_mode=mode)
    np.testing.assert_allclose(out_cf, _cf(ref), rtol=1e-5)


def test_conv3d_and_pool3d_errors():
    with pytest.raises(ValueError, match="data_format"):
        K.conv3d(VOL, np.ones((1, 1, 1, 3, 1), "float32"), data_format="channels_middle")
    with pytest.raises(ValueError, match="padding"):
        K.conv3d(VOL, np.ones((1, 1, 1, 3, 1), "float32"), padding="full")
    with pytest.raises(ValueError, match="pooling mode"):
        K.pool3d(VOL, (2, 2, 2), pool_mode="min")


# -- paddings and resizes ----------------------------------------------------------------------


def test_paddings_match_keras_zero_padding_layers(keras):
    seq = IMG[:, :, 0, :]
    with keras_ref():
        ref1 = np.asarray(keras.layers.ZeroPadding1D((2, 1))(seq))
        ref2 = np.asarray(keras.layers.ZeroPadding2D(((1, 2), (0, 3)))(IMG))
        ref2_cf = np.asarray(
            keras.layers.ZeroPadding2D(((1, 2), (0, 3)), data_format="channels_first")(_cf(IMG))
        )
        ref3 = np.asarray(keras.layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1)))(VOL))
    np.testing.assert_array_equal(K.temporal_padding(seq, (2, 1)), ref1)
    np.testing.assert_array_equal(K.spatial_2d_padding(IMG, ((1, 2), (0, 3))), ref2)
    np.testing.assert_array_equal(
        K.spatial_2d_padding(_cf(IMG), ((1, 2), (0, 3)), "channels_first"), ref2_cf
    )
    np.testing.assert_array_equal(K.spatial_3d_padding(VOL, ((1, 0), (0, 2), (1, 1))), ref3)
    np.testing.assert_array_equal(
        K.spatial_3d_padding(_cf(VOL), ((1, 0), (0, 2), (1, 1)), "channels_first"), _cf(ref3)
    )


def test_padding_errors():
    with pytest.raises(ValueError, match="tuple of 2 integers"):
        K.temporal_padding(IMG[:, :, 0], (1, 2, 3))
    with pytest.raises(ValueError, match="tuple of 2 tuples of 2 integers"):
        K.spatial_2d_padding(IMG, ((1, 1), (1, 1), (1, 1)))
    with pytest.raises(ValueError, match="tuple of 3 tuples of 2 integers"):
        K.spatial_3d_padding(VOL, ((1, 1), (1, 1)))
    with pytest.raises(ValueError, match="data_format"):
        K.spatial_2d_padding(IMG, data_format="NHWC")


def test_resize_images_matches_upsampling2d_and_image_resize(keras):
    with keras_ref():
        ref = np.asarray(keras.layers.UpSampling2D((2, 3))(IMG))
        ref_cf = np.asarray(
            keras.layers.UpSampling2D((2, 3), data_format="channels_first")(_cf(IMG))
        )
        ref_bilinear = np.asarray(keras.ops.image.resize(IMG, (8, 15), "bilinear"))
    np.testing.assert_array_equal(K.resize_images(IMG, 2, 3, "channels_last"), ref)
    np.testing.assert_array_equal(K.resize_images(_cf(IMG), 2, 3, "channels_first"), ref_cf)
    np.testing.assert_allclose(K.resize_images(IMG, 2, 3, "channels_last", "bilinear"),
                               ref_bilinear, rtol=1e-5, atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(K.resize_images(_cf(IMG), 2, 3, "channels_first", "bilinear"),
                               _cf(ref_bilinear), rtol=1e-5, atol=1e-5)  # fmt: skip


def test_resize_volumes_matches_upsampling3d(keras):
    with keras_ref():
        ref = np.asarray(keras.layers.UpSampling3D((2, 1, 3))(VOL))
    np.testing.assert_array_equal(K.resize_volumes(VOL, 2, 1, 3, "channels_last"), ref)
    np.testing.assert_array_equal(K.resize_volumes(_cf(VOL), 2, 1, 3, "channels_first"), _cf(ref))


def test_resize_errors():
    with pytest.raises(ValueError, match="Invalid `data_format` argument"):
        K.resize_images(IMG, 2, 2, None)
    with pytest.raises(ValueError, match="`interpolation` argument should be one of"):
        K.resize_images(IMG, 2, 2, "channels_last", "cubic-ish")
    with pytest.raises(ValueError, match="Invalid data_format"):
        K.resize_volumes(VOL, 2, 2, 2, "channels_middle")


# -- normalization and dropout -----------------------------------------------------------------


def test_batch_normalization_matches_numpy_along_any_axis():
    mean, var = RNG.normal(size=3), RNG.uniform(0.5, 2.0, size=3)
    beta, gamma = RNG.normal(size=3), RNG.normal(size=3)
    ref = (IMG - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(K.batch_normalization(IMG, mean, var, beta, gamma), ref,
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    out_cf = K.batch_normalization(_cf(IMG), mean, var, beta, gamma, axis=1)
    np.testing.assert_allclose(out_cf, _cf(ref), rtol=1e-5, atol=1e-5)
    no_affine = K.batch_normalization(IMG, mean, var, None, None, epsilon=0.1)
    np.testing.assert_allclose(no_affine, (IMG - mean) / np.sqrt(var + 0.1), rtol=1e-5, atol=1e-5)


def test_dropout_zeroes_level_and_scales_the_rest():
    x = np.ones((200, 100), "float32")
    out = np.asarray(K.dropout(x, 0.3, seed=3))
    assert abs(np.mean(out == 0) - 0.3) < 0.02
    np.testing.assert_allclose(np.unique(out[out != 0]), [1 / 0.7], rtol=1e-6)
    np.testing.assert_array_equal(out, K.dropout(x, 0.3, seed=3))  # a fixed seed repeats
    shared = np.asarray(K.dropout(x, 0.5, noise_shape=(200, 1), seed=1))
    assert np.all((shared == 0).all(axis=1) | (shared != 0).all(axis=1))
    with pytest.raises(ValueError, match="range"):
        K.dropout(x, 1.5)


# -- higher-order functions, variables, sparse -------------------------------------------------


def test_map_fn_foldl_foldr_match_python():
    rows = RNG.normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(K.map_fn(lambda r: K.sum(K.square(r)), rows),
                               np.sum(rows**2, axis=1), rtol=1e-5)  # fmt: skip
    pair = K.map_fn(lambda t: t[0] * t[1], (rows, rows + 1.0))
    np.testing.assert_allclose(pair, rows * (rows + 1.0), rtol=1e-5)
    digits = np.array([1, 2, 3, 4])
    assert int(K.foldl(lambda a, x: a * 10 + x, digits)) == 1234
    assert int(K.foldr(lambda a, x: a * 10 + x, digits)) == 4321
    left = functools.reduce(lambda a, x: a * 0.5 + x, rows, np.zeros(3, "float32"))
    np.testing.assert_allclose(K.foldl(lambda a, x: a * 0.5 + x, rows, np.zeros(3, "float32")),
                               left, rtol=1e-5)  # fmt: skip
    right = functools.reduce(lambda a, x: a * 0.5 + x, rows[::-1], np.zeros(3, "float32"))
    np.testing.assert_allclose(K.foldr(lambda a, x: a * 0.5 + x, rows, np.zeros(3, "float32")),
                               right, rtol=1e-5)  # fmt: skip


def test_reverse_takes_an_int_or_a_list():
    np.testing.assert_array_equal(K.reverse(IMG, 1), IMG[:, ::-1])
    np.testing.assert_array_equal(K.reverse(IMG, [0, -1]), IMG[::-1, :, :, ::-1])


def test_random_variables_are_k_variables():
    normal = K.random_normal_variable((300, 100), 2.0, 0.5, seed=1)
    uniform = K.random_uniform_variable((300, 100), -1.0, 3.0, seed=1, name="u")
    assert type(normal) is type(K.variable(np.zeros(1)))
    values = K.get_value(normal)
    assert abs(values.mean() - 2.0) < 0.01 and abs(values.std() - 0.5) < 0.01
    u = K.get_value(uniform)
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.02
    np.random.seed(5)
    a = K.get_value(K.random_uniform_variable((4,), 0.0, 1.0))
    np.random.seed(5)
    np.testing.assert_array_equal(a, K.get_value(K.random_uniform_variable((4,), 0.0, 1.0)))


def test_name_scope_sparse_and_ctc_label_dense_to_sparse():
    with K.name_scope("block") as scope:
        layer = lamina.layers.Dense(2)
        layer.build((None, 3))
    assert scope == "block/" and layer.kernel.path == f"{layer.name}/kernel"
    with pytest.raises(ValueError, match="must be a string"):
        K.name_scope(3)
    from jax.experimental import sparse

    dense = np.array([[0.0, 2.0], [3.0, 0.0]], "float32")
    assert K.is_sparse(sparse.BCOO.fromdense(dense)) and not K.is_sparse(dense)
    np.testing.assert_array_equal(K.to_dense(sparse.BCOO.fromdense(dense)), dense)
    assert K.to_dense(dense) is dense
    with pytest.raises(NotImplementedError, match="ctc_batch_cost"):
        K.ctc_label_dense_to_sparse(np.zeros((2, 3), "int32"), np.array([1, 2]))


# -- focal crossentropies ----------------------------------------------------------------------


@pytest.mark.parametrize("from_logits", [False, True])
def test_focal_crossentropies_match_keras_losses(keras, from_logits):
    target = (RNG.uniform(size=(4, 5)) > 0.5).astype("float32")
    output = RNG.uniform(0.05, 0.95, size=(4, 5)).astype("float32")
    if from_logits:
        output = np.log(output / (1 - output))
    onehot = np.eye(5, dtype="float32")[[0, 3, 1, 4]]
    with keras_ref():
        ref_b = np.asarray(keras.losses.binary_focal_crossentropy(
            target, output, apply_class_balancing=True, alpha=0.3, gamma=1.5,
            from_logits=from_logits))  # fmt: skip
        ref_c = np.asarray(keras.losses.categorical_focal_crossentropy(
            onehot, output, alpha=0.3, gamma=1.5, from_logits=from_logits))  # fmt: skip
    out_b = K.binary_focal_crossentropy(target, output, True, 0.3, 1.5, from_logits)
    np.testing.assert_allclose(np.mean(out_b, axis=-1), ref_b, rtol=1e-4, atol=1e-6)
    out_c = K.categorical_focal_crossentropy(onehot, output, 0.3, 1.5, from_logits)
    np.testing.assert_allclose(out_c, ref_c, rtol=1e-4, atol=1e-6)
    out_c_first = K.categorical_focal_crossentropy(onehot.T, output.T, 0.3, 1.5, from_logits,
                                                   axis=0)  # fmt: skip
    np.testing.assert_allclose(out_c_first, ref_c, rtol=1e-4, atol=1e-6)


# -- inside a model ----------------------------------------------------------------------------


class Keras2UpBlock(lamina.layers.Layer):
    """A Keras 2 custom layer built from backend functions."""

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(3, 3, 2, input_shape[-1]),
                                      initializer="glorot_uniform")  # fmt: skip
        super().build(input_shape)

    def call(self, inputs, training=None):
        shape = K.int_shape(inputs)
        y = K.conv2d_transpose(inputs, self.kernel, (None, shape[1] * 2, shape[2] * 2, 2),
                               (2, 2), "same")  # fmt: skip
        y = K.spatial_2d_padding(y, ((1, 0), (0, 1)))
        y = K.reverse(y, 1)
        y = K.batch_normalization(y, 0.5, 4.0, 0.1, 2.0)
        y = K.map_fn(lambda sample: sample * 2.0, y)
        y = K.resize_images(y, 1, 2, "channels_last")
        return K.in_train_phase(K.dropout(y, 0.0), y, training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] * 2 + 1, (input_shape[2] * 2 + 1) * 2, 2)


def test_custom_layer_of_backend_functions_trains_like_keras(keras):
    x = RNG.normal(size=(8, 3, 3, 1)).astype("float32")
    y = RNG.normal(size=(8, 1)).astype("float32")
    model = lamina.Sequential([lamina.Input((3, 3, 1)), Keras2UpBlock(),
                               lamina.layers.Flatten(), lamina.layers.Dense(1)])  # fmt: skip
    ops = keras.ops
    with keras_ref():
        ref = keras.Sequential([
            keras.Input((3, 3, 1)),
            keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=False),
            keras.layers.ZeroPadding2D(((1, 0), (0, 1))),
            keras.layers.Lambda(lambda t: ops.flip(t, 1)),
            keras.layers.Lambda(lambda t: ((t - 0.5) / ops.sqrt(4.001) * 2.0 + 0.1) * 2.0),
            keras.layers.UpSampling2D((1, 2)),
            keras.layers.Flatten(), keras.layers.Dense(1),
        ])  # fmt: skip
    model.set_weights(ref.get_weights())
    with keras_ref():
        ref_pred = ref.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref_pred, rtol=1e-4, atol=1e-4)
    model.compile("sgd", "mse")
    hist = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    with keras_ref():
        ref.compile("sgd", "mse")
        ref_hist = ref.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"], rtol=1e-3)


class DropoutBlock(lamina.layers.Layer):
    def call(self, inputs, training=None):
        return K.in_train_phase(K.dropout(inputs, 0.5), inputs, training=training)


def test_unseeded_dropout_in_a_custom_layer_during_fit():
    x = np.ones((64, 10), "float32")
    model = lamina.Sequential([lamina.Input((10,)), DropoutBlock(), lamina.layers.Dense(1)])
    model.compile("sgd", "mse")
    hist = model.fit(x, np.ones((64, 1), "float32"), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    out = np.asarray(DropoutBlock()(x, training=True))
    assert 0.35 < np.mean(out == 0) < 0.65 and set(np.unique(out)) <= {0.0, 2.0}
    np.testing.assert_array_equal(DropoutBlock()(x, training=False), x)


def test_functions_record_graph_nodes_on_symbolic_inputs():
    inp = lamina.Input((4, 5, 3))
    out = K.reverse(K.spatial_2d_padding(K.resize_images(inp, 2, 2, "channels_last")), 1)
    model = lamina.Model(inp, out)
    expected = np.pad(IMG.repeat(2, 1).repeat(2, 2), [(0, 0), (1, 1), (1, 1), (0, 0)])[:, ::-1]
    np.testing.assert_allclose(model.predict(IMG, verbose=0), expected)
