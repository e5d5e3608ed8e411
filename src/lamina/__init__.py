"""Lamina: the Keras Sequential life cycle (define, compile, fit, evaluate, predict), compiled
with JAX and optax.

Namespaces mirror Keras: ``lamina.models``, ``lamina.layers``, ``lamina.optimizers``,
``lamina.losses``, ``lamina.metrics``, ``lamina.activations``, ``lamina.initializers``,
``lamina.callbacks``, ``lamina.utils``.  They load on first use, so ``import lamina`` is cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "activations",
    "callbacks",
    "config",
    "constraints",
    "data",
    "datasets",
    "distribution",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
    "wrappers",
}
_ALIASES = {"Sequential": ("lamina.models", "Sequential")}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"lamina.{name}")
    if name in _ALIASES:
        module, attr = _ALIASES[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_ALIASES))
