"""The checks ``fit``, ``evaluate`` and ``predict`` make on their arguments before any data
is touched, and the debugging caps of :mod:`lamina.config` (as Keras applies them).

>>> check_batch_size(0)
Traceback (most recent call last):
    ...
ValueError: batch_size must be a positive integer. Received: batch_size=0.
"""

from __future__ import annotations

import warnings

import numpy as np

from lamina.callbacks import progress as _progress
from lamina.distribution import sharding as _sharding


def check_batch_size(batch_size, name="batch_size"):
    """``batch_size`` as a positive ``int`` (32 when ``None``, as Keras).

    >>> check_batch_size(None), check_batch_size(8)
    (32, 8)
    """
    if batch_size is None:
        return 32
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"{name} must be a positive integer. Received: {name}={batch_size!r}.")
    return int(batch_size)


def check_epochs(epochs, initial_epoch):
    """Raises ``ValueError`` unless both are non-negative integers."""
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer. Received: epochs={epochs!r}.")
    if not isinstance(initial_epoch, int | np.integer) or initial_epoch < 0:
        raise ValueError(
            f"initial_epoch must be a non-negative integer. Received: initial_epoch={initial_epoch!r}."
        )


def check_compiled(b, what):
    """Raises ``RuntimeError`` unless the model behind ``b`` was compiled."""
    if not b.compiled:
        raise RuntimeError(
            f"You must call compile() before {what}(): e.g. model.compile(optimizer='adam', "
            f"loss='binary_crossentropy', metrics=['accuracy'])."
        )


def debug_caps(epochs, steps_per_epoch):
    """``lamina.config.set_max_epochs`` / ``set_max_steps_per_epoch`` caps, as Keras applies."""
    from lamina import config

    cap = config.max_epochs()
    if cap and cap < epochs:
        warnings.warn(f"Limiting epochs to {cap}", stacklevel=4)
        epochs = cap
    cap, capped = config.max_steps_per_epoch(), None
    if cap and (not steps_per_epoch or cap < steps_per_epoch):
        warnings.warn(f"Limiting steps_per_epoch to {cap}", stacklevel=4)
        steps_per_epoch = capped = cap
    return epochs, steps_per_epoch, capped


def check_fit_arguments(b, batch_size, epochs, initial_epoch, verbose, shuffle):
    """The checks every ``fit`` makes before touching the data.

    Returns ``(batch_size, verbose)``: the resolved batch size, and the verbosity (0 on every
    process but the first, which alone reports progress).
    """
    check_compiled(b, "fit")
    batch_size = check_batch_size(batch_size)
    check_epochs(epochs, initial_epoch)
    verbose = _progress.resolve_verbose(verbose) if _sharding.is_main_process() else 0
    if shuffle not in (True, False, "batch"):
        raise ValueError(f"shuffle must be True, False or 'batch'. Received: shuffle={shuffle!r}.")
    return batch_size, verbose
