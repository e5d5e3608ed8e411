"""Weights declared once: name, shape, initializer, regularizer, constraint, trainability.

Keras's ``add_weight(name, shape, initializer, regularizer, constraint, trainable)`` carries a
weight's options with the weight.  A built-in Lamina layer lists the same facts as
``weight_specs``, a tuple of :class:`WeightSpec`; the base ``Layer`` derives from it

* ``init``'s weight creation (:func:`create_weights`): one key per declared weight, split from
  the layer's key in declaration order (the key itself when the layer declares one weight), so
  a seeded build draws the same numbers whether or not optional weights exist;
* ``_weight_regularizers`` / ``_weight_constraints``: weight name -> the layer's
  ``<option>_regularizer`` / ``<option>_constraint`` attribute;
* the ``<option>_initializer``/``_regularizer``/``_constraint`` entries of the derived config
  (:mod:`lamina.layers.config`).

>>> import jax
>>> from lamina.layers import Dense
>>> [spec.name for spec in Dense.weight_specs]
['kernel', 'bias']
>>> params, state = Dense(3).init(jax.random.key(0), (None, 4))
>>> {k: tuple(v.shape) for k, v in params.items()}
{'kernel': (4, 3), 'bias': (3,)}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from lamina import initializers as _initializers
from lamina.utils import random as _random


@dataclass(frozen=True)
class WeightSpec:
    """One weight of a layer.

    Args:
        name: the weight's key in ``params``/``state`` (Keras's weight name).
        shape: ``shape(layer, input_shape) -> tuple``, the weight's shape.
        option: prefix of the layer's ``<option>_initializer``/``_regularizer``/``_constraint``
            attributes; the weight's name when omitted.  ``None`` options (``regularizer=False``
            below) are left out.
        trainable: whether the weight lives in ``params`` (True) or ``state`` (False).
        when: name of a boolean layer attribute that must be true for the weight to exist
            (``"use_bias"``); always created when omitted.
        regularized: whether the layer has ``<option>_regularizer``/``_constraint`` options.
    """

    name: str
    shape: Callable[[Any, tuple], tuple]
    option: str | None = None
    trainable: bool = True
    when: str | None = None
    regularized: bool = True

    @property
    def prefix(self) -> str:
        return self.option or self.name

    def option_attrs(self) -> tuple[str, ...]:
        """The layer attributes (and constructor arguments) that configure this weight."""
        p = self.prefix
        if not self.regularized:
            return (f"{p}_initializer",)
        return (f"{p}_initializer", f"{p}_regularizer", f"{p}_constraint")

    def exists(self, layer) -> bool:
        return self.when is None or bool(getattr(layer, self.when))


def create_weights(layer, key, input_shape) -> tuple[dict, dict]:
    """``(params, state)`` of ``layer``'s declared weights for inputs of ``input_shape``."""
    specs = type(layer).weight_specs
    keys = (key,) if len(specs) == 1 else _random.split(key, len(specs))
    params: dict = {}
    state: dict = {}
    for spec, k in zip(specs, keys):
        if not spec.exists(layer):
            continue
        init = _initializers.or_default(getattr(layer, f"{spec.prefix}_initializer"))
        value = init(tuple(spec.shape(layer, tuple(input_shape))), jnp.float32, key=k)
        (params if spec.trainable else state)[spec.name] = value
    return params, state


def weight_options(layer, what: str) -> dict:
    """Weight name -> the layer's ``<option>_<what>`` (``"regularizer"``/``"constraint"``)."""
    return {
        spec.name: getattr(layer, f"{spec.prefix}_{what}", None)
        for spec in type(layer).weight_specs
        if spec.regularized
    }
