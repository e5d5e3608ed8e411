"""Per-output sample weights: a ``sample_weight`` shaped like the targets, as Keras 3 takes it.

A model with several outputs may be given one weight array per output (``fit(x, [y1, y2],
sample_weight=[w1, w2])``, a dict keyed by output name for dict targets, ``None`` for an output
left unweighted); each output's loss, and its ``weighted_metrics``, then read its own weights.
One array keeps its meaning: the same weights for every output.

The engine carries the weights as one array (every output) or as a tuple with one array per
output in the targets' order; the traced helpers here (:func:`for_output`, :func:`take`,
:func:`masked`) treat both alike, so a model fit without per-output weights compiles the same
program as before.

>>> import numpy as np
>>> w = per_output([np.ones(3), None], (np.zeros((3, 1)), np.zeros((3, 2))), 3)
>>> [a.tolist() for a in w]
[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
>>> float(for_output(np.full(3, 2.0), 1)[0])
2.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.data import arrays as _arrays


def is_structure(sample_weight) -> bool:
    """Whether ``sample_weight`` holds several arrays (a dict, or a list/tuple of arrays and
    ``None`` entries), rather than one array (a list of numbers is one array)."""
    if isinstance(sample_weight, dict):
        return True
    return (
        isinstance(sample_weight, list | tuple)
        and bool(sample_weight)
        and all(w is None or len(getattr(w, "shape", ())) >= 1 for w in sample_weight)
    )


def describe(data) -> str:
    """A short description of a structure of arrays (for error messages)."""
    if isinstance(data, dict):
        return f"a dict with keys {sorted(data, key=str)}"
    if isinstance(data, list | tuple):
        return f"a {type(data).__name__} of {len(data)}"
    return f"one array of shape {tuple(np.shape(data))}" if hasattr(data, "shape") else "one array"


def _mismatch(sample_weight, y, names=None, name="sample_weight"):
    if isinstance(y, dict):
        expected = f"a dict with the keys of y, {sorted(y, key=str)}"
    else:
        expected = f"a list of {len(y)} (one array per output, in the order of y)"
        if names:
            expected += f", or a dict keyed by output name {list(names)}"
    return ValueError(
        f"{name} must match the structure of y, one array per output (None for an "
        f"output without weights). Expected {expected}; received {describe(sample_weight)}. "
        f"Pass one array of shape (samples,) to weigh every output alike."
    )


def _in_order(sample_weight, y, names, name):
    """``sample_weight``'s entries as a list in the order of ``y``'s (``y`` a list/tuple or a
    dict, as given); raises Keras's structure error naming both when they do not match."""
    if isinstance(y, dict):
        if not isinstance(sample_weight, dict) or set(sample_weight) != set(y):
            raise _mismatch(sample_weight, y, name=name)
        return {k: sample_weight[k] for k in y}
    if isinstance(sample_weight, dict):
        # Keyed by output name: Keras fails here with a KeyError; the meaning is unambiguous.
        if not names or len(names) != len(y) or set(sample_weight) != set(names):
            raise _mismatch(sample_weight, y, names, name)
        return [sample_weight[k] for k in names]
    if len(sample_weight) != len(y):
        raise _mismatch(sample_weight, y, names, name)
    return list(sample_weight)


def per_output(sample_weight, y, n, names=None, name="sample_weight"):
    """Per-output ``sample_weight`` checked against the targets ``y`` and made NumPy arrays.

    Args:
        sample_weight: a structure (:func:`is_structure`): a list/tuple or dict with one
            array (or ``None``) per output.
        y: the targets as given, a list/tuple or dict of arrays (several outputs).
        n: the number of samples.
        names: the model's output names (a dict of weights for list targets), or ``None``.
        name: the argument's name in error messages.

    Returns:
        The same structure as ``y`` (a dict for a dict, else a tuple) of float32 arrays,
        ``None`` entries as ones.
    """
    if not isinstance(y, dict | list | tuple):
        given = "no targets were given" if y is None else "y is one array (a single output)"
        raise ValueError(
            f"{name} is {describe(sample_weight)} of arrays, one per output, but {given}: "
            f"pass one array of shape ({n},)."
        )
    ordered = _in_order(sample_weight, y, names, name)
    keys = list(ordered) if isinstance(ordered, dict) else range(len(ordered))
    out = {}
    for k in keys:
        w = ordered[k]
        label = f"{name}[{k!r}]"
        if w is None:
            out[k] = np.ones((n,), np.float32)
            continue
        w = _arrays.as_float32(_arrays.to_numpy(w, label), label)
        if w.ndim not in (1, 2) or w.shape[0] != n:
            raise ValueError(
                f"{label} must have shape ({n},), one weight per sample, or ({n}, timesteps); "
                f"it has shape {w.shape}."
            )
        out[k] = w
    return out if isinstance(ordered, dict) else tuple(out[i] for i in keys)


def single(sample_weight, y):
    """A one-entry ``[w]`` given for a single output, as ``w`` (any other value as given)."""
    if (
        is_structure(sample_weight)
        and not isinstance(sample_weight, dict)
        and len(sample_weight) == 1
        and not isinstance(y, dict | list | tuple)
    ):
        return sample_weight[0]
    return sample_weight


def rows(sw, fn):
    """``fn`` applied to each weight array (one array, a tuple of them, or ``None``)."""
    return None if sw is None else jax.tree_util.tree_map(fn, sw)


def of_output(sample_weight, index):
    """Output ``index``'s weights in a ``sample_weight`` as a user's step passes it to
    ``compute_loss``/``compute_metrics``: one array (every output), a list/tuple with one per
    output, or a dict (its keys sorted, as its targets are flattened); ``None`` if unweighted."""
    if isinstance(sample_weight, dict):
        return sample_weight[sorted(sample_weight)[index]]
    if is_structure(sample_weight):
        return sample_weight[index]
    return sample_weight


# Traced helpers: ``sw`` is one array (every output) or a tuple with one per output.


def for_output(sw, index):
    """The weights of output ``index``."""
    return sw[index] if isinstance(sw, tuple) else sw


def _expand(v, ndim):
    return jnp.reshape(v, v.shape + (1,) * (ndim - v.ndim))


def masked(sw, bmask):
    """The weights with the batch's padding rows zeroed (per sample or per timestep)."""
    return jax.tree_util.tree_map(lambda w: w * _expand(bmask, w.ndim), sw)


def take(sw, bidx):
    """The weights of the rows ``bidx``."""
    return jax.tree_util.tree_map(lambda w: jnp.take(w, bidx, axis=0), sw)
