"""Name lookup with helpful errors: unknown names list the valid ones and the closest match."""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: typos such as swapped letters count once."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def closest(name: str, valid: Iterable[str]) -> str | None:
    """Returns the valid name closest to ``name`` (fewest typos), or None when nothing is close.

    Case is ignored when comparing; among equally close names, the one whose case matches
    ``name`` best wins (``'l2'`` over ``'L2'`` for ``'l3'``).
    """
    valid = list(valid)
    if not valid:
        return None
    low = str(name).lower()

    def score(v):
        dist = _edit_distance(low, v.lower())
        ratio = difflib.SequenceMatcher(None, low, v.lower()).ratio()
        case = difflib.SequenceMatcher(None, str(name), v).ratio()
        return (dist, -ratio, -case)

    best = min(valid, key=score)
    if _edit_distance(low, best.lower()) > max(2, len(low) // 2):
        return None
    return best


def unknown_name_error(kind: str, name: str, valid: Iterable[str]) -> ValueError:
    """Builds the ValueError raised for an unknown ``kind`` name (optimizer, loss, ...)."""
    valid = sorted(set(valid))
    guess = closest(name, valid)
    hint = f" Did you mean {guess!r}?" if guess else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Valid {kind} names are: {', '.join(valid)}.")


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case``, the base of every automatic name.

    >>> snake_case("BatchNormalization"), snake_case("Conv2D"), snake_case("KLDivergence")
    ('batch_normalization', 'conv2d', 'kl_divergence')
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


_UIDS: dict[str, int] = {}


def unique_name(base: str) -> str:
    """Keras-style unique names: ``dense``, ``dense_1``, ``dense_2``, ..."""
    n = _UIDS.get(base, 0)
    _UIDS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


@contextlib.contextmanager
def names_unchanged():
    """Inside the block, automatic names are handed out without advancing their counters.

    ``compile(metrics=["auc"])`` makes its ``AUC`` again whenever the metrics are resolved;
    Keras makes it once, when the compiled metrics are first built, so only that use counts
    (``lamina.models.compiling``).

    >>> with names_unchanged():
    ...     a = unique_name("doc_names_unchanged")
    >>> a == unique_name("doc_names_unchanged")
    True
    """
    saved = dict(_UIDS)
    try:
        yield
    finally:
        _UIDS.clear()
        _UIDS.update(saved)


def reset_uids() -> None:
    """Restarts automatic layer naming (like ``keras.backend.clear_session``)."""
    _UIDS.clear()
