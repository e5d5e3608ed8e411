"""Audio preprocessing: ``STFTSpectrogram`` and ``MelSpectrogram`` (as ``keras.layers``).

``STFTSpectrogram`` is Keras's: the short-time Fourier transform as a strided 1-D convolution
with two ``(frame_length, 1, fft_length // 2 + 1)`` kernels (``real_kernel``, ``imag_kernel``:
windowed cosines and sines, Keras's ``STFT`` initializer), which are ordinary (trainable)
weights.  ``MelSpectrogram`` has no weights: the centred STFT of Keras's ``ops.stft`` (reflect
padding, ``jax.scipy.signal.stft``), a power, the HTK mel filter bank and, optionally, decibels
clipped ``top_db`` below the batch's maximum -- all as Keras computes them.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from lamina.layers import conv_ops
from lamina.layers.arg_checks import check_int
from lamina.layers.base import Layer
from lamina.layers.conv_utils import conv_output_length, normalize_data_format

_EPSILON = 1e-7  # Keras's backend.epsilon()
#: The most values a MelSpectrogram's filter bank may hold (256 MiB of float32).
MAX_FILTER_BANK = 2**26
_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


def _get_window(window, length, periodic=False):
    import scipy.signal

    return scipy.signal.get_window(window, length, periodic)


def stft_kernel(side, frame_length, fft_bins, window="hann", scaling="density", periodic=False):
    """Keras's ``initializers.STFT`` value, shape ``(frame_length, 1, fft_bins)``."""
    scale = 1.0
    win = None
    if window is not None:
        win = _get_window(window, frame_length, periodic) if isinstance(window, str) else window
        win = np.asarray(win, np.float32)
        if win.ndim != 1 or win.shape[-1] != frame_length:
            raise ValueError(
                f"The shape of `window` must be equal to [frame_length]. Received: window "
                f"shape={win.shape}"
            )
        win = win.reshape(frame_length, 1, 1)
        if scaling == "density":
            scale = np.sqrt(np.sum(np.square(win)))
        elif scaling == "spectrum":
            scale = np.sum(np.abs(win))
    freq = np.arange(fft_bins, dtype=np.float32).reshape(1, 1, -1) / np.float32((fft_bins - 1) * 2)
    time = np.arange(frame_length, dtype=np.float32).reshape(-1, 1, 1)
    args = (-2 * time * freq) * np.arccos(np.float32(-1))
    kernel = np.cos(args) if side == "real" else np.sin(args)
    if win is not None:
        kernel = kernel * win / scale
    return jnp.asarray(kernel, jnp.float32)


class STFTSpectrogram(Layer):
    """Spectrogram of ``(batch, time, channels)`` signals by a strided convolution (Keras's).

    Args:
        mode: ``'log'``, ``'magnitude'``, ``'psd'``, ``'real'``, ``'imag'``, ``'angle'`` or
            ``'stft'`` (real and imaginary parts concatenated).
        frame_length: window length in samples.
        frame_step: hop in samples (default ``frame_length // 2``).
        fft_length: FFT size (default: the power of two at least ``frame_length``).
        window: a SciPy window name, an array of ``frame_length`` values or ``None``.
        periodic: a periodic (rather than symmetric) window.
        scaling: ``'density'``, ``'spectrum'`` or ``None``.
        padding: ``'valid'`` or ``'same'``.
        expand_dims: keep channels and frequencies as separate axes.
        data_format: ``'channels_last'`` or ``'channels_first'``.

    >>> import jax, numpy as np
    >>> from lamina.layers import STFTSpectrogram
    >>> layer = STFTSpectrogram(frame_length=16, frame_step=8)
    >>> params, state = layer.init(jax.random.key(0), (None, 64, 1))
    >>> y, _ = layer.apply(params, state, np.ones((2, 64, 1), "float32"))
    >>> tuple(y.shape), layer.compute_output_shape((None, 64, 1))
    ((2, 7, 9), (None, 7, 9))
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):  # fmt: skip
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError(
                "`frame_step` should be a positive integer not greater than `frame_length`. "
                f"Received frame_step={frame_step}, frame_length={frame_length}"
            )
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(
                "`fft_length` should be not less than `frame_length`. "
                f"Received fft_length={fft_length}, frame_length={frame_length}"
            )
        if mode not in _MODES:
            raise ValueError(
                f"Output mode is invalid, it must be one of {', '.join(_MODES)}. "
                f"Received: mode={mode}"
            )
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(
                "Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                f"Received scaling={scaling}"
            )
        if padding not in ("valid", "same"):
            raise ValueError(
                f"Padding is invalid, it should be 'valid', 'same'. Received: padding={padding}"
            )
        if isinstance(window, str):
            _get_window(window, 1)  # raises for an unknown window
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = int(frame_length)
        self.frame_step = frame_step
        self._frame_step = int(frame_step or self.frame_length // 2)
        self.fft_length = fft_length
        self._fft_length = int(fft_length or 2 ** int(math.ceil(math.log2(frame_length))))
        self.window = window
        self.periodic = bool(periodic)
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = bool(expand_dims)
        self.data_format = normalize_data_format(data_format, "STFTSpectrogram")

    def expected_rank(self):
        return (3,)

    def init(self, key, input_shape):
        bins = self._fft_length // 2 + 1
        args = (self.frame_length, bins, self.window, self.scaling, self.periodic)
        params = {}
        if self.mode != "imag":
            params["real_kernel"] = stft_kernel("real", *args)
        if self.mode != "real":
            params["imag_kernel"] = stft_kernel("imag", *args)
        return params, {}

    def _conv(self, x, kernel):
        """``(batch, channels, freq, time)`` of every channel convolved with ``kernel``."""
        if self.data_format == "channels_last":
            channels = x.shape[-1]
            x = jnp.reshape(jnp.moveaxis(x, 2, 1), (-1, x.shape[1], 1))
            y = conv_ops.conv(x, kernel, (self._frame_step,), self.padding.upper(), (1,), 1,
                              "channels_last")  # fmt: skip
            y = jnp.moveaxis(y, 2, 1)
        else:
            channels = x.shape[1]
            x = jnp.reshape(x, (-1, 1, x.shape[-1]))
            y = conv_ops.conv(x, kernel, (self._frame_step,), self.padding.upper(), (1,), 1,
                              "channels_first")  # fmt: skip
        return jnp.reshape(y, (-1, channels, y.shape[1], y.shape[2]))

    def _adjust(self, y):
        _, channels, freq, time = y.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return jnp.transpose(y, (0, 3, 2, 1))
            return jnp.transpose(jnp.reshape(y, (-1, channels * freq, time)), (0, 2, 1))
        if self.expand_dims:
            return jnp.transpose(y, (0, 1, 3, 2))
        return jnp.reshape(y, (-1, channels * freq, time))

    def apply(self, params, state, x, *, training=False, key=None):
        real = None if self.mode == "imag" else self._conv(x, params["real_kernel"])
        imag = None if self.mode == "real" else self._conv(x, params["imag_kernel"])
        if self.mode == "real":
            return self._adjust(real), state
        if self.mode == "imag":
            return self._adjust(imag), state
        if self.mode == "angle":
            return self._adjust(jnp.arctan2(imag, real)), state
        if self.mode == "stft":
            return self._adjust(jnp.concatenate([real, imag], axis=2)), state
        power = jnp.square(real) + jnp.square(imag)
        if self.mode == "psd":
            pad = jnp.pad(power[:, :, 1:-1, :], [(0, 0), (0, 0), (1, 1), (0, 0)])
            return self._adjust(power + pad), state
        linear = self._adjust(jnp.sqrt(jnp.maximum(power, _EPSILON)))
        if self.mode == "magnitude":
            return linear, state
        return jnp.log(jnp.maximum(linear, _EPSILON)), state

    def compute_output_shape(self, input_shape):
        last = self.data_format == "channels_last"
        channels = input_shape[-1] if last else input_shape[1]
        freq = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        time = conv_output_length(
            input_shape[1] if last else input_shape[2],
            self.frame_length,
            self.padding,
            self._frame_step,
        )
        if self.expand_dims:
            if last:
                return (input_shape[0], time, freq, channels)
            return (input_shape[0], channels, time, freq)
        features = None if channels is None else freq * channels
        return (input_shape[0], time, features) if last else (input_shape[0], features, time)

    def get_config(self):
        config = super().get_config()
        config.update(
            mode=self.mode, frame_length=self.frame_length, frame_step=self.frame_step,
            fft_length=self.fft_length, window=self.window, periodic=self.periodic,
            scaling=self.scaling, padding=self.padding, data_format=self.data_format,
            expand_dims=self.expand_dims,
        )  # fmt: skip
        return config


def keras_stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Keras's ``ops.stft`` on the JAX backend: ``(real, imag)``, ``(..., frames, bins)``."""
    from lamina.ops.spectral import stft

    return stft(x, sequence_length, sequence_stride, fft_length, window=window, center=center)


def _hertz_to_mel(f):
    return 1127.0 * np.log(1.0 + f / 700.0)


def mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate, lower_hz, upper_hz):
    """Keras's ``linear_to_mel_weight_matrix`` (HTK mel scale, triangles peaking at 1)."""
    freqs = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins, dtype=np.float32)[1:]
    bins_mel = _hertz_to_mel(freqs)[:, None]
    edges = np.linspace(
        _hertz_to_mel(np.float32(lower_hz)),
        _hertz_to_mel(np.float32(upper_hz)),
        num_mel_bins + 2,
        dtype=np.float32,
    )
    lower, center, upper = (edges[i : i + num_mel_bins][None, :] for i in range(3))
    lower_slopes = (bins_mel - lower) / (center - lower)
    upper_slopes = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(lower_slopes, upper_slopes))
    return jnp.asarray(np.pad(weights, [(1, 0), (0, 0)]), jnp.float32)


class MelSpectrogram(Layer):
    """Mel spectrogram of raw audio: ``(batch, time) -> (batch, num_mel_bins, frames)``.

    Args:
        fft_length, sequence_stride, sequence_length, window: the STFT's (``sequence_length``
            defaults to ``fft_length``; ``window`` is ``'hann'``, ``'hamming'`` or ``None``).
        sampling_rate: samples per second.
        num_mel_bins, min_freq, max_freq: the mel filter bank (``max_freq`` defaults to
            ``sampling_rate / 2``).
        power_to_db: convert to decibels, ``top_db`` below the batch's maximum at least.
        mag_exp: exponent of the magnitude (2: power).
        min_power, ref_power: floor and reference of the decibel conversion.

    >>> import numpy as np
    >>> from lamina.layers import MelSpectrogram
    >>> layer = MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=8)
    >>> layer(np.random.rand(2, 256).astype("float32")).shape
    (2, 8, 9)
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10,
                 ref_power=1.0, **kwargs):  # fmt: skip
        owner = "MelSpectrogram"
        self.fft_length = check_int(fft_length, "fft_length", owner, minimum=1)
        self.sequence_stride = check_int(sequence_stride, "sequence_stride", owner, minimum=1)
        self.sequence_length = check_int(
            sequence_length or fft_length, "sequence_length", owner, minimum=1
        )
        if self.fft_length < self.sequence_length:
            raise ValueError(
                "`fft_length` must be greater than or equal to `sequence_length`. Received: "
                f"`sequence_length`={self.sequence_length}, `fft_length`={self.fft_length}."
            )
        if isinstance(window, str) and window not in ("hann", "hamming"):
            raise ValueError(
                'If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                f"Received: window={window}"
            )
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = check_int(num_mel_bins, "num_mel_bins", owner, minimum=1)
        bank = self.num_mel_bins * (self.fft_length // 2 + 1)
        if bank > MAX_FILTER_BANK:  # built at every call: a config must not ask for terabytes
            raise ValueError(
                f"MelSpectrogram's filter bank would hold num_mel_bins x (fft_length // 2 + 1) = "
                f"{bank:,} values; at most {MAX_FILTER_BANK:,} are allowed (Keras's defaults use "
                f"128 x 1025). Received: num_mel_bins={self.num_mel_bins}, "
                f"fft_length={self.fft_length}."
            )
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = bool(power_to_db)
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power
        super().__init__(**kwargs)

    def apply(self, params, state, x, *, training=False, key=None):
        x = jnp.asarray(x, jnp.float32)
        real, imag = keras_stft(
            x, self.sequence_length, self.sequence_stride, self.fft_length, self.window
        )
        spec = jnp.power(jnp.sqrt(jnp.square(real) + jnp.square(imag)), self.mag_exp)
        matrix = mel_weight_matrix(
            self.num_mel_bins, spec.shape[-1], self.sampling_rate, self.min_freq, self.max_freq
        )
        out = jnp.tensordot(spec, matrix, axes=1)
        if self.power_to_db:
            log_spec = 10.0 * jnp.log10(jnp.maximum(out, self.min_power))
            log_spec = log_spec - 10.0 * np.log10(max(abs(self.ref_power), self.min_power))
            out = jnp.maximum(log_spec, jnp.max(log_spec) - self.top_db)  # Keras: batch max
        return jnp.swapaxes(out, -1, -2), state

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        frames = None if n is None else 1 + n // self.sequence_stride  # the STFT's frames
        return (*tuple(input_shape)[:-1], self.num_mel_bins, frames)

    def get_config(self):
        config = super().get_config()
        config.update(
            fft_length=self.fft_length, sequence_stride=self.sequence_stride,
            sequence_length=self.sequence_length, window=self.window,
            sampling_rate=self.sampling_rate, num_mel_bins=self.num_mel_bins,
            min_freq=self.min_freq, max_freq=self.max_freq, power_to_db=self.power_to_db,
            top_db=self.top_db, mag_exp=self.mag_exp, min_power=self.min_power,
            ref_power=self.ref_power,
        )  # fmt: skip
        return config


__all__ = ["MelSpectrogram", "STFTSpectrogram"]
