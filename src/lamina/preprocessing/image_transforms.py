"""Vectorised image augmentation: one affine resampling for a whole batch.

Each image's transform is Keras 2's 3x3 matrix (rotation @ shift @ shear @ zoom about the
image centre, ``keras_preprocessing``'s axis convention); ``warp_batch`` maps every output pixel
of every image through its matrix at once and resamples with one gather per bilinear corner,
in a jitted JAX program (the rest is NumPy).
Borders follow ``scipy.ndimage`` as Keras 2 called it: ``'constant'`` gives ``cval`` outside
``[0, n-1]``, ``'nearest'`` repeats the edge, ``'reflect'`` mirrors about the edge
(``dcba|abcd|dcba``), ``'wrap'`` tiles (``abcd|abcd|abcd``, as Keras documents it).
Arrays here are channels-last batches ``(batch, rows, cols, channels)``.

>>> import numpy as np
>>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
>>> A, off = affine_matrices(np.array([0.0]), np.array([1.0]), np.array([0.0]),
...                          np.array([0.0]), np.array([1.0]), np.array([1.0]), 4, 4)
>>> warp_batch(x, A, off, fill_mode="constant", cval=-1.0)[0, :, :, 0]
array([[ 1.,  2.,  3., -1.],
       [ 5.,  6.,  7., -1.],
       [ 9., 10., 11., -1.],
       [13., 14., 15., -1.]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def affine_matrices(theta, tx, ty, shear, zx, zy, h, w, swap=True):
    """Per-image sampling matrices: input coordinate = ``A @ output coordinate + offset``.

    Args:
        theta: rotation angles in degrees, shape ``(batch,)``.
        tx, ty: Keras 2's shifts (``tx`` from the height range, ``ty`` from the width range),
            in pixels.
        shear: shear angles in degrees.
        zx, zy: zoom factors (``> 1`` zooms out).
        h, w: the image's row and column counts.
        swap: exchange the two spatial axes of the matrix, as Keras 2 does when the column
            axis follows the row axis (always, for images in either data format).

    Returns:
        ``(A, offset)`` of shapes ``(batch, 2, 2)`` and ``(batch, 2)``.
    """
    theta, shear = np.deg2rad(np.asarray(theta, float)), np.deg2rad(np.asarray(shear, float))
    n = theta.shape[0]
    one, zero = np.ones(n), np.zeros(n)

    def stack(rows):
        return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)

    rotate = stack([[np.cos(theta), -np.sin(theta), zero], [np.sin(theta), np.cos(theta), zero],
                    [zero, zero, one]])
    shift = stack([[one, zero, np.asarray(tx, float)], [zero, one, np.asarray(ty, float)],
                   [zero, zero, one]])
    shear_m = stack([[one, -np.sin(shear), zero], [zero, np.cos(shear), zero],
                     [zero, zero, one]])
    zoom = stack([[np.asarray(zx, float), zero, zero], [zero, np.asarray(zy, float), zero],
                  [zero, zero, one]])
    m = rotate @ shift @ shear_m @ zoom
    o_x, o_y = float(h) / 2 - 0.5, float(w) / 2 - 0.5
    to_centre = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1.0]])
    from_centre = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1.0]])
    m = to_centre @ m @ from_centre
    if swap:
        m = m[:, [1, 0, 2]][:, :, [1, 0, 2]]
    return m[:, :2, :2], m[:, :2, 2]


def _map_index(xp, i, n, fill_mode):
    """Integer sample positions -> valid indices under the border rule (``xp``: np or jnp)."""
    if fill_mode == "reflect":
        i = xp.mod(i, 2 * n)
        return xp.where(i >= n, 2 * n - 1 - i, i)
    if fill_mode == "wrap":
        return xp.mod(i, n)
    return xp.clip(i, 0, n - 1)  # 'nearest', and 'constant' (masked separately)


def _reduce(i, n, fill_mode):
    """Float indices -> int32 indices equivalent under the border rule (for ``i`` and ``i+1``)."""
    if fill_mode == "wrap":
        np.mod(i, n, out=i)
    elif fill_mode == "reflect":
        np.mod(i, 2 * n, out=i)
    else:
        np.clip(i, -1, n, out=i)
    return i.astype(np.int32)


_KERNELS: dict = {}


def _kernel(order):
    """The jitted resampler: gathers and blends a whole batch in one XLA program."""
    if order in _KERNELS:
        return _KERNELS[order]
    import functools

    import jax
    import jax.numpy as jnp

    @functools.partial(jax.jit, static_argnames=("fill_mode",))
    def resample(x, r0, c0, fr, fc, outside, cval, fill_mode):
        b, rows, cols, ch = x.shape
        flat = x.reshape(b * rows * cols, ch)
        base = (jnp.arange(b, dtype=r0.dtype) * (rows * cols))[:, None, None]

        def take(r, c):
            idx = base + _map_index(jnp, r, rows, fill_mode) * cols
            return jnp.take(flat, idx + _map_index(jnp, c, cols, fill_mode), axis=0)

        if order == 0:
            out = take(r0, c0)
        else:
            fr, fc = fr[..., None], fc[..., None]
            top = take(r0, c0) * (1 - fc) + take(r0, c0 + 1) * fc
            bottom = take(r0 + 1, c0) * (1 - fc) + take(r0 + 1, c0 + 1) * fc
            out = top * (1 - fr) + bottom * fr
        if fill_mode == "constant":
            out = jnp.where(outside[..., None], cval.astype(out.dtype), out)
        return out

    _KERNELS[order] = resample
    return resample


def warp_batch(x, A, offset, fill_mode="nearest", cval=0.0, order=1):
    """Resamples each image of a channels-last batch through its affine map.

    The sample coordinates are computed in float64 NumPy (so the border decisions and
    weights are scipy's); the gathers and the blend run as one jitted JAX program per batch
    shape, in float32.

    Args:
        x: float array ``(batch, rows, cols, channels)``.
        A, offset: from ``affine_matrices``.
        fill_mode: ``'constant'``, ``'nearest'``, ``'reflect'`` or ``'wrap'``.
        cval: the value outside the image for ``'constant'``.
        order: 1 (bilinear) or 0 (nearest pixel).

    Returns:
        The warped batch, same shape and dtype as ``x``.

    Raises:
        ValueError: for an unknown ``fill_mode`` or an ``order`` other than 0 or 1.
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}. Received: {fill_mode!r}.")
    if order not in (0, 1):
        raise ValueError(f"interpolation order must be 0 or 1. Received: {order!r}.")
    b, rows, cols, ch = x.shape
    if b == 0:
        return x
    A = np.asarray(A, float)
    offset = np.asarray(offset, float)
    i_out, j_out = np.arange(rows, dtype=float), np.arange(cols, dtype=float)

    def coordinate(k):  # input coordinate k of every output pixel, (batch, rows, cols)
        by_row = offset[:, k, None, None] + A[:, k, 0, None, None] * i_out[None, :, None]
        return by_row + A[:, k, 1, None, None] * j_out[None, None, :]

    r, c = coordinate(0), coordinate(1)
    outside = np.zeros((1, 1, 1), bool)
    if fill_mode == "constant":
        # scipy's 'constant' mode does not interpolate past the edge pixels' centres.
        outside = r < 0
        outside |= r > rows - 1
        outside |= c < 0
        outside |= c > cols - 1
    if order == 0:
        r0, c0 = np.floor(r + 0.5, out=r), np.floor(c + 0.5, out=c)
        fr = fc = np.zeros((1, 1, 1), np.float32)
    else:
        r0, c0 = np.floor(r), np.floor(c)
        r -= r0
        c -= c0
        fr, fc = r.astype(np.float32), c.astype(np.float32)
    # Bring the indices near the image (same result under the border rule) so they fit the
    # kernel's int32 arithmetic whatever the zoom.
    r0, c0 = _reduce(r0, rows, fill_mode), _reduce(c0, cols, fill_mode)
    out = _kernel(order)(np.asarray(x, np.float32), r0, c0, fr, fc, outside,
                         np.float32(cval), fill_mode=fill_mode)
    return np.array(out, dtype=x.dtype)  # a writable host copy (standardize works in place)


def channel_shift_batch(x, intensity):
    """Adds ``intensity[i]`` to every channel of image ``i``, clipped to its own min/max."""
    axes = tuple(range(1, x.ndim))
    low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    shift = np.asarray(intensity, x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    return np.clip(x + shift, low, high)


def brightness_batch(x, factor, scale=False):
    """Keras 2's brightness shift (PIL ``ImageEnhance.Brightness``) for a channels-last batch.

    As in Keras 2, each image goes through 8 bits: values are truncated to ``uint8`` (after
    stretching to 0..255 when the image leaves that range), multiplied by the factor in float32,
    clipped and truncated again, then stretched back unless ``scale``.  An alpha channel (the 4th
    of 4) is kept.

    Args:
        x: float array ``(batch, rows, cols, channels)`` with 1, 3 or 4 channels.
        factor: brightness factor per image, shape ``(batch,)``.
        scale: leave the result in 0..255 (``apply_brightness_shift``'s default) instead of
            mapping it back to each image's range.

    Returns:
        A float32 array of the same shape.

    Raises:
        ValueError: for another number of channels.
    """
    if x.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"Brightness shifts need images with 1, 3 or 4 channels (as PIL images). Received "
            f"{x.shape[-1]} channels."
        )
    x = np.asarray(x, np.float32)
    axes = tuple(range(1, x.ndim))
    low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    stretch = (low < 0) | (high > 255)
    if scale:
        stretch = np.ones_like(stretch)
    span = high - low
    stretched = (x - low) / np.where(span != 0, span, 1) * 255
    u8 = np.where(stretch, stretched, x).astype(np.uint8).astype(np.float32)
    f = np.asarray(factor, np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
    out = np.clip(u8 * f, 0, 255).astype(np.uint8).astype(np.float32)
    if x.shape[-1] == 4:
        out[..., 3] = u8[..., 3]
    if not scale:
        back = out / 255 * span + low
        out = np.where(stretch, back, out)
    return out.astype(np.float32)


def flip_batch(x, mask, axis):
    """Reverses ``axis`` of the images selected by the boolean ``mask``."""
    mask = np.asarray(mask, bool)
    if mask.any():
        x = x.copy()
        x[mask] = np.flip(x[mask], axis=axis)
    return x


def transform_batch(x, params, fill_mode="nearest", cval=0.0, order=1):
    """Applies per-image parameters to a channels-last batch in Keras 2's order.

    Order: affine (rotation, shift, shear, zoom), channel shift, horizontal flip, vertical
    flip, brightness.

    Args:
        x: float array ``(batch, rows, cols, channels)``.
        params: dict of per-image arrays (``theta``, ``tx``, ``ty``, ``shear``, ``zx``, ``zy``,
            ``flip_horizontal``, ``flip_vertical``) and optional ``channel_shift_intensity`` /
            ``brightness`` arrays (``None`` when unused).
        fill_mode, cval, order: as in ``warp_batch``.

    Returns:
        The transformed batch (float, same shape).
    """
    b, rows, cols = x.shape[:3]

    def get(name, neutral):
        v = params.get(name)
        return np.full(b, neutral, float) if v is None else np.asarray(v, float).reshape(b)

    theta, tx, ty, shear = get("theta", 0), get("tx", 0), get("ty", 0), get("shear", 0)
    zx, zy = get("zx", 1), get("zy", 1)
    # Keras 2 leaves images with neutral parameters untouched (no resampling at all).
    moved = (theta != 0) | (tx != 0) | (ty != 0) | (shear != 0) | (zx != 1) | (zy != 1)
    if moved.all():
        A, off = affine_matrices(theta, tx, ty, shear, zx, zy, rows, cols)
        x = warp_batch(x, A, off, fill_mode=fill_mode, cval=cval, order=order)
    elif moved.any():
        A, off = affine_matrices(theta[moved], tx[moved], ty[moved], shear[moved], zx[moved],
                                 zy[moved], rows, cols)
        x = x.copy()
        x[moved] = warp_batch(x[moved], A, off, fill_mode=fill_mode, cval=cval, order=order)
    if params.get("channel_shift_intensity") is not None:
        # NaN marks an image without a shift (a shift of 0 leaves it unchanged).
        x = channel_shift_batch(x, np.nan_to_num(get("channel_shift_intensity", 0), nan=0.0))
    x = flip_batch(x, get("flip_horizontal", 0) != 0, axis=2)
    x = flip_batch(x, get("flip_vertical", 0) != 0, axis=1)
    if params.get("brightness") is not None:
        factor = get("brightness", 1)
        shifted = ~np.isnan(factor)  # NaN marks an image without a brightness shift
        if shifted.all():
            x = brightness_batch(x, factor).astype(x.dtype, copy=False)
        elif shifted.any():
            x = x.copy()
            x[shifted] = brightness_batch(x[shifted], factor[shifted])
    return x
