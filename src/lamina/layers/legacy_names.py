"""Keras 1/2 layer names: aliases Keras 2 kept (``Convolution2D`` is ``Conv2D``) and ``Merge``.

The aliases are the same classes, so ``Convolution2D(32, 3, 3, border_mode='same')`` is a
``Conv2D`` whose Keras 1 arguments :mod:`lamina.layers.legacy_args` translates.  Keras 1's
``Merge`` layer has no Sequential equivalent; calling it raises an error that names the
functional-API replacement.

>>> from lamina.layers import Convolution2D, Conv2D
>>> Convolution2D is Conv2D
True
"""

from __future__ import annotations

from lamina._unsupported import unsupported
from lamina.layers.conv import Conv1D, Conv2D
from lamina.layers.conv_depthwise import SeparableConv2D
from lamina.layers.conv_transpose import Conv2DTranspose
from lamina.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)

Convolution1D = Conv1D
Convolution2D = Conv2D
Deconvolution2D = Conv2DTranspose
SeparableConvolution2D = SeparableConv2D
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D


def Merge(*args, **kwargs):  # noqa: N802
    """Keras 1's ``Merge`` layer: not supported; raises with the replacement.

    Raises:
        NotImplementedError: always (an ``UnsupportedKerasAPIError``).

    >>> try:
    ...     Merge([None, None], mode="concat")
    ... except NotImplementedError as e:
    ...     print(str(e)[:40])
    keras.layers.Merge is not supported by L
    """
    mode = kwargs.get("mode", "sum")
    replacement = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply", "ave": "Average",
                   "max": "Maximum", "dot": "Dot"}.get(mode, "Concatenate/Add/...")  # fmt: skip
    raise unsupported(
        "layers",
        "Merge",
        f"Keras 2 removed it: merge the branches with the functional API instead, e.g. "
        f"out = {replacement}()([branch_a, branch_b]) and model = Model(inputs, out), "
        f"or concatenate the features before a single Sequential model",
    )


__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "Convolution1D",
    "Convolution2D",
    "Deconvolution2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "MaxPool1D",
    "MaxPool2D",
    "Merge",
    "SeparableConvolution2D",
]
