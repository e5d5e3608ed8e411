"""Input shapes handed to a custom layer's ``build`` and ``compute_output_shape``.

Keras 3 passes plain tuples; tf.keras 2 passed a ``tf.TensorShape``, and Keras 2 code reads it
so: ``input_shape.as_list()``, ``input_shape.rank``, ``input_shape.dims`` ("Hands-On Machine
Learning"'s stateful char-RNN, ``batch_input_shape.as_list()``).  :class:`ShapeTuple` is a
tuple (Keras 3 code sees no difference: indexing, slicing, ``len``, equality, JSON) that also
answers those ``TensorShape`` methods.

>>> shape = ShapeTuple((None, 28, 3))
>>> shape == (None, 28, 3), shape[-1], shape.as_list(), shape.rank
(True, 3, [None, 28, 3], 3)
>>> keras2_shapes([(None, 4), (None, 2)])[1].as_list()
[None, 2]
"""

from __future__ import annotations

import math


class ShapeTuple(tuple):
    """A shape tuple that also has ``tf.TensorShape``'s common methods (tf.keras 2 code)."""

    __slots__ = ()

    def as_list(self) -> list:
        """The dimensions as a list (``None`` for unknown ones)."""
        return list(self)

    @property
    def rank(self) -> int:
        """The number of dimensions."""
        return len(self)

    ndims = rank

    @property
    def dims(self) -> list:
        """The dimensions (tf.keras 2 in TensorFlow 2: ints or ``None``)."""
        return list(self)

    def is_fully_defined(self) -> bool:
        """Whether every dimension is known."""
        return all(d is not None for d in self)

    def num_elements(self) -> int | None:
        """The product of the dimensions, ``None`` when one is unknown."""
        return math.prod(self) if self.is_fully_defined() else None

    def concatenate(self, other) -> ShapeTuple:
        """This shape followed by ``other``'s dimensions."""
        return ShapeTuple((*self, *other))

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return ShapeTuple(item) if isinstance(index, slice) else item

    def __reduce__(self):  # pickles (and deep-copies) as the plain tuple Keras 3 would hold
        return (tuple, (tuple(self),))


def keras2_shapes(shape):
    """``shape`` (a tuple, or a list/tuple of them) with each shape a :class:`ShapeTuple`;
    anything else (a dict of shapes, ``None``) unchanged."""
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return ShapeTuple(shape)
    if isinstance(shape, list | tuple) and shape and all(isinstance(s, tuple) for s in shape):
        return type(shape)(keras2_shapes(s) for s in shape)
    return shape


def wrap_user_shape_method(cls) -> None:
    """Makes the ``compute_output_shape`` a user layer class defines receive
    :func:`keras2_shapes` (called from ``Layer.__init_subclass__``)."""
    import functools

    fn = cls.__dict__.get("compute_output_shape")
    module = getattr(cls, "__module__", None) or ""
    if fn is None or module.startswith("lamina.") or getattr(fn, "_lamina_shapes", False):
        return

    @functools.wraps(fn)
    def compute_output_shape(self, input_shape, *args, **kwargs):
        return fn(self, keras2_shapes(input_shape), *args, **kwargs)

    compute_output_shape._lamina_shapes = True
    cls.compute_output_shape = compute_output_shape
