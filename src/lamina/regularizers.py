"""Weight regularizers with Keras 3 names, formulas, configs and serialized form.

A regularizer maps a weight array to a scalar penalty that is added to the training loss.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from lamina.object_registry import ClassRegistry

_MODULE = "keras.regularizers"
_EPSILON = 1e-7


def _validate_float(value, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (float, int))
        or math.isinf(value)
        or math.isnan(value)
        or value < 0
    ):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value}"
        )
    return float(value)


def _float32(value: float) -> float:
    # Keras stores L1's and OrthogonalRegularizer's factor as float32 tensors, so their
    # configs hold the float32-rounded value (0.01 -> 0.009999999776482582).
    return float(np.float32(value))


class Regularizer:
    """Base class: ``__call__(x)`` returns a scalar penalty (0 here)."""

    def __call__(self, x):
        return 0.0

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


class L1L2(Regularizer):
    """``l1 * sum(abs(x)) + l2 * sum(square(x))`` (both factors default to 0).

    >>> float(L1L2(l1=0.5, l2=1.0)(jnp.array([1.0, -2.0])))
    6.5
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _validate_float(0.0 if l1 is None else l1, "l1")
        self.l2 = _validate_float(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = jnp.asarray(x)
        regularization = jnp.asarray(0.0, dtype=x.dtype)
        if self.l1 != 0.0:
            regularization += jnp.asarray(self.l1, x.dtype) * jnp.sum(jnp.abs(x))
        if self.l2 != 0.0:
            regularization += jnp.asarray(self.l2, x.dtype) * jnp.sum(jnp.square(x))
        return regularization

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(abs(x))``.

    >>> float(L1(0.5)(jnp.array([1.0, -2.0])))
    1.5
    """

    def __init__(self, l1=0.01):
        self.l1 = _float32(_validate_float(0.01 if l1 is None else l1, "l1"))

    def __call__(self, x):
        x = jnp.asarray(x)
        return jnp.asarray(self.l1, x.dtype) * jnp.sum(jnp.abs(x))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(square(x))``.

    >>> float(L2(0.5)(jnp.array([1.0, -2.0])))
    2.5
    """

    def __init__(self, l2=0.01):
        self.l2 = _validate_float(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = jnp.asarray(x)
        return jnp.asarray(self.l2, x.dtype) * jnp.sum(jnp.square(x))

    def get_config(self):
        return {"l2": self.l2}


def _l2_normalize(x, axis):
    square_sum = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    inv_norm = jnp.minimum(1.0 / jnp.sqrt(square_sum), 1.0 / _EPSILON)
    return x * inv_norm


class OrthogonalRegularizer(Regularizer):
    """Penalizes non-orthogonal rows (``mode="rows"``) or columns of a rank-2 weight:
    ``factor * 0.5 * sum(|off-diagonal cosine similarities|) / num_pairs``.

    >>> float(OrthogonalRegularizer(1.0)(jnp.eye(3)))
    0.0
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _float32(_validate_float(factor, "factor"))
        if mode not in {"rows", "columns"}:
            raise ValueError(
                'Invalid value for argument `mode`. Expected one of {"rows", "columns"}. '
                f"Received: mode={mode}"
            )
        self.mode = mode

    def __call__(self, inputs):
        inputs = jnp.asarray(inputs)
        if inputs.ndim != 2:
            raise ValueError(
                "Inputs to OrthogonalRegularizer must have rank 2. Received: "
                f"inputs.shape={inputs.shape}"
            )
        if self.mode == "rows":
            inputs = _l2_normalize(inputs, axis=1)
            product = inputs @ inputs.T
            size = inputs.shape[0]
        else:
            inputs = _l2_normalize(inputs, axis=0)
            product = inputs.T @ inputs
            size = inputs.shape[1]
        product_no_diagonal = product * (1.0 - jnp.eye(size, dtype=inputs.dtype))
        num_pairs = size * (size - 1.0) / 2.0
        factor = jnp.asarray(self.factor, jnp.float32)
        return factor * 0.5 * jnp.sum(jnp.abs(product_no_diagonal)) / num_pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer


# Keras 1's functions, kept for its scripts (``from keras.regularizers import l2, activity_l2``).
# Keras 1 chose weight or activity regularization by the argument a regularizer was passed to
# (``W_regularizer=`` or ``activity_regularizer=``), so each returns the plain penalty; its
# ``l1l2`` and ``activity_l1l2`` defaulted both factors to 0.01 (Keras 3's ``L1L2`` to 0).


def l1l2(l1=0.01, l2=0.01):
    """Keras 1's ``l1l2``: an ``L1L2`` penalty whose factors both default to 0.01.

    >>> l1l2()
    L1L2(l1=0.01, l2=0.01)
    """
    return L1L2(l1=l1, l2=l2)


def activity_l1(l=0.01):  # noqa: E741 (Keras 1's argument name)
    """Keras 1's ``activity_l1``: the ``L1`` penalty, passed as ``activity_regularizer=``.

    >>> activity_l1(0.5)
    L1(l1=0.5)
    """
    return L1(l)


def activity_l2(l=0.01):  # noqa: E741 (Keras 1's argument name)
    """Keras 1's ``activity_l2``: the ``L2`` penalty, passed as ``activity_regularizer=``.

    >>> activity_l2(0.5)
    L2(l2=0.5)
    """
    return L2(l)


def activity_l1l2(l1=0.01, l2=0.01):
    """Keras 1's ``activity_l1l2``: ``L1L2`` with both factors defaulting to 0.01.

    >>> activity_l1l2(l2=0.5)
    L1L2(l1=0.01, l2=0.5)
    """
    return L1L2(l1=l1, l2=l2)


#: Name -> class, as ``keras.regularizers`` resolves names (plus ``"l1_l2"``).
ALL_OBJECTS_DICT: dict[str, type] = {
    "L1": L1,
    "L2": L2,
    "L1L2": L1L2,
    "OrthogonalRegularizer": OrthogonalRegularizer,
    "l1": L1,
    "l2": L2,
    "l1l2": L1L2,
    "l1_l2": L1L2,
    "orthogonal_regularizer": OrthogonalRegularizer,
}


_REGISTRY = ClassRegistry("regularizer", _MODULE, Regularizer)
_REGISTRY.update(ALL_OBJECTS_DICT)


def serialize(obj: Regularizer) -> dict:
    """Returns Keras 3's serialized dict for a regularizer.

    >>> serialize(L2())
    {'module': 'keras.regularizers', 'class_name': 'L2', 'config': {'l2': 0.01}, 'registered_name': None}
    """
    return _REGISTRY.serialize(obj)


def deserialize(config: Any, custom_objects: dict | None = None) -> Regularizer:
    """Builds a regularizer from a serialized dict (``class_name``/``config``) or a name.

    Args:
        config: a name or Keras's serialized dict.
        custom_objects: user classes by name (also found through
            ``lamina.saving.register_keras_serializable`` and ``custom_object_scope``).

    Returns:
        The regularizer instance.

    Raises:
        ValueError: for an unknown name (the message lists the closest valid one).

    >>> deserialize({"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.1}})
    L1L2(l1=0.0, l2=0.1)
    """
    return _REGISTRY.deserialize(config, custom_objects)


def get(identifier: Any, custom_objects: dict | None = None):
    """Resolves a regularizer: ``None``, a name, a serialized dict, an instance, a class or a
    callable.

    >>> get("l2")
    L2(l2=0.01)
    """
    return _REGISTRY.get(identifier, custom_objects)
