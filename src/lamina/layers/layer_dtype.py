"""A layer's dtype policy, as Keras shows it: ``dtype_policy``, ``dtype``, ``compute_dtype``,
``variable_dtype``, ``input_dtype``.

:class:`LayerDTypeAPI` is a mixin of :class:`lamina.layers.Layer`; the policy itself is set by
the layer's ``dtype=`` argument (see :mod:`lamina.dtype_policies`).

>>> from lamina.layers import Dense
>>> layer = Dense(2, dtype="mixed_bfloat16")
>>> layer.dtype, layer.compute_dtype, layer.dtype_policy.name
('float32', 'bfloat16', 'mixed_bfloat16')
"""

from __future__ import annotations

from lamina import dtype_policies as _dtype_policies


class LayerDTypeAPI:
    """Mixin of :class:`lamina.layers.Layer`: the dtypes its policy gives."""

    @property
    def dtype_policy(self):
        """The layer's :class:`lamina.DTypePolicy` (the global policy for a model made
        without one)."""
        return self.__dict__.get("_dtype_policy") or _dtype_policies.dtype_policy()

    @dtype_policy.setter
    def dtype_policy(self, value):
        self._dtype_policy = _dtype_policies.get(value)

    @property
    def dtype(self) -> str:
        """The dtype of the layer's weights (Keras's alias of ``variable_dtype``)."""
        return self.dtype_policy.variable_dtype

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in: floating inputs and weights are cast to it."""
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype of the layer's weights."""
        return self.dtype_policy.variable_dtype

    @property
    def input_dtype(self) -> str:
        """The dtype floating inputs are converted to (the compute dtype)."""
        return self.compute_dtype
