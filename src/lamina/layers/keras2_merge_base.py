"""Keras 2's ``keras.layers.merge._Merge``: the base class user code subclasses for a custom
merge, defining ``_merge_function(inputs)``.

The improved-WGAN code of Keras 2 tutorials mixes real and generated images this way::

    class RandomWeightedAverage(_Merge):
        def _merge_function(self, inputs):
            alpha = K.random_uniform((32, 1, 1, 1))
            return (alpha * inputs[0]) + ((1 - alpha) * inputs[1])

The layer is a Keras-style layer (its ``call`` is traced like any user layer's), so unseeded
draws such as ``K.random_uniform`` give fresh numbers at every step, as in Keras 2.

>>> import numpy as np
>>> from lamina.layers.merge import _Merge
>>> class Mean2(_Merge):
...     def _merge_function(self, inputs):
...         return (inputs[0] + inputs[1]) / 2
>>> a, b = np.zeros((2, 3), "float32"), np.ones((2, 3), "float32")
>>> np.asarray(Mean2()([a, b])).tolist()[0]
[0.5, 0.5, 0.5]
"""

from __future__ import annotations

from lamina.layers.base import Layer
from lamina.layers.merging import _broadcast_shape, _check_list
from lamina.layers.merging import _Merge as _BuiltinMerge


class _Merge(Layer):
    """Keras 2's base of merge layers: ``call`` checks the list of inputs, gives lower-rank
    inputs size-1 axes after the batch axis (as Keras 2's ``_Merge.call`` reshapes them), and
    returns ``self._merge_function(inputs)``; the output shape broadcasts the inputs' shapes."""

    def __init__(self, **kwargs):
        from lamina.layers.symbolic_shapes import mark_unseeded_draws

        super().__init__(**kwargs)
        self.supports_masking = True
        # Its output shape comes from compute_output_shape, not from tracing call(), so the
        # trace that notices unseeded draws never runs: a merge may draw them (the WGAN's
        # random weights), so it always gets a fresh key, as Keras 2 drew new numbers.
        mark_unseeded_draws(self)

    def _merge_function(self, inputs):
        """The merge itself, on the list of input tensors: subclasses define it.

        Raises:
            NotImplementedError: in the base class (Keras 2's too).
        """
        raise NotImplementedError(
            f"{type(self).__name__} subclasses keras.layers.merge._Merge: define "
            "_merge_function(self, inputs), returning the merged tensor."
        )

    def call(self, inputs):
        from lamina import ops

        _check_list(self, inputs)
        rank = max(len(ops.shape(x)) for x in inputs)
        expanded = []
        for x in inputs:
            while len(ops.shape(x)) < rank:  # Keras 2 inserts the axes after the batch axis
                x = ops.expand_dims(x, 1)
            expanded.append(x)
        return self._merge_function(expanded)

    def compute_output_shape(self, input_shape):
        _check_list(self, input_shape, "input_shape")
        out = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            out = _broadcast_shape(self, out, tuple(shape[1:]))
        return (input_shape[0][0], *out)

    def compute_mask(self, inputs, mask=None):
        return _BuiltinMerge.compute_mask(self, inputs, mask)
