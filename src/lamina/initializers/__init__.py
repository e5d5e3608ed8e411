"""Weight initializers with Keras 3 names, arguments, defaults, fans and serialized form.

Every initializer is called as ``init(shape, dtype=None, key=None)`` and returns a ``jnp``
array (``float32`` by default).  Layers pass ``key`` (a JAX PRNG key) so initialization is
pure.  ``Sequential.build`` passes a :class:`lamina.utils.random.HostKey` instead: the built-in
initializers then draw with NumPy and return NumPy arrays, so building a model compiles nothing.  Without a key, a seeded initializer uses ``PRNGKey(seed)`` and an unseeded one uses a
seed drawn once at construction from a module-level counter -- like Keras, the same instance
then returns the same values on every call.

The classes live in submodules by kind (:mod:`~lamina.initializers.base`,
:mod:`~lamina.initializers.constant_initializers`,
:mod:`~lamina.initializers.random_initializers`,
:mod:`~lamina.initializers.variance_scaling_initializers`,
:mod:`~lamina.initializers.stft_initializer`); this module re-exports them with Keras's
aliases and holds the name registry with ``serialize``/``deserialize``/``get``.
"""

from __future__ import annotations

from typing import Any

from lamina._naming import snake_case
from lamina.initializers.base import Initializer
from lamina.initializers.constant_initializers import Constant, Identity, Ones, Zeros
from lamina.initializers.random_initializers import (
    Orthogonal,
    RandomInitializer,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
)
from lamina.initializers.stft_initializer import STFT
from lamina.initializers.variance_scaling_initializers import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    VarianceScaling,
    compute_fans,
)
from lamina.object_registry import ClassRegistry

_MODULE = "keras.initializers"

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
# Keras 1/2's short names (Keras 2: ``zero = zeros = Zeros``, ``normal = random_normal =
# RandomNormal``, ...), which Keras 3 still resolves as strings but no longer exports:
# ``initializers.normal(stddev=0.01)`` in Keras 2-era code.  ``normal`` keeps RandomNormal's
# ``stddev=0.05`` default, which is also what Keras 1's ``init='normal'`` drew with.
normal, uniform, zero, one = RandomNormal, RandomUniform, Zeros, Ones
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
    return _REGISTRY.deserialize(config, custom_objects)


def or_default(initializer, dtype="float32"):
    """``initializer``, or Keras's ``add_weight`` default when it is None: ``glorot_uniform``
    for a float weight, ``zeros`` otherwise.

    ``Dense(1, bias_initializer=None)`` (TensorFlow's imbalanced-data tutorial passes None when
    it has no output bias) keeps None in its config, as Keras does, and draws with this default.

    >>> or_default(None)
    GlorotUniform(seed=None, input_axes=None, output_axes=None)
    >>> or_default(None, "int32"), or_default(Ones())
    (Zeros(), Ones())
    """
    if initializer is not None:
        return initializer
    import jax.numpy as jnp

    return GlorotUniform() if jnp.issubdtype(dtype, jnp.floating) else Zeros()


def get(identifier: Any, custom_objects: dict | None = None):
    """Resolves an initializer: ``None``, a name, a serialized dict, an instance, a class or a
    callable ``(shape, dtype=None)``.

    >>> get("glorot_uniform")
    GlorotUniform(seed=None, input_axes=None, output_axes=None)
    """
    found = _REGISTRY.get(identifier, custom_objects)
    if callable(found) and not isinstance(found, Initializer) and not isinstance(found, type):
        return FunctionInitializer(found)
    return found


class FunctionInitializer(Initializer):
    """A user function ``fn(shape, dtype=None)`` used as an initializer (Keras calls it with
    the shape and dtype; Lamina's initializers also take a key, which it does not need).

    >>> import numpy as np
    >>> init = get(lambda shape, dtype=None: np.full(shape, 0.5, "float32"))
    >>> init((2,), "float32").tolist()
    [0.5, 0.5]
    """

    def __init__(self, fn):
        self._function = fn

    def __call__(self, shape, dtype=None, key=None):
        if key is None:
            return self._function(shape, dtype=dtype)
        if self._takes_key():  # Lamina's own convention: fn(shape, dtype=None, key=None)
            return self._function(shape, dtype=dtype, key=key)
        from lamina.random import drawing_from

        if hasattr(key, "to_jax"):  # a host key (weights drawn without compiling)
            key = key.to_jax()
        with drawing_from(key):
            return self._function(shape, dtype=dtype)

    def _takes_key(self) -> bool:
        import inspect

        try:
            return "key" in inspect.signature(self._function).parameters
        except (TypeError, ValueError):
            return False

    def get_config(self) -> dict:
        return {}
