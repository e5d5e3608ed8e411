"""Keras's shape and indexing ops: ``reshape``, ``concatenate``, ``stack``, ``take``, splits...

Keras's spellings differ from NumPy's in a few places, kept here: ``reshape(x, newshape)``,
``concatenate(xs, axis=0)``, ``stack(x, axis=0)``, ``squeeze(x, axis=None)``.
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.ops._tensor import axis_arg, shape_arg, tensor

__all__ = [
    "append", "array_split", "broadcast_to", "concatenate", "diag", "diagflat", "diagonal",
    "dsplit", "dstack", "expand_dims", "flip", "fliplr", "flipud", "get_item", "hsplit",
    "hstack", "moveaxis", "ndim", "pad", "ravel", "repeat", "reshape", "roll", "rot90", "size",
    "split", "squeeze", "stack", "swapaxes", "take", "take_along_axis", "tile", "transpose",
    "tril", "triu", "unravel_index", "vsplit", "vstack",
]  # fmt: skip


def _a(x):
    return jnp.asarray(tensor(x))


def _seq(xs):
    if not isinstance(xs, list | tuple):
        raise TypeError(
            f"Expected a list or tuple of tensors. Received: {type(xs).__name__}. "
            "Wrap single tensors in a list, e.g. ops.concatenate([a, b])."
        )
    return [_a(x) for x in xs]


def _doc(fn, summary, example, result):
    fn.__doc__ = (
        f"{summary} (``keras.ops.{fn.__name__}``).\n\n>>> from lamina import ops\n"
        f">>> {example}\n{result}\n"
    )
    return fn


def reshape(x, newshape):
    return jnp.reshape(_a(x), shape_arg(newshape) if not isinstance(newshape, int) else newshape)


def concatenate(xs, axis=0):
    return jnp.concatenate(_seq(xs), axis=axis)


def stack(x, axis=0):
    return jnp.stack(_seq(x), axis=axis)


def hstack(xs):
    return jnp.hstack(_seq(xs))


def vstack(xs):
    return jnp.vstack(_seq(xs))


def dstack(xs):
    return jnp.dstack(_seq(xs))


def append(x1, x2, axis=None):
    return jnp.append(_a(x1), _a(x2), axis=axis)


def expand_dims(x, axis):
    return jnp.expand_dims(_a(x), axis_arg(axis))


def squeeze(x, axis=None):
    x = _a(x)
    if axis is not None:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ValueError(
                f"Cannot squeeze axis {bad[0]} of a tensor of shape {x.shape}: its size is "
                f"{x.shape[bad[0]]}, not 1."
            )
        return jnp.squeeze(x, axis=axes)
    return jnp.squeeze(x)


def transpose(x, axes=None):
    return jnp.transpose(_a(x), axes=None if axes is None else tuple(axes))


def swapaxes(x, axis1, axis2):
    return jnp.swapaxes(_a(x), axis1, axis2)


def moveaxis(x, source, destination):
    return jnp.moveaxis(_a(x), axis_arg(source), axis_arg(destination))


def broadcast_to(x, shape):
    return jnp.broadcast_to(_a(x), shape_arg(shape))


def flip(x, axis=None):
    return jnp.flip(_a(x), axis=axis_arg(axis))


def fliplr(x):
    return jnp.fliplr(_a(x))


def flipud(x):
    return jnp.flipud(_a(x))


def rot90(array, k=1, axes=(0, 1)):
    return jnp.rot90(_a(array), k=k, axes=tuple(axes))


def roll(x, shift, axis=None):
    return jnp.roll(_a(x), shift, axis=axis_arg(axis))


def ravel(x):
    return jnp.ravel(_a(x))


def ndim(x):
    return jnp.ndim(_a(x))


def size(x):
    return jnp.size(_a(x))


def tile(x, repeats):
    return jnp.tile(_a(x), repeats)


def repeat(x, repeats, axis=None):
    return jnp.repeat(_a(x), tensor(repeats), axis=axis)


def pad(x, pad_width, mode="constant", constant_values=None):
    x = _a(x)
    if constant_values is not None:
        if mode != "constant":
            raise ValueError(
                "Argument `constant_values` can only be provided when `mode == 'constant'`. "
                f"Received: mode={mode!r}."
            )
        return jnp.pad(x, pad_width, mode=mode, constant_values=constant_values)
    return jnp.pad(x, pad_width, mode=mode)


def split(x, indices_or_sections, axis=0):
    return jnp.split(_a(x), indices_or_sections, axis=axis)


def array_split(x, indices_or_sections, axis=0):
    return jnp.array_split(_a(x), indices_or_sections, axis=axis)


def hsplit(x, indices_or_sections):
    return jnp.hsplit(_a(x), indices_or_sections)


def vsplit(x, indices_or_sections):
    return jnp.vsplit(_a(x), indices_or_sections)


def dsplit(x, indices_or_sections):
    return jnp.dsplit(_a(x), indices_or_sections)


def diag(x, k=0):
    return jnp.diag(_a(x), k=k)


def diagflat(x, k=0):
    return jnp.diagflat(_a(x), k=k)


def diagonal(x, offset=0, axis1=0, axis2=1):
    return jnp.diagonal(_a(x), offset=offset, axis1=axis1, axis2=axis2)


def tril(x, k=0):
    return jnp.tril(_a(x), k=k)


def triu(x, k=0):
    return jnp.triu(_a(x), k=k)


def take(x, indices, axis=None):
    indices = _a(indices)
    return jnp.take(_a(x), indices, axis=axis)


def take_along_axis(x, indices, axis=None):
    return jnp.take_along_axis(_a(x), _a(indices), axis=axis)


def get_item(x, key):
    if hasattr(key, "__jax_array__") and not isinstance(key, jnp.ndarray):
        key = key.__jax_array__()
    return _a(x)[key]


def unravel_index(indices, shape):
    return tuple(jnp.unravel_index(_a(indices), shape_arg(shape)))


_ONES = "ops.ones((2, 3))"
for _fn, _summary, _example, _result in [
    (reshape, "``x`` with a new shape; one dimension may be -1", f"ops.reshape({_ONES}, (3, -1)).shape", "(3, 2)"),
    (concatenate, "Joins a list of tensors along an existing axis", f"ops.concatenate([{_ONES}, {_ONES}], axis=1).shape", "(2, 6)"),
    (stack, "Joins a list of tensors along a new axis", f"ops.stack([{_ONES}, {_ONES}]).shape", "(2, 2, 3)"),
    (hstack, "Stacks a list of tensors column-wise", f"ops.hstack([{_ONES}, {_ONES}]).shape", "(2, 6)"),
    (vstack, "Stacks a list of tensors row-wise", f"ops.vstack([{_ONES}, {_ONES}]).shape", "(4, 3)"),
    (dstack, "Stacks a list of tensors along the third axis", f"ops.dstack([{_ONES}, {_ONES}]).shape", "(2, 3, 2)"),
    (append, "Appends ``x2`` to ``x1`` (flattened when ``axis`` is None)", f"ops.append({_ONES}, {_ONES}).shape", "(12,)"),
    (expand_dims, "Inserts a size-1 axis at ``axis`` (an int or tuple)", f"ops.expand_dims({_ONES}, -1).shape", "(2, 3, 1)"),
    (squeeze, "Removes size-1 axes (all, or those in ``axis``)", "ops.squeeze(ops.ones((2, 1))).shape", "(2,)"),
    (transpose, "Permutes the axes (reverses them when ``axes`` is None)", f"ops.transpose({_ONES}).shape", "(3, 2)"),
    (swapaxes, "Swaps two axes", f"ops.swapaxes({_ONES}, 0, 1).shape", "(3, 2)"),
    (moveaxis, "Moves axes to new positions", f"ops.moveaxis({_ONES}, 0, -1).shape", "(3, 2)"),
    (broadcast_to, "Broadcasts to ``shape``", "ops.broadcast_to(ops.ones((3,)), (2, 3)).shape", "(2, 3)"),
    (flip, "Reverses the order of elements along ``axis`` (all axes when None)", "ops.flip(ops.arange(3)).tolist()", "[2, 1, 0]"),
    (fliplr, "Reverses the columns", f"ops.fliplr({_ONES}).shape", "(2, 3)"),
    (flipud, "Reverses the rows", f"ops.flipud({_ONES}).shape", "(2, 3)"),
    (rot90, "Rotates by 90 degrees ``k`` times in the plane of ``axes``", f"ops.rot90({_ONES}).shape", "(3, 2)"),
    (roll, "Rolls elements by ``shift`` along ``axis``", "ops.roll(ops.arange(3), 1).tolist()", "[2, 0, 1]"),
    (ravel, "Flattens to 1-D", f"ops.ravel({_ONES}).shape", "(6,)"),
    (ndim, "The number of dimensions", f"ops.ndim({_ONES})", "2"),
    (size, "The number of elements", f"ops.size({_ONES})", "6"),
    (tile, "Repeats the whole tensor ``repeats`` times per axis", f"ops.tile({_ONES}, (2, 1)).shape", "(4, 3)"),
    (repeat, "Repeats each element ``repeats`` times along ``axis`` (flattened when None)", "ops.repeat(ops.arange(2), 2).tolist()", "[0, 0, 1, 1]"),
    (pad, "Pads with ``mode`` ('constant', 'edge', 'reflect', 'symmetric', ...)", "ops.pad(ops.ones((2,)), 1).tolist()", "[0.0, 1.0, 1.0, 0.0]"),
    (split, "Splits into equal sections or at indices", f"len(ops.split({_ONES}, 2))", "2"),
    (array_split, "Splits into sections that may differ in size", "len(ops.array_split(ops.arange(5), 2))", "2"),
    (hsplit, "Splits column-wise", f"len(ops.hsplit({_ONES}, 3))", "3"),
    (vsplit, "Splits row-wise", f"len(ops.vsplit({_ONES}, 2))", "2"),
    (dsplit, "Splits along the third axis", "len(ops.dsplit(ops.ones((1, 1, 4)), 2))", "2"),
    (diag, "Extracts a diagonal or builds a diagonal matrix", "ops.diag(ops.ones((2,))).shape", "(2, 2)"),
    (diagflat, "A 2-D matrix with the flattened input on the diagonal", "ops.diagflat(ops.ones((2,))).shape", "(2, 2)"),
    (diagonal, "The ``offset`` diagonal of the (axis1, axis2) planes", f"ops.diagonal({_ONES}).shape", "(2,)"),
    (tril, "Zeroes the elements above the ``k``-th diagonal", f"ops.tril({_ONES}).shape", "(2, 3)"),
    (triu, "Zeroes the elements below the ``k``-th diagonal", f"ops.triu({_ONES}).shape", "(2, 3)"),
    (take, "Gathers ``indices`` along ``axis`` (flattened when None)", "ops.take(ops.arange(4), [3, 0]).tolist()", "[3, 0]"),
    (take_along_axis, "Gathers with ``indices`` matching ``x``'s rank along ``axis``", "ops.take_along_axis(ops.arange(3), ops.convert_to_tensor([2]), 0).tolist()", "[2]"),
    (get_item, "``x[key]``", "ops.get_item(ops.arange(3), 1).tolist()", "1"),
    (unravel_index, "Flat indices to coordinate tuples for ``shape``", "[int(i) for i in ops.unravel_index(5, (2, 3))]", "[1, 2]"),
]:  # fmt: skip
    _doc(_fn, _summary, _example, _result)
