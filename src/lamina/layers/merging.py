"""Merge layers: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``,
``Concatenate``, ``Dot`` and their functional forms (``add([a, b])``...).

A merge layer takes a list: ``apply(params, state, [x1, x2, ...])`` and
``compute_output_shape([shape1, shape2, ...])``, as in Keras. Elementwise merges broadcast as
Keras's ``Merge`` base does: inputs of lower rank get size-1 axes inserted after the batch
axis, then sizes of 1 broadcast.
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina.backend.batch_dot import batch_dot
from lamina.layers.base import Layer
from lamina.ops.nn import normalize

__all__ = [
    "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract",
    "add", "average", "concatenate", "dot", "maximum", "minimum", "multiply", "subtract",
]  # fmt: skip


def _is_shape(s):
    return isinstance(s, list | tuple) and all(d is None or isinstance(d, int) for d in s)


def _check_list(layer, inputs, what="inputs", exactly=None):
    if not isinstance(inputs, list | tuple) or (
        what == "input_shape" and not all(_is_shape(s) for s in inputs)
    ):
        raise ValueError(
            f"A merge layer ({type(layer).__name__}) should be called on a list of {what}. "
            f"Received: {what}={inputs!r} (not a list)."
        )
    if len(inputs) < 1:
        raise ValueError(
            f"A merge layer should be called on a list of at least 1 input. Received {len(inputs)} inputs."
        )
    if exactly is not None and len(inputs) != exactly:
        raise ValueError(
            f"A `{type(layer).__name__}` layer should be called on exactly {exactly} inputs. "
            f"Received {len(inputs)} inputs."
        )


def _broadcast_shape(layer, shape1, shape2):
    """Keras's ``Merge._compute_elemwise_op_output_shape`` (shapes without the batch axis)."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return tuple(shape1)
    out = list(shape1[: len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2) :], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1 or j == 1:
            out.append(j if i == 1 else i)
        elif i != j:
            raise ValueError(
                f"Inputs to {type(layer).__name__} have incompatible shapes. Received shapes "
                f"{tuple(shape1)} and {tuple(shape2)} (batch axis excluded)."
            )
        else:
            out.append(i)
    return tuple(out)


class _Merge(Layer):
    """Base of the elementwise merges; subclasses define ``_merge(list_of_arrays)``."""

    _exactly: int | None = None

    def apply(self, params, state, x, *, training=False, key=None):
        _check_list(self, x, exactly=self._exactly)
        xs = [jnp.asarray(v) for v in x]
        rank = max(v.ndim for v in xs)
        # Keras inserts size-1 axes after the batch axis for lower-rank inputs.
        xs = [
            jnp.reshape(v, (v.shape[0], *(1,) * (rank - v.ndim), *v.shape[1:]))
            if v.ndim < rank
            else v
            for v in xs
        ]
        return self._merge(xs), state

    def compute_output_shape(self, input_shape):
        _check_list(self, input_shape, "input_shape", exactly=self._exactly)
        batch = {s[0] for s in input_shape if s} - {None}
        if len(batch) > 1:
            raise ValueError(
                f"Cannot merge tensors with different batch sizes. Received tensors with shapes {list(input_shape)}."
            )
        out = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            out = _broadcast_shape(self, out, tuple(shape[1:]))
        return (batch.pop() if batch else None, *out)

    def compute_mask(self, x, mask):
        if mask is None or not isinstance(mask, list | tuple):
            return None if mask is None or isinstance(mask, list | tuple) else mask
        if any(m is None for m in mask):
            return None
        out = jnp.asarray(mask[0])
        for m in mask[1:]:
            out = jnp.logical_or(out, jnp.asarray(m))
        return out


def _doc(cls, what, example):
    cls.__doc__ = (
        f"{what} of a list of inputs (``keras.layers.{cls.__name__}``).\n\n"
        "Inputs of lower rank get size-1 axes after the batch axis; sizes of 1 broadcast.\n\n"
        ">>> import numpy as np\n>>> from lamina.layers import "
        f"{cls.__name__}\n>>> a, b = np.ones((2, 3), 'float32'), np.full((2, 3), 3.0, 'float32')\n"
        f">>> {cls.__name__}()([a, b]).tolist()[0]\n{example}\n"
    )


class Add(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for v in xs[1:]:
            out = out + v
        return out


class Subtract(_Merge):
    _exactly = 2

    def _merge(self, xs):
        return xs[0] - xs[1]


class Multiply(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for v in xs[1:]:
            out = out * v
        return out


class Average(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for v in xs[1:]:
            out = out + v
        return out / len(xs)


class Maximum(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for v in xs[1:]:
            out = jnp.maximum(out, v)
        return out


class Minimum(_Merge):
    def _merge(self, xs):
        out = xs[0]
        for v in xs[1:]:
            out = jnp.minimum(out, v)
        return out


_doc(Add, "The sum", "[4.0, 4.0, 4.0]")
_doc(Subtract, "``inputs[0] - inputs[1]`` (exactly two inputs)", "[-2.0, -2.0, -2.0]")
_doc(Multiply, "The elementwise product", "[3.0, 3.0, 3.0]")
_doc(Average, "The elementwise mean", "[2.0, 2.0, 2.0]")
_doc(Maximum, "The elementwise maximum", "[3.0, 3.0, 3.0]")
_doc(Minimum, "The elementwise minimum", "[1.0, 1.0, 1.0]")


class Concatenate(Layer):
    """Concatenates a list of inputs along ``axis`` (``keras.layers.Concatenate``).

    Args:
        axis: the concatenation axis (the last by default).

    Raises:
        ValueError: when the inputs differ on another axis.

    >>> import numpy as np
    >>> from lamina.layers import Concatenate
    >>> Concatenate()([np.ones((2, 3)), np.zeros((2, 1))]).shape
    (2, 4)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _check(self, shapes):
        _check_list(self, shapes, "input_shape")
        ranks = {len(s) for s in shapes}
        message = (
            "A `Concatenate` layer requires inputs with matching shapes except for the "
            f"concatenation axis. Received: input_shape={[tuple(s) for s in shapes]}"
        )
        if len(ranks) != 1:
            raise ValueError(message)
        rank = ranks.pop()
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Concatenate(axis={self.axis}) is out of range for inputs of rank {rank}."
            )
        axis = self.axis % rank
        for d in range(1, rank):
            sizes = {s[d] for s in shapes if s[d] is not None}
            if d != axis and len(sizes) > 1:
                raise ValueError(message)
        return axis

    def apply(self, params, state, x, *, training=False, key=None):
        _check_list(self, x)
        xs = [jnp.asarray(v) for v in x]
        return jnp.concatenate(xs, axis=self._check([v.shape for v in xs])), state

    def compute_output_shape(self, input_shape):
        axis = self._check(input_shape)
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            if out[axis] is None or shape[axis] is None:
                out[axis] = None
                break
            out[axis] += shape[axis]
        return tuple(out)

    def compute_mask(self, x, mask):
        if mask is None or not isinstance(mask, list | tuple) or all(m is None for m in mask):
            return None
        masks = []
        for xi, mi in zip(x, mask):
            xi = jnp.asarray(xi)
            if mi is None:
                masks.append(jnp.ones(xi.shape, bool))
            elif jnp.ndim(mi) < xi.ndim:
                masks.append(jnp.broadcast_to(jnp.expand_dims(jnp.asarray(mi), -1), xi.shape))
            else:
                masks.append(jnp.asarray(mi))
        return jnp.any(jnp.concatenate(masks, axis=self.axis), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis)
        return config


class Dot(Layer):
    """The dot product of two inputs along ``axes``, per sample (``keras.layers.Dot``).

    Args:
        axes: an int, or a pair of ints (one axis per input); the batch axis 0 is not allowed.
        normalize: L2-normalize both inputs along the axes first (cosine similarity).

    Raises:
        TypeError, ValueError: for malformed ``axes``; ValueError for mismatched sizes.

    >>> import numpy as np
    >>> from lamina.layers import Dot
    >>> Dot(axes=1)([np.ones((2, 3)), np.ones((2, 3))]).tolist()
    [[3.0], [3.0]]
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, list | tuple):
                raise TypeError(
                    f"Invalid type for argument `axes`: it should be a list or an int. Received: axes={axes!r}"
                )
            if len(axes) != 2 or not all(isinstance(a, int) for a in axes):
                raise ValueError(
                    f"Invalid format for argument `axes`: it should contain two integers. Received: axes={axes!r}"
                )
            axes = list(axes)
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes(self, rank1, rank2):
        if isinstance(self.axes, int):
            return [self.axes % rank1, self.axes % rank2] if self.axes < 0 else [self.axes] * 2
        return [a % r if a < 0 else a for a, r in zip(self.axes, (rank1, rank2))]

    def apply(self, params, state, x, *, training=False, key=None):
        _check_list(self, x, exactly=2)
        x1, x2 = (jnp.asarray(v) for v in x)
        a1, a2 = self._axes(x1.ndim, x2.ndim)
        if self.normalize:
            x1, x2 = normalize(x1, axis=a1), normalize(x2, axis=a2)
        return batch_dot(x1, x2, [a1, a2]), state

    def compute_output_shape(self, input_shape):
        _check_list(self, input_shape, "input_shape", exactly=2)
        s1, s2 = list(input_shape[0]), list(input_shape[1])
        a1, a2 = self._axes(len(s1), len(s2))
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(
                f"Incompatible input shapes: axis values {s1[a1]} (at axis {a1}) != {s2[a2]} "
                f"(at axis {a2}). Full input shapes: {tuple(s1)}, {tuple(s2)}"
            )
        s1.pop(a1)
        s2.pop(a2)
        s2.pop(0)
        out = s1 + s2
        return tuple(out + [1] if len(out) == 1 else out)

    def compute_mask(self, x, mask):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(axes=self.axes, normalize=self.normalize)
        return config


def _functional(cls, name):
    def fn(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"Functional form of :class:`{cls.__name__}`: ``{cls.__name__}(**kwargs)(inputs)`` "
        f"(``keras.layers.{name}``).\n\n>>> import numpy as np\n>>> from lamina.layers import "
        f"{name}\n>>> {name}([np.ones((2, 3)), np.ones((2, 3))]).shape[0]\n2\n"
    )
    return fn


add = _functional(Add, "add")
subtract = _functional(Subtract, "subtract")
multiply = _functional(Multiply, "multiply")
average = _functional(Average, "average")
maximum = _functional(Maximum, "maximum")
minimum = _functional(Minimum, "minimum")


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of :class:`Concatenate` (``keras.layers.concatenate``).

    >>> import numpy as np
    >>> from lamina.layers import concatenate
    >>> concatenate([np.ones((2, 3)), np.ones((2, 3))]).shape
    (2, 6)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """Functional form of :class:`Dot` (``keras.layers.dot``).

    >>> import numpy as np
    >>> from lamina.layers import dot
    >>> dot([np.ones((2, 3)), np.ones((2, 3))], axes=1).shape
    (2, 1)
    """
    return Dot(axes=axes, **kwargs)(inputs)
