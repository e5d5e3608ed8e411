"""Weight initializers with Keras 3 names, arguments, defaults, fans and serialized form.

Every initializer is called as ``init(shape, dtype=None, key=None)`` and returns a ``jnp``
array (``float32`` by default).  Layers pass ``key`` (a JAX PRNG key) so initialization is
pure.  ``Sequential.build`` passes a :class:`lamina.utils.random.HostKey` instead: the built-in
initializers then draw with NumPy and return NumPy arrays, so building a model compiles nothing.  Without a key, a seeded initializer uses ``PRNGKey(seed)`` and an unseeded one uses a
seed drawn once at construction from a module-level counter -- like Keras, the same instance
then returns the same values on every call.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lamina._naming import snake_case
from lamina.object_registry import ClassRegistry
from lamina.utils.random import HostKey

_MODULE = "keras.initializers"
_SEED_COUNTER = itertools.count(1)


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[int, int]:
    """Returns ``(fan_in, fan_out)`` exactly as Keras's ``compute_fans``.

    >>> compute_fans((3, 3, 16, 32))
    (144, 288)
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        fan_in = math.prod(shape[a] for a in input_axes)
        fan_out = math.prod(shape[a] for a in output_axes)
        return int(fan_in), int(fan_out)
    if len(shape) < 1:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    elif len(shape) == 2:
        fan_in, fan_out = shape
    else:
        receptive_field_size = math.prod(shape[:-2])
        fan_in = shape[-2] * receptive_field_size
        fan_out = shape[-1] * receptive_field_size
    return int(fan_in), int(fan_out)


def _dtype(dtype, floating=False):
    dt = jnp.dtype("float32" if dtype is None else dtype)
    if floating and not jnp.issubdtype(dt, jnp.floating):
        raise ValueError(f"Expected a floating dtype for a random initializer, got {dt}.")
    return dt


def _host(key) -> bool:
    return isinstance(key, HostKey)


def _uniform(key, shape, dt, minval, maxval):
    if _host(key):
        return key.generator().uniform(minval, maxval, shape).astype(dt)
    return jax.random.uniform(key, shape, dtype=dt, minval=minval, maxval=maxval)


def _normal(key, shape, dt):
    if _host(key):
        return key.generator().standard_normal(shape).astype(dt)
    return jax.random.normal(key, shape, dtype=dt)


def _truncated_normal(key, shape, dt):
    """Standard normal truncated to [-2, 2], as ``jax.random.truncated_normal(key, -2, 2)``."""
    if not _host(key):
        return jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype=dt)
    gen = key.generator()
    out = gen.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # rejection: each round keeps ~95% of what it redraws
        out[bad] = gen.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out.astype(dt)


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=None, key=None)``."""

    def __call__(self, shape, dtype=None, key=None):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def _identity(self):
        return (type(self), repr(sorted(self.get_config().items())))

    def __eq__(self, other):
        return type(other) is type(self) and self._identity() == other._identity()

    def __hash__(self):
        return hash(self._identity())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros.

    >>> Zeros()((2,)).tolist()
    [0.0, 0.0]
    """

    def __call__(self, shape, dtype=None, key=None):
        if _host(key):
            return np.zeros(tuple(shape), dtype=_dtype(dtype))
        return jnp.zeros(tuple(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones.

    >>> Ones()((2,)).tolist()
    [1.0, 1.0]
    """

    def __call__(self, shape, dtype=None, key=None):
        if _host(key):
            return np.ones(tuple(shape), dtype=_dtype(dtype))
        return jnp.ones(tuple(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every element equal to the scalar ``value``.

    >>> Constant(3.0)((2,)).tolist()
    [3.0, 3.0]
    """

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None, key=None):
        dt = _dtype(dtype)
        if _host(key):
            return np.asarray(self.value, dtype=dt) * np.ones(tuple(shape), dtype=dt)
        return jnp.asarray(self.value, dtype=dt) * jnp.ones(tuple(shape), dtype=dt)

    def get_config(self):
        value = self.value
        if isinstance(value, (np.ndarray, jax.Array)):
            value = np.asarray(value).tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        return {"value": value}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only).

    >>> Identity(2.0)((2, 2)).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None, key=None):
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={tuple(shape)} of rank {len(shape)}."
            )
        if _host(key):
            return (self.gain * np.eye(*shape)).astype(_dtype(dtype))
        return self.gain * jnp.eye(*shape, dtype=_dtype(dtype))

    def get_config(self):
        # Keras's own get_config is empty (it drops ``gain``); keep that form for the default.
        return {} if self.gain == 1.0 else {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base of the random initializers: stores ``seed`` and resolves the PRNG key."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` argument should be an integer or None. Received: seed={seed}")
        self.seed = seed
        self._default_seed = next(_SEED_COUNTER) if seed is None else seed

    def _key(self, key):
        # A layer's key (JAX or host) wins over the seed, so every weight gets its own draw.
        return jax.random.PRNGKey(self._default_seed) if key is None else key

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    """Normal distribution ``N(mean, stddev**2)``.

    >>> RandomNormal(seed=0)((3, 4)).shape
    (3, 4)
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        sample = _normal(self._key(key), tuple(shape), _dtype(dtype, True))
        return sample * sample.dtype.type(self.stddev) + sample.dtype.type(self.mean)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal ``N(mean, stddev**2)`` truncated to two standard deviations around the mean.

    >>> bool(abs(TruncatedNormal(seed=0)((100,))).max() <= 0.1)
    True
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        sample = _truncated_normal(self._key(key), tuple(shape), _dtype(dtype, True))
        return sample * sample.dtype.type(self.stddev) + sample.dtype.type(self.mean)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform distribution on ``[minval, maxval)``.

    >>> bool(abs(RandomUniform(seed=0)((100,))).max() <= 0.05)
    True
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        return _uniform(self._key(key), tuple(shape), _dtype(dtype, True), self.minval, self.maxval)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(RandomInitializer):
    """Scale-adaptive initializer: variance ``scale / n`` with ``n`` from ``mode``'s fans.

    ``distribution`` is ``"truncated_normal"`` (``"normal"`` is an alias), ``"untruncated_normal"``
    or ``"uniform"`` (limit ``sqrt(3 * scale / n)``).

    >>> VarianceScaling(2.0, "fan_in", "uniform", seed=0)((4, 5)).shape
    (4, 5)
    """

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError(
                f"Invalid `mode` argument: {mode}. Please use one of fan_in, fan_out, fan_avg"
            )
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in {"uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}. Please use one of "
                "uniform, truncated_normal, untruncated_normal"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        shape = tuple(shape)
        dt = _dtype(dtype, True)
        key = self._key(key)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        scale = self.scale
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _truncated_normal(key, shape, dt) * dt.type(stddev)
        if self.distribution == "untruncated_normal":
            return _normal(key, shape, dt) * dt.type(math.sqrt(scale))
        limit = math.sqrt(3.0 * scale)
        return _uniform(key, shape, dt, -limit, limit)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling preset; its config holds only the seed and axes, as in Keras."""

    _SCALE = 1.0
    _MODE = "fan_in"
    _DISTRIBUTION = "truncated_normal"

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(self._SCALE, self._MODE, self._DISTRIBUTION, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_FixedVarianceScaling):
    """Glorot/Xavier uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    >>> GlorotUniform(seed=0)((4, 5)).dtype
    dtype('float32')
    """

    _MODE, _DISTRIBUTION = "fan_avg", "uniform"


class GlorotNormal(_FixedVarianceScaling):
    """Glorot/Xavier normal: truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out))``."""

    _MODE = "fan_avg"


class HeUniform(_FixedVarianceScaling):
    """He uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / fan_in)``."""

    _SCALE, _DISTRIBUTION = 2.0, "uniform"


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal, ``stddev = sqrt(2 / fan_in)``."""

    _SCALE = 2.0


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: ``U(-limit, limit)``, ``limit = sqrt(3 / fan_in)``."""

    _DISTRIBUTION = "uniform"


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal, ``stddev = sqrt(1 / fan_in)``."""


class Orthogonal(RandomInitializer):
    """Random orthogonal matrix (rows or columns orthonormal) times ``gain``.

    Shapes of rank > 2 are flattened to ``(prod(shape[:-1]), shape[-1])`` first.

    >>> q = Orthogonal(seed=0)((3, 3))
    >>> bool(jnp.allclose(q @ q.T, jnp.eye(3), atol=1e-5))
    True
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None, key=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(
                "The tensor to initialize must be at least two-dimensional. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        num_rows = math.prod(shape[:-1])
        num_cols = shape[-1]
        flat_shape = (max(num_cols, num_rows), min(num_cols, num_rows))
        a = _normal(self._key(key), flat_shape, _dtype(dtype, True))
        if _host(key):
            q, r = np.linalg.qr(a)
            q = (q * np.sign(np.diag(r))[None, :]).astype(a.dtype)
            if num_rows < num_cols:
                q = q.T
            return (self.gain * q.reshape(shape)).astype(a.dtype)
        q, r = jnp.linalg.qr(a)
        q = q * jnp.sign(jnp.diag(r))[None, :]
        if num_rows < num_cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


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
        from lamina.initializers_stft import check_arguments

        check_arguments(side, window, scaling)
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = periodic

    def __call__(self, shape, dtype=None, key=None):
        from lamina.initializers_stft import stft_values

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


_CLASSES = [Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal]
_CLASSES += [VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal]
_CLASSES += [LecunUniform, LecunNormal, Orthogonal, STFT]

#: Name -> class, as ``keras.initializers`` resolves names (class, snake_case and aliases).
ALL_OBJECTS_DICT: dict[str, type] = {c.__name__: c for c in _CLASSES}
ALL_OBJECTS_DICT.update({snake_case(c.__name__): c for c in _CLASSES})
ALL_OBJECTS_DICT.update(
    {
        "IdentityInitializer": Identity,
        "OrthogonalInitializer": Orthogonal,
        "STFTInitializer": STFT,
        "normal": RandomNormal,
        "uniform": RandomUniform,
        "one": Ones,
        "zero": Zeros,
    }
)

# Snake-case lower-case aliases for functions-style use: ``initializers.glorot_uniform(seed=1)``.
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal, he_uniform, he_normal = (
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
)
lecun_uniform, lecun_normal = LecunUniform, LecunNormal
stft = STFT
# Keras 3 exports these class aliases next to ``Identity``/``Orthogonal``/``STFT``.
IdentityInitializer, OrthogonalInitializer, STFTInitializer = Identity, Orthogonal, STFT


_REGISTRY = ClassRegistry("initializer", _MODULE, Initializer)
_REGISTRY.update(ALL_OBJECTS_DICT)


def serialize(initializer: Initializer) -> dict:
    """Returns Keras 3's serialized dict for an initializer.

    >>> serialize(GlorotUniform())["config"]
    {'seed': None, 'input_axes': None, 'output_axes': None}
    """
    return _REGISTRY.serialize(initializer)


def deserialize(config: Any, custom_objects: dict | None = None) -> Initializer:
    """Builds an initializer from a serialized dict (``class_name``/``config``) or a name.

    Args:
        config: a name or Keras's serialized dict.
        custom_objects: user classes by name (also found through
            ``lamina.saving.register_keras_serializable`` and ``custom_object_scope``).

    Raises:
        ValueError: for an unknown name (the message lists the closest valid one).

    >>> deserialize({"class_name": "Ones", "config": {}})
    Ones()
    """
    if isinstance(config, dict) and isinstance(config.get("config"), dict):
        inner = config["config"]
        # Keras writes Constant's value as a serialized tensor when it is an array.
        if isinstance(inner.get("value"), dict):
            value = inner["value"].get("config", {}).get("value")
            config = {**config, "config": {**inner, "value": value}}
    return _REGISTRY.deserialize(config, custom_objects)


def get(identifier: Any, custom_objects: dict | None = None):
    """Resolves an initializer: ``None``, a name, a serialized dict, an instance, a class or a
    callable ``(shape, dtype=None)``.

    >>> get("glorot_uniform")
    GlorotUniform(seed=None, input_axes=None, output_axes=None)
    """
    return _REGISTRY.get(identifier, custom_objects)
