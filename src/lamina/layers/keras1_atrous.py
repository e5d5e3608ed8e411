"""Keras 1's dilated convolutions ``AtrousConvolution1D``/``AtrousConvolution2D`` (kept by
Keras 2.0 in ``keras.legacy.layers``): a ``Conv1D``/``Conv2D`` whose ``atrous_rate`` is its
``dilation_rate``; Keras 1's other argument spellings translate as for ``Convolution2D``.

>>> import warnings
>>> from lamina.layers import AtrousConvolution2D
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     layer = AtrousConvolution2D(8, 3, 3, atrous_rate=(2, 2), border_mode="same")
>>> type(layer).__name__, layer.kernel_size, layer.dilation_rate, layer.padding
('Conv2D', (3, 3), (2, 2), 'same')
"""

from __future__ import annotations

from lamina.layers.conv import Conv1D, Conv2D

__all__ = ["AtrousConvolution1D", "AtrousConvolution2D"]


def AtrousConvolution1D(*args, atrous_rate=1, **kwargs):  # noqa: N802 - Keras 1's class name
    """Keras 1's ``AtrousConvolution1D(nb_filter, filter_length, atrous_rate=...)``: a
    :class:`~lamina.layers.Conv1D` with ``dilation_rate=atrous_rate``."""
    return Conv1D(*args, dilation_rate=atrous_rate, **kwargs)


def AtrousConvolution2D(*args, atrous_rate=(1, 1), **kwargs):  # noqa: N802 - Keras 1's name
    """Keras 1's ``AtrousConvolution2D(nb_filter, nb_row, nb_col, atrous_rate=...)``: a
    :class:`~lamina.layers.Conv2D` with ``dilation_rate=atrous_rate``."""
    return Conv2D(*args, dilation_rate=atrous_rate, **kwargs)
