"""The global dtype policy (``keras.config.set_dtype_policy`` / ``dtype_policy``): the policy of
layers made without ``dtype=``, ``floatx()`` until set, forgotten by ``clear_session``.

The policy classes live in :mod:`lamina.dtype_policies`, which imports this module (its names
stay importable from there); this module reads them when it first needs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lamina.dtype_policies import DTypePolicy

_GLOBAL: list[DTypePolicy | None] = [None]


def set_dtype_policy(policy) -> None:
    """Sets the global policy: the policy of layers made afterwards without ``dtype=``
    (``keras.config.set_dtype_policy``).

    Raises:
        ValueError: ``policy`` is neither a policy name nor a DTypePolicy.

    >>> set_dtype_policy("mixed_bfloat16"); dtype_policy()
    <DTypePolicy "mixed_bfloat16">
    >>> set_dtype_policy("float32")
    """
    from lamina.dtype_policies import DTypePolicy

    if not isinstance(policy, DTypePolicy):
        if not isinstance(policy, str):
            raise ValueError(
                "Invalid `policy` argument. Expected the string name of a policy (such as "
                f"'mixed_float16') or a `DTypePolicy` instance. Received: policy={policy!r} "
                f"(of type {type(policy).__name__})"
            )
        policy = DTypePolicy(policy)
    _GLOBAL[0] = policy


def dtype_policy() -> DTypePolicy:
    """The global policy (``keras.config.dtype_policy``): ``floatx()`` unless set."""
    policy = _GLOBAL[0]
    if policy is None:
        from lamina.backend.config import floatx
        from lamina.dtype_policies import DTypePolicy

        policy = _GLOBAL[0] = DTypePolicy(floatx())
    return policy


def reset() -> None:
    """Forgets the global policy (``clear_session``): back to ``floatx()``."""
    _GLOBAL[0] = None
