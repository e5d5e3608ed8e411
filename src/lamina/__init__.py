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
    "distillation",
    "distribution",
    "dtype_policies",
    "engine",
    "export",
    "initializers",
    "layers",
    "legacy",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "objectives",
    "ops",
    "optimizers",
    "preprocessing",
    "quantizers",
    "random",
    "regularizers",
    "saving",
    "tree",
    "utils",
    "visualization",
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
    "InputSpec": ("lamina.layers.input_spec", "InputSpec"),
    "name_scope": ("lamina.scopes", "name_scope"),
    "device": ("lamina.scopes", "device"),
    "SymbolicScope": ("lamina.scopes", "SymbolicScope"),
    "RematScope": ("lamina.rematerialization", "RematScope"),
    "remat": ("lamina.rematerialization", "remat"),
    "Operation": ("lamina.ops.operation", "Operation"),
    "Function": ("lamina.ops.function", "Function"),
    "Quantizer": ("lamina.quantizers", "Quantizer"),
}
#: Keras 3 top-level names Lamina does not support (``lamina.export`` and the other unsupported
#: namespaces are modules whose Keras names raise the same error).
_UNSUPPORTED: dict[str, str] = {}


def version() -> str:
    """Lamina's version string, as Keras's ``keras.version()`` returns ``keras.__version__``.

    >>> import lamina as keras
    >>> keras.version() == keras.__version__
    True
    """
    return __version__


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
    if name in _UNSUPPORTED:
        from lamina._unsupported import unsupported

        raise unsupported("", name, _UNSUPPORTED[name])
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_ALIASES))
