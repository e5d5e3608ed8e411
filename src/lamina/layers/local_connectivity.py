"""Which inputs each output of an unshared-weight convolution sees, as Keras 2 computed it.

Keras 2's locally-connected layers (:mod:`lamina.layers.locally_connected`) store their
weights in one of three layouts (``implementation`` 1, 2 or 3), each derived from the same
connectivity: output position ``p`` along an axis of length ``n`` sees the inputs
``[start, min(n, start + k))`` with ``start = p * stride`` (``'valid'``) or
``max(0, p * stride - k // 2)`` (``'same'``), Keras 2's ``conv_connected_inputs``.  The
functions here return that connectivity as NumPy index arrays (computed once per input shape,
then constants of the compiled program):

* :func:`patch_indices`: implementation 1's patches, the flat input index of each entry of
  each output position's ``kernel_size * channels`` feature vector;
* :func:`connection_mask`: implementation 2's 0/1 mask over its dense
  ``(inputs..., outputs...)`` kernel;
* :func:`sparse_indices`: implementation 3's sorted ``(output, input)`` index pairs, one per
  weight.

>>> patch_indices((4,), 1, (2,), (1,), "channels_last").tolist()
[[0, 1], [1, 2], [2, 3]]
>>> connection_mask((4,), (2,), (1,), "valid").astype(int).tolist()
[[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]]
"""

from __future__ import annotations

import functools
import math

import numpy as np

from lamina.layers.conv_utils import conv_output_length


def output_spatial(spatial, kernel_size, strides, padding) -> tuple[int, ...]:
    """The output's spatial shape for inputs of spatial shape ``spatial``."""
    return tuple(
        conv_output_length(n, k, padding, s) for n, k, s in zip(spatial, kernel_size, strides)
    )


def _axis_pairs(n, m, k, s, padding):
    """``(outputs, inputs)``: every connected (output, input) position pair along one axis."""
    outs, ins = [], []
    for p in range(m):
        start = p * s if padding == "valid" else p * s - k // 2
        lo, hi = max(0, start), min(n, start + k)
        outs.extend([p] * max(0, hi - lo))
        ins.extend(range(lo, hi))
    return np.asarray(outs, np.int64), np.asarray(ins, np.int64)


@functools.lru_cache(maxsize=64)
def spatial_pairs(spatial, kernel_size, strides, padding):
    """``(outputs, inputs)``: flat (row-major) spatial indices of every connected pair."""
    out_shape = output_spatial(spatial, kernel_size, strides, padding)
    outs = np.zeros(1, np.int64)
    ins = np.zeros(1, np.int64)
    for n, m, k, s in zip(spatial, out_shape, kernel_size, strides):
        o, i = _axis_pairs(n, m, k, s, padding)
        outs = (outs[:, None] * m + o[None, :]).reshape(-1)
        ins = (ins[:, None] * n + i[None, :]).reshape(-1)
    return outs, ins


@functools.lru_cache(maxsize=64)
def patch_indices(spatial, channels, kernel_size, strides, data_format) -> np.ndarray:
    """Implementation 1's patches (``'valid'`` padding): ``(outputs, kernel_size * channels)``.

    Entry ``[p, j]`` is the flat index, in one sample's input laid out per ``data_format``,
    of feature ``j`` of output position ``p``: Keras 2's ``K.local_conv`` slices each window
    and flattens it as laid out (kernel offsets then channels for ``channels_last``, channels
    then kernel offsets for ``channels_first``).
    """
    out_shape = output_spatial(spatial, kernel_size, strides, "valid")
    starts = np.stack(
        np.meshgrid(*[np.arange(m) * s for m, s in zip(out_shape, strides)], indexing="ij"), -1
    ).reshape(-1, len(spatial))
    offsets = np.stack(
        np.meshgrid(*[np.arange(k) for k in kernel_size], indexing="ij"), -1
    ).reshape(-1, len(spatial))
    where = starts[:, None, :] + offsets[None, :, :]  # (outputs, window, axes)
    flat = np.ravel_multi_index(tuple(np.moveaxis(where, -1, 0)), spatial)  # (outputs, window)
    c = np.arange(channels)
    if data_format == "channels_last":
        idx = flat[:, :, None] * channels + c[None, None, :]
    else:
        idx = c[None, :, None] * math.prod(spatial) + flat[:, None, :]
    return idx.reshape(len(starts), -1)


@functools.lru_cache(maxsize=64)
def connection_mask(spatial, kernel_size, strides, padding) -> np.ndarray:
    """Keras 2's ``conv_kernel_mask``: ``(*spatial, *output_spatial)``, True where connected."""
    out_shape = output_spatial(spatial, kernel_size, strides, padding)
    outs, ins = spatial_pairs(spatial, kernel_size, strides, padding)
    mask = np.zeros((math.prod(spatial), math.prod(out_shape)), bool)
    mask[ins, outs] = True
    return mask.reshape(*spatial, *out_shape)


@functools.lru_cache(maxsize=64)
def sparse_indices(spatial, channels, filters, kernel_size, strides, padding, data_format):
    """Implementation 3's weight positions: ``(outputs, inputs)`` flat indices, sorted.

    Keras 2 builds ``sorted(conv_kernel_idxs(...))``: every connected ``(output, input)``
    pair of flat indices into one sample's output and input (each laid out per
    ``data_format``), in lexicographic order; weight ``i`` multiplies input ``inputs[i]`` into
    output ``outputs[i]``.
    """
    out_shape = output_spatial(spatial, kernel_size, strides, padding)
    q, r = spatial_pairs(spatial, kernel_size, strides, padding)
    n_out, n_in = math.prod(out_shape), math.prod(spatial)
    f = np.arange(filters)[None, None, :]
    c = np.arange(channels)[None, :, None]
    if data_format == "channels_last":
        out_idx = q[:, None, None] * filters + f
        in_idx = r[:, None, None] * channels + c
    else:
        out_idx = f * n_out + q[:, None, None]
        in_idx = c * n_in + r[:, None, None]
    out_idx, in_idx = np.broadcast_arrays(out_idx, in_idx)
    out_idx, in_idx = out_idx.reshape(-1), in_idx.reshape(-1)
    order = np.lexsort((in_idx, out_idx))
    return out_idx[order], in_idx[order]
