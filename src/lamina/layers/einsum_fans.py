"""Keras 3's fans of an ``EinsumDense`` kernel: its contracted axes in, its projected axes out.

Keras 3.15's ``EinsumDense.build`` hands a ``VarianceScaling`` initializer (Glorot, He, LeCun)
that names no axes a copy naming the kernel's input axes (the weight dimensions that are
summed away) and output axes (those kept in the output), with the same seed; the fans, and so
the initial weights' scale, follow from them rather than from the kernel's last two axes.
"""

from __future__ import annotations

import copy

from lamina.initializers.variance_scaling_initializers import VarianceScaling


def einsum_fan_initializer(initializer, equation: str):
    """``initializer``, or a copy of it whose fans are the kernel's einsum axes as Keras's.

    Args:
        initializer: the layer's kernel initializer.
        equation: the ``EinsumDense`` equation, e.g. ``"abc,cde->abde"``.

    Returns:
        The initializer to draw the kernel with.

    >>> from lamina.initializers import GlorotUniform
    >>> init = einsum_fan_initializer(GlorotUniform(), "abc,cde->abde")
    >>> init.input_axes, init.output_axes
    ([0], [1, 2])
    """
    if not isinstance(initializer, VarianceScaling) or (
        initializer.input_axes is not None and initializer.output_axes is not None
    ):
        return initializer
    inputs, output = equation.replace(" ", "").split("->")
    weight = inputs.split(",")[1]
    made = copy.copy(initializer)  # the same seed: the same numbers, other fans
    made.input_axes = [i for i, d in enumerate(weight) if d not in output]
    made.output_axes = [i for i, d in enumerate(weight) if d in output]
    return made
