"""Short-time Fourier transforms: ``stft`` and ``istft`` (``keras.ops.stft``/``keras.ops.istft``).

The maths of Keras 3's JAX backend: a centred signal is reflect-padded by ``fft_length // 2`` on
each side, the window (periodic ``'hann'``/``'hamming'``, an array, or none) is zero-padded to
``fft_length`` in the middle, frames are transformed with ``jax.scipy.signal.stft`` and scaled
by the window's sum; ``istft`` overlap-adds with ``jax.scipy.signal.istft`` and undoes the
scaling. Both are re-exported by :mod:`lamina.ops.math`, work under ``jax.jit`` and map over any
leading (batch) axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.ops._tensor import standardize_dtype, tensor

__all__ = ["istft", "stft"]


def _check_stride(sequence_stride):
    if not isinstance(sequence_stride, int) or sequence_stride <= 0:
        raise ValueError(
            "`sequence_stride` must be a positive integer. "
            f"Received: sequence_stride={sequence_stride}"
        )


def _named_window(name, length):
    """The periodic window ``scipy.signal.get_window(name, length)`` (float64 NumPy)."""
    alpha = {"hann": 0.5, "hamming": 0.54}.get(name)
    if alpha is None:
        raise ValueError(
            "If a string is passed to `window`, it must be one of "
            f'`"hann"`, `"hamming"`. Received: window={name}'
        )
    if length <= 1:
        return np.ones(length)
    fac = np.linspace(-np.pi, np.pi, length + 1)  # scipy's general_cosine, last point dropped
    return (alpha + (1.0 - alpha) * np.cos(fac))[:-1]


def _window(window, sequence_length, fft_length, dtype):
    """The window padded to ``fft_length`` (ones when ``window`` is None)."""
    l_pad = (fft_length - sequence_length) // 2
    r_pad = fft_length - sequence_length - l_pad
    if window is None:
        return jnp.ones((sequence_length + l_pad + r_pad,), dtype)
    if isinstance(window, str):
        win = jnp.asarray(_named_window(window, sequence_length), dtype)
    else:
        win = jnp.asarray(tensor(window), dtype)
    if win.ndim != 1 or win.shape[-1] != sequence_length:
        raise ValueError(
            "The shape of `window` must be equal to [sequence_length]."
            f"Received: window shape={win.shape}"
        )
    return jnp.pad(win, [(l_pad, r_pad)])


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform along the last axis (``keras.ops.stft``).

    Args:
        x: a float32 (or float64) signal, ``(..., samples)``.
        sequence_length: the frame (window) length.
        sequence_stride: the hop between frames, a positive int.
        fft_length: the FFT size, at least ``sequence_length``; the window is zero-padded to it.
        window: ``'hann'``, ``'hamming'`` (both periodic), a ``(sequence_length,)`` array or
            None (no windowing).
        center: whether to reflect-pad ``fft_length // 2`` samples on both sides so frame
            ``t`` is centred at ``t * sequence_stride``.

    Returns:
        ``(real, imag)``, each ``(..., frames, fft_length // 2 + 1)``, where ``frames`` is
        ``1 + (samples + padding - fft_length) // sequence_stride``.

    Raises:
        ValueError: for a non-positive or non-int ``sequence_stride``, ``fft_length <
            sequence_length``, an unknown window name or a window of the wrong shape.
        TypeError: for an input that is not float32/float64.

    >>> from lamina import ops
    >>> real, imag = ops.stft(ops.convert_to_tensor([0.0, 1.0, 2.0, 3.0, 4.0]), 3, 2, 3)
    >>> real.shape, [round(v, 4) for v in real[0].tolist()]
    ((3, 2), [0.75, -0.375])
    """
    _check_stride(sequence_stride)
    x = tensor(x)
    x = x if hasattr(x, "dtype") else jnp.asarray(x)
    if standardize_dtype(x.dtype) not in {"float32", "float64"}:
        raise TypeError(
            f"Invalid input type. Expected `float32` or `float64`. Received: input type={x.dtype}"
        )
    if fft_length < sequence_length:
        raise ValueError(
            "`fft_length` must equal or larger than `sequence_length`. "
            f"Received: sequence_length={sequence_length}, fft_length={fft_length}"
        )
    if isinstance(window, str) and window not in {"hann", "hamming"}:
        _named_window(window, 1)  # raises Keras's error
    x = jnp.asarray(x)
    if center:
        pad_width = [(0, 0)] * (x.ndim - 1) + [(fft_length // 2, fft_length // 2)]
        x = jnp.pad(x, pad_width, mode="reflect")
    win = _window(window, sequence_length, fft_length, x.dtype)
    nperseg = win.shape[0]
    result = jax.scipy.signal.stft(
        x, fs=1.0, window=win, nperseg=nperseg, noverlap=nperseg - sequence_stride,
        nfft=fft_length, boundary=None, padded=False,
    )[-1]  # fmt: skip
    result = result / jnp.sqrt(1.0 / win.sum() ** 2)
    result = jnp.swapaxes(result, -2, -1)
    return jnp.real(result), jnp.imag(result)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """Inverse short-time Fourier transform (``keras.ops.istft``).

    Use the arguments that made the STFT to reconstruct the signal.

    Args:
        x: ``(real, imag)``, float tensors of the same shape ``(..., frames, bins)``.
        sequence_length: the frame (window) length.
        sequence_stride: the hop between frames, a positive int.
        fft_length: the FFT size that produced ``x``.
        length: when given, the output is clipped to this many samples.
        window: ``'hann'``, ``'hamming'``, a ``(sequence_length,)`` array or None.
        center: whether ``x`` was made from a centred (padded) signal; the padding is cut off.

    Returns:
        The signal, ``(..., samples)``.

    Raises:
        ValueError: for ``x`` that is not a pair of same-shaped float tensors of rank >= 2, a
            bad ``sequence_stride``, an unknown window name or a window of the wrong shape.

    >>> from lamina import ops
    >>> x = ops.arange(6.0)
    >>> [round(v, 4) for v in ops.istft(ops.stft(x, 4, 1, 4), 4, 1, 4).tolist()]
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    """
    _check_stride(sequence_stride)
    from lamina.ops.math import _complex

    x = _complex(x)
    dtype = jnp.real(x).dtype
    if x.ndim < 2:
        raise ValueError(f"Input `x` must have at least 2 dimensions. Received shape: {x.shape}")
    expected_output_len = fft_length + sequence_stride * (x.shape[-2] - 1)
    win = _window(window, sequence_length, fft_length, dtype)
    nperseg = win.shape[0]
    x = jax.scipy.signal.istft(
        x, fs=1.0, window=win, nperseg=nperseg, noverlap=nperseg - sequence_stride,
        nfft=fft_length, boundary=False, time_axis=-2, freq_axis=-1,
    )[-1]  # fmt: skip
    x = x / win.sum() if window is not None else x / sequence_stride
    start = 0 if center is False else fft_length // 2
    if length is not None:
        end = start + length
    elif center is True:
        end = -(fft_length // 2)
    else:
        end = expected_output_len
    return x[..., start:end]
