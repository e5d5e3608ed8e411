"""``keras.ops.rearrange``: einops-style reshapes and transposes, e.g. ``'b h w c -> b (h w) c'``."""

from __future__ import annotations

import math
import re

import jax.numpy as jnp

from lamina.ops._tensor import tensor as _to_array

__all__ = ["rearrange"]


def _parse(side: str, pattern: str) -> list[list[str]]:
    groups, current = [], None
    for token in re.findall(r"\(|\)|[A-Za-z_][A-Za-z0-9_]*|\S", side):
        if token == "(":
            if current is not None:
                raise ValueError(f"Nested parentheses in rearrange pattern {pattern!r}.")
            current = []
        elif token == ")":
            if current is None:
                raise ValueError(f"Unbalanced ')' in rearrange pattern {pattern!r}.")
            groups.append(current)
            current = None
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            if current is None:
                groups.append([token])
            else:
                current.append(token)
        else:
            raise ValueError(
                f"Unsupported token {token!r} in rearrange pattern {pattern!r}: Lamina supports "
                "axis names and parenthesized groups (no '...' or '1')."
            )
    if current is not None:
        raise ValueError(f"Unbalanced '(' in rearrange pattern {pattern!r}.")
    return groups


def rearrange(tensor, pattern, **axes_lengths):
    """Reshapes and transposes by an einops pattern (``keras.ops.rearrange``).

    Args:
        tensor: the input tensor.
        pattern: ``'input axes -> output axes'``; parentheses group axes into one dimension.
        **axes_lengths: lengths of axes that are split out of a grouped input dimension.

    Raises:
        ValueError: for a malformed pattern, mismatched axes or lengths that do not divide.

    >>> from lamina import ops
    >>> ops.rearrange(ops.ones((2, 3, 4, 5)), "b h w c -> b (h w) c").shape
    (2, 12, 5)
    >>> ops.rearrange(ops.ones((2, 12)), "b (h w) -> b h w", h=3).shape
    (2, 3, 4)
    """
    x = jnp.asarray(_to_array(tensor))
    if "->" not in pattern:
        raise ValueError(f"A rearrange pattern needs '->'. Received: pattern={pattern!r}.")
    left, right = (_parse(side, pattern) for side in pattern.split("->"))
    if len(left) != x.ndim:
        raise ValueError(
            f"Pattern {pattern!r} names {len(left)} input dimensions but the tensor has shape "
            f"{x.shape}."
        )
    names_in = [n for g in left for n in g]
    names_out = [n for g in right for n in g]
    if sorted(names_in) != sorted(names_out) or len(set(names_in)) != len(names_in):
        raise ValueError(f"Pattern {pattern!r} must use each axis name once on both sides.")
    lengths = {}
    for group, dim in zip(left, x.shape):
        unknown = [n for n in group if n not in axes_lengths]
        known = math.prod(int(axes_lengths[n]) for n in group if n in axes_lengths)
        if len(unknown) > 1:
            raise ValueError(f"Give the lengths of all but one of the axes {group} in {pattern!r}.")
        if dim % known or (not unknown and known != dim):
            raise ValueError(f"Axes {group} of lengths {axes_lengths} do not make dimension {dim}.")
        for n in group:
            lengths[n] = int(axes_lengths[n]) if n in axes_lengths else dim // known
    x = jnp.reshape(x, [lengths[n] for n in names_in])
    x = jnp.transpose(x, [names_in.index(n) for n in names_out])
    return jnp.reshape(x, [math.prod(lengths[n] for n in g) for g in right])
