"""Lamina: Keras's model life cycle (define, compile, fit, evaluate, predict), compiled with
JAX and optax.

Namespaces and top-level names mirror Keras 3, so ``import lamina as keras`` runs Keras code:
``lamina.Input``, ``lamina.Model``, ``lamina.Sequential``, ``lamina.layers``, ``lamina.ops``,
``lamina.models``, ``lamina.optimizers``, ``lamina.losses``, ``lamina.metrics``, ... .  They
load on first use, so ``import lamina`` is cheap.

>>> import lamina as keras
>>> inputs = keras.Input(shape=(3,))
>>> model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
>>> model.output_shape
(None, 1)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type checkers see the lazily loaded names (nothing is imported at run time)
    from lamina import callbacks, config, layers, losses, metrics, models, optimizers, utils
    from lamina.models import Model, Sequential
    from lamina.training.guardrails import GuardrailWarning

__version__ = "0.1.0"

_SUBMODULES = {
    "activations",
    "applications",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "data",
    "datasets",
    "distribution",
    "dtype_policies",
    "engine",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "objectives",
    "ops",
    "optimizers",
    "preprocessing",
    "random",
    "regularizers",
    "saving",
    "tree",
    "utils",
    "wrappers",
}
_ALIASES = {
    "Sequential": ("lamina.models", "Sequential"),
    "Model": ("lamina.models", "Model"),
    "Input": ("lamina.layers", "Input"),
    "KerasTensor": ("lamina.layers.symbolic", "KerasTensor"),
    "Layer": ("lamina.layers", "Layer"),
    "Variable": ("lamina.layers.variables", "Variable"),
    "StatelessScope": ("lamina.stateless_scope", "StatelessScope"),
    "Loss": ("lamina.losses", "Loss"),
    "Metric": ("lamina.metrics", "Metric"),
    "Optimizer": ("lamina.optimizers", "Optimizer"),
    "Initializer": ("lamina.initializers", "Initializer"),
    "Regularizer": ("lamina.regularizers", "Regularizer"),
    "Constraint": ("lamina.constraints", "Constraint"),
    "clone_model": ("lamina.models", "clone_model"),
    "register_keras_serializable": ("lamina.saving", "register_keras_serializable"),
    "GuardrailWarning": ("lamina.training.guardrails", "GuardrailWarning"),
    "DTypePolicy": ("lamina.dtype_policies", "DTypePolicy"),
    "FloatDTypePolicy": ("lamina.dtype_policies", "FloatDTypePolicy"),
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"lamina.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"lamina.{name}":
                raise
            raise AttributeError(
                f"lamina.{name} (keras.{name}) is not available in Lamina yet."
            ) from None
    if name in _ALIASES:
        module, attr = _ALIASES[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_ALIASES))
