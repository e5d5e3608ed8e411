"""How an ``EinsumDense`` equation lays out int8 quantization scales (Keras 3's
``_analyze_quantization_info`` and its scale reshapes, ported so the scales' shapes and values
match Keras's).

The kernel is quantized over its contracted axes (those not in the output), the inputs over
theirs; each scale is then transposed, expanded and squeezed to broadcast against the einsum's
output.

>>> info = analyze("ab,bc->ac", 2)
>>> info.input_reduced_axes, info.kernel_reduced_axes, kernel_scale_shape(info, (5, 3))
([1], [0], [1, 3])
"""

from __future__ import annotations

import re
import string
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


class QuantInfo(NamedTuple):
    input_reduced_axes: list
    kernel_reduced_axes: list
    input_transpose_axes: list
    kernel_transpose_axes: list
    input_expand_axes: list
    kernel_expand_axes: list
    input_squeeze_axes: list
    kernel_squeeze_axes: list
    gradient_equation: str
    specs: tuple = ()  # (inputs, kernel, output) labels, ellipses filled


def _specs(equation: str, ndim: int):
    labels = string.ascii_letters
    dotted = re.sub(r"\.\.\.", "0", equation)
    found = re.match("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", dotted)
    if found is not None:
        return found.group(1), found.group(2), found.group(3)
    for pattern, left in (
        ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
        ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False),
    ):
        found = re.match(pattern, dotted)
        if found is None:
            continue
        x_spec, w_spec, y_spec = found.group(1), found.group(2), found.group(3)
        free = sorted(set(labels) - set(x_spec) - set(w_spec) - set(y_spec))
        for i in range(ndim - len(x_spec)):
            if left:
                x_spec, y_spec = free[i] + x_spec, free[i] + y_spec
            else:
                x_spec, y_spec = x_spec + free[i], y_spec + free[i]
        return x_spec, w_spec, y_spec
    raise ValueError(
        f"Invalid einsum equation '{equation}'. Equations must be in the form [X],[Y]->[Z], "
        "...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...."
    )


def analyze(equation: str, ndim: int) -> QuantInfo:
    """The axes Keras quantizes over and reshapes the scales with, for inputs of rank
    ``ndim``."""
    x_spec, w_spec, y_spec = _specs(equation, ndim)
    x_red = [i for i, c in enumerate(x_spec) if c not in y_spec]
    w_red = [i for i, c in enumerate(w_spec) if c not in y_spec]
    x_exp = [i for i, c in enumerate(y_spec) if c not in x_spec]
    w_exp = [i for i, c in enumerate(y_spec) if c not in w_spec]
    x_tr = [x_spec.find(c) for c in y_spec if c in x_spec]
    w_tr = [w_spec.find(c) for c in y_spec if c in w_spec]
    x_sq, w_sq = [], []
    # Keras's loop, kept as written: a reduced axis with no expand axis left is squeezed
    # and inserted at the last index used.  Before any pop that index is the one Keras's
    # reduced-axes loop left behind (the output position of the kernel's last label, -1
    # when contracted): "abc,c->ab" needs it, and the kernel scale's layout follows it.
    index = y_spec.find(w_spec[-1])
    for ori in x_red:
        try:
            index = x_exp.pop(0)
        except IndexError:
            x_sq.append(ori)
        x_tr.insert(index, ori)
    for ori in w_red:
        try:
            index = w_exp.pop(0)
        except IndexError:
            w_sq.append(ori)
        w_tr.insert(index, ori)
    return QuantInfo(
        x_red,
        w_red,
        x_tr,
        w_tr,
        x_exp,
        w_exp,
        x_sq,
        w_sq,
        f"{y_spec},{w_spec}->{x_spec}",
        (x_spec, w_spec, y_spec),
    )


def kernel_scale_shape(info: QuantInfo, kernel_shape) -> list:
    """The shape of the kernel's scale (Keras's ``_get_kernel_scale_shape``, per channel)."""
    shape = np.array(kernel_shape)
    shape[info.kernel_reduced_axes] = 1
    shape = shape[info.kernel_transpose_axes].tolist()
    for a in sorted(info.kernel_expand_axes):
        shape.insert(a, 1)
    for a in sorted(info.kernel_squeeze_axes, reverse=True):
        shape.pop(a)
    return shape


def scale_for_quant(info: QuantInfo, scale, kind: str = "kernel"):
    """A scale with ``keepdims`` reduced axes, laid out to broadcast against the output."""
    tr, exp, sq = (
        (info.kernel_transpose_axes, info.kernel_expand_axes, info.kernel_squeeze_axes)
        if kind == "kernel"
        else (info.input_transpose_axes, info.input_expand_axes, info.input_squeeze_axes)
    )
    if tr:
        scale = jnp.transpose(scale, tr)
    if exp:
        scale = jnp.expand_dims(scale, tuple(exp))
    if sq:
        scale = jnp.squeeze(scale, tuple(sq))
    return scale


def input_scale_for_output(info: QuantInfo, scale, y_ndim: int):
    """The inputs' per-token scale (``keepdims`` over the contracted axes) laid out against
    an output of rank ``y_ndim``.

    Keras's layout is used where it is valid; where Keras's squeeze would drop an axis that
    is not of size 1 (an equation whose output keeps every input axis but the contracted
    ones, ``"abc,c->ab"``: Keras's ``predict`` fails there) the contracted axes are dropped
    and the kept ones stay in order, which is the same per-token scale, broadcastable.
    """
    tr = info.input_transpose_axes
    moved = [scale.shape[a] for a in tr] if tr else list(scale.shape)
    if all(moved[a] == 1 for a in info.input_squeeze_axes if a < len(moved)):
        out = scale_for_quant(info, scale, "input")
        if out.ndim <= y_ndim:
            return out
    x_spec, _, y_spec = info.specs
    kept = [c for c in x_spec if c in y_spec]
    scale = jnp.squeeze(scale, tuple(info.input_reduced_axes))
    scale = jnp.transpose(scale, sorted(range(len(kept)), key=lambda i: y_spec.index(kept[i])))
    shape = [
        scale.shape[sorted(kept, key=y_spec.index).index(c)] if c in kept else 1 for c in y_spec
    ]
    return jnp.reshape(scale, shape)


def scale_for_dequant(info: QuantInfo, scale):
    """The kernel's stored scale laid out to broadcast against the kernel (the inverse)."""
    if info.kernel_squeeze_axes:
        scale = jnp.expand_dims(scale, tuple(info.kernel_squeeze_axes))
    if info.kernel_expand_axes:
        scale = jnp.squeeze(scale, tuple(info.kernel_expand_axes))
    if info.kernel_transpose_axes:
        tr = info.kernel_transpose_axes
        scale = jnp.transpose(scale, sorted(range(len(tr)), key=tr.__getitem__))
    return scale
