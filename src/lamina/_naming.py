"""Name lookup with helpful errors: unknown names list the valid ones and the closest match."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def closest(name: str, valid: Iterable[str]) -> str | None:
    """Returns the valid name closest to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name).lower(), [v.lower() for v in valid], n=1, cutoff=0.5)
    if not matches:
        return None
    for v in valid:
        if v.lower() == matches[0]:
            return v
    return matches[0]


def unknown_name_error(kind: str, name: str, valid: Iterable[str]) -> ValueError:
    """Builds the ValueError raised for an unknown ``kind`` name (optimizer, loss, ...)."""
    valid = sorted(set(valid))
    guess = closest(name, valid)
    hint = f" Did you mean {guess!r}?" if guess else ""
    return ValueError(
        f"Unknown {kind} {name!r}.{hint} Valid {kind} names are: {', '.join(valid)}."
    )


def snake_case(name: str) -> str:
    """``'BatchNormalization'`` -> ``'batch_normalization'``, as Keras names layers."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return s.replace("__", "_")


_UIDS: dict[str, int] = {}


def unique_name(base: str) -> str:
    """Keras-style unique names: ``dense``, ``dense_1``, ``dense_2``, ..."""
    n = _UIDS.get(base, 0)
    _UIDS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_uids() -> None:
    """Restarts automatic layer naming (like ``keras.backend.clear_session``)."""
    _UIDS.clear()
