"""Keras 2's ``keras.utils.vis_utils`` module: ``plot_model`` and ``model_to_dot``.

>>> from lamina.utils.vis_utils import plot_model
>>> plot_model.__module__
'lamina.utils.model_plot'
"""

from lamina.utils.model_plot import model_to_dot, plot_model

__all__ = ["model_to_dot", "plot_model"]
