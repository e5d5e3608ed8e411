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


_MERGE_MODES = {"sum": "Add", "mul": "Multiply", "ave": "Average", "max": "Maximum"}


def merge(
    inputs,
    mode="sum",
    concat_axis=-1,
    dot_axes=-1,
    output_shape=None,
    output_mask=None,
    arguments=None,
    node_indices=None,
    tensor_indices=None,
    name=None,
):
    """Keras 1's functional ``merge(inputs, mode=...)``, as the Keras 2 merge layer it became.

    ``mode`` ``"sum"``, ``"mul"``, ``"ave"``, ``"max"``, ``"concat"`` (on ``concat_axis``),
    ``"dot"`` (on ``dot_axes``), ``"cos"`` (the cosine of the two inputs along
    ``dot_axes``, ``Dot(normalize=True)``), or a function of the list of tensors (run as a
    ``Lambda`` with ``output_shape`` and ``arguments``).  ``from keras.layers import merge``
    finds it: the module ``lamina.layers.merge`` is callable.

    Args:
        inputs: a list of at least two tensors.
        mode: how to merge them (above).
        concat_axis, dot_axes, output_shape, arguments, name: as Keras 1.

    Returns:
        The merged tensor.

    Raises:
        ValueError: an unknown ``mode``, or node/tensor indices or an output mask (Keras 1's
            layer-graph arguments, which the functional API replaced).

    >>> import numpy as np
    >>> from lamina.layers import merge
    >>> a, b = np.ones((2, 3), "float32"), np.full((2, 3), 2.0, "float32")
    >>> merge([a, b], mode="concat").shape
    (2, 6)
    >>> merge([a, b], mode="sum")[0].tolist()
    [3.0, 3.0, 3.0]
    """
    from lamina import layers as L

    if node_indices is not None or tensor_indices is not None or output_mask is not None:
        raise ValueError(
            "merge(): node_indices, tensor_indices and output_mask (Keras 1's layer-graph "
            "arguments) are not supported; call merge on the tensors themselves."
        )
    kw = {} if name is None else {"name": name}
    if callable(mode):
        return L.Lambda(mode, output_shape=output_shape, arguments=arguments, **kw)(inputs)
    if mode in _MERGE_MODES:
        return getattr(L, _MERGE_MODES[mode])(**kw)(inputs)
    if mode == "concat":
        return L.Concatenate(axis=concat_axis, **kw)(inputs)
    if mode in ("dot", "cos"):
        return L.Dot(axes=dot_axes, normalize=mode == "cos", **kw)(inputs)
    raise ValueError(
        f"merge(): unknown mode {mode!r}; expected one of 'sum', 'mul', 'concat', 'ave', "
        f"'cos', 'dot', 'max' or a function."
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
