"""What the strategy's cost model knows of a forward pass before it is compiled.

:func:`forward_profile` traces the forward pass once: whether it convolves (what XLA's CPU
backend may run slower inside a loop, so what a :class:`lamina.training.strategy.Trial` is
for), its kind (which chooses the training program's compile options) and, for a convolving
pass, XLA's FLOP count of the lowered program (:func:`forward_flops`).  Use them through
:mod:`lamina.training.strategy`.

>>> import jax, jax.numpy as jnp
>>> from lamina.training.strategy import forward_profile
>>> forward_profile(jnp.tanh, jax.ShapeDtypeStruct((1, 8), jnp.float32)).conv
False
"""

from __future__ import annotations

from typing import NamedTuple


def forward_flops(fn, *args) -> float | None:
    """XLA's FLOP count of ``fn(*args)`` from the lowered program (nothing is compiled or run).

    Args:
        fn: a pure function, e.g. the model's forward pass on one row.
        *args: its arguments (arrays or ``jax.ShapeDtypeStruct``).

    Returns:
        The FLOPs, or ``None`` when XLA gives no estimate.

    >>> import jax, jax.numpy as jnp
    >>> forward_flops(jnp.matmul, jax.ShapeDtypeStruct((1, 8), jnp.float32),
    ...               jax.ShapeDtypeStruct((8, 4), jnp.float32))
    64.0
    """
    import jax

    try:
        cost = jax.jit(fn).lower(*args).cost_analysis()
    except Exception:  # an estimate only: any lowering problem shows up later, in the fit
        return None
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else None
    flops = (cost or {}).get("flops")
    return float(flops) if flops is not None and flops > 0 else None


class Profile(NamedTuple):
    """What :func:`forward_profile` found in a forward pass."""

    #: Whether it convolves (what XLA's CPU backend may run slower inside a loop).
    conv: bool
    #: XLA's FLOP count (:func:`forward_flops`) when it convolves, else ``None``.
    flops: float | None
    #: :func:`lamina.training.compilation.forward_kind`, or ``None`` when it did not trace.
    kind: str | None = None


def forward_profile(fn, *args) -> Profile:
    """Whether ``fn(*args)`` convolves, then its FLOPs (:func:`forward_flops`), and its kind.

    Convolutions are what XLA's CPU backend may run slower inside a loop, so only programs
    with one are worth a :class:`lamina.training.strategy.Trial`; others skip the FLOP count (a lowering).  The kind
    chooses the training program's compile options
    (:func:`lamina.training.compilation.train_compiler_options`) from this one trace.

    Args:
        fn: a pure function, e.g. the model's forward pass on one row.
        *args: its arguments (arrays or ``jax.ShapeDtypeStruct``).

    Returns:
        A :class:`Profile`; ``Profile(False, None, None)`` when ``fn`` does not trace.

    >>> import jax, jax.numpy as jnp
    >>> forward_profile(jnp.tanh, jax.ShapeDtypeStruct((1, 8), jnp.float32))
    Profile(conv=False, flops=None, kind='dense')
    """
    import jax

    from lamina.training.compilation import forward_kind

    try:
        closed = jax.make_jaxpr(fn)(*args)
    except Exception:  # an estimate only: the fit reports real problems itself
        return Profile(False, None)
    kind = forward_kind(closed)
    if not _uses(closed.jaxpr, "conv_general_dilated"):
        return Profile(False, None, kind)
    return Profile(True, forward_flops(fn, *args), kind)


def _equations(jaxpr):
    """Every equation of ``jaxpr`` and of the jaxprs nested in its equations."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds its Jaxpr
                if hasattr(inner, "eqns"):
                    yield from _equations(inner)


def _uses(jaxpr, primitive: str) -> bool:
    """Whether ``jaxpr`` or any jaxpr nested in its equations applies ``primitive``."""
    return any(eqn.primitive.name == primitive for eqn in _equations(jaxpr))
