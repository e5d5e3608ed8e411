"""``plot_model`` / ``model_to_dot`` (``keras.utils``, Keras 2's ``keras.utils.vis_utils``).

Drawing a model needs pydot and the Graphviz programs, which Lamina does not use: both raise
:class:`PlotModelError`, which is an ``ImportError`` naming them (as Keras raises without
pydot) and an ``UnsupportedKerasAPIError``.  Use ``model.summary()`` for the layer table.

>>> try:
...     plot_model(None, to_file="model.png")
... except ImportError as e:
...     print(str(e)[:44])
keras.utils.plot_model is not supported by L
"""

from __future__ import annotations

from lamina._unsupported import UnsupportedKerasAPIError, unsupported

__all__ = ["PlotModelError", "model_to_dot", "plot_model"]


class PlotModelError(UnsupportedKerasAPIError, ImportError):
    """``plot_model``/``model_to_dot`` are unavailable (an ``ImportError`` and a
    ``NotImplementedError``)."""


def _error(name: str) -> PlotModelError:
    hint = (
        "drawing a model needs the pydot package and the Graphviz programs, which Lamina does "
        "not use; call model.summary() for the table of layers"
    )
    return PlotModelError(str(unsupported("utils", name, hint)))


def plot_model(model=None, *args, **kwargs):
    """Not available in Lamina; raises :class:`PlotModelError` (use ``model.summary()``)."""
    raise _error("plot_model")


def model_to_dot(model=None, *args, **kwargs):
    """Not available in Lamina; raises :class:`PlotModelError` (use ``model.summary()``)."""
    raise _error("model_to_dot")
