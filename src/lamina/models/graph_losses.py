"""Keras 2's ``model.add_loss(symbolic_tensor)``: a loss built from a functional model's graph.

Keras 2's variational autoencoder (and the books and courses that copied it) writes its loss
with backend ops on the model's own symbolic tensors, then hands it to the model::

    kl = -0.5 * K.sum(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=-1)
    vae.add_loss(K.mean(mse(inputs, outputs) * original_dim + kl))
    vae.compile(optimizer="adam")

Keras 3 refuses it.  Here the loss tensor is a graph of its own, from the model's inputs to
the loss: :class:`GraphLoss` maps it once (``add_loss`` time) and runs it in the model's
forward pass with the model's weights, so ``fit`` and ``evaluate`` add it to the loss as
Keras 2 did (summed, as Keras sums every ``add_loss`` term).  The tensors it reads may lie
inside a nested model (``z_mean`` of an ``encoder`` model the VAE calls): each layer of the
loss graph reads its weights where the model holds them, by identity.  A layer with weights
that the model does not hold is refused.

>>> import numpy as np
>>> import lamina
>>> x = lamina.Input((3,))
>>> h = lamina.layers.Dense(2)(x)
>>> model = lamina.Model(x, lamina.layers.Dense(1)(h))
>>> model.add_loss(lamina.ops.mean(lamina.ops.square(h)))  # penalize the hidden layer
>>> model.compile(optimizer="sgd", loss="mse")
>>> h = model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers.symbolic import KerasTensor
from lamina.layers.tracing import split_prefixed


def _is_kt(v) -> bool:
    return isinstance(v, KerasTensor)


class GraphLoss:
    """One ``add_loss`` term given as symbolic tensors of a functional model's graph.

    Args:
        model: the functional model (its inputs are the graph's inputs).
        loss: a symbolic tensor, or a list/tuple of them (each is summed into the loss).

    Raises:
        TypeError: ``loss`` mixes symbolic tensors with other values.
        ValueError: the loss depends on an input the model does not have, or uses a layer
            with weights that is not part of the model.
    """

    def __init__(self, model, loss):
        from lamina.models import graph as _graph

        leaves = jax.tree_util.tree_leaves(loss, is_leaf=_is_kt)
        if not leaves or not all(_is_kt(v) for v in leaves):
            raise TypeError(
                "model.add_loss() takes a loss tensor: a symbolic tensor of the model's graph "
                "(Keras 2), or an array/callable from inside a layer's call(). Received: "
                f"{loss!r}."
            )
        main = list(model.inputs)
        main += [t for node in model._nodes if not node.is_input for t in node.output_tensors]
        try:
            self.nodes, self.layers = _graph.map_graph(main, leaves)
        except ValueError as err:
            raise ValueError(
                f"model.add_loss(): the loss tensor must be computed from the model's inputs "
                f"({[t.name for t in model.inputs]}). {err}"
            ) from None
        # The tensors of the model's own graph the loss reads (its outputs, say) come from the
        # model's forward pass, as in Keras 2's one graph: the loss sees the same values (the
        # same random draws), and nothing is computed twice.
        used = {id(t) for node in self.nodes if not node.is_input for t in node.input_tensors}
        used |= {id(t) for t in leaves}
        self.boundary = [t for t in main if id(t) in used]
        self.outputs = leaves
        self._paths = [_locate(model, layer) for layer in self.layers]
        self._own = _own_weights(self, model)

    def spec_key(self) -> tuple:
        """What the compiled program depends on: the loss graph's layers and their wiring."""
        from lamina.models.functional import wiring

        return (tuple(la._spec_key() for la in self.layers), wiring(self.nodes, self.layers, self.boundary))

    def __call__(self, params, state, values, *, training, key, batch_mask):
        """The summed loss term, run on the model's ``params``/``state`` (one entry per
        layer of the model) and ``values``: the model's forward values of ``boundary``
        (``{id(tensor): array}``)."""
        outs = self.values(params, state, values, training=training, key=key, batch_mask=batch_mask)
        return sum(jnp.sum(jnp.asarray(v, jnp.float32)) for v in outs)

    def values(self, params, state, values, *, training, key, batch_mask):
        """The loss graph's output arrays (one per tensor given), as :meth:`__call__` runs
        them (Keras 2's ``model.add_metric(tensor)`` logs their mean)."""
        from lamina.models import graph as _graph

        p = tuple(_lookup(params, path, own, 0) for path, own in zip(self._paths, self._own))
        s = tuple(_lookup(state, path, own, 1) for path, own in zip(self._paths, self._own))
        if key is not None:
            key = jax.random.fold_in(key, 0x6C6F7373)  # apart from the model's own draws
        values, _, _ = _graph.graph_forward(
            self.nodes, self.layers, self.boundary, self.outputs, p, s,
            [values[id(t)] for t in self.boundary],
            training=training, key=key, batch_mask=batch_mask,
        )  # fmt: skip
        return values


def _locate(model, layer):
    """The path to ``layer``'s weights in ``model``'s params: ``(i,)`` for its ``i``-th layer,
    ``(i, name, ...)`` for a layer inside a model it holds; None when not found."""
    for i, held in enumerate(model._layers):
        if held is layer:
            return (i,)
    for i, held in enumerate(model._layers):
        inner = _inner_path(held, layer)
        if inner is not None:
            return (i, *inner)
    return None


def _inner_path(container, layer):
    """Layer names from nested model ``container`` down to ``layer`` (its flat weight keys are
    ``name/.../key``), or None."""
    if not getattr(container, "_is_model", False):
        return None
    for held in getattr(container, "_layers", None) or ():
        if held is layer:
            return (held.name,)
        inner = _inner_path(held, layer)
        if inner is not None:
            return (held.name, *inner)
    return None


def _own_weights(graph_loss, model):
    """Per loss-graph layer the model does not hold: its (weightless) params and its state."""
    from lamina.models.weights_init import init_layers

    missing = [i for i, path in enumerate(graph_loss._paths) if path is None]
    found = [None] * len(graph_loss.layers)
    if not missing:
        return found
    shapes = _input_shapes(graph_loss.nodes)
    layers = [graph_loss.layers[i] for i in missing]
    params, state, _ = init_layers(layers, [shapes.get(id(la)) for la in layers])
    for i, layer, p, s in zip(missing, layers, params, state):
        if p:
            raise ValueError(
                f"model.add_loss(): the loss uses layer {layer.name!r} "
                f"({type(layer).__name__}), which has weights but is not part of model "
                f"{model.name!r}; the model would not train them. Use the layer in the model's "
                "outputs, or compute the loss with weightless operations."
            )
        found[i] = (p, s)
    return found


def _input_shapes(nodes) -> dict:
    shapes = {}
    for node in nodes:
        if node.is_input or id(node.layer) in shapes:
            continue
        arg = node.args[0]
        shape = jax.tree_util.tree_map(lambda t: t.shape, arg, is_leaf=_is_kt)
        if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple):
            shape = list(shape)
        shapes[id(node.layer)] = shape
    return shapes


def _lookup(arrays, path, own, which):
    if path is None:
        return own[which]
    found = arrays[path[0]]
    for name in path[1:]:
        found = split_prefixed(found, name)
    return found
