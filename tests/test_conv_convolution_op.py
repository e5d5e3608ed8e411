"""``convolution_op``, Keras's hook for customizing a convolution layer, against real Keras 3.

keras.io's "Customizing the convolution operation of a Conv2D layer" subclasses ``Conv2D`` and
overrides ``convolution_op(inputs, kernel)`` to standardize the kernel; the layer adds its bias
and activation after it.  Keras's ``Conv1D.call`` calls ``ops.conv`` itself, so there an
override changes nothing, while ``convolution_op`` still exists; transposed, depthwise and
separable convolutions have no ``convolution_op``.
"""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL, ATOL = 1e-5, 1e-5


def _standardize(ops, kernel):
    mean, var = ops.moments(kernel, axes=list(range(kernel.ndim - 1)), keepdims=True)
    return (kernel - mean) / ops.sqrt(var + 1e-10)


def _tensor(mod, kernel):
    # Keras 3.15.1's JAX moments() runs jnp.mean on the kernel Variable its call() passes,
    # which JAX 0.10 refuses ("Triggering __jax_array__() during abstractification"): the
    # Keras reference converts it first; Lamina runs the recipe as written.
    return kernel if mod is lamina else mod.ops.convert_to_tensor(kernel)


def _subclasses(mod):
    """The recipe's subclass (``ops.conv`` called directly) and one calling ``super()``."""
    layers, ops = mod.layers, mod.ops

    class StandardizedConv2D(layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            kernel = _tensor(mod, kernel)
            mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
            return ops.conv(
                inputs,
                (kernel - mean) / ops.sqrt(var + 1e-10),
                padding="valid",
                strides=list(self.strides),
                dilation_rate=list(self.dilation_rate),
            )

    class SuperStandardizedConv2D(layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            return super().convolution_op(inputs, _standardize(ops, _tensor(mod, kernel)))

    class SuperStandardizedConv3D(layers.Conv3D):
        def convolution_op(self, inputs, kernel):
            return super().convolution_op(inputs, _standardize(ops, _tensor(mod, kernel)))

    class SuperStandardizedConv1D(layers.Conv1D):
        def convolution_op(self, inputs, kernel):
            return super().convolution_op(inputs, _standardize(ops, _tensor(mod, kernel)))

    return {
        "recipe2d": (StandardizedConv2D, dict(filters=4, kernel_size=3, activation="relu"),
                     (8, 8, 2)),
        "super2d": (SuperStandardizedConv2D,
                    dict(filters=4, kernel_size=3, strides=2, padding="same", groups=2,
                         activation="tanh"),
                    (8, 8, 2)),
        "super3d": (SuperStandardizedConv3D, dict(filters=3, kernel_size=2, activation="relu"),
                    (4, 4, 4, 2)),
        # Keras's Conv1D.call ignores the override: the plain convolution runs.
        "super1d": (SuperStandardizedConv1D,
                    dict(filters=3, kernel_size=3, padding="same", dilation_rate=2),
                    (9, 2)),
    }  # fmt: skip


def _models(keras, case):
    cls_k, kwargs, shape = _subclasses(keras)[case]
    cls_l = _subclasses(lamina)[case][0]
    with keras_ref():
        km = keras.Sequential([
            keras.Input(shape), cls_k(**kwargs), keras.layers.Flatten(), keras.layers.Dense(3)
        ])  # fmt: skip
    lm = lamina.models.Sequential([
        lamina.layers.Input(shape), cls_l(**kwargs), lamina.layers.Flatten(),
        lamina.layers.Dense(3),
    ])  # fmt: skip
    lm.set_weights(km.get_weights())
    x = np.random.default_rng(0).normal(size=(12, *shape)).astype("float32")
    return km, lm, x


@pytest.mark.parametrize("case", ["recipe2d", "super2d", "super3d", "super1d"])
def test_override_predictions_match_keras(keras, case):
    km, lm, x = _models(keras, case)
    with keras_ref():
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
    _check_direct_call(km, lm, x)


def _check_direct_call(km, lm, x, tol=RTOL):
    """Called directly, the override runs (in Conv1D too) and matches Keras's."""
    with keras_ref():
        want = km.layers[0].convolution_op(x, km.layers[0].kernel.value)
    got = lm.layers[0].convolution_op(x, lm.layers[0].kernel)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", ["recipe2d", "super2d", "super1d"])
def test_override_fit_matches_keras(keras, case):
    km, lm, x = _models(keras, case)
    y = np.random.default_rng(1).normal(size=(len(x), 3)).astype("float32")
    with keras_ref():
        km.compile(keras.optimizers.SGD(0.05), "mse")
        kh = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    lm.compile(lamina.optimizers.SGD(0.05), "mse")
    lh = lm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-5)
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    _check_direct_call(km, lm, x, tol=1e-4)


def test_kernel_gradient_flows_through_override():
    cls, kwargs, shape = _subclasses(lamina)["recipe2d"]
    layer = cls(**kwargs)
    params, state = layer.init(jax.random.key(0), (None, *shape))
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")

    def loss(kernel):
        return layer.apply({**params, "kernel": kernel}, state, x)[0].sum()

    # A standardized kernel is invariant to kernel -> 2 * kernel + 1: the gradient along
    # those directions is zero only if it runs through the user's op.
    grad = jax.grad(loss)(params["kernel"])
    assert float(np.abs(grad).max()) > 0
    np.testing.assert_allclose(np.sum(grad * params["kernel"]), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.sum(grad, axis=(0, 1, 2)), 0.0, atol=1e-3)


CONV_OP_CASES = [
    ("Conv1D", dict(filters=3, kernel_size=3, strides=2, padding="same"), (9, 2)),
    ("Conv1D", dict(filters=4, kernel_size=3, groups=2, dilation_rate=2), (9, 4)),
    ("Conv2D", dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same"), (7, 8, 3)),
    ("Conv2D", dict(filters=3, kernel_size=2, data_format="channels_first"), (2, 6, 5)),
    ("Conv3D", dict(filters=2, kernel_size=2, dilation_rate=2), (5, 5, 5, 1)),
]


@pytest.mark.parametrize("cls,kwargs,shape", CONV_OP_CASES)
def test_convolution_op_matches_keras(keras, cls, kwargs, shape):
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    with keras_ref():
        klayer = getattr(keras.layers, cls)(**kwargs)
        klayer.build(x.shape)
        want = klayer.convolution_op(x, klayer.kernel.value)
    layer = getattr(lamina.layers, cls)(**kwargs)
    layer.build(x.shape)
    layer.set_weights(klayer.get_weights())
    np.testing.assert_allclose(layer.convolution_op(x, layer.kernel), want, rtol=RTOL, atol=ATOL)


def test_which_layers_have_convolution_op(keras):
    names = ["Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
             "Conv3DTranspose", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
             "SeparableConv2D", "ConvLSTM2D"]  # fmt: skip
    got = {n: hasattr(getattr(lamina.layers, n), "convolution_op") for n in names}
    assert got == {n: hasattr(getattr(keras.layers, n), "convolution_op") for n in names}


def test_plain_conv2d_unchanged(keras, monkeypatch):
    kwargs, shape = dict(filters=3, kernel_size=3, activation="relu"), (6, 6, 2)
    x = np.random.default_rng(0).normal(size=(4, *shape)).astype("float32")
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(**kwargs)])
        want = km.predict(x, verbose=0)
    lm = lamina.models.Sequential([lamina.layers.Input(shape), lamina.layers.Conv2D(**kwargs)])
    lm.set_weights(km.get_weights())
    layer = lm.layers[0]
    # Keras's call: activation(convolution_op(x, kernel) + bias).
    by_op = np.maximum(np.asarray(layer.convolution_op(x, layer.kernel)) + layer.bias.numpy(), 0)
    np.testing.assert_allclose(by_op, want, rtol=RTOL, atol=ATOL)

    # A built-in Conv2D keeps its own convolution: it never goes through convolution_op.
    def refuse(self, inputs, kernel):
        raise AssertionError("a plain Conv2D ran convolution_op")

    from lamina.layers import conv

    monkeypatch.setattr(conv._PlainConv, "convolution_op", refuse)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)


def test_call_override_reaches_convolution_op(keras):
    """``super().call`` from an overriding ``call`` runs the overriding ``convolution_op``."""

    def make(mod):
        class Both(mod.layers.Conv2D):
            def convolution_op(self, inputs, kernel):
                return super().convolution_op(inputs, _standardize(mod.ops, _tensor(mod, kernel)))

            def call(self, inputs):
                return super().call(inputs) * 2.0

        return Both

    x = np.random.default_rng(0).normal(size=(3, 6, 6, 2)).astype("float32")
    with keras_ref():
        klayer = make(keras)(3, 3)
        want = klayer(x)
    layer = make(lamina)(3, 3)
    layer.build(x.shape)
    layer.set_weights(klayer.get_weights())
    np.testing.assert_allclose(layer(x), want, rtol=RTOL, atol=ATOL)


def _registered(mod, package):
    base = _subclasses(mod)["super2d"][0]

    @mod.saving.register_keras_serializable(package=package)
    class RegisteredStdConv2D(base):
        pass

    return RegisteredStdConv2D


def test_keras_archive_round_trip(keras, tmp_path):
    package = "convolution_op_test"
    kcls, lcls = _registered(keras, package), _registered(lamina, package)
    kwargs, shape = _subclasses(lamina)["super2d"][1:]
    x = np.random.default_rng(0).normal(size=(5, *shape)).astype("float32")
    lm = lamina.models.Sequential([lamina.layers.Input(shape), lcls(**kwargs)])
    with keras_ref():
        km = keras.Sequential([keras.Input(shape), kcls(**kwargs)])
        km.set_weights(lm.get_weights())
        want = km.predict(x, verbose=0)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)

    path = str(tmp_path / "lamina.keras")
    lm.save(path)
    with keras_ref():
        loaded = keras.models.load_model(path)
        assert type(loaded.layers[0]) is kcls
        np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
        back = str(tmp_path / "keras.keras")
        km.save(back)
    again = lamina.models.load_model(back)
    assert type(again.layers[0]) is lcls
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=RTOL, atol=ATOL)
