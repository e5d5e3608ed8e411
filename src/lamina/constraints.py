"""Weight constraints with Keras 3 names, formulas, configs and serialized form.

A constraint maps a weight array to its projected value; optimizers apply it after each update.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from lamina.object_registry import ClassRegistry

_MODULE = "keras.constraints"
_EPSILON = 1e-7  # keras.backend.epsilon()


def _norms(w, axis):
    return jnp.sqrt(jnp.sum(jnp.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the constrained weights (``w`` unchanged here)."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def _identity(self):
        return (type(self), repr(sorted(self.get_config().items())))

    def __eq__(self, other):
        return type(other) is type(self) and self._identity() == other._identity()

    def __hash__(self):
        return hash(self._identity())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescales slices along ``axis`` whose L2 norm exceeds ``max_value``:
    ``w * clip(norm, 0, max_value) / (epsilon + norm)``.

    >>> [round(v, 4) for v in MaxNorm(1.0)(jnp.array([3.0, 4.0])).tolist()]
    [0.6, 0.8]
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(w, self.axis)
        desired = jnp.clip(norms, 0, self.max_value)
        return w.astype(norms.dtype) * (desired / (_EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Clips negative weights to zero.

    >>> NonNeg()(jnp.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def __call__(self, w):
        w = jnp.asarray(w)
        return jnp.maximum(w, jnp.zeros((), w.dtype))


class UnitNorm(Constraint):
    """Scales slices along ``axis`` to unit L2 norm: ``w / (epsilon + norm)``.

    >>> [round(v, 4) for v in UnitNorm()(jnp.array([3.0, 4.0])).tolist()]
    [0.6, 0.8]
    """

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(w, self.axis)
        return w.astype(norms.dtype) / (_EPSILON + norms)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Keeps slice norms in ``[min_value, max_value]``, moving them by ``rate``:
    ``w * (rate * clip(norm, min, max) + (1 - rate) * norm) / (epsilon + norm)``.

    >>> [round(v, 4) for v in MinMaxNorm(0.0, 1.0)(jnp.array([3.0, 4.0])).tolist()]
    [0.6, 0.8]
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(w, self.axis)
        desired = (
            self.rate * jnp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        )
        return w.astype(norms.dtype) * (desired / (_EPSILON + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
# Keras 1/2's legacy spellings (Keras 2 kept them as aliases): ``from keras.constraints import
# maxnorm`` and ``W_constraint=maxnorm(3)`` appear throughout Keras 1-era scripts.
maxnorm, nonneg, unitnorm = MaxNorm, NonNeg, UnitNorm

#: Name -> class, as ``keras.constraints`` resolves names.
ALL_OBJECTS_DICT: dict[str, type] = {
    "MaxNorm": MaxNorm,
    "NonNeg": NonNeg,
    "UnitNorm": UnitNorm,
    "MinMaxNorm": MinMaxNorm,
    "max_norm": MaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
    "min_max_norm": MinMaxNorm,
}


_REGISTRY = ClassRegistry("constraint", _MODULE, Constraint)
_REGISTRY.update(ALL_OBJECTS_DICT)
# Keras 2 looked names up in its module globals, so ``kernel_constraint='maxnorm'`` (and a
# config whose ``class_name`` is ``'maxnorm'``) resolved to the legacy aliases too.  They stay
# out of ``ALL_OBJECTS_DICT``, which mirrors Keras 3's; serializing writes the class name.
_REGISTRY.update({"maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm})


def serialize(obj: Constraint) -> dict:
    """Returns Keras 3's serialized dict for a constraint.

    >>> serialize(NonNeg())
    {'module': 'keras.constraints', 'class_name': 'NonNeg', 'config': {}, 'registered_name': None}
    """
    return _REGISTRY.serialize(obj)


def deserialize(config: Any, custom_objects: dict | None = None) -> Constraint:
    """Builds a constraint from a serialized dict (``class_name``/``config``) or a name.

    Args:
        config: a name or Keras's serialized dict.
        custom_objects: user classes by name (also found through
            ``lamina.saving.register_keras_serializable`` and ``custom_object_scope``).

    Returns:
        The constraint instance.

    Raises:
        ValueError: for an unknown name (the message lists the closest valid one).

    >>> deserialize({"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}})
    MaxNorm(max_value=3, axis=0)
    """
    return _REGISTRY.deserialize(config, custom_objects)


def get(identifier: Any, custom_objects: dict | None = None):
    """Resolves a constraint: ``None``, a name, a serialized dict, an instance, a class or a
    callable.

    >>> get("max_norm")
    MaxNorm(max_value=2, axis=0)
    """
    return _REGISTRY.get(identifier, custom_objects)
