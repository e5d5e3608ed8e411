"""Keras 3's ``OptimizerMap``: which optimizer of a ``MultiOptimizer`` each variable gets.

A key is a variable path (``"sequential/dense_1/kernel"``) matched exactly first, else a
regular expression ``re.fullmatch``-ed against the path; a path no key matches gets the
default optimizer, and one that several patterns match is an error, as in Keras.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping

from lamina.optimizers.base import Optimizer
from lamina.optimizers.loss_scale import LossScaleOptimizer

__all__ = ["OptimizerMap"]


class OptimizerMap(MutableMapping):
    """Maps variable paths (exact keys, else ``re.fullmatch`` patterns) to optimizers.

    Args:
        default_optimizer: the optimizer of every variable no key matches.
        optimizer_map: optional ``{path or pattern: optimizer}``.

    Raises:
        TypeError: ``default_optimizer`` is not an optimizer, or ``optimizer_map`` is not a dict.

    Example:

    >>> from lamina import optimizers
    >>> m = optimizers.OptimizerMap(default_optimizer=optimizers.RMSprop())
    >>> m["encoder/.*"] = optimizers.SGD()
    >>> type(m["encoder/dense/kernel"]).__name__, type(m["decoder/dense/kernel"]).__name__
    ('SGD', 'RMSprop')
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(
                "default_optimizer must be a Keras Optimizer instance. "
                f"Received: {default_optimizer}"
            )
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = optimizer_map or {}

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        if matching:
            return self._optimizer_map[matching[0]]
        return self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(
                f"'{key}' already exists in the OptimizerMap with value "
                f"{self._optimizer_map[key]}. Please make sure to not use duplicated keys."
            )
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a Keras Optimizer instance. Received: {optimizer}")
        if isinstance(optimizer, LossScaleOptimizer):
            raise ValueError("optimizer cannot be LossScaleOptimizer.")
        from lamina.optimizers.multi_optimizer import MultiOptimizer

        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[variable.path]

    def get_config(self):
        from lamina.optimizers import serialize

        return {
            "default_optimizer": serialize(self._default_optimizer),
            "optimizer_map": {k: serialize(v) for k, v in self._optimizer_map.items()},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from lamina.optimizers import deserialize

        default = deserialize(config["default_optimizer"], custom_objects)
        opt_map = {
            k: deserialize(v, custom_objects)
            for k, v in dict(config.get("optimizer_map") or {}).items()
        }
        return cls(default, opt_map)
