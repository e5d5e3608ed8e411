"""Keras 3's int4 post-training quantization of ``Dense``, ``EinsumDense`` and ``Embedding``
(``model.quantize("int4")``), in Keras's layout and numerics.

The float kernel (``embeddings``) is quantized to int4 values packed two per int8 byte along
its last axis (:func:`lamina.quantizers.pack_int4`).  By default (Keras's
``Int4QuantizationConfig()``, policy ``"int4/128_from_<source>"``) the input rows are
quantized in groups of 128 with a scale and a zero point per group and output channel, kept
with ``g_idx`` (each row's group, float32) as Keras's ``kernel_zero`` and ``g_idx``;
``Int4QuantizationConfig(block_size=-1)`` (policy ``"int4/-1_from_..."``) keeps one symmetric
scale per output channel.  An ``EinsumDense`` kernel is flattened to (contracted, other) axes
first.  The int4 arrays are non-trainable ``state``; the bias stays trainable.  A call unpacks
the kernel, dequantizes it and multiplies the float inputs (int4 is weight-only, as Keras's
default); the gradient reaches the inputs, so the layers before a quantized one still train.
As in Keras, ``layer.kernel`` (``embeddings``) reads the unpacked int4 values.  Keras's LoRA on
an int4 layer is not supported by Lamina (``enable_lora`` raises ``NotImplementedError``).
A file's int4 arrays are checked before they are set (:func:`check_file_arrays`): a kernel or
zero point that an int8 cast would change, or a ``g_idx`` naming no group, is a ``ValueError``.

>>> from lamina.layers import Dense
>>> layer = Dense(3)
>>> layer.build((None, 4))
>>> layer.quantize("int4")
>>> [(w.name, w.shape, str(w.dtype)) for w in layer.weights]  # doctest: +NORMALIZE_WHITESPACE
[('bias', (3,), 'float32'), ('kernel', (4, 2), 'int8'), ('kernel_scale', (1, 3), 'float32'),
 ('kernel_zero', (1, 3), 'int8'), ('g_idx', (4,), 'float32')]
>>> layer.dtype_policy
<Int4DTypePolicy "int4/128_from_float32">
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lamina.layers import einsum_quant as _eq
from lamina.layers.activation_sublayer import activate
from lamina.quantizers_int4 import (
    Int4QuantizationConfig,
    abs_max_quantize_grouped_with_zero_point,
    dequantize_with_sz_map,
    pack_int4,
    unpack_int4,
)

INT4_RANGE = (-8, 7)


def resolve_config(mode, config):
    """``(mode, config)`` as Keras's ``validate_and_resolve_config`` reads them for int4: the
    default config for ``"int4"``; the mode from an ``Int4QuantizationConfig``."""
    if isinstance(config, Int4QuantizationConfig):
        if mode not in (None, "int4"):
            raise ValueError(
                f"Contradictory arguments: mode='{mode}' but config.mode='{config.mode}'"
            )
        return "int4", config
    from lamina.quantization_configs import Int8QuantizationConfig

    if isinstance(config, Int8QuantizationConfig):
        if mode not in (None, "int8"):
            raise ValueError(
                f"Contradictory arguments: mode='{mode}' but config.mode='{config.mode}'"
            )
        return "int8", config
    if mode == "int8" and config is None:
        return "int8", Int8QuantizationConfig()
    if mode == "int4" and config is None:
        return "int4", Int4QuantizationConfig()
    return mode, config


# ------------------------------------------------------------- layer kinds
def _kind(layer) -> str:
    if layer._quant_names[0] == "embeddings":
        return "embedding"
    return "einsum" if hasattr(layer, "equation") else "dense"


def _names(layer) -> tuple:
    main, scale = layer._quant_names
    return main, scale, main + "_zero", "g_idx"


def file_order(layer) -> tuple:
    """Keras's ``variable_serialization_spec["int4"]`` of the layer."""
    main, scale, zero, gidx = _names(layer)
    if _kind(layer) == "embedding":
        return (main, scale, zero, gidx)
    return (main, "bias", scale, zero, gidx)


def block_size(layer):
    """The layer's group size: its ``Int4QuantizationConfig``'s, else its ``Int4DTypePolicy``'s
    (Keras's ``get_block_size_for_layer``); None: one scale per channel."""
    from lamina.quantization_configs import block_size_for

    return block_size_for(layer)


def _rows_columns(layer, kernel_shape) -> tuple:
    """The 2D (contracted, other) shape an ``EinsumDense`` kernel is flattened to."""
    return _rows_columns_for(layer, kernel_shape, (None,) * _input_ndim(layer))


def _input_ndim(layer) -> int:
    ndim = layer.__dict__.get("_input_ndim")  # recorded by EinsumDense.init
    return ndim if ndim is not None else len(layer.get_build_config()["input_shape"])


def _g_idx(n: int, size) -> jnp.ndarray:
    # A block size past the rows (a file may name any integer, "int4/999999999999") puts
    # every row in group 0; dividing by min(size, n) gives that without overflowing int32.
    return jnp.asarray(np.arange(n, dtype=np.int64) // max(min(size, n), 1), jnp.float32)


def _groups(n: int, size) -> int:
    """``ceil(n / size)`` in integers (a float division rounds a huge size's to 0 groups)."""
    return -(-n // size)


# ------------------------------------------------------------- quantize
def quantize_layer(layer, config: Int4QuantizationConfig) -> None:
    """Quantizes the built layer's float kernel to int4 in place and sets its policy."""
    from lamina import quantized_policy as _policy
    from lamina.quantizers import AbsMaxQuantizer, abs_max_quantize

    params, _, _ = layer._weights_source()
    kernel = np.asarray(jax.device_get(params[layer._quant_names[0]]))
    size = None if config.block_size in (None, -1) else config.block_size
    kind, zero = _kind(layer), None
    if kind == "embedding":
        if size is None:
            quantizer = config.weight_quantizer or AbsMaxQuantizer(-1, INT4_RANGE)
            value, scale = quantizer(kernel, to_numpy=True)
            scale = jnp.squeeze(scale, axis=-1)
        else:
            value, scale, zero = abs_max_quantize_grouped_with_zero_point(
                kernel.T, size, to_numpy=True
            )
            value, scale, zero = value.T, scale.T, zero.T
        groups_of = kernel.shape[1]
    else:
        flat = kernel
        if kind == "einsum":  # Keras ignores a custom weight quantizer here
            flat = kernel.reshape(_rows_columns(layer, kernel.shape))
        if size is None:
            if kind == "einsum":
                value, scale = abs_max_quantize(flat, 0, INT4_RANGE, to_numpy=True)
            else:
                quantizer = config.weight_quantizer or AbsMaxQuantizer(0, INT4_RANGE)
                value, scale = quantizer(flat, to_numpy=True)
            scale = jnp.squeeze(scale, axis=0)
        else:
            value, scale, zero = abs_max_quantize_grouped_with_zero_point(flat, size, to_numpy=True)
        groups_of = flat.shape[0]
    packed, _, _ = pack_int4(np.asarray(value), axis=-1)
    new = dict(zip(_names(layer), (packed, jnp.asarray(scale, jnp.float32))))
    if size is not None:
        new[_names(layer)[2]] = zero
        new["g_idx"] = _g_idx(groups_of, size)
    _relayout(layer, new)
    source = layer.dtype_policy.name
    layer._dtype_policy = _policy.Int4DTypePolicy(f"int4/{size or -1}", source)
    layer.quantization_config = config  # Keras's get_config entry


def _relayout(layer, new: dict) -> None:
    from lamina.models.layer_relayout import relayout

    main = layer._quant_names[0]

    def arrays(p, s, prefix):
        p = {k: v for k, v in p.items() if k != prefix + main}
        return p, {**{prefix + k: v for k, v in new.items()}, **s}

    def names(both, prefix):
        p_names = tuple(k for k in both[0] if k != prefix + main)
        return p_names, (*(prefix + k for k in new), *both[1])

    relayout(layer, arrays, names)


def layout(layer, params: dict, state: dict, input_shape) -> tuple:
    """A freshly built int4 layer's weights (a layer made with an int4 policy, as a loaded
    model's): Keras's zeros, ones and group indices."""
    main, scale_name, zero_name, _ = _names(layer)
    params = dict(params)
    shape = tuple(params.pop(main).shape)
    size, kind = block_size(layer), _kind(layer)
    if kind == "embedding":
        rows, cols = shape
        scale_shape = (rows,) if size is None else (rows, _groups(cols, size))
        grouped = cols
    else:
        rows, cols = _rows_columns_for(layer, shape, input_shape) if kind == "einsum" else shape
        scale_shape = (cols,) if size is None else (_groups(rows, size), cols)
        grouped = rows
    own = {
        main: jnp.zeros((rows, (cols + 1) // 2), jnp.int8),
        scale_name: jnp.ones(scale_shape, jnp.float32),
    }
    if size is not None:
        own[zero_name] = jnp.zeros(scale_shape, jnp.int8)
        own["g_idx"] = _g_idx(grouped, size)
    named = getattr(layer.dtype_policy, "block_size", None)  # None: the legacy "int4_from_..."
    if layer.__dict__.get("quantization_config") is None and named is not None:
        layer.quantization_config = Int4QuantizationConfig(block_size=named)
    return params, {**own, **state}


def check_file_arrays(layer, arrays: dict) -> None:
    """Refuses a file's int4 arrays that Keras would cast or index silently wrong: integer
    arrays (the packed kernel, zero points) whose values are not whole numbers in int8's
    range (a cast would truncate or wrap them), and ``g_idx`` entries that are not whole
    numbers naming one of the layer's groups (a lookup would read past the scales).

    Args:
        layer: the int4 layer being loaded.
        arrays: its weights from the file by name, shapes already checked.

    Raises:
        ValueError: naming the weight, what was expected and what the file holds.
    """
    main, scale_name, zero_name, _ = _names(layer)
    for name in (main, zero_name):
        if name in arrays:
            check_whole(layer, name, np.asarray(arrays[name]), -128, 127, "int8 values")
    if "g_idx" in arrays and scale_name in arrays and block_size(layer) is not None:
        scale_shape = np.shape(arrays[scale_name])
        groups = scale_shape[-1] if _kind(layer) == "embedding" else scale_shape[0]
        g = np.asarray(arrays["g_idx"])
        check_whole(layer, "g_idx", g, 0, groups - 1, f"group indices of its {groups} groups")


def check_whole(layer, name, a, lo, hi, what, mode="int4") -> None:
    """Refuses ``a`` (weight ``name`` of ``layer`` in a file) unless every value is a whole
    number in ``[lo, hi]``: a cast to the layer's integer dtype would truncate or wrap it."""
    if a.dtype.kind not in "biuf":
        raise ValueError(
            f"{mode.capitalize()} layer {layer.name!r}: weight {name!r} must hold numbers ({what}). "
            f"Received: dtype {a.dtype}."
        )
    if a.size == 0:
        return
    bad = ~np.isfinite(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    with np.errstate(invalid="ignore"):
        bad |= (a < lo) | (a > hi)
        if a.dtype.kind == "f":
            bad |= np.floor(a) != a
    if bad.any():
        first = a.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise ValueError(
            f"{mode.capitalize()} layer {layer.name!r}: weight {name!r} must hold whole numbers "
            f"in [{lo}, {hi}] ({what}); the file's holds {first!r} ({int(bad.sum())} such "
            f"entries). The file is corrupt or was not written by Keras's {mode} quantization."
        )


def _rows_columns_for(layer, kernel_shape, input_shape) -> tuple:
    info = _eq.analyze(layer.equation, len(input_shape))
    rows = math.prod(d for i, d in enumerate(kernel_shape) if i in info.kernel_reduced_axes)
    return rows, math.prod(kernel_shape) // max(rows, 1)


def unpacked_main(layer):
    """The int4 values of the layer's kernel, unpacked to int8 (Keras's ``kernel`` property:
    ``(input_dim, units)``; an ``EinsumDense``'s flattened ``(rows, columns)``)."""
    _, state, _ = layer._weights_source()
    main, scale_name, _, _ = _names(layer)
    if _kind(layer) == "embedding":
        columns = layer.output_dim
    else:
        columns = state[scale_name].shape[-1]
    return unpack_int4(state[main], columns, axis=-1)


# ------------------------------------------------------------- calls
def _autocast(layer, a):
    """A float state array in the compute dtype, as Keras's autocast reads its variables."""
    return a.astype(jnp.dtype(layer.compute_dtype)) if layer.autocast else a


def _dequantized(layer, state, unpacked, cd, group_axis=0):
    """The float kernel, grouped (``(q - zero) * scale``) or per channel (``q / scale``)."""
    main, scale_name, zero_name, _ = _names(layer)
    scale = _autocast(layer, state[scale_name])
    if block_size(layer) is None:
        return unpacked.astype(cd) / jnp.reshape(scale, (1,) * (unpacked.ndim - 1) + (-1,))
    gidx = _autocast(layer, state["g_idx"])
    return dequantize_with_sz_map(unpacked, scale, state[zero_name], gidx, group_axis).astype(cd)


def dense_call(layer, params, state, x, training=False):
    """Keras's ``Dense._int4_call`` (weight-only): per channel ``(x @ q) / scale``, grouped
    ``x @ ((q - zero) * scale)``; then the bias and the activation."""
    from lamina.layers.quantized import _bcast, _with_input_gradient

    cd = jnp.dtype(layer.compute_dtype)
    if block_size(layer) is None:

        def forward(x, kernel, scale):
            unpacked = unpack_int4(kernel, layer.units, axis=-1)
            y = jnp.matmul(x, unpacked.astype(x.dtype))
            return y.astype(cd) / _bcast(scale, y.ndim)

        def backward(g, kernel, scale):
            float_kernel = unpack_int4(kernel, layer.units, axis=-1).astype(cd) / _bcast(scale, 2)
            return jnp.matmul(g, jnp.transpose(float_kernel))

        scale = _autocast(layer, state["kernel_scale"])
        y = _with_input_gradient(forward, backward)(x, state["kernel"], scale)
    else:
        unpacked = unpack_int4(state["kernel"], layer.units, axis=-1)
        y = jnp.matmul(x, _dequantized(layer, state, unpacked, cd))
    if layer.use_bias:
        y = y + jnp.reshape(params["bias"], (1,) * (y.ndim - 1) + (-1,))
    return activate(layer, params, state, y, training=training)


def einsum_call(layer, params, state, x, training=False):
    """Keras's ``EinsumDense._int4_call`` (weight-only): the dequantized kernel, reshaped to
    its float shape, in the layer's einsum."""
    cd = jnp.dtype(layer.compute_dtype)
    kernel_shape = tuple(layer._shapes(x.shape)[0])
    _, columns = _rows_columns_for(layer, kernel_shape, x.shape)
    unpacked = unpack_int4(state["kernel"], columns, axis=-1)
    float_kernel = jnp.reshape(_dequantized(layer, state, unpacked, cd), kernel_shape)
    y = jnp.einsum(layer.equation, x, float_kernel)
    if "bias" in params:
        b = params["bias"]
        y = y + jnp.reshape(b, (1,) * (y.ndim - b.ndim) + b.shape)
    return activate(layer, params, state, y, training=training)


def embedding_call(layer, state, x):
    """Keras's ``Embedding._int4_call``: the rows unpacked, then divided by their scale (per
    channel) or dequantized with their groups' scales and zero points."""
    idx = jnp.asarray(x)
    if idx.dtype not in (jnp.int32, jnp.int64):
        idx = idx.astype(jnp.int32)
    cd = jnp.dtype(layer.compute_dtype)
    unpacked = unpack_int4(state["embeddings"], layer.output_dim, axis=-1)
    rows = jnp.take(unpacked, idx, axis=0).astype(cd)
    scale = jnp.take(_autocast(layer, state["embeddings_scale"]), idx, axis=0)
    if block_size(layer) is None:
        return rows / jnp.expand_dims(scale, -1)
    zero = jnp.take(state["embeddings_zero"], idx, axis=0)
    return dequantize_with_sz_map(rows, scale, zero, _autocast(layer, state["g_idx"]), -1)
