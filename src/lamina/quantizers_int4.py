"""Keras 3's int4 quantization helpers (``keras.quantizers.pack_int4``, ``unpack_int4``,
``abs_max_quantize_grouped_with_zero_point``, ``Int4QuantizationConfig``), exported by
:mod:`lamina.quantizers`.

Two int4 values share one int8 byte: the first of each pair in the low nibble, the second in
the high one, along the packed axis (padded to an even length), as Keras stores an int4
kernel.  ``model.quantize("int4")`` (:mod:`lamina.layers.quantized_int4`) quantizes in
groups of 128 input rows with a zero point by default; ``Int4QuantizationConfig(block_size=-1)``
gives one symmetric scale per output channel.

>>> import numpy as np
>>> packed, shape, n = pack_int4(np.array([[-3, 7], [2, -8], [1, 0]], "int8"), axis=0)
>>> np.asarray(packed).tolist(), shape, n
([[45, -121], [1, 0]], (2, 2), 3)
>>> np.asarray(unpack_int4(packed, n, axis=0)).tolist()
[[-3, 7], [2, -8], [1, 0]]
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

EPSILON = 1e-7  # Keras's backend.epsilon(), bound when its quantizers were defined


def _dtype_name(a) -> str:
    dtype = getattr(a, "dtype", None)
    return np.dtype(dtype if dtype is not None else np.asarray(a).dtype).name


def pack_int4(arr, axis=0, dtype="int8"):
    """Packs int4 values (int8 in ``[-8, 7]``) two per byte along ``axis``.

    Args:
        arr: an ``int8`` (or ``uint8``) array of int4 values.
        axis: the axis to pack; an odd length is padded with one zero.
        dtype: ``"int8"`` or ``"uint8"``, the input's and the result's dtype.

    Returns:
        ``(packed, packed_shape, orig_len)``: the packed array, its shape and the axis's
        length before padding (what :func:`unpack_int4` needs).

    Raises:
        ValueError: ``dtype`` is not int8/uint8.
        TypeError: ``arr``'s dtype differs from ``dtype``.

    >>> packed, _, _ = pack_int4(np.array([[-3, 7, 2], [-8, 1, 0]], "int8"), axis=1)
    >>> np.asarray(packed).tolist()
    [[125, 2], [24, 0]]
    """
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"Expected dtype to be 'int8' or 'uint8', but got '{dtype}'.")
    if _dtype_name(arr) != dtype:
        raise TypeError(f"Expected {dtype} tensor for packing, got {_dtype_name(arr)}.")
    a = np.moveaxis(np.asarray(arr), axis % np.ndim(arr), 0)
    n = a.shape[0]
    if n % 2:
        a = np.concatenate([a, np.zeros((1,) + a.shape[1:], a.dtype)], axis=0)
    mask = np.array(0x0F, dtype)
    # NumPy's wrap-around on the int8 shift is the byte Keras stores.
    packed = np.bitwise_or(
        np.bitwise_and(a[::2], mask), np.left_shift(np.bitwise_and(a[1::2], mask), 4)
    ).astype(dtype)
    packed = np.moveaxis(packed, 0, axis % np.ndim(arr))
    return jnp.asarray(packed), tuple(packed.shape), n


def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """Unpacks :func:`pack_int4`'s bytes back to one int4 value per element (traceable).

    Args:
        packed: the packed ``int8``/``uint8`` array.
        orig_len: the packed axis's length before padding.
        axis: the packed axis.
        dtype: ``"int8"`` (signed values in ``[-8, 7]``) or ``"uint8"`` (``[0, 15]``).

    Returns:
        The unpacked array, with ``orig_len`` along ``axis``.

    Raises:
        ValueError: ``dtype`` is not int8/uint8.
        TypeError: ``packed`` is not int8/uint8.

    >>> np.asarray(unpack_int4(np.array([[125, 2]], "int8"), 3, axis=1)).tolist()
    [[-3, 7, 2]]
    """
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"Expected dtype to be 'int8' or 'uint8', but got '{dtype}'.")
    if _dtype_name(packed) not in ("int8", "uint8"):
        raise TypeError(f"Expected int8 or uint8 tensor for unpacking, got {packed.dtype}")
    p = jnp.moveaxis(jnp.asarray(packed), axis % packed.ndim, 0)
    mask = jnp.array(0x0F, p.dtype)
    low = jnp.bitwise_and(p, mask)
    high = jnp.bitwise_and(jnp.right_shift(p, jnp.array(4, p.dtype)), mask)
    if dtype == "int8":  # nibble 8..15 -> -8..-1
        eight = jnp.array(8, p.dtype)
        low, high = (jnp.bitwise_xor(low, eight) - eight), (jnp.bitwise_xor(high, eight) - eight)
    both = jnp.stack([low.astype(dtype), high.astype(dtype)], axis=1)
    out = jnp.reshape(both, (-1,) + p.shape[1:])[:orig_len]
    return jnp.moveaxis(out, 0, axis % packed.ndim)


def abs_max_quantize_grouped_with_zero_point(
    inputs, block_size, value_range=(-8, 7), dtype="int8", epsilon=EPSILON, to_numpy=False
):
    """Asymmetric quantization of a 2D array in groups of ``block_size`` rows (Keras's).

    Each group of rows gets, per column, ``scale = (max - min + epsilon) / (qmax - qmin)`` and
    ``zero = clip(round(-min / scale) + qmin)``; values become
    ``clip(round(x / scale) + zero)``, so ``x ≈ (q - zero) * scale``.

    Args:
        inputs: a ``(rows, columns)`` array.
        block_size: rows per group (the last group is zero-padded).
        value_range: ``(qmin, qmax)``.
        dtype: the quantized values' dtype.
        epsilon: added to each group's range.
        to_numpy: compute with NumPy on the host (as Keras does for weights).

    Returns:
        ``(quantized, scale, zero)``; ``scale`` and ``zero`` (int8) have shape
        ``(ceil(rows / block_size), columns)``.

    >>> q, s, z = abs_max_quantize_grouped_with_zero_point(np.ones((3, 2), "float32"), 2)
    >>> s.shape, np.asarray(z).tolist()
    ((2, 2), [[-8, -8], [-8, -8]])
    """
    xp = np if to_numpy else jnp
    original = _dtype_name(inputs)
    x = xp.asarray(inputs)
    rows, cols = x.shape
    if block_size > rows:
        # One group padded with zeros: one zero row gives the same min, max and values as
        # block_size - rows of them, without allocating a huge block_size's worth.
        block_size = rows + 1
    groups = -(-rows // block_size)
    if groups * block_size > rows:
        x = xp.concatenate([x, xp.zeros((groups * block_size - rows, cols), x.dtype)], axis=0)
    x = xp.reshape(x, (groups, block_size, cols))
    qmin, qmax = value_range
    lo, hi = xp.min(x, axis=1, keepdims=True), xp.max(x, axis=1, keepdims=True)
    scale = xp.divide(xp.subtract(hi, lo) + epsilon, qmax - qmin)
    zero = xp.clip(xp.round(xp.divide(-lo, scale)) + qmin, qmin, qmax)
    q = xp.clip(xp.round(xp.divide(x, scale)) + zero, qmin, qmax).astype(dtype)
    q = xp.reshape(q, (groups * block_size, cols))[:rows]
    scale = xp.squeeze(scale, axis=1).astype(original)
    zero = xp.squeeze(zero, axis=1).astype("int8")
    return jnp.asarray(q), jnp.asarray(scale), jnp.asarray(zero)


def dequantize_with_sz_map(weights_matrix, scale, zero, g_idx, group_axis=-1):
    """``(weights - zero[g]) * scale[g]`` with each position's group ``g`` read from ``g_idx``
    along ``group_axis`` of ``scale``/``zero`` (Keras's ``dequantize_with_sz_map``).

    >>> w = dequantize_with_sz_map(np.array([[1.0], [3.0]]), np.array([[2.0]]),
    ...                            np.array([[1]], "int8"), np.array([0.0, 0.0]), 0)
    >>> np.asarray(w).tolist()
    [[0.0], [4.0]]
    """
    groups = jnp.asarray(g_idx).astype(jnp.int32)
    s = jnp.take(jnp.asarray(scale), groups, axis=group_axis)
    z = jnp.take(jnp.asarray(zero), groups, axis=group_axis).astype(s.dtype)
    return jnp.multiply(jnp.subtract(weights_matrix, z), s)


class Int4QuantizationConfig:
    """Keras's int4 quantization settings (``keras.quantizers.Int4QuantizationConfig``).

    Args:
        weight_quantizer: a per-channel weight quantizer (``AbsMaxQuantizer`` with
            ``value_range=(-8, 7)``); None for the default.
        activation_quantizer: ``"default"`` or None (weight-only int4, Keras's default).
        block_size: rows per quantization group (default 128, with a zero point);
            None or -1 for one symmetric scale per output channel.

    Raises:
        ValueError: a block size that is not None, -1 or positive; custom quantizers with
            groups; a weight quantizer not in ``(-8, 7)`` int8.
        NotImplementedError: an activation quantizer (Lamina's int4 is weight-only).

    >>> Int4QuantizationConfig(block_size=-1).get_config()
    {'weight_quantizer': None, 'activation_quantizer': None, 'block_size': -1}
    """

    def __init__(self, weight_quantizer=None, activation_quantizer="default", block_size=128):
        if activation_quantizer == "default":
            activation_quantizer = None
        if activation_quantizer is not None:
            raise NotImplementedError(
                "Int4QuantizationConfig(activation_quantizer=...) is not supported by Lamina: "
                "its int4 layers are weight-only, Keras's default. Received: "
                f"activation_quantizer={activation_quantizer!r}; leave it unset."
            )
        if block_size is not None and block_size != -1 and block_size <= 0:
            raise ValueError(
                "block_size must be None, -1, or a positive integer. "
                f"Received: block_size={block_size}"
            )
        if weight_quantizer is not None:
            if block_size is not None and block_size > 0:
                raise ValueError(
                    "Int4 sub-channel quantization (block_size > 0) does not support custom "
                    "quantizers. Either set block_size to None or -1 for per-channel "
                    "quantization, or remove the custom quantizer arguments. Received: "
                    f"block_size={block_size}"
                )
            if tuple(weight_quantizer.value_range) != (-8, 7):
                raise ValueError(
                    "Int4QuantizationConfig requires a weight_quantizer with "
                    f"value_range=(-8, 7). Received: value_range={weight_quantizer.value_range}"
                )
            if weight_quantizer.output_dtype != "int8":
                raise ValueError(
                    "Int4QuantizationConfig requires a weight_quantizer with "
                    f"output_dtype='int8'. Received: output_dtype={weight_quantizer.output_dtype}"
                )
        self.weight_quantizer = weight_quantizer
        self.activation_quantizer = None
        self.block_size = block_size

    @property
    def mode(self) -> str:
        return "int4"

    def get_config(self) -> dict:
        from lamina.quantizers import serialize

        wq = self.weight_quantizer
        return {
            "weight_quantizer": None if wq is None else serialize(wq),
            "activation_quantizer": None,
            "block_size": self.block_size,
        }

    @classmethod
    def from_config(cls, config):
        from lamina.quantizers import deserialize

        config = dict(config)
        wq = config.get("weight_quantizer")
        return cls(
            weight_quantizer=None if wq is None else deserialize(wq),
            activation_quantizer=config.get("activation_quantizer"),
            block_size=config.get("block_size"),  # older files: per channel
        )

    def __repr__(self) -> str:
        return f"Int4QuantizationConfig(block_size={self.block_size})"


def serialize_config(config) -> dict:
    """The config as Keras writes it in a layer's ``quantization_config``."""
    return {
        "module": "keras.quantizers",
        "class_name": "Int4QuantizationConfig",
        "config": config.get_config(),
        "registered_name": None,
    }
