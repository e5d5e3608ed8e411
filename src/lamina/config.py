"""Global switches of Lamina (``lamina.config``, as ``keras.config``).

Keras's functions are here: ``floatx``/``set_floatx``, ``epsilon``/``set_epsilon``,
``image_data_format``/``set_image_data_format`` (the same state as ``lamina.backend``),
``backend()`` (always ``"jax"``), ``dtype_policy``/``set_dtype_policy`` (from
``lamina.dtype_policies``), ``enable_unsafe_deserialization``, the traceback-filtering,
interactive-logging and flash-attention switches, and the debugging caps
``set_max_epochs``/``set_max_steps_per_epoch`` (also read from ``KERAS_MAX_EPOCHS`` and
``KERAS_MAX_STEPS_PER_EPOCH`` at import, as Keras does), which ``fit`` honours.

Lamina's own switch is the guardrails: warnings about likely mistakes (a softmax over one unit,
``mse`` with ``'accuracy'``, evaluating on the training data ...).  They are on by default;
turn them off in code with :func:`set_guardrails` or for a whole process with the environment
variable ``LAMINA_GUARDRAILS=0``.  Filter them by category with :class:`GuardrailWarning` (also
``lamina.GuardrailWarning``), e.g. ``warnings.simplefilter("error", GuardrailWarning)`` in
tests.  Informational messages go to the ``logging`` logger ``"lamina"``.

>>> import lamina.config
>>> lamina.config.set_guardrails(False)
>>> lamina.config.guardrails_enabled()
False
>>> lamina.config.set_guardrails(None)  # back to the default (the environment variable)
>>> lamina.config.backend(), lamina.config.floatx(), lamina.config.max_epochs()
('jax', 'float32', None)
"""

from __future__ import annotations

import os
from typing import Any

from lamina.backend.config import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from lamina.training.guardrails import GuardrailWarning

__all__ = [
    "GuardrailWarning",
    "backend",
    "disable_flash_attention",
    "disable_interactive_logging",
    "disable_traceback_filtering",
    "dtype_policy",
    "enable_flash_attention",
    "enable_interactive_logging",
    "enable_traceback_filtering",
    "enable_unsafe_deserialization",
    "epsilon",
    "floatx",
    "guardrails_enabled",
    "image_data_format",
    "in_safe_mode",
    "is_flash_attention_enabled",
    "is_interactive_logging_enabled",
    "is_nnx_enabled",
    "is_traceback_filtering_enabled",
    "max_epochs",
    "max_steps_per_epoch",
    "set_backend",
    "set_dtype_policy",
    "set_epsilon",
    "set_floatx",
    "set_guardrails",
    "set_image_data_format",
    "set_max_epochs",
    "set_max_steps_per_epoch",
]

_guardrails: bool | None = None  # None: follow LAMINA_GUARDRAILS


def set_guardrails(enabled: bool | None) -> None:
    """Turns the guardrail warnings on (``True``) or off (``False``).

    Args:
        enabled: ``True``/``False``, or ``None`` to follow ``LAMINA_GUARDRAILS`` again.
    """
    global _guardrails
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"set_guardrails expects True, False or None. Received: {enabled!r}.")
    _guardrails = enabled


def guardrails_enabled() -> bool:
    """Whether guardrail warnings are on (``set_guardrails`` first, then the environment)."""
    if _guardrails is not None:
        return _guardrails
    value = os.environ.get("LAMINA_GUARDRAILS", "1").strip().lower()
    return value not in ("0", "false", "off", "no")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"The environment variable {name} must be an integer. Received: {value!r}."
        ) from None


_STATE: dict = {
    "max_epochs": _env_int("KERAS_MAX_EPOCHS"),
    "max_steps_per_epoch": _env_int("KERAS_MAX_STEPS_PER_EPOCH"),
    "interactive_logging": True,
    "traceback_filtering": True,
    "flash_attention": None,
    "safe_mode": None,  # None: loaders decide (safe by default)
}


def reset_global_state() -> None:
    """Keras's ``clear_session`` resets: interactive logging, traceback filtering, flash
    attention, unsafe deserialization (and the dtype policy, in ``lamina.dtype_policies``).
    ``floatx``, ``epsilon`` and the fit caps are kept, as in Keras."""
    _STATE.update(interactive_logging=True, traceback_filtering=True, flash_attention=None,
                  safe_mode=None)  # fmt: skip


def _cap(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} expects a positive integer or None. Received: {value!r}.")
    return int(value)


def set_max_epochs(max_epochs: int | None) -> None:
    """Caps the number of epochs of every ``fit`` (for debugging); ``None`` removes the cap.

    ``fit`` warns "Limiting epochs to N" and stops there, as Keras does.

    >>> import lamina.config
    >>> lamina.config.set_max_epochs(2); lamina.config.max_epochs()
    2
    >>> lamina.config.set_max_epochs(None)
    """
    _STATE["max_epochs"] = _cap(max_epochs, "set_max_epochs")


def max_epochs() -> int | None:
    """The cap set by :func:`set_max_epochs` or ``KERAS_MAX_EPOCHS`` (``None``: no cap)."""
    return _STATE["max_epochs"]


def set_max_steps_per_epoch(max_steps_per_epoch: int | None) -> None:
    """Caps the steps of each ``fit`` epoch (for debugging); ``None`` removes the cap.

    >>> import lamina.config
    >>> lamina.config.set_max_steps_per_epoch(3); lamina.config.max_steps_per_epoch()
    3
    >>> lamina.config.set_max_steps_per_epoch(None)
    """
    _STATE["max_steps_per_epoch"] = _cap(max_steps_per_epoch, "set_max_steps_per_epoch")


def max_steps_per_epoch() -> int | None:
    """The cap set by :func:`set_max_steps_per_epoch` or ``KERAS_MAX_STEPS_PER_EPOCH``."""
    return _STATE["max_steps_per_epoch"]


def enable_interactive_logging() -> None:
    """Progress bars and messages go to stdout (the default)."""
    _STATE["interactive_logging"] = True


def disable_interactive_logging() -> None:
    """Messages of ``lamina.utils.Progbar`` go to the ``logging`` logger ``"lamina"``."""
    _STATE["interactive_logging"] = False


def is_interactive_logging_enabled() -> bool:
    """Whether messages go to stdout (``True``) or to the ``"lamina"`` logger.

    >>> import lamina.config
    >>> lamina.config.is_interactive_logging_enabled()
    True
    """
    return _STATE["interactive_logging"]


def enable_traceback_filtering() -> None:
    """Keras's switch, recorded only: Lamina never hides frames from tracebacks."""
    _STATE["traceback_filtering"] = True


def disable_traceback_filtering() -> None:
    """Keras's switch, recorded only: Lamina tracebacks are always complete."""
    _STATE["traceback_filtering"] = False


def is_traceback_filtering_enabled() -> bool:
    """The value last set by the traceback-filtering switches (``True`` by default)."""
    return _STATE["traceback_filtering"]


def enable_flash_attention() -> None:
    """Lets attention layers use a fused kernel when they can (Keras's default, ``None``)."""
    _STATE["flash_attention"] = None


def disable_flash_attention() -> None:
    """Asks attention layers not to use a fused attention kernel."""
    _STATE["flash_attention"] = False


def is_flash_attention_enabled() -> bool | None:
    """``False`` once disabled, otherwise ``None`` ("use it when possible"), as Keras."""
    return _STATE["flash_attention"]


def enable_unsafe_deserialization() -> None:
    """Lets ``Lambda`` layers holding Python bytecode load outside an explicit ``safe_mode``.

    Only for files you trust: the bytecode runs when the model runs.  A loader's own
    ``safe_mode=True`` argument (the default of ``load_model``) still wins, as in Keras.
    """
    _STATE["safe_mode"] = False


def in_safe_mode() -> bool | None:
    """``False`` after :func:`enable_unsafe_deserialization`, otherwise ``None``."""
    return _STATE["safe_mode"]


def is_nnx_enabled() -> bool:
    """Always ``False``: Lamina does not use Flax NNX."""
    return False


def set_backend(backend: str) -> None:
    """Keras's backend switch; Lamina runs only on JAX.

    Raises:
        ValueError: for any backend other than ``"jax"``.
    """
    if backend != "jax":
        raise ValueError(
            f"Lamina runs only on the JAX backend; set_backend({backend!r}) is not possible. "
            "Use real Keras for the TensorFlow, PyTorch or OpenVINO backends."
        )


def dtype_policy() -> Any:
    """The global dtype policy (from ``lamina.dtype_policies``)."""
    from lamina import dtype_policies  # imported late: it imports the layers

    return dtype_policies.dtype_policy()


def set_dtype_policy(policy: Any) -> None:
    """Sets the global dtype policy, e.g. ``"mixed_bfloat16"`` (``lamina.dtype_policies``)."""
    from lamina import dtype_policies

    dtype_policies.set_dtype_policy(policy)
