"""The ``STFT`` initializer (Keras 3's ``keras.initializers.STFT``): the class, its argument
checks and the kernel formula, written op for op as Keras's.

``scipy`` is imported only when a window is given by name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.initializers.base import Initializer, _dtype, _host


class STFT(Initializer):
    """Kernels of the short-time Fourier transform as a convolution (Keras's ``STFT``).

    The shape is ``(frame_length, input_channels, fft_length // 2 + 1)``; the values are
    ``cos`` (``side="real"``) or ``sin`` (``side="imag"``) of ``-2 pi t f / fft_length``,
    times the window and divided by its scale, with shape ``(frame_length, 1, bins)``
    (broadcast over the channels), exactly as Keras computes them.  Used by
    ``STFTSpectrogram``.

    Args:
        side: ``"real"`` or ``"imag"``.
        window: a ``scipy.signal.windows`` name (``"hann"``, ``"hamming"`` ...), an array of
            ``frame_length`` values, or ``None`` for no window.
        scaling: ``"density"`` (divide by the window's L2 norm), ``"spectrum"`` (by its L1
            norm) or ``None``.
        periodic: use the periodic rather than the symmetric window.

    >>> k = STFT("real", window=None)((4, 1, 3))
    >>> k.shape, [round(float(v), 3) + 0.0 for v in k[1, 0]]
    ((4, 1, 3), [1.0, 0.0, -1.0])
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        check_arguments(side, window, scaling)
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = periodic

    def __call__(self, shape, dtype=None, key=None):
        dt = _dtype(dtype, True)
        out = stft_values(tuple(shape), dt, self.side, self.window, self.scaling, self.periodic)
        return np.asarray(out) if _host(key) else out

    def get_config(self):
        window = self.window
        if isinstance(window, (np.ndarray, jax.Array)):
            window = np.asarray(window).tolist()
        return {
            "side": self.side,
            "window": window,
            "periodic": self.periodic,
            "scaling": self.scaling,
        }


def check_arguments(side, window, scaling) -> None:
    """Raises Keras's ``ValueError`` for a bad ``side``, window name or ``scaling``."""
    if side not in ("real", "imag"):
        raise ValueError(f"side should be 'real' or 'imag', not {side}")
    if isinstance(window, str):
        import scipy.signal

        scipy.signal.get_window(window, 1)  # raises a ValueError naming an unknown window
    if scaling is not None and scaling not in ("density", "spectrum"):
        raise ValueError(
            "Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
            f"Received scaling={scaling}"
        )


def stft_values(shape, dtype, side, window, scaling, periodic):
    """Keras's ``STFT.__call__``: windowed cosines (``"real"``) or sines (``"imag"``).

    Args:
        shape: ``(frame_length, input_channels, fft_length // 2 + 1)``; the result has shape
            ``(frame_length, 1, fft_length // 2 + 1)``, as Keras's (it broadcasts over the
            input channels).
        dtype: a floating dtype.
        side, window, scaling, periodic: as :class:`lamina.initializers.STFT`.

    Returns:
        A ``jnp`` array, computed in ``dtype`` in Keras's order of operations.
    """
    if len(shape) != 3:
        raise ValueError(
            "The STFT initializer expects a shape (frame_length, input_channels, "
            f"fft_bins). Received: shape={tuple(shape)} of rank {len(shape)}."
        )
    frame_length, _, fft_length = (int(s) for s in shape)
    win = None
    scale = 1
    if window is not None:
        win = window
        if isinstance(win, str):
            import scipy.signal

            win = scipy.signal.get_window(win, frame_length, periodic)
        win = jnp.asarray(np.asarray(win), dtype=dtype)
        if win.ndim != 1 or win.shape[-1] != frame_length:
            raise ValueError(
                "The shape of `window` must be equal to [frame_length]."
                f"Received: window shape={win.shape}"
            )
        win = jnp.reshape(win, (frame_length, 1, 1))
        if scaling == "density":
            scale = jnp.sqrt(jnp.sum(jnp.square(win)))
        elif scaling == "spectrum":
            scale = jnp.sum(jnp.abs(win))
    full_length = (fft_length - 1) * 2
    freq = jnp.reshape(jnp.arange(fft_length, dtype=dtype), (1, 1, fft_length)) / full_length
    time = jnp.reshape(jnp.arange(frame_length, dtype=dtype), (frame_length, 1, 1))
    args = ((-2 * time) * freq) * jnp.arccos(jnp.asarray(-1, dtype))
    kernel = jnp.cos(args) if side == "real" else jnp.sin(args)
    kernel = kernel.astype(dtype)
    if win is not None:
        kernel = (kernel * win) / scale
    return kernel
