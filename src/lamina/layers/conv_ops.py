"""The convolution every conv layer runs: XLA's convolution forward, matrix products backward.

XLA's CPU backend runs a convolution's forward pass well, but differentiates it into a
kernel-gradient convolution that inside ``lax.scan`` (how ``fit`` runs its steps) becomes a
slow loop: the two convolutions of Keras's ``mnist_cnn`` took 3.6 s per step inside a scan
against 0.2 s per jitted step (batch 128, 2 cores).  So :func:`conv` is a ``jax.custom_jvp``:

* its value is ``lax.conv_general_dilated`` (the fastest forward pass measured: predict and
  evaluate pay nothing for the change);
* its derivative is the same sum written over kernel taps, ``sum_t slice_t(x) @ kernel[t]``,
  where ``slice_t`` is a strided window of the padded input.  Differentiating that gives matrix
  products for the kernel gradient (``slice_t(x)^T @ dy``) and padded matrix products for the
  input gradient, which XLA runs at full speed inside a scan: the ``mnist_cnn`` step became
  ~0.13 s, faster than the per-step XLA gradient Keras-JAX runs.

Transposed convolutions are the same convolution with a dilated input (``lhs_dilation``); their
derivative runs per output phase over the undilated input (:func:`_phase_taps`), skipping the
products with the dilation's zeros (``stride ** rank`` fewer: the keras.io Conv1D autoencoder's
Conv1DTranspose(32, 7, strides=2) gradient in a scan went from 61 to 38 ms, XLA's own 990 ms).  Grouped and depthwise kernels multiply per group (elementwise when a
group has one input channel).  ``channels_first`` data is transposed to channels-last for the
taps form.  Both forms compute the same sums in a different order: values and gradients agree
with XLA's to float32 rounding, and being a ``custom_jvp``, the function keeps forward-mode
and higher-order differentiation.

>>> import numpy as np, jax
>>> x = np.random.rand(2, 5, 5, 3).astype("float32")
>>> w = np.random.rand(3, 3, 3, 4).astype("float32")
>>> direct = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
...     dimension_numbers=("NHWC", "HWIO", "NHWC"))
>>> bool(np.allclose(conv(x, w, (1, 1), "VALID", (1, 1), 1, "channels_last"), direct, atol=1e-5))
True
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools

import jax
import jax.numpy as jnp

#: Whether convolutions traced now take XLA's own gradient (see :func:`xla_gradients`).
_XLA_GRADIENTS = contextvars.ContextVar("lamina_conv_xla_gradients", default=False)
#: Whether unpadded 2D convolutions traced now may run padded (see :func:`training_convs`).
_TRAINING = contextvars.ContextVar("lamina_conv_training", default=False)


@contextlib.contextmanager
def xla_gradients(enabled: bool = True):
    """Within this block, convolutions *traced* take XLA's gradient instead of the taps form.

    XLA's gradient is the fastest in a program that runs one step per call (Conv2D(64, 3,
    'same') on 32x32x32: 15.7 ms against 39.3 ms for the taps form), and the slowest inside
    ``lax.scan`` (1,386 ms against 46 ms), so a per-step program is traced inside this block.
    Transposed convolutions keep their phase-taps derivative (XLA's is slow either way).  It is
    read when a function is traced: wrap the first call of a jitted function.

    >>> import numpy as np, jax
    >>> x, w = np.ones((1, 4, 4, 1), "float32"), np.ones((3, 3, 1, 2), "float32")
    >>> with xla_gradients():
    ...     g = jax.grad(lambda k: conv(x, k, (1, 1), "VALID", (1, 1), 1, "channels_last").sum())(w)
    >>> g.shape
    (3, 3, 1, 2)
    """
    token = _XLA_GRADIENTS.set(bool(enabled))
    try:
        yield
    finally:
        _XLA_GRADIENTS.reset(token)


@contextlib.contextmanager
def training_convs(enabled: bool = True):
    """Within this block, convolutions *traced* are a training step's (see :func:`_padded_valid`).

    The padded form of an unpadded convolution wins in a training step (``mnist_cnn``'s epoch
    0.55 -> 0.42 s) but lost 9% in ``predict``'s 32-row tiles, so only training programs
    trace their forward pass inside this block.

    >>> import numpy as np
    >>> x, w = np.ones((1, 20, 20, 32), "float32"), np.ones((3, 3, 32, 2), "float32")
    >>> with training_convs():
    ...     y = conv(x, w, (1, 1), "VALID", (1, 1), 1, "channels_last")
    >>> y.shape
    (1, 18, 18, 2)
    """
    token = _TRAINING.set(bool(enabled))
    try:
        yield
    finally:
        _TRAINING.reset(token)


def dimension_numbers(rank: int, data_format: str):
    """``(lhs, rhs, out)`` specs of ``lax.conv_general_dilated`` for ``rank`` spatial dims."""
    spatial = "DHW"[3 - rank :]
    lhs = "NC" + spatial if data_format == "channels_first" else "N" + spatial + "C"
    return lhs, spatial + "IO", lhs


def conv(x, kernel, strides, padding, dilation, groups, data_format):
    """``x`` convolved with ``kernel`` (spatial dims, in // groups, out), as Keras's conv layers.

    Args:
        x: ``(batch, *spatial, channels)`` or, with ``channels_first``, ``(batch, channels,
            *spatial)``.
        kernel: ``(*kernel_size, in_channels // groups, out_channels)``.
        strides, dilation: one int per spatial dim.
        padding: ``"VALID"``, ``"SAME"`` or one ``(low, high)`` pair per spatial dim.
        groups: feature groups (``in_channels`` for a depthwise convolution).
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The convolution, laid out as ``x``.
    """
    rank = kernel.ndim - 2
    spatial = _spatial_shape(x.shape, rank, data_format)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:rank], dilation)]
    if isinstance(padding, str):
        pads = jax.lax.padtype_to_pads(spatial, eff, tuple(strides), padding)
    else:
        pads = padding
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    spec = (tuple(strides), pads, (1,) * rank, tuple(dilation), int(groups), data_format)
    return _plain_conv(spec, x, kernel) if _XLA_GRADIENTS.get() else _conv(spec, x, kernel)


def conv_transpose(x, kernel, strides, pads, dilation, data_format):
    """Keras's transposed convolution (``lax.conv_transpose(..., transpose_kernel=True)``).

    Args:
        x: the input, laid out per ``data_format``.
        kernel: ``(*kernel_size, out_channels, in_channels)`` (Keras's layout).
        strides, dilation: one int per spatial dim.
        pads: one explicit ``(low, high)`` pair per spatial dim (of the dilated input).
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        The transposed convolution, laid out as ``x``.

    >>> import numpy as np
    >>> x = np.ones((1, 3, 2), "float32"); w = np.ones((2, 4, 2), "float32")
    >>> conv_transpose(x, w, (2,), [(1, 1)], (1,), "channels_last").shape
    (1, 6, 4)
    """
    rank = kernel.ndim - 2
    # A transposed convolution is a convolution of the stride-dilated input with the spatially
    # flipped kernel whose in/out axes are swapped (how ``lax.conv_transpose`` defines it).
    kernel = jnp.swapaxes(jnp.flip(kernel, tuple(range(rank))), -1, -2)
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    spec = ((1,) * rank, pads, tuple(strides), tuple(dilation), 1, data_format)
    # The phase-taps derivative even where :func:`xla_gradients` is on: XLA's own gradient of
    # a transposed convolution is slow in straight code too (Conv2DTranspose(32, 3,
    # strides=2) on 16x16x32, batch 32: 38.9 ms per step against 4.9 ms).
    return _conv(spec, x, kernel)


def _spatial_shape(shape, rank, data_format):
    return tuple(shape[2:]) if data_format == "channels_first" else tuple(shape[1 : 1 + rank])


#: Unpadded 2D convolutions with at least this many input channels and output rows/columns
#: run padded and sliced on CPU (see :func:`_padded_valid`).
PADDED_VALID_MIN_CHANNELS = 32
PADDED_VALID_MIN_OUTPUT = 16


def _padded_valid(spec, x, kernel):
    """The output size of an unpadded ("VALID") 2D convolution better computed padded.

    XLA's CPU backend (its YNNPACK convolutions, jax 0.10) runs an unpadded 2D convolution
    several times slower than the same convolution with one more stride of padding at the
    high end, whose extra last row and column are sliced off: the second convolution of
    Keras's ``mnist_cnn`` (26x26x32 -> 24x24x64, batch 128) took 51 ms against 16 ms, and
    across 16-56 pixels and 32-128 channels the padded form was 1.2-7x faster; below 16
    output pixels or 32 input channels it was up to 1.5x slower, so those stay unpadded.
    Only training steps use it (:func:`training_convs`).

    Returns:
        The unpadded output's spatial shape, or ``None`` to convolve as asked.
    """
    strides, pads, lhs_dil, rhs_dil, groups, data_format = spec
    rank = kernel.ndim - 2
    if (
        rank != 2
        or data_format != "channels_last"
        or groups != 1
        or any(p != (0, 0) for p in pads)
        or any(d != 1 for d in lhs_dil)
        or kernel.shape[-2] < PADDED_VALID_MIN_CHANNELS
        or not _TRAINING.get()
        or jax.default_backend() != "cpu"
    ):
        return None
    eff = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:rank], rhs_dil)]
    out = [(n - e) // s + 1 for n, e, s in zip(x.shape[1 : 1 + rank], eff, strides)]
    return tuple(out) if min(out) >= PADDED_VALID_MIN_OUTPUT else None


def _plain_conv(spec, x, kernel):
    """XLA's convolution, differentiated by JAX's own rules."""
    strides, pads, lhs_dil, rhs_dil, groups, data_format = spec
    out = _padded_valid(spec, x, kernel)
    if out is not None:  # one more stride at the high end: an extra last output, cut below
        pads = tuple((0, s) for s in strides)
    y = jax.lax.conv_general_dilated(
        x, kernel, window_strides=strides, padding=pads, lhs_dilation=lhs_dil,
        rhs_dilation=rhs_dil, dimension_numbers=dimension_numbers(kernel.ndim - 2, data_format),
        feature_group_count=groups,
    )  # fmt: skip
    if out is not None:
        y = jax.lax.slice(y, (0,) * y.ndim, (y.shape[0], *out, y.shape[-1]))
    return y


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _conv(spec, x, kernel):
    return _plain_conv(spec, x, kernel)


def _conv_jvp(spec, primals, tangents):
    x, kernel = primals
    tx, tk = tangents
    # The value stays XLA's convolution; the tangent is linear in (tx, tk) and written as
    # matrix products, so its transpose (the gradient) is matrix products too.  A symbolic
    # zero tangent (the input data, a frozen kernel) adds no work.
    y = _conv(spec, x, kernel)
    terms = [
        _taps(spec, a, b)
        for a, b, t in ((x, tk, tk), (tx, kernel, tx))
        if not isinstance(t, jax.custom_derivatives.SymbolicZero)
    ]
    if not terms:
        return y, jax.custom_derivatives.SymbolicZero(jax.core.get_aval(y).to_tangent_aval())
    return y, terms[0] if len(terms) == 1 else terms[0] + terms[1]


_conv.defjvp(_conv_jvp, symbolic_zeros=True)


def _taps(spec, x, kernel):
    """The convolution as a sum over kernel taps of (strided input window) @ kernel[tap]."""
    strides, pads, lhs_dil, rhs_dil, groups, data_format = spec
    rank = kernel.ndim - 2
    if data_format == "channels_first":
        x = jnp.moveaxis(x, 1, -1)
    if any(d > 1 for d in lhs_dil) and all(s == 1 for s in strides + rhs_dil):
        y = _phase_taps(x, kernel, pads, lhs_dil, groups)
        return jnp.moveaxis(y, -1, 1) if data_format == "channels_first" else y
    config = [(0, 0, 0)] + [(lo, hi, d - 1) for (lo, hi), d in zip(pads, lhs_dil)] + [(0, 0, 0)]
    x = jax.lax.pad(x, jnp.zeros((), x.dtype), config)
    ksize = kernel.shape[:rank]
    out = [
        max(0, (n - (k - 1) * d - 1) // s + 1)
        for n, k, d, s in zip(x.shape[1:-1], ksize, rhs_dil, strides)
    ]
    in_g, out_ch = kernel.shape[-2], kernel.shape[-1]
    y = None
    for tap in itertools.product(*(range(k) for k in ksize)):
        start = [t * d for t, d in zip(tap, rhs_dil)]
        limit = [b + (o - 1) * s + 1 for b, o, s in zip(start, out, strides)]
        window = jax.lax.slice(
            x, (0, *start, 0), (x.shape[0], *limit, x.shape[-1]), (1, *strides, 1)
        )
        term = _apply_tap(window, kernel[tap], groups, in_g, out_ch)
        y = term if y is None else y + term
    if data_format == "channels_first":
        y = jnp.moveaxis(y, -1, 1)
    return y


def _apply_tap(window, w, groups, in_g, out_ch):
    """``window (..., groups * in_g) x w (in_g, out_ch)`` per feature group."""
    if groups == 1:
        return jnp.matmul(window, w)
    lead = window.shape[:-1]
    per = out_ch // groups
    if in_g == 1:  # depthwise: each input channel scales its own outputs (elementwise)
        y = window[..., :, None] * jnp.reshape(w, (1,) * len(lead) + (groups, per))
    else:
        g = jnp.reshape(window, (*lead, groups, in_g))
        y = jnp.einsum("...gc,cgo->...go", g, jnp.reshape(w, (in_g, groups, per)))
    return jnp.reshape(y, (*lead, out_ch))


def _phase_taps(x, kernel, pads, lhs_dil, groups):
    """:func:`_taps` of a stride-dilated input (a transposed convolution) without the zeros.

    Output position ``o`` of a dilated input only meets real rows through the taps ``t`` with
    ``(o + t - low) % stride == 0``, so each output phase ``o % stride`` is a plain convolution
    of the undilated input with its own taps; the phases are then interleaved.  The sums are
    those of :func:`_taps` less its products with zeros (``stride ** rank`` fewer products).
    """
    rank = kernel.ndim - 2
    ksize = kernel.shape[:rank]
    n = x.shape[1:-1]
    length = [lo + (m - 1) * s + 1 + hi for (lo, hi), m, s in zip(pads, n, lhs_dil)]
    out = [max(0, ln - k + 1) for ln, k in zip(length, ksize)]
    per = [-(-o // s) for o, s in zip(out, lhs_dil)]  # rows of phase 0 (the longest)
    low = [max(0, -((-lo) // s)) for (lo, _), s in zip(pads, lhs_dil)]
    high = [
        max(0, (s - 1 + k - 1 - lo) // s + p - m)
        for (lo, _), s, k, p, m in zip(pads, lhs_dil, ksize, per, n)
    ]
    config = [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in zip(low, high)] + [(0, 0, 0)]
    x = jax.lax.pad(x, jnp.zeros((), x.dtype), config)
    in_g, out_ch = kernel.shape[-2], kernel.shape[-1]
    phases = {}
    for phase in itertools.product(*(range(s) for s in lhs_dil)):
        rows = [max(0, -(-(o - p) // s)) for o, p, s in zip(out, phase, lhs_dil)]
        y = None
        for tap in itertools.product(*(range(k) for k in ksize)):
            if any((p + t - lo) % s for p, t, (lo, _), s in zip(phase, tap, pads, lhs_dil)):
                continue
            start = [
                (p + t - lo) // s + b for p, t, (lo, _), s, b in zip(phase, tap, pads, lhs_dil, low)
            ]
            window = jax.lax.slice(
                x, (0, *start, 0), (x.shape[0], *(a + r for a, r in zip(start, rows)), x.shape[-1])
            )
            term = _apply_tap(window, kernel[tap], groups, in_g, out_ch)
            y = term if y is None else y + term
        if y is None:
            y = jnp.zeros((x.shape[0], *rows, out_ch), x.dtype)
        # Every phase padded to the longest one's rows, to interleave them.
        fill = [(0, 0)] + [(0, p - r) for p, r in zip(per, rows)] + [(0, 0)]
        phases[phase] = jnp.pad(y, fill)
    return _interleave(phases, lhs_dil, per, out, 0)


def _interleave(phases, strides, per, out, dim):
    """Interleaves phase outputs along spatial dims ``dim..``: row ``p + s * m`` of dim ``d``
    is row ``m`` of the phase with ``p`` at ``d``."""
    if dim == len(strides):
        return phases[()]
    s = strides[dim]
    parts = []
    for p in range(s):
        sub = {k[1:]: v for k, v in phases.items() if k[0] == p}
        parts.append(_interleave(sub, strides, per, out, dim + 1))
    axis = 1 + dim
    y = jnp.stack(parts, axis=axis + 1)
    shape = list(y.shape)
    y = jnp.reshape(y, (*shape[:axis], shape[axis] * s, *shape[axis + 2 :]))
    return jax.lax.slice_in_dim(y, 0, out[dim], axis=axis)
