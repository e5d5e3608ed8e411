"""Per-layer ONNX translations used by :mod:`lamina.saving.onnx_export`.

The graph keeps Lamina's own layout between layers (``channels_last`` by default).  ONNX ``Conv``
and the pooling operators are channels-first, so a ``channels_last`` convolution or pooling layer
becomes ``Transpose -> Conv/Pool -> Transpose`` (onnxruntime fuses adjacent transposes), with the
Keras kernel ``(*k, in // groups, out)`` transposed to ONNX's ``(out, in // groups, *k)``.
``'same'`` padding is written as the explicit pads JAX uses (extra padding at the end) when the
spatial sizes are known, else as ``auto_pad="SAME_UPPER"`` (the same rule).

Each translation is ``fn(g, layer, x, w, in_shape) -> name``: ``g`` the graph under
construction, ``x`` the input tensor's name, ``w`` the layer's weights and state as NumPy arrays
by Keras name, ``in_shape`` the static input shape (batch dimension ``None``).
"""

from __future__ import annotations

import math

import numpy as np

from lamina import activations as _activations

_SIMPLE = {
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "elu": "Elu",
    "softplus": "Softplus",
    "softsign": "Softsign",
    "selu": "Selu",
}
IDENTITY = {
    "Dropout",
    "GaussianNoise",
    "GaussianDropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "ActivityRegularization",
}


class Graph:
    """Nodes and initializers of the graph being built, with unique tensor names."""

    def __init__(self, helper, numpy_helper):
        self.h, self.nh = helper, numpy_helper
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, hint, value, dtype=None):
        name = self.name(hint)
        self.inits.append(self.nh.from_array(np.asarray(value, dtype), name))
        return name

    def f32(self, hint, value):
        return self.const(hint, value, np.float32)

    def op(self, op_type, inputs, hint, **attrs):
        out = self.name(hint)
        self.nodes.append(self.h.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def activation(g, x, layer, fn):
    """Appends the ops of activation ``fn`` (a Lamina activation) applied to ``x``."""
    name = _activations.serialize(fn)
    name = name if isinstance(name, str) else str(name)
    if name in ("linear", None):
        return x
    if name in _SIMPLE:
        return g.op(_SIMPLE[name], [x], f"{layer.name}_{name}")
    if name == "softmax":
        return g.op("Softmax", [x], f"{layer.name}_softmax", axis=-1)
    if name in ("swish", "silu"):
        return g.op("Mul", [x, g.op("Sigmoid", [x], f"{layer.name}_sig")], f"{layer.name}_swish")
    raise ValueError(f"ONNX export: activation {name!r} of layer {layer.name!r} is not supported.")


# ------------------------------------------------------------------ layout helpers
def _first(layer):
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _to_first(g, x, layer, rank):
    if _first(layer):
        return x
    return g.op("Transpose", [x], f"{layer.name}_nchw", perm=[0, rank + 1, *range(1, rank + 1)])


def _to_last(g, x, layer, rank):
    if _first(layer):
        return x
    return g.op("Transpose", [x], f"{layer.name}_nhwc", perm=[0, *range(2, rank + 2), 1])


def _spatial(layer, in_shape, rank):
    return tuple(in_shape[2:] if _first(layer) else in_shape[1 : rank + 1])


def _pads(padding, spatial, kernel, strides, dilations=None):
    """ONNX padding attributes reproducing ``jax.lax`` VALID / SAME / causal padding."""
    rank = len(kernel)
    dilations = dilations or (1,) * rank
    if padding == "valid":
        return {"pads": [0] * (2 * rank)}
    if padding == "causal":
        return {"pads": [dilations[0] * (kernel[0] - 1), 0]}
    if any(n is None for n in spatial):
        return {"auto_pad": "SAME_UPPER"}
    lo, hi = [], []
    for n, k, s, d in zip(spatial, kernel, strides, dilations):
        eff = (k - 1) * d + 1
        total = max((math.ceil(n / s) - 1) * s + eff - n, 0)
        lo.append(total // 2)
        hi.append(total - total // 2)
    return {"pads": lo + hi}


def _onnx_kernel(kernel):
    """Keras ``(*k, in, out)`` -> ONNX ``(out, in, *k)``."""
    r = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (r + 1, r, *range(r))))


def _conv(g, layer, x, in_shape, kernel, bias, group, pointwise=False):
    rank = layer.rank
    if pointwise:
        kernel_size = strides = dil = (1,) * rank
        attrs = _pads("valid", None, kernel_size, strides)
    else:
        kernel_size, strides, dil = layer.kernel_size, layer.strides, layer.dilation_rate
        attrs = _pads(layer.padding, _spatial(layer, in_shape, rank), kernel_size, strides, dil)
    inputs = [x, g.f32(f"{layer.name}_kernel", _onnx_kernel(kernel))]
    if bias is not None:
        inputs.append(g.f32(f"{layer.name}_bias", bias))
    return g.op(
        "Conv",
        inputs,
        f"{layer.name}_conv",
        kernel_shape=list(kernel_size),
        strides=list(strides),
        dilations=list(dil),
        group=int(group),
        **attrs,
    )


# ------------------------------------------------------------------ translations
def conv(g, layer, x, w, in_shape):
    """Conv1D/Conv2D (padding valid/same/causal, strides, dilation, groups)."""
    y = _to_first(g, x, layer, layer.rank)
    y = _conv(g, layer, y, in_shape, w["kernel"], w.get("bias"), layer.groups)
    return activation(g, _to_last(g, y, layer, layer.rank), layer, layer.activation)


def depthwise(g, layer, x, w, in_shape):
    """DepthwiseConv1D/2D and SeparableConv1D/2D."""
    rank = layer.rank
    key = "depthwise_kernel" if "depthwise_kernel" in w else "kernel"
    dk = w[key]
    in_ch = dk.shape[-2]
    dk = dk.reshape((*layer.kernel_size, 1, in_ch * layer.depth_multiplier))
    separable = "pointwise_kernel" in w
    y = _to_first(g, x, layer, rank)
    y = _conv(g, layer, y, in_shape, dk, None if separable else w.get("bias"), in_ch)
    if separable:
        y = _conv(g, layer, y, None, w["pointwise_kernel"], w.get("bias"), 1, pointwise=True)
    return activation(g, _to_last(g, y, layer, rank), layer, layer.activation)


def pooling(g, layer, x, w, in_shape):
    """Max/AveragePooling1D/2D; Keras 'same' averages count only real entries."""
    rank = layer.rank
    attrs = _pads(layer.padding, _spatial(layer, in_shape, rank), layer.pool_size, layer.strides)
    attrs.update(kernel_shape=list(layer.pool_size), strides=list(layer.strides))
    if layer._op == "max":
        op = "MaxPool"
    else:
        op, attrs["count_include_pad"] = "AveragePool", 0
    y = g.op(op, [_to_first(g, x, layer, rank)], f"{layer.name}_pool", **attrs)
    return _to_last(g, y, layer, rank)


def global_pooling(g, layer, x, w, in_shape):
    op = "ReduceMax" if layer._op == "max" else "ReduceMean"
    return g.op(op, [x], layer.name, axes=list(layer._axes()), keepdims=int(layer.keepdims))


def _bshape(ndim, axes, sizes):
    shape = [1] * ndim
    for a, n in zip(axes, sizes):
        shape[a] = n
    return shape


def batch_norm(g, layer, x, w, in_shape):
    """Inference BatchNormalization: ``x * inv + (beta - mean * inv)`` from the moving stats."""
    ndim = len(in_shape)
    axis = layer.axis % ndim
    var = w["moving_variance"].astype(np.float32)
    inv = (1.0 / np.sqrt(var + np.float32(layer.epsilon))).astype(np.float32)
    if layer.scale:
        inv = inv * w["gamma"]
    res = -w["moving_mean"] * inv
    if layer.center:
        res = res + w["beta"]
    shape = _bshape(ndim, [axis], [-1])
    y = g.op("Mul", [x, g.f32(f"{layer.name}_inv", inv.reshape(shape))], f"{layer.name}_mul")
    return g.op("Add", [y, g.f32(f"{layer.name}_res", res.reshape(shape))], layer.name)


def layer_norm(g, layer, x, w, in_shape):
    ndim = len(in_shape)
    axes = layer._axes(ndim)
    bshape = _bshape(ndim, axes, [in_shape[a] for a in axes])
    n = layer.name
    mean = g.op("ReduceMean", [x], f"{n}_mean", axes=axes, keepdims=1)
    d = g.op("Sub", [x, mean], f"{n}_centered")
    var = g.op("ReduceMean", [g.op("Mul", [d, d], f"{n}_sq")], f"{n}_var", axes=axes, keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.f32(f"{n}_eps", layer.epsilon)], f"{n}_ve")], f"{n}_sd")
    y = g.op("Div", [d, std], f"{n}_norm")
    if layer.scale:
        y = g.op("Mul", [y, g.f32(f"{n}_gamma", w["gamma"].reshape(bshape))], f"{n}_scaled")
    if layer.center:
        y = g.op("Add", [y, g.f32(f"{n}_beta", w["beta"].reshape(bshape))], f"{n}_shifted")
    return y


def normalization(g, layer, x, w, in_shape):
    """Preprocessing ``Normalization`` (adapted state or constructor mean/variance)."""
    from lamina.layers.preprocessing import _EPSILON

    ndim = len(in_shape)
    bshape = tuple(1 if d is None else d for d in layer._broadcast_shape(in_shape))
    if layer.input_mean is not None:
        keep = layer._keep_axes(in_shape)
        mean, var = (np.asarray(a) for a in layer._constants(ndim, bshape, keep))
    else:
        mean, var = w["mean"].reshape(bshape), w["variance"].reshape(bshape)
    scale = np.maximum(np.sqrt(var.astype(np.float32)), np.float32(_EPSILON))
    m, s = g.f32(f"{layer.name}_mean", mean), g.f32(f"{layer.name}_scale", scale)
    if layer.invert:
        return g.op("Add", [m, g.op("Mul", [x, s], f"{layer.name}_mul")], layer.name)
    return g.op("Div", [g.op("Sub", [x, m], f"{layer.name}_sub"), s], layer.name)


def rescaling(g, layer, x, w, in_shape):
    ndim = len(in_shape)

    def aligned(v):
        v = np.asarray(v, np.float32)
        return v.reshape((1,) * (ndim - v.ndim) + v.shape)

    y = g.op("Mul", [x, g.f32(f"{layer.name}_scale", aligned(layer.scale))], f"{layer.name}_mul")
    return g.op("Add", [y, g.f32(f"{layer.name}_offset", aligned(layer.offset))], layer.name)


def _spatial_axes(layer, rank):
    if rank == 1:
        return [layer._axis()] if hasattr(layer, "_axis") else [1]
    return list(layer._axes())


def zero_padding(g, layer, x, w, in_shape):
    ndim = len(in_shape)
    pairs = [layer.padding] if isinstance(layer.padding[0], int) else list(layer.padding)
    begin, end = [0] * ndim, [0] * ndim
    for axis, (lo, hi) in zip(_spatial_axes(layer, len(pairs)), pairs):
        begin[axis], end[axis] = lo, hi
    pads = g.const(f"{layer.name}_pads", begin + end, np.int64)
    return g.op("Pad", [x, pads], layer.name, mode="constant")


def cropping(g, layer, x, w, in_shape):
    pairs = [layer.cropping] if isinstance(layer.cropping[0], int) else list(layer.cropping)
    axes = _spatial_axes(layer, len(pairs)) if len(pairs) == 2 else [1]
    starts = [lo for lo, _ in pairs]
    ends = [-hi if hi else np.iinfo(np.int64).max for _, hi in pairs]
    inputs = [
        x,
        g.const(f"{layer.name}_starts", starts, np.int64),
        g.const(f"{layer.name}_ends", ends, np.int64),
        g.const(f"{layer.name}_axes", axes, np.int64),
    ]
    return g.op("Slice", inputs, layer.name)


def permute(g, layer, x, w, in_shape):
    return g.op("Transpose", [x], layer.name, perm=[0, *layer.dims])


def embedding(g, layer, x, w, in_shape):
    idx = g.op("Cast", [x], f"{layer.name}_idx", to=7)  # TensorProto.INT64
    return g.op("Gather", [g.f32(f"{layer.name}_embeddings", w["embeddings"]), idx], layer.name)


TRANSLATIONS = {
    "Conv1D": conv,
    "Conv2D": conv,
    "DepthwiseConv1D": depthwise,
    "DepthwiseConv2D": depthwise,
    "SeparableConv1D": depthwise,
    "SeparableConv2D": depthwise,
    "MaxPooling1D": pooling,
    "MaxPooling2D": pooling,
    "AveragePooling1D": pooling,
    "AveragePooling2D": pooling,
    "GlobalMaxPooling1D": global_pooling,
    "GlobalMaxPooling2D": global_pooling,
    "GlobalAveragePooling1D": global_pooling,
    "GlobalAveragePooling2D": global_pooling,
    "BatchNormalization": batch_norm,
    "LayerNormalization": layer_norm,
    "Normalization": normalization,
    "Rescaling": rescaling,
    "ZeroPadding1D": zero_padding,
    "ZeroPadding2D": zero_padding,
    "Cropping1D": cropping,
    "Cropping2D": cropping,
    "Permute": permute,
    "Embedding": embedding,
}
