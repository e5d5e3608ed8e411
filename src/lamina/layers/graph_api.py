"""Where a layer sits in a functional graph: ``layer.input``, ``layer.output`` (Keras 2 and 3),
Keras 2's ``layer.input_shape`` / ``layer.output_shape``, and Keras 2's per-call
``layer.get_output_at(node_index)`` (and ``get_input_at``, ``get_*_shape_at``, ``get_*_mask_at``)
for a layer called more than once (a siamese network's shared tower).

They come from the first node recorded when the layer was called on symbolic tensors; a layer
of a ``Sequential`` model is called on the model's ``Input`` on first use, so Keras 2's
feature extractor ``Model(model.input, model.layers[1].output)`` works.

>>> from lamina.layers import Dense, Input
>>> layer = Dense(3)
>>> y = layer(Input((4,)))
>>> layer.input_shape, layer.output_shape
((None, 4), (None, 3))
>>> z = layer(Input((4,)))
>>> layer.get_output_at(1) is z, layer.get_input_shape_at(1)
(True, (None, 4))
"""

from __future__ import annotations

import jax


class _NoNode(AttributeError):
    """A layer never called on symbolic tensors has no ``input``/``output``."""


class LayerGraphAPI:
    """Mixin of :class:`lamina.layers.Layer`: the layer's symbolic input and output tensors."""

    #: Keras's ``layer.input_spec``: None until the layer sets one (``self.input_spec =
    #: InputSpec(ndim=4)`` in a custom layer), which calls then check.
    input_spec = None

    @property
    def updates(self) -> list:
        """tf.keras 2's ``layer.updates``: ``[]``, as TF 2's eager Keras returned (a
        ``BatchNormalization``'s moving statistics are updated by the training step itself).

        >>> from lamina.layers import BatchNormalization
        >>> BatchNormalization().updates
        []
        """
        import warnings

        warnings.warn(
            "`layer.updates` is tf.keras 2's and empty: the moving statistics are updated by "
            "the training step itself; read them with `layer.non_trainable_weights`.",
            UserWarning,
            stacklevel=2,
        )
        return []

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

    # Keras 2's per-node accessors (``Layer.get_output_at`` & co., dropped by Keras 3).
    def _node_attribute(self, node_index: int, attr: str):
        try:
            self._first_node()  # a Sequential's layers are called on its Input lazily
        except _NoNode:
            raise RuntimeError(
                f"The layer {self.name!r} has never been called and thus has no defined {attr}."
            ) from None
        nodes = self._inbound_nodes
        if not isinstance(node_index, int) or not 0 <= node_index < len(nodes):
            raise ValueError(
                f"Asked to get {attr} at node {node_index!r}, but the layer has only "
                f"{len(nodes)} inbound nodes."
            )
        node = nodes[node_index]
        if attr.startswith("input"):
            values = node.args[0] if node.args else node.outputs
        else:
            values = node.outputs
        if attr.endswith("mask"):
            values = jax.tree_util.tree_map(
                lambda t: getattr(t, "_keras_mask", None),
                values,
                is_leaf=lambda t: hasattr(t, "_keras_history"),
            )
        elif attr.endswith("shape"):
            values = jax.tree_util.tree_map(
                lambda t: t.shape, values, is_leaf=lambda t: hasattr(t, "_keras_history")
            )
        if isinstance(values, list) and len(values) == 1:
            return values[0]
        return values

    def get_input_at(self, node_index):
        """Keras 2: the input tensor(s) of the layer's ``node_index``-th call."""
        return self._node_attribute(node_index, "input")

    def get_output_at(self, node_index):
        """Keras 2: the output tensor(s) of the layer's ``node_index``-th call."""
        return self._node_attribute(node_index, "output")

    def get_input_shape_at(self, node_index):
        """Keras 2: the input shape(s) of the layer's ``node_index``-th call."""
        return self._node_attribute(node_index, "input_shape")

    def get_output_shape_at(self, node_index):
        """Keras 2: the output shape(s) of the layer's ``node_index``-th call."""
        return self._node_attribute(node_index, "output_shape")

    def get_input_mask_at(self, node_index):
        """Keras 2: the input mask(s) of the layer's ``node_index``-th call (None: no mask)."""
        return self._node_attribute(node_index, "input_mask")

    def get_output_mask_at(self, node_index):
        """Keras 2: the output mask(s) of the layer's ``node_index``-th call (None: no mask)."""
        return self._node_attribute(node_index, "output_mask")
