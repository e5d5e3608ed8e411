"""The convolution every conv layer runs: XLA's convolution, or patches times a matrix.

Inside ``lax.scan`` (how ``fit`` runs its steps) XLA's CPU backend compiles the kernel gradient
of a small convolution into a slow loop: a Conv2D epoch ran 1.7x slower than the same steps
dispatched one by one.  The same convolution written as extracting patches
(``lax.conv_general_dilated_patches``) and multiplying them by the kernel reshaped to a matrix
differentiates into matrix products, which XLA runs at full speed anywhere: that epoch became
faster than the per-step dispatch.  The patches are ``prod(kernel_size)`` times the input, so
this form is used only while they stay small (``PATCH_VALUES`` per sample); larger
convolutions, grouped and depthwise ones, and ``channels_first`` keep XLA's convolution.  Both
forms compute the same sums (in a different order: results agree to float32 rounding).

>>> import numpy as np, jax
>>> x = np.random.rand(2, 5, 5, 3).astype("float32")
>>> w = np.random.rand(3, 3, 3, 4).astype("float32")
>>> direct = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
...     dimension_numbers=("NHWC", "HWIO", "NHWC"))
>>> bool(np.allclose(conv(x, w, (1, 1), "VALID", (1, 1), 1, "channels_last"), direct, atol=1e-5))
True
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

#: Largest patch tensor per sample (values) for which the patches form is used.
PATCH_VALUES = 1 << 16


def dimension_numbers(rank: int, data_format: str):
    """``(lhs, rhs, out)`` specs of ``lax.conv_general_dilated`` for ``rank`` spatial dims."""
    spatial = "DHW"[3 - rank :]
    lhs = "NC" + spatial if data_format == "channels_first" else "N" + spatial + "C"
    return lhs, spatial + "IO", lhs


def conv(x, kernel, strides, padding, dilation, groups, data_format):
    """``x`` convolved with ``kernel`` (spatial dims, in, out), as Keras's conv layers do."""
    rank = kernel.ndim - 2
    dn = dimension_numbers(rank, data_format)
    if groups == 1 and data_format == "channels_last" and _small(x, kernel, strides):
        in_ch, out_ch = kernel.shape[-2], kernel.shape[-1]
        if all(k == 1 for k in kernel.shape[:rank]) and all(s == 1 for s in strides):
            if padding in ("VALID", "SAME") or _no_padding(padding):  # a 1x1 conv is a matmul
                return jnp.matmul(x, jnp.reshape(kernel, (in_ch, out_ch)))
        patches = jax.lax.conv_general_dilated_patches(
            x, kernel.shape[:rank], strides, padding, rhs_dilation=dilation, dimension_numbers=dn
        )
        # Patch features are ordered (in channel, *kernel position), channel slowest.
        matrix = jnp.moveaxis(kernel, rank, 0).reshape(in_ch * math.prod(kernel.shape[:rank]), -1)
        return jnp.matmul(patches, matrix)
    return jax.lax.conv_general_dilated(
        x, kernel, window_strides=strides, padding=padding, rhs_dilation=dilation,
        dimension_numbers=dn, feature_group_count=groups,
    )  # fmt: skip


def _no_padding(padding):
    return all(tuple(p) == (0, 0) for p in padding)


def _small(x, kernel, strides) -> bool:
    rank = kernel.ndim - 2
    out = [-(-n // s) for n, s in zip(x.shape[1 : 1 + rank], strides)]  # at most this many
    return math.prod(out) * kernel.shape[-2] * math.prod(kernel.shape[:rank]) <= PATCH_VALUES
