"""Keras 2's optimizer API on Lamina's optimizers: ``lr=``, ``decay=`` and ``optimizer.lr``.

* :func:`keras2_arguments` pops Keras 2's ``lr=``/``decay=`` (and Nadam's ``schedule_decay``)
  from an optimizer's keyword arguments; ``decay`` is Keras 2's time-based decay, applied by
  ``Optimizer.to_optax`` at every update: ``lr_t = lr / (1 + decay * iterations)``.
* :class:`LearningRate` is what ``optimizer.learning_rate`` (and Keras 2's ``optimizer.lr``)
  returns: a float32 scalar with Keras's variable methods, so
  ``K.set_value(model.optimizer.lr, 0.001)`` reaches the compiled models.
* :func:`add_lowercase_aliases` gives ``lamina.optimizers`` Keras 2's lower-case names
  (``keras.optimizers.rmsprop(lr=0.0001, decay=1e-6)`` in Keras 2's CIFAR-10 example).
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.optimizers.state import get_learning_rate


def keras2_arguments(cls_name, learning_rate, kwargs):
    """Pops Keras 2's ``lr=`` and ``decay=`` (and Nadam's ``schedule_decay``) from ``kwargs``.

    ``decay`` is Keras 2's time-based decay, ``lr_t = lr / (1 + decay * iterations)``, applied
    on top of the learning rate (or schedule) at every update, as Keras 2 and tf.keras did.
    Returns ``(learning_rate, decay)``.
    """
    if "lr" in kwargs:
        warnings.warn(
            f"{cls_name}(lr=...) is the Keras 2 spelling; use learning_rate=... instead.",
            UserWarning,
            stacklevel=4,
        )
        learning_rate = kwargs.pop("lr")
    decay = kwargs.pop("decay", None) or 0.0
    if isinstance(decay, bool) or not isinstance(decay, int | float | np.floating | np.integer):
        raise ValueError(f"{cls_name}(decay=...) must be a float >= 0. Received: {decay!r}.")
    if not np.isfinite(decay) or decay < 0:
        raise ValueError(f"{cls_name}(decay=...) must be a float >= 0. Received: {decay!r}.")
    schedule_decay = kwargs.pop("schedule_decay", None)
    if schedule_decay is not None and schedule_decay != 0.004:
        raise ValueError(
            f"{cls_name}(schedule_decay={schedule_decay!r}) is not supported by Lamina: Keras 3's "
            "Nadam fixes it at Keras 2's default 0.004. Remove the argument."
        )
    return learning_rate, float(decay)


class LearningRate(np.float32):
    """The value of ``optimizer.learning_rate`` / ``optimizer.lr``: a float32 scalar that can
    also be assigned.

    Keras keeps the rate in a float32 variable, so users see float32 numbers: ``float(rate)``
    is ``0.009999999776482582`` for a rate of ``0.01``, ``np.array([rate])`` is float32 and
    arithmetic stays float32.  ``assign(value)`` (what ``K.set_value`` calls) sets the rate in
    every compiled model that uses the optimizer (in its optimizer state, as
    ``LearningRateScheduler`` does) and in the optimizer's configuration.

    >>> from lamina import optimizers
    >>> opt = optimizers.SGD(0.01)
    >>> rate = opt.lr
    >>> float(rate), rate == 0.01, np.array([rate]).dtype
    (0.009999999776482582, np.True_, dtype('float32'))
    >>> rate.assign(0.05); float(opt.learning_rate)
    0.05000000074505806
    """

    def __new__(cls, value, optimizer=None):
        obj = super().__new__(cls, value)
        obj._optimizer = optimizer
        return obj

    def assign(self, value):
        """Sets the learning rate of the optimizer and of the models compiled with it."""
        value = float(np.asarray(value))
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"The learning rate must be a finite float >= 0. Received: {value!r}.")
        opt = self._optimizer
        if opt is None:
            raise TypeError("This learning rate is not attached to an optimizer.")
        from lamina.callbacks.extra import set_lr
        from lamina.models.state_access import models_training_with

        for model in models_training_with(opt):
            set_lr(model, value)
        # The configuration follows too (a later compile starts from it). The optimizer's
        # hash changes, which is harmless: compiled programs take the rate from the state.
        opt.learning_rate = value

    def numpy(self):
        """The value as a 0-d float32 NumPy array (a Keras 3 variable's ``numpy()``)."""
        return np.asarray(self, np.float32)

    @property
    def value(self):
        """The value as a float32 JAX scalar (a Keras 3 variable's ``value``)."""
        import jax.numpy as jnp

        return jnp.asarray(self, jnp.float32)

    def __reduce__(self):
        # Pickled as the plain float32 it reads as: the optimizer link is not state.
        return np.float32, (float(self),)


def models_using(opt) -> list:
    from lamina.layers.stateful import MODELS

    return [m for m in list(MODELS.values()) if getattr(m, "optimizer", None) is opt]


def live_lr(model) -> float:
    from lamina.models.state_access import built_state

    ts = built_state(model)
    if ts is None or getattr(ts, "opt_state", None) is None:
        return float(model.optimizer._learning_rate)
    # The state holds float32: read it back as the shortest decimal (0.01, not 0.00999...).
    return float(str(np.float32(get_learning_rate(ts.opt_state))))


#: Keras 2's lower-case aliases of its optimizer classes (``keras/optimizers.py``).
KERAS2_ALIASES = {
    "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adadelta": "Adadelta",
    "adam": "Adam", "adamax": "Adamax", "nadam": "Nadam",
}  # fmt: skip


def add_lowercase_aliases(namespace: dict) -> None:
    """Adds Keras 2's lower-case optimizer names to the package ``namespace``.

    ``keras.optimizers.rmsprop(lr=...)`` built an ``RMSprop`` in Keras 2 (the optimizer
    modules are named apart from these aliases: ``adam_family``, ``rmsprop_family``,
    ``sgd_momentum``).

    >>> from lamina import optimizers
    >>> type(optimizers.rmsprop(lr=0.001)).__name__, type(optimizers.nadam()).__name__
    ('RMSprop', 'Nadam')
    """
    for alias, name in KERAS2_ALIASES.items():
        namespace[alias] = namespace[name]
