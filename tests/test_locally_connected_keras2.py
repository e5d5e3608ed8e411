"""Keras 2's ``LocallyConnected1D``/``LocallyConnected2D`` (``keras.layers.local``), checked
against a NumPy port of Keras 2's own code: ``K.local_conv`` (implementation 1),
``local_conv_matmul`` with ``conv_kernel_mask`` (2), ``local_conv_sparse_matmul`` with
``sorted(conv_kernel_idxs(...))`` (3) and ``K.bias_add``; Keras 2's weight shapes and config;
training in every layout; saving."""

import itertools
import math

import numpy as np
import pytest

import lamina
from lamina.layers import LocallyConnected1D, LocallyConnected2D

RTOL, ATOL = 1e-5, 1e-5


# ------------------------------------------------------------------ Keras 2's formulas
def _connected_inputs(in_shape, kernel, position, strides, padding):
    """Keras 2's ``conv_utils.conv_connected_inputs``."""
    ranges = []
    for d in range(len(in_shape)):
        left = int(kernel[d] / 2)
        right = kernel[d] - left
        center = position[d] * strides[d] + (left if padding == "valid" else 0)
        ranges.append(range(max(0, center - left), min(in_shape[d], center + right)))
    return ranges


def _out_shape(in_shape, kernel, strides, padding):
    lengths = in_shape if padding == "same" else [n - k + 1 for n, k in zip(in_shape, kernel)]
    return tuple((n + s - 1) // s for n, s in zip(lengths, strides))


def _kernel_idxs(in_shape, kernel, strides, padding, c_in, c_out, data_format):
    """Keras 2's ``sorted(conv_utils.conv_kernel_idxs(...))``."""
    out_shape = _out_shape(in_shape, kernel, strides, padding)
    if data_format == "channels_first":
        cat = lambda spatial, f: (f, *spatial)  # noqa: E731
    else:
        cat = lambda spatial, f: (*spatial, f)  # noqa: E731
    idxs = []
    for out_pos in itertools.product(*[range(d) for d in out_shape]):
        ranges = _connected_inputs(in_shape, kernel, out_pos, strides, padding)
        for in_pos in itertools.product(*ranges):
            for f_in in range(c_in):
                for f_out in range(c_out):
                    o = np.ravel_multi_index(cat(out_pos, f_out), cat(out_shape, c_out))
                    i = np.ravel_multi_index(cat(in_pos, f_in), cat(in_shape, c_in))
                    idxs.append((int(o), int(i)))
    return sorted(idxs)


def _kernel_mask(in_shape, kernel, strides, padding):
    """Keras 2's ``conv_utils.conv_kernel_mask``."""
    out_shape = _out_shape(in_shape, kernel, strides, padding)
    mask = np.zeros(tuple(in_shape) + out_shape, bool)
    for out_pos in itertools.product(*[range(d) for d in out_shape]):
        for in_pos in itertools.product(
            *_connected_inputs(in_shape, kernel, out_pos, strides, padding)
        ):
            mask[in_pos + out_pos] = True
    return mask


def keras2_locally_connected(x, kernel, bias, kernel_size, strides, padding, data_format, impl):
    """Keras 2's ``LocallyConnected{1,2}D.call`` in NumPy, followed line by line."""
    cf = data_format == "channels_first"
    in_shape = x.shape[2:] if cf else x.shape[1:-1]
    c_in = x.shape[1] if cf else x.shape[-1]
    n = len(in_shape)
    out_shape = _out_shape(in_shape, kernel_size, strides, padding)
    f = bias.shape[-1] if bias is not None else None
    if impl == 1:  # K.local_conv
        f = kernel.shape[-1]
        xs = []
        for pos in itertools.product(*[range(d) for d in out_shape]):
            sl = [slice(None)] + ([slice(None)] if cf else [])
            sl += [slice(p * s, p * s + k) for p, s, k in zip(pos, strides, kernel_size)]
            sl += [] if cf else [slice(None)]
            xs.append(x[tuple(sl)].reshape(1, x.shape[0], -1))
        y = np.matmul(np.concatenate(xs, 0), kernel)  # K.batch_dot
        y = y.reshape(out_shape + (-1, f))
        perm = [n, n + 1, *range(n)] if cf else [n, *range(n), n + 1]
        y = y.transpose(perm)
    elif impl == 2:  # local_conv_matmul
        mask = _kernel_mask(in_shape, kernel_size, strides, padding)
        mask = np.expand_dims(np.expand_dims(mask, 0), -n - 1) if cf else np.expand_dims(
            np.expand_dims(mask, n), -1)  # fmt: skip
        k2 = (kernel * mask).reshape(math.prod(kernel.shape[: n + 1]), -1)
        y = x.reshape(x.shape[0], -1) @ k2
        f = kernel.shape[n + 1] if cf else kernel.shape[-1]
        y = y.reshape((x.shape[0], f, *out_shape) if cf else (x.shape[0], *out_shape, f))
    else:  # local_conv_sparse_matmul
        f = bias.shape[-1]
        idxs = _kernel_idxs(in_shape, kernel_size, strides, padding, c_in, f, data_format)
        dense = np.zeros((math.prod(out_shape) * f, x[0].size))
        for (o, i), v in zip(idxs, kernel):
            dense[o, i] = v
        y = (dense @ x.reshape(x.shape[0], -1).T).T
        y = y.reshape((x.shape[0], f, *out_shape) if cf else (x.shape[0], *out_shape, f))
    if bias is not None:  # K.bias_add: channels_first reshapes the (out..., f) bias
        y = y + (bias.reshape(1, f, *out_shape) if cf else bias[None])
    return np.tanh(y)


LC_CASES = [
    # rank, implementation, data_format, padding, strides, kernel_size
    (1, 1, "channels_last", "valid", 1, 3),
    (1, 1, "channels_first", "valid", 2, 3),
    (1, 2, "channels_last", "same", 2, 3),
    (1, 2, "channels_first", "valid", 1, 2),
    (1, 3, "channels_first", "same", 1, 4),
    (1, 3, "channels_last", "valid", 3, 2),
    (2, 1, "channels_last", "valid", (1, 2), (2, 3)),
    (2, 1, "channels_first", "valid", 1, 2),
    (2, 2, "channels_last", "same", (2, 1), 3),
    (2, 2, "channels_first", "valid", 1, (3, 2)),
    (2, 3, "channels_last", "same", (1, 2), (2, 3)),
    (2, 3, "channels_first", "same", 2, 3),
]


def _lc_input(rank, data_format, rng):
    spatial = (9,) if rank == 1 else (6, 7)
    shape = (3, 4, *spatial) if data_format == "channels_first" else (3, *spatial, 4)
    return rng.normal(size=shape).astype("float32")


@pytest.mark.parametrize("rank, impl, data_format, padding, strides, kernel_size", LC_CASES)
def test_locally_connected_is_keras2_maths(rank, impl, data_format, padding, strides,
                                           kernel_size, rng):  # fmt: skip
    cls = LocallyConnected1D if rank == 1 else LocallyConnected2D
    layer = cls(5, kernel_size, strides=strides, padding=padding, data_format=data_format,
                activation="tanh", implementation=impl)  # fmt: skip
    x = _lc_input(rank, data_format, rng)
    layer(x)
    weights = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    k = tuple(layer.kernel_size)
    s = tuple(layer.strides)
    want = keras2_locally_connected(x.astype("float64"), *weights, k, s, padding, data_format,
                                    impl)  # fmt: skip
    np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-4, atol=1e-5)
    assert layer.compute_output_shape((None, *x.shape[1:])) == (None, *want.shape[1:])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_locally_connected_weight_shapes_are_keras2s(data_format):
    cf = data_format == "channels_first"

    def shapes(cls, in_shape, impl, **kw):
        layer = cls(8, implementation=impl, data_format=data_format, **kw)
        layer(np.zeros((1, *in_shape), "float32"))
        return [tuple(w.shape) for w in layer.get_weights()]

    # 1D: 10 steps of 32 channels, a window of 3 -> 8 outputs (Keras 2's docstring example).
    seq = (32, 10) if cf else (10, 32)
    assert shapes(LocallyConnected1D, seq, 1, kernel_size=3) == [(8, 3 * 32, 8), (8, 8)]
    k2 = (32, 10, 8, 8) if cf else (10, 32, 8, 8)
    assert shapes(LocallyConnected1D, seq, 2, kernel_size=3) == [k2, (8, 8)]
    nnz = len(_kernel_idxs((10,), (3,), (1,), "valid", 32, 8, data_format))
    assert shapes(LocallyConnected1D, seq, 3, kernel_size=3) == [(nnz,), (8, 8)]
    # 2D: 7x6 images of 3 channels, a (3, 2) window, strides 2 -> 3x3 outputs.
    img = (3, 7, 6) if cf else (7, 6, 3)
    got = shapes(LocallyConnected2D, img, 1, kernel_size=(3, 2), strides=2)
    assert got == [(3 * 3, 3 * 2 * 3, 8), (3, 3, 8)]
    k2 = (3, 7, 6, 8, 3, 3) if cf else (7, 6, 3, 3, 3, 8)
    got = shapes(LocallyConnected2D, img, 2, kernel_size=(3, 2), strides=2)
    assert got == [k2, (3, 3, 8)]


def test_locally_connected_config_and_errors():
    layer = LocallyConnected2D(4, 3, strides=(2, 1), implementation=3, name="lc",
                               kernel_regularizer="l2")  # fmt: skip
    config = layer.get_config()
    keras2_keys = {
        "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
        "data_format", "activation", "use_bias", "kernel_initializer", "bias_initializer",
        "kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
        "bias_constraint", "implementation",
    }  # fmt: skip
    assert set(config) == keras2_keys
    assert config["kernel_size"] == (3, 3) and config["strides"] == (2, 1)
    assert config["implementation"] == 3
    twin = LocallyConnected2D.from_config(config)
    assert twin.get_config() == config
    assert lamina.layers.deserialize(lamina.layers.serialize(layer)).get_config() == config
    with pytest.raises(ValueError, match="implementation=2 or 3"):
        LocallyConnected1D(2, 3, padding="same")
    with pytest.raises(ValueError, match="must be 1, 2 or 3"):
        LocallyConnected1D(2, 3, implementation=4)
    with pytest.raises(ValueError, match="spatial and channel dimensions are known"):
        lamina.Sequential([lamina.Input((None, 3)), LocallyConnected1D(2, 3)]).build()
    with pytest.raises(ValueError, match="smaller than the kernel_size"):
        LocallyConnected1D(2, 5)(np.zeros((1, 3, 2), "float32"))
    with pytest.warns(UserWarning, match="Keras 1 spelling"):
        old = LocallyConnected1D(nb_filter=4, filter_length=3, subsample_length=2,
                                 border_mode="valid")  # fmt: skip
    assert (old.filters, old.kernel_size, old.strides) == (4, (3,), (2,))


def _dense_from(layer, x_shape):
    """The layer's (input -> output) matrix without bias: its outputs on the unit inputs."""
    size = math.prod(x_shape)
    basis = np.eye(size, dtype="float32").reshape(size, *x_shape)
    params = {"kernel": layer.get_weights()[0]}
    y, _ = layer.apply(params, {}, basis)
    return np.asarray(y).reshape(size, -1)  # (inputs, outputs), both flat per data_format


@pytest.mark.parametrize("impl", [2, 3])
def test_locally_connected_trains_the_same_in_every_layout(impl, rng):
    """Implementations 2 and 3 hold the same function as 1 in another layout: from the same
    starting function, ``fit`` ends at the same function (the gradients agree)."""
    x = rng.normal(size=(32, 6, 5, 2)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def model(implementation):
        lamina.utils.set_random_seed(1)
        return lamina.Sequential([
            lamina.Input((6, 5, 2)),
            LocallyConnected2D(3, (3, 2), strides=(1, 2), implementation=implementation,
                               use_bias=False, name="lc"),
            lamina.layers.Flatten(),
            lamina.layers.Dense(1, name="out"),
        ])  # fmt: skip

    first, other = model(1), model(impl)
    dense = _dense_from(first.get_layer("lc"), x.shape[1:])
    lc = other.get_layer("lc")
    if impl == 2:
        kernel = dense.reshape(lc.get_weights()[0].shape)
    else:
        outs, ins = zip(*_kernel_idxs((6, 5), (3, 2), (1, 2), "valid", 2, 3, "channels_last"))
        kernel = dense[list(ins), list(outs)]
    lc.set_weights([kernel])
    other.get_layer("out").set_weights(first.get_layer("out").get_weights())
    np.testing.assert_allclose(other.predict(x, verbose=0), first.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)  # fmt: skip
    for m in (first, other):
        m.compile(lamina.optimizers.SGD(0.05), "mse")
        m.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(other.predict(x, verbose=0), first.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)  # fmt: skip


def test_locally_connected_model_saves_and_loads(tmp_path, rng):
    model = lamina.Sequential([
        lamina.Input((10, 3)),
        LocallyConnected1D(4, 3, padding="same", implementation=3, activation="relu"),
        LocallyConnected1D(2, 2, strides=2, implementation=2),
        lamina.layers.Flatten(),
        lamina.layers.Dense(1),
    ])  # fmt: skip
    x = rng.normal(size=(5, 10, 3)).astype("float32")
    path = tmp_path / "lc.keras"
    model.save(path)
    loaded = lamina.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)  # fmt: skip
