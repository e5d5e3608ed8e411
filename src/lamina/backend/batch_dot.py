"""``batch_dot``: the per-sample dot product of Keras 2's backend and Keras 3's ``Dot`` layer."""

from __future__ import annotations

import jax.numpy as jnp

from lamina.ops._tensor import tensor


def batch_dot(x, y, axes=None):
    """Dot product of ``x[i]`` and ``y[i]`` for each sample ``i`` (``keras.backend.batch_dot``).

    The contracted axes are ``axes`` (an int for both, or one per input); by default the last
    axis of ``x`` and the second-to-last of ``y`` (the last when ``y`` has rank 2). The result
    has ``x``'s remaining axes, then ``y``'s (batch axis once); a result that would have only
    the batch axis has shape ``(batch, 1)``.

    Args:
        x, y: tensors of rank >= 2 with the same batch size.
        axes: None, an int, or a pair of ints (never 0, the batch axis).

    Returns:
        The per-sample products.

    Raises:
        ValueError: for rank < 2, different batch sizes, axis 0, nested axes or mismatched sizes.

    >>> import numpy as np
    >>> from lamina.backend import batch_dot
    >>> batch_dot(np.ones((32, 20, 1)), np.ones((32, 30, 20)), axes=(1, 2)).shape
    (32, 1, 30)
    """
    x, y = jnp.asarray(tensor(x)), jnp.asarray(tensor(y))
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(
            f"Cannot do batch_dot on inputs with rank < 2. Received inputs with shapes {x.shape} and {y.shape}."
        )
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"Cannot do batch_dot on inputs with different batch sizes. Received inputs with shapes {x.shape} and {y.shape}."
        )
    if isinstance(axes, int):
        axes = [axes, axes]
    if axes is None:
        axes = [x.ndim - 1, y.ndim - 1 if y.ndim == 2 else y.ndim - 2]
    if any(isinstance(a, list | tuple) for a in axes):
        raise ValueError(
            f"Multiple target dimensions are not supported. Expected: None, int, (int, int). Provided: {axes}."
        )
    a0, a1 = (a + n if a < 0 else a for a, n in zip(axes, (x.ndim, y.ndim)))
    if 0 in (a0, a1):
        raise ValueError(
            "Cannot perform batch_dot over axis 0. If your inputs are not batched, add a dummy "
            "batch dimension to your inputs using ops.expand_dims(x, 0)."
        )
    if x.shape[a0] != y.shape[a1]:
        raise ValueError(
            f"Cannot do batch_dot on inputs with shapes {x.shape} and {y.shape} with axes="
            f"{[a0, a1]}. x.shape[{a0}] != y.shape[{a1}] ({x.shape[a0]} != {y.shape[a1]})."
        )
    xm = jnp.moveaxis(x, a0, -1)
    ym = jnp.moveaxis(y, a1, 1)
    x_rest, y_rest = xm.shape[1:-1], ym.shape[2:]
    out = jnp.einsum(
        "bik,bkj->bij",
        jnp.reshape(xm, (x.shape[0], -1, x.shape[a0])),
        jnp.reshape(ym, (y.shape[0], y.shape[a1], -1)),
    )
    out = jnp.reshape(out, (x.shape[0], *x_rest, *y_rest))
    return out[:, None] if out.ndim == 1 else out
