"""Global switches of Lamina (``lamina.config``).

Filter the guardrail warnings by category with :class:`GuardrailWarning` (also
``lamina.GuardrailWarning``), e.g. ``warnings.simplefilter("error", GuardrailWarning)`` in tests.
Informational messages (the compilation cache folder ...) go to the ``logging`` logger
``"lamina"``, silent until the program configures logging.

Only one switch for now: the guardrails, warnings about likely mistakes (a softmax over one unit,
``mse`` with ``'accuracy'``, evaluating on the training data ...).  They are on by default;
turn them off in code with :func:`set_guardrails` or for a whole process with the environment
variable ``LAMINA_GUARDRAILS=0``.

>>> import lamina.config
>>> lamina.config.set_guardrails(False)
>>> lamina.config.guardrails_enabled()
False
>>> lamina.config.set_guardrails(None)  # back to the default (the environment variable)
"""

from __future__ import annotations

import os

from lamina.training.guardrails import GuardrailWarning

__all__ = ["GuardrailWarning", "guardrails_enabled", "set_guardrails"]

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
