"""The node of Keras 2's ``K.gradients`` in a functional graph (see
:mod:`lamina.backend.keras2_gradients`).

>>> import lamina
>>> from lamina import backend as K
>>> x = lamina.Input((2,))
>>> type(K.gradients(K.sum(x * x), x)[0]._keras_history[0]).__name__
'GraphGradient'
"""

from __future__ import annotations

from lamina._naming import unique_name
from lamina.layers.symbolic import TensorOp


class GraphGradient(TensorOp):
    """The gradient of ``sum(loss)`` with respect to ``wrt``, two tensors of one graph: a
    weightless node called on ``[wrt, loss]`` whose output has ``wrt``'s shape.

    The functional graph computes it (``models.graph``); it cannot be saved (Keras 3 has no
    such op).
    """

    #: Tells the graph runner to differentiate instead of calling ``apply``.
    differentiates = True

    def __init__(self, name=None):
        super().__init__(
            lambda tensors: tensors[0],  # the output's shape and dtype: those of ``wrt``
            "gradients",
            unsaveable_reason="it holds K.gradients, Keras 2's symbolic gradients",
            name=name or unique_name("gradients"),
        )

    def apply(self, params, state, x, *, training=False, key=None):
        raise TypeError(
            f"{self.name!r} is the gradient of one graph tensor with respect to another "
            "(K.gradients): it runs only inside its functional graph, through K.function or "
            "a Model built on it."
        )
