"""Where a layer sits in a functional graph: ``layer.input``, ``layer.output`` (Keras 2 and 3)
and Keras 2's ``layer.input_shape`` / ``layer.output_shape``.

They come from the first node recorded when the layer was called on symbolic tensors; a layer
of a ``Sequential`` model is called on the model's ``Input`` on first use, so Keras 2's
feature extractor ``Model(model.input, model.layers[1].output)`` works.

>>> from lamina.layers import Dense, Input
>>> layer = Dense(3)
>>> y = layer(Input((4,)))
>>> layer.input_shape, layer.output_shape
((None, 4), (None, 3))
"""

from __future__ import annotations

import jax


class _NoNode(AttributeError):
    """A layer never called on symbolic tensors has no ``input``/``output``."""


class LayerGraphAPI:
    """Mixin of :class:`lamina.layers.Layer`: the layer's symbolic input and output tensors."""

    def _first_node(self):
        nodes = getattr(self, "_inbound_nodes", None)
        owner = self._owner_model() if not nodes else None
        if owner is not None and callable(getattr(type(owner), "_symbolic", None)):
            try:  # a Sequential calls its stack on its Input lazily (``model.input``)
                owner._symbolic()
            except (AttributeError, ValueError, TypeError):
                pass
            nodes = getattr(self, "_inbound_nodes", None)
        if not nodes:
            raise _NoNode(
                f"Layer {self.name!r} has never been called on an Input: it has no input or "
                "output tensor yet (call it on a keras.Input, or build its model with an Input)."
            )
        return nodes[0]

    @property
    def input(self):
        node = self._first_node()
        return node.args[0] if node.args else node.outputs

    @property
    def output(self):
        return self._first_node().outputs

    # Keras 2's ``layer.input_shape`` / ``layer.output_shape`` (batch dimension included).
    @property
    def input_shape(self):
        if "input_shape" in self.__dict__:  # a user layer that sets self.input_shape
            return self.__dict__["input_shape"]
        return jax.tree_util.tree_map(
            lambda t: t.shape, self.input, is_leaf=lambda t: hasattr(t, "_keras_history")
        )

    @input_shape.setter
    def input_shape(self, value):
        self.__dict__["input_shape"] = value

    @property
    def output_shape(self):
        if "output_shape" in self.__dict__:
            return self.__dict__["output_shape"]
        return jax.tree_util.tree_map(
            lambda t: t.shape, self.output, is_leaf=lambda t: hasattr(t, "_keras_history")
        )

    @output_shape.setter
    def output_shape(self, value):
        self.__dict__["output_shape"] = value
