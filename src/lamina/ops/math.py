"""``keras.ops`` math ops: ``logsumexp``, ``top_k``, ``in_top_k``, segment reductions, ``erf``,
FFTs on ``(real, imag)`` pairs, ``extract_sequences``, ``cdist``.

``stft``/``istft`` live in :mod:`lamina.ops.spectral` and are re-exported here.
"""

from __future__ import annotations

import math as _pymath

import jax
import jax.numpy as jnp

from lamina.ops._tensor import float_tensor, tensor
from lamina.ops.spectral import istft as istft
from lamina.ops.spectral import stft as stft

__all__ = [
    "cdist", "erf", "erfc", "erfinv", "extract_sequences", "fft", "fft2", "ifft2", "in_top_k",
    "irfft", "istft", "logdet", "logsumexp", "rfft", "rsqrt", "segment_max", "segment_min",
    "segment_prod", "segment_sum", "stft", "top_k", "view_as_complex", "view_as_real",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` along ``axis``, computed stably (``keras.ops.logsumexp``).

    >>> from lamina import ops
    >>> round(float(ops.logsumexp(ops.zeros(2))), 4)
    0.6931
    """
    return jax.scipy.special.logsumexp(float_tensor(x), axis=axis, keepdims=keepdims)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras's name
    """The ``k`` largest values along the last axis and their indices (``keras.ops.top_k``).

    Returns:
        ``(values, indices)``, sorted in decreasing order.

    >>> from lamina import ops
    >>> values, indices = ops.top_k(ops.convert_to_tensor([1., 4., 2.]), 2)
    >>> values.tolist(), indices.tolist()
    ([4.0, 2.0], [1, 2])
    """
    return jax.lax.top_k(_a(x), k)


def in_top_k(targets, predictions, k):
    """Whether each target's prediction is among the ``k`` largest (``keras.ops.in_top_k``).

    Args:
        targets: ``(batch,)`` integer class ids.
        predictions: ``(batch, classes)`` scores.
        k: how many top scores count.

    Returns:
        A ``(batch,)`` boolean tensor (ties count in the target's favour; NaN never does).

    >>> from lamina import ops
    >>> ops.in_top_k(ops.convert_to_tensor([1]), ops.convert_to_tensor([[0.1, 0.5, 0.4]]), 1).tolist()
    [True]
    """
    predictions = _a(predictions)
    at_label = jnp.take_along_axis(predictions, jnp.expand_dims(_a(targets), -1), axis=-1)
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    rank = 1 + jnp.sum(jnp.greater(predictions, at_label), axis=-1)
    return jnp.less_equal(rank, k)


def _segment(name, fn, what):
    def op(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
        if num_segments is None:
            raise ValueError(
                f"Argument `num_segments` must be set for {name} (the output length must be "
                "static under jit). Received: num_segments=None."
            )
        return fn(_a(data), _a(segment_ids), int(num_segments), indices_are_sorted=sorted)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"The {what} of ``data``'s rows per segment id (``keras.ops.{name}``).\n\nArgs:\n    "
        "data: the values; the leading axis is segmented.\n    segment_ids: ``(rows,)`` "
        "integer ids in ``[0, num_segments)``.\n    num_segments: the number of segments "
        "(required).\n    sorted: whether ``segment_ids`` is sorted (a speed hint).\n\n"
        "Raises:\n    ValueError: when ``num_segments`` is None.\n\n>>> from lamina import ops\n"
        f">>> ops.{name}(ops.convert_to_tensor([1., 2., 3.]), ops.convert_to_tensor([0, 0, 1]),"
        " 2).shape\n(2,)\n"
    )
    return op


segment_sum = _segment("segment_sum", jax.ops.segment_sum, "sum")
segment_max = _segment("segment_max", jax.ops.segment_max, "maximum")
segment_min = _segment("segment_min", jax.ops.segment_min, "minimum")
segment_prod = _segment("segment_prod", jax.ops.segment_prod, "product")


def erf(x):
    """The error function (``keras.ops.erf``).

    >>> from lamina import ops
    >>> float(ops.erf(0.0))
    0.0
    """
    return jax.lax.erf(float_tensor(x))


def erfc(x):
    """The complementary error function ``1 - erf(x)`` (``keras.ops.erfc``).

    >>> from lamina import ops
    >>> float(ops.erfc(0.0))
    1.0
    """
    return jax.scipy.special.erfc(float_tensor(x))


def erfinv(x):
    """The inverse error function (``keras.ops.erfinv``).

    >>> from lamina import ops
    >>> float(ops.erfinv(0.0))
    0.0
    """
    return jax.scipy.special.erfinv(float_tensor(x))


def rsqrt(x):
    """``1 / sqrt(x)`` (``keras.ops.rsqrt``).

    >>> from lamina import ops
    >>> float(ops.rsqrt(4.0))
    0.5
    """
    return jax.lax.rsqrt(float_tensor(x))


def logdet(x):
    """``log(det(x))`` of square matrices, via ``slogdet`` (``keras.ops.logdet``).

    >>> from lamina import ops
    >>> float(ops.logdet(ops.eye(2)))
    0.0
    """
    return jnp.linalg.slogdet(_a(x))[1]


def cdist(x, y):
    """Euclidean distances between the rows of ``x`` and ``y`` (``keras.ops.cdist``).

    Raises:
        ValueError: for inputs of rank < 2 or different last dimensions.

    >>> from lamina import ops
    >>> ops.cdist(ops.zeros((2, 3)), ops.ones((4, 3))).shape
    (2, 4)
    """
    x, y = _a(x), _a(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            f"`cdist` inputs must have rank >= 2. Received shapes {x.shape}, {y.shape}."
        )
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"Last dimension of inputs to `cdist` must match: {x.shape}, {y.shape}.")
    diff = jnp.expand_dims(x, -2) - jnp.expand_dims(y, -3)
    return jnp.sqrt(jnp.sum(diff * diff, axis=-1))


def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of ``sequence_length`` every ``sequence_stride`` along the last axis
    (``keras.ops.extract_sequences``).

    >>> from lamina import ops
    >>> ops.extract_sequences(ops.arange(6.0), 3, 2).tolist()
    [[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]]
    """
    x = _a(x)
    *batch, n = x.shape
    x = jnp.reshape(x, (_pymath.prod(batch), n, 1))
    frames = jax.lax.conv_general_dilated_patches(
        x, (sequence_length,), (sequence_stride,), "VALID", dimension_numbers=("NTC", "OIT", "NTC")
    )
    return jnp.reshape(frames, (*batch, *frames.shape[-2:]))


def _complex(x):
    if not isinstance(x, tuple | list) or len(x) != 2:
        raise ValueError(
            f"Input `x` should be a tuple of two tensors - real and imaginary. Received: x={x!r}."
        )
    real, imag = _a(x[0]), _a(x[1])
    if real.shape != imag.shape:
        raise ValueError(
            "The real and imaginary parts must have the same shape. Received: "
            f"x[0].shape = {real.shape}, x[1].shape = {imag.shape}."
        )
    if not (jnp.issubdtype(real.dtype, jnp.floating) and jnp.issubdtype(imag.dtype, jnp.floating)):
        raise ValueError(
            f"Both parts of `x` must be float tensors. Received: {real.dtype}, {imag.dtype}."
        )
    return jax.lax.complex(real, imag)


def _fft_doc(fn, what):
    fn.__doc__ = (
        f"{what} (``keras.ops.{fn.__name__}``).\n\nArgs:\n    x: a ``(real, imag)`` tuple of "
        "float tensors (``rfft``: one real tensor).\n\nReturns:\n    A ``(real, imag)`` tuple "
        "(``irfft``: one real tensor).\n\n>>> from lamina import ops\n>>> len(ops.fft((ops.ones("
        "4), ops.zeros(4))))\n2\n"
    )


def fft(x):
    out = jnp.fft.fft(_complex(x))
    return jnp.real(out), jnp.imag(out)


def fft2(x):
    out = jnp.fft.fft2(_complex(x))
    return jnp.real(out), jnp.imag(out)


def ifft2(x):
    out = jnp.fft.ifft2(_complex(x))
    return jnp.real(out), jnp.imag(out)


def rfft(x, fft_length=None):
    out = jnp.fft.rfft(_a(x), n=fft_length, axis=-1)
    return jnp.real(out), jnp.imag(out)


def irfft(x, fft_length=None):
    return jnp.fft.irfft(_complex(x), n=fft_length, axis=-1)


_fft_doc(fft, "Fast Fourier transform along the last axis")
_fft_doc(fft2, "2-D fast Fourier transform over the last two axes")
_fft_doc(ifft2, "Inverse 2-D fast Fourier transform")
_fft_doc(rfft, "Real-input FFT along the last axis")
_fft_doc(irfft, "Inverse of ``rfft``")


def view_as_complex(x):
    """A ``(..., 2)`` real tensor as complex numbers (``keras.ops.view_as_complex``).

    >>> from lamina import ops
    >>> ops.view_as_complex(ops.ones((3, 2))).dtype
    dtype('complex64')
    """
    x = _a(x)
    if x.shape[-1] != 2:
        raise ValueError(f"view_as_complex needs a last axis of size 2. Received shape {x.shape}.")
    return jax.lax.complex(x[..., 0], x[..., 1])


def view_as_real(x):
    """A complex tensor as ``(..., 2)`` real and imaginary parts (``keras.ops.view_as_real``).

    >>> from lamina import ops
    >>> ops.view_as_real(ops.view_as_complex(ops.ones((3, 2)))).shape
    (3, 2)
    """
    x = _a(x)
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)

