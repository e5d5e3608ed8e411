"""Keras 2's ``keras.utils.vis_utils``: ``plot_model``/``model_to_dot`` are not supported by
Lamina (they need pydot and Graphviz); calling them raises an error that says so.  Use
``model.summary()`` for the layer table.

>>> try:
...     plot_model(None, to_file="model.png")
... except NotImplementedError as e:
...     print(str(e)[:44])
keras.utils.plot_model is not supported by L
"""

from __future__ import annotations

from lamina._unsupported import unsupported

__all__ = ["model_to_dot", "plot_model"]


def plot_model(model=None, *args, **kwargs):
    """Not supported by Lamina; raises ``NotImplementedError`` (use ``model.summary()``)."""
    raise unsupported("utils", "plot_model", "use model.summary() for the table of layers")


def model_to_dot(model=None, *args, **kwargs):
    """Not supported by Lamina; raises ``NotImplementedError`` (use ``model.summary()``)."""
    raise unsupported("utils", "model_to_dot", "use model.summary() for the table of layers")
