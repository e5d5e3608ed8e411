"""Keras 1/2 and tf.keras 2 import paths and helpers that scripts of that time use, with their
imports changed to ``lamina``: module paths (``keras.utils.io_utils``, ``keras.engine.saving``,
``keras.callbacks.callbacks``, ...), ``HDF5Matrix``, ``multi_gpu_model``, ``conv_utils``,
``_Merge`` subclasses (the improved WGAN's ``RandomWeightedAverage``), ``AtrousConvolution``,
``BaseLogger``, ``model_from_config``/``model_from_yaml`` and
``mixed_precision.experimental``."""

import importlib
import warnings

import h5py
import numpy as np
import pytest

import lamina
from lamina import backend as K
from lamina.layers.merge import _Merge
from tests.helpers import keras_ref

PATHS = [
    ("lamina.layers.recurrent", "RNN", "lamina.layers", "RNN"),
    ("lamina.layers.cudnn_recurrent", "CuDNNLSTM", "lamina.layers", "CuDNNLSTM"),
    ("lamina.layers.convolutional", "AtrousConvolution2D", "lamina.layers", "AtrousConvolution2D"),
    ("lamina.utils.io_utils", "HDF5Matrix", "lamina.utils", "HDF5Matrix"),
    ("lamina.utils.training_utils", "multi_gpu_model", "lamina.utils", "multi_gpu_model"),
    ("lamina.engine.saving", "load_model", "lamina.models", "load_model"),
    ("lamina.engine.saving", "model_from_json", "lamina.models", "model_from_json"),
    ("lamina.callbacks.callbacks", "EarlyStopping", "lamina.callbacks", "EarlyStopping"),
    ("lamina.callbacks.callbacks", "BaseLogger", "lamina.callbacks", "BaseLogger"),
    ("lamina.callbacks.tensorboard_v1", "TensorBoard", "lamina.callbacks", "TensorBoard"),
    ("lamina.models", "model_from_yaml", "lamina.saving", "model_from_yaml"),
    ("lamina.models", "model_from_config", "lamina.saving", "model_from_config"),
]


@pytest.mark.parametrize("module, name, home, home_name", PATHS)
def test_keras2_module_paths_name_lamina_objects(module, name, home, home_name):
    got = getattr(importlib.import_module(module), name)
    assert got is getattr(importlib.import_module(home), home_name)


def test_merge_subclass_defines_only_its_merge_function():
    class Mean2(_Merge):
        def _merge_function(self, inputs):
            return (inputs[0] + 2 * inputs[1]) / 3

    a, b = lamina.Input((4, 3)), lamina.Input((3,))
    out = Mean2()([a, b])  # the lower-rank input gets a size-1 axis after the batch axis
    assert out.shape == (None, 4, 3)
    model = lamina.Model([a, b], out)
    x1 = np.arange(24, dtype="float32").reshape(2, 4, 3)
    x2 = np.arange(6, dtype="float32").reshape(2, 3)
    want = (x1 + 2 * x2[:, None, :]) / 3
    np.testing.assert_allclose(model.predict([x1, x2], verbose=0), want, rtol=1e-6)
    with pytest.raises(ValueError, match="should be called on a list"):
        Mean2()(a)


class RandomWeightedAverage(_Merge):
    """The improved WGAN's interpolation between real and generated images (Keras 2 code)."""

    def _merge_function(self, inputs):
        alpha = K.random_uniform((8, 1, 1, 1))
        return (alpha * inputs[0]) + ((1 - alpha) * inputs[1])


def test_wgan_random_weighted_average_draws_fresh_weights_and_trains():
    real, fake = lamina.Input((4, 4, 1)), lamina.Input((4, 4, 1))
    mixed = RandomWeightedAverage()([real, fake])
    critic = lamina.layers.Dense(1)(lamina.layers.Flatten()(mixed))
    model = lamina.Model([real, fake], [mixed, critic])
    x_real, x_fake = np.zeros((8, 4, 4, 1), "float32"), np.ones((8, 4, 4, 1), "float32")
    first, _ = model.predict([x_real, x_fake], batch_size=8, verbose=0)
    second, _ = model.predict([x_real, x_fake], batch_size=8, verbose=0)
    # One weight per row, in [0, 1): every pixel of a row holds 1 - alpha.
    for out in (first, second):
        assert np.all((out >= 0) & (out <= 1))
        np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1, :], out.shape))
    assert not np.allclose(first, second)  # fresh numbers at every run, as Keras 2 drew them
    critic_model = lamina.Model([real, fake], critic)
    critic_model.compile("adam", "mse")
    history = critic_model.fit(
        [x_real, x_fake], np.zeros((8, 1)), batch_size=8, epochs=2, verbose=0
    )
    assert np.all(np.isfinite(history.history["loss"]))


def _h5(tmp_path, x, y):
    path = str(tmp_path / "data.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x)
        f.create_dataset("y", data=y)
    return path


def test_hdf5_matrix_trains_as_the_arrays_it_holds(tmp_path):
    from lamina.utils.io_utils import HDF5Matrix

    rng = np.random.default_rng(0)
    x = rng.random((40, 5)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 2.5).astype("float32")
    path = _h5(tmp_path, x, y)
    x_h5, y_h5 = HDF5Matrix(path, "x", end=30), HDF5Matrix(path, "y", end=30)
    assert x_h5.shape == (30, 5) and x_h5.ndim == 2 and x_h5.size == 150
    assert x_h5.dtype == np.float32 and len(y_h5) == 30

    def fit(xs, ys):
        lamina.utils.set_random_seed(1)
        model = lamina.Sequential(
            [lamina.Input((5,)), lamina.layers.Dense(1, activation="sigmoid")]
        )
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        history = model.fit(xs, ys, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return history.history, model.get_weights()

    got, got_w = fit(x_h5, y_h5)
    want, want_w = fit(x[:30], y[:30])
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-6)
    for a, b in zip(got_w, want_w):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    x_h5.close()


def test_hdf5_matrix_indexing_follows_its_start(tmp_path):
    from lamina.utils.io_utils import HDF5Matrix

    x = np.arange(20, dtype="float32").reshape(10, 2)
    path = _h5(tmp_path, x, x[:, :1])
    m = HDF5Matrix(path, "x", start=3, end=9, normalizer=lambda a: a * 2)
    np.testing.assert_array_equal(m[0], x[3] * 2)
    np.testing.assert_array_equal(m[-1], x[8] * 2)
    np.testing.assert_array_equal(m[1:4], x[4:7] * 2)
    np.testing.assert_array_equal(m[[4, 0, 4]], x[[7, 3, 7]] * 2)  # unsorted, repeated rows
    np.testing.assert_array_equal(m[np.array([5, 1])], x[[8, 4]] * 2)
    np.testing.assert_array_equal(m[::2], x[3:9:2] * 2)
    with pytest.raises(IndexError, match="out of range"):
        m[6]
    with pytest.raises(IndexError, match=r"must lie in \[0, 6\)"):
        m[[1, 6]]
    with pytest.raises(ValueError, match="start=.*end="):
        HDF5Matrix(path, "x", start=4, end=11)
    with pytest.raises(ValueError, match="is not a dataset"):
        HDF5Matrix(path, "nothing")
    m.close()


def test_multi_gpu_model_checks_as_keras2_then_trains_data_parallel(monkeypatch):
    import jax

    from lamina.utils import multi_gpu_model, training_utils

    def make():
        lamina.utils.set_random_seed(3)
        model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(2)])
        model.compile("sgd", "mse")
        return model

    with pytest.raises(ValueError, match="with `gpus >= 2`"):
        multi_gpu_model(make(), gpus=1)
    monkeypatch.setattr(training_utils, "_gpus", lambda: [])
    with pytest.raises(
        ValueError, match=r"we expect the following devices.*\['/gpu:0', '/gpu:1'\]"
    ):
        multi_gpu_model(make(), gpus=2)
    # Two GPUs present (this machine's two CPU devices stand in): the model itself, data parallel.
    monkeypatch.setattr(training_utils, "_gpus", lambda: jax.devices()[:2])
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    y = x[:, :2] * 2
    single = make()
    single.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = make()
    try:
        parallel = multi_gpu_model(model, gpus=2)
        assert parallel is model
        assert lamina.distribution.distribution().num_data_shards == 2
        parallel.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    finally:
        lamina.distribution.set_distribution(None)
    for a, b in zip(model.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_conv_utils_match_keras_layers_output_shapes(keras):
    from lamina.utils import conv_utils

    cases = [
        (28, 3, "valid", 1, 1),
        (28, 3, "same", 2, 1),
        (17, 5, "valid", 3, 1),
        (17, 5, "valid", 1, 2),
        (9, 3, "same", 1, 3),
    ]
    with keras_ref():
        for length, k, pad, stride, dil in cases:
            conv = keras.layers.Conv1D(1, k, strides=stride, padding=pad, dilation_rate=dil)
            want = conv.compute_output_shape((None, length, 1))[1]
            assert conv_utils.conv_output_length(length, k, pad, stride, dil) == want
        for length, k, pad, stride in [(7, 3, "same", 2), (7, 3, "valid", 2), (5, 4, "valid", 1)]:
            deconv = keras.layers.Conv1DTranspose(1, k, strides=stride, padding=pad)
            want = deconv.compute_output_shape((None, length, 1))[1]
            assert conv_utils.deconv_length(length, stride, k, pad) == want
    assert conv_utils.conv_output_length(10, 3, "full", 1) == 12  # Keras 2's 'full' padding
    assert conv_utils.conv_input_length(26, 3, "valid", 1) == 28
    assert conv_utils.normalize_tuple((2, 3), 2, "strides") == (2, 3)
    assert conv_utils.normalize_padding("SAME") == "same"
    with pytest.raises(ValueError, match="must be an int or a tuple of 2 ints"):
        conv_utils.normalize_tuple((1, 2, 3), 2, "kernel_size")
    with pytest.raises(ValueError, match="channels_last"):
        conv_utils.normalize_data_format("channels_middle")


def test_convert_kernel_turns_correlation_into_convolution():
    from lamina.utils.conv_utils import convert_kernel

    rng = np.random.default_rng(0)
    image = rng.random((1, 5, 5, 1)).astype("float32")
    kernel = rng.random((3, 3, 1, 1)).astype("float32")
    layer = lamina.layers.Conv2D(1, 3, use_bias=False)
    layer.build((None, 5, 5, 1))
    layer.set_weights([convert_kernel(kernel)])
    got = np.asarray(layer(image))[0, :, :, 0]
    k = kernel[:, :, 0, 0]
    want = np.array([[np.sum(image[0, i : i + 3, j : j + 3, 0] * k[::-1, ::-1]) for j in range(3)]
                     for i in range(3)])  # fmt: skip
    np.testing.assert_allclose(got, want, rtol=1e-5)
    with pytest.raises(ValueError, match="convolution kernel"):
        convert_kernel(np.ones((3, 3)))


@pytest.mark.parametrize("rank", [1, 2])
def test_atrous_convolution_is_a_dilated_convolution_as_in_keras(keras, rank):
    shape = (12, 2) if rank == 1 else (9, 9, 2)
    x = np.random.default_rng(0).random((2, *shape)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if rank == 1:
            layer = lamina.layers.AtrousConvolution1D(4, 3, atrous_rate=2, border_mode="same")
        else:
            layer = lamina.layers.AtrousConvolution2D(4, 3, 3, atrous_rate=(2, 2), subsample=(1, 1))
    got = np.asarray(layer(x))
    with keras_ref():
        cls = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
        padding = "same" if rank == 1 else "valid"
        ref = cls(4, 3, dilation_rate=2, padding=padding)
        ref.build((None, *shape))
        ref.set_weights(layer.get_weights())
        want = np.asarray(ref(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_base_logger_changes_no_logs():
    def fit(callbacks):
        lamina.utils.set_random_seed(0)
        model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
        model.compile("sgd", "mse", metrics=["mae"])
        x = np.random.default_rng(0).random((20, 3)).astype("float32")
        return model.fit(
            x, x[:, :1], epochs=2, batch_size=6, verbose=0, callbacks=callbacks
        ).history

    assert fit([lamina.callbacks.BaseLogger()]) == fit([])


def test_model_from_config_and_yaml_as_tf_keras_2():
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2, name="d")])
    config = {"class_name": "Sequential", "config": model.get_config()}
    rebuilt = lamina.models.model_from_config(config)
    assert [layer.name for layer in rebuilt.layers] == ["d"]
    assert rebuilt.output_shape == (None, 2)
    with pytest.raises(TypeError, match="expects a dictionary, not a list"):
        lamina.models.model_from_config([config])
    with pytest.raises(
        RuntimeError, match=r"Please use `Model.to_json\(\)` and `model_from_json\(\)`"
    ):
        lamina.models.model_from_yaml("class_name: Sequential")


def test_mixed_precision_experimental_names(keras):
    from lamina.mixed_precision import experimental as mixed_precision

    try:
        mixed_precision.set_policy(mixed_precision.Policy("mixed_float16"))
        policy = mixed_precision.global_policy()
        with keras_ref():
            want = keras.mixed_precision.DTypePolicy("mixed_float16")
        assert (policy.name, policy.compute_dtype, policy.variable_dtype) == (
            want.name, want.compute_dtype, want.variable_dtype,
        )  # fmt: skip
        layer = lamina.layers.Dense(2)
        assert mixed_precision.get_layer_policy(layer).name == "mixed_float16"
    finally:
        mixed_precision.set_policy("float32")
    opt = mixed_precision.LossScaleOptimizer(lamina.optimizers.SGD(), loss_scale=1024)
    assert opt.initial_scale == 1024.0
    assert mixed_precision.LossScaleOptimizer(lamina.optimizers.SGD()).initial_scale == 2.0**15
    with pytest.raises(ValueError, match="'dynamic' or a positive number"):
        mixed_precision.LossScaleOptimizer(lamina.optimizers.SGD(), loss_scale="fixed")
    with pytest.raises(ValueError, match="fixed loss scale per policy"):
        mixed_precision.Policy("mixed_float16", loss_scale=128)
