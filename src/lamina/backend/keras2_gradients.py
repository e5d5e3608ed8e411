"""Keras 2's ``K.gradients(loss, variables)`` on a functional graph.

Keras 2 code differentiates graph tensors: the gradient-ascent examples (filter
visualization, deep dream, neural style transfer) and Grad-CAM write

>>> import numpy as np
>>> import lamina
>>> from lamina import backend as K
>>> inputs = lamina.Input((3,))
>>> hidden = lamina.layers.Dense(2, kernel_initializer="ones", name="hidden")(inputs)
>>> loss = K.sum(K.square(hidden))
>>> grads = K.gradients(loss, inputs)[0]
>>> iterate = K.function([inputs], [loss, grads])
>>> loss_value, grads_value = iterate([np.array([[1.0, 2.0, 0.0]], "float32")])
>>> float(loss_value), grads_value.tolist()
(18.0, [[12.0, 12.0, 12.0]])

Each gradient is a symbolic tensor like any other: ops may follow it (``grads /
K.sqrt(K.mean(K.square(grads)))``), and :func:`lamina.backend.function` or a ``Model`` computes
it.  It is the output of a :class:`~lamina.layers.graph_gradient.GraphGradient` node whose
inputs are ``[wrt, loss]``; when
the graph runs, :func:`lamina.models.graph.graph_forward` differentiates the nodes between
them with ``jax.grad`` (every other tensor keeps its value), the sum of ``loss`` as
TensorFlow's ``tf.gradients`` does.
"""

from __future__ import annotations

__all__ = ["gradients"]


def _depends_on(loss, wrt) -> bool:
    """Whether ``loss`` is computed from ``wrt`` in the graph."""
    seen, stack = set(), [loss]
    while stack:
        tensor = stack.pop()
        if tensor is wrt:
            return True
        history = tensor._keras_history
        if history is None:
            continue
        layer, index, _ = history
        node = layer._inbound_nodes[index]
        if id(node) in seen or node.is_input:
            continue
        seen.add(id(node))
        stack.extend(node.input_tensors)
    return False


def gradients(loss, variables):
    """The gradients of ``loss`` with respect to ``variables``, symbolic tensors of one graph
    (``K.gradients``, Keras 2): a list with one tensor per variable, of its shape.

    As TensorFlow's ``tf.gradients``, a non-scalar ``loss`` is summed, and a variable ``loss``
    does not depend on gets ``None``.

    Args:
        loss: a symbolic tensor (``K.mean(layer.output[..., 0])``).
        variables: a symbolic tensor or a list of them: ``model.input``, a layer's ``output``.

    Returns:
        A list of symbolic tensors (or ``None``), one per variable; compute them with
        ``K.function(inputs, outputs)``.

    Raises:
        TypeError: ``loss`` or a variable is not a symbolic tensor of a functional graph (a
            weight, an array), or a variable is not a float tensor.

    >>> import lamina
    >>> from lamina import backend as K
    >>> x = lamina.Input((2,))
    >>> [g.shape for g in K.gradients(K.sum(x * x), [x])]
    [(None, 2)]
    """
    from lamina.layers.graph_gradient import GraphGradient
    from lamina.layers.symbolic import KerasTensor  # lamina.layers imports the backend

    wrts = list(variables) if isinstance(variables, list | tuple) else [variables]
    if not isinstance(loss, KerasTensor) and all(isinstance(v, KerasTensor) for v in wrts):
        # A loss function given to compile() differentiating y_pred with respect to a graph
        # tensor it closes over (the improved WGAN's gradient penalty): Keras 2 ran it on the
        # graph's tensors; here y_pred is the forward pass's value, differentiated through
        # the graph that computed it.
        from lamina.training.output_masks import gradients as live_gradients

        found = live_gradients(loss, wrts)
        if found is not None:
            return found
    if not isinstance(loss, KerasTensor) or loss._keras_history is None:
        inside = ""
        if hasattr(loss, "shape"):  # an array: called inside a layer's call or a Lambda
            inside = (
                " Inside a layer's call() or a Lambda (Keras 2's mnist_swwae computes "
                "K.gradients there) the tensors are arrays, with no graph linking them."
            )
        raise TypeError(
            "K.gradients(loss, variables) differentiates a symbolic tensor of a functional "
            "graph (e.g. K.mean(model.layers[-1].output)). Received loss="
            f"{type(loss).__name__}.{inside} To differentiate a Python function of arrays, "
            "use jax.grad."
        )
    for v in wrts:
        if not isinstance(v, KerasTensor) or v._keras_history is None:
            raise TypeError(
                "K.gradients(loss, variables) differentiates with respect to symbolic tensors "
                "of the loss's graph (model.input, a layer's output); received "
                f"{type(v).__name__} {v!r}. For gradients with respect to weights, write the "
                "loss as a function of the weights and use jax.grad, or train with fit()."
            )
        if "float" not in v.dtype:
            raise TypeError(
                f"K.gradients: {v!r} has dtype {v.dtype}; gradients exist only with respect to "
                "float tensors."
            )
    return [GraphGradient()([v, loss]) if _depends_on(loss, v) else None for v in wrts]
