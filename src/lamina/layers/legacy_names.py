"""Keras 1/2 layer names: aliases Keras 2 kept (``Convolution2D`` is ``Conv2D``) and ``Merge``.

The aliases are the same classes, so ``Convolution2D(32, 3, 3, border_mode='same')`` is a
``Conv2D`` whose Keras 1 arguments :mod:`lamina.layers.legacy_args` translates.  Keras 1's
``Merge`` layer called on tensors is the Keras 2 merge layer of its mode; a ``Merge`` of branch
models makes a multi-input ``Sequential`` (:mod:`lamina.models.merge_branches`).

>>> from lamina.layers import Convolution2D, Conv2D
>>> Convolution2D is Conv2D
True
"""

from __future__ import annotations

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


def Merge(layers=None, mode="sum", concat_axis=-1, dot_axes=-1, output_shape=None,
          output_mask=None, arguments=None, node_indices=None, tensor_indices=None, name=None):  # noqa: N802
    """Keras 1's ``Merge`` layer.

    Called on tensors (``Merge(mode="concat", concat_axis=1)([a, b])``, Keras 1's functional
    use) it is the Keras 2 merge layer of that mode, as :func:`merge`; this returns that layer
    (``Concatenate``, ``Add``, ``Multiply``, ``Average``, ``Maximum``, ``Dot``, or a ``Lambda``
    for a function ``mode``).  Given branch models (``Merge([left, right], mode="concat")``,
    Keras 1's multi-input ``Sequential``), it returns a
    :class:`~lamina.models.merge_branches.BranchMerge` to add first to a ``Sequential``, whose
    inputs become the branches' inputs (see :mod:`lamina.models.merge_branches`).

    Returns:
        The merge layer, to be called on a list of tensors; or, with ``layers``, the merge of
        those branches.

    Raises:
        TypeError: ``layers`` holding fewer than two branches, or something other than models
            and symbolic tensors.
        ValueError: an unknown ``mode``, or Keras 1's node/tensor indices or output mask.

    >>> import numpy as np
    >>> layer = Merge(mode="concat", concat_axis=-1)
    >>> type(layer).__name__, layer([np.ones((2, 3)), np.ones((2, 1))]).shape
    ('Concatenate', (2, 4))
    """
    layer = _merge_layer(mode, concat_axis, dot_axes, output_shape, output_mask, arguments,
                         node_indices, tensor_indices, name)
    if layers is None:
        return layer
    from lamina.models.merge_branches import BranchMerge

    return BranchMerge(layers, layer)


#: Arguments of ``TimeDistributedDense`` that belong to the wrapper, not to the ``Dense``.
_WRAPPER_ARGS = ("name", "input_shape", "batch_input_shape", "batch_size", "trainable",
                 "input_dim", "input_length")


def TimeDistributedDense(*args, **kwargs):  # noqa: N802
    """Keras 1's ``TimeDistributedDense(output_dim, ...)``: the same ``Dense`` on every step.

    Keras 2 removed it for ``TimeDistributed(Dense(...))``, which this returns: the ``Dense``
    takes the unit count and its Keras 1 options (``init``, ``W_regularizer``, ``bias``,
    ``weights=[W, b]``, ...), the wrapper the name and the input shape (``input_dim`` and
    ``input_length`` become ``input_shape=(input_length, input_dim)``).  It warns once with
    the modern spelling.

    Returns:
        A ``TimeDistributed`` layer wrapping a ``Dense``.

    >>> import warnings
    >>> import numpy as np
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     layer = TimeDistributedDense(4, input_dim=3, input_length=5, name="tdd")
    >>> type(layer).__name__, type(layer.layer).__name__, layer.layer.units
    ('TimeDistributed', 'Dense', 4)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 4)
    """
    from lamina.layers.core import Dense
    from lamina.layers.legacy_args import _warn
    from lamina.layers.wrappers import TimeDistributed

    outer = {k: kwargs.pop(k) for k in _WRAPPER_ARGS if k in kwargs}
    if "input_dim" in outer:
        outer["input_shape"] = (outer.pop("input_length", None), outer.pop("input_dim"))
    elif "input_length" in outer:
        length = outer.pop("input_length")
        if "input_shape" not in outer and "batch_input_shape" not in outer:
            raise ValueError(
                "TimeDistributedDense(input_length=...) needs input_dim= too (Keras 1 built "
                f"input_shape=(input_length, input_dim)); received input_length={length}."
            )
    _warn("TimeDistributedDense", "TimeDistributedDense(output_dim)",
          "TimeDistributed(Dense(units))")
    return TimeDistributed(Dense(*args, **kwargs), **outer)


def CuDNNLSTM(units, **kwargs):  # noqa: N802
    """Keras 2's ``CuDNNLSTM(units, ...)`` (GPU-only in Keras 2): the same maths as
    ``LSTM(units, activation="tanh", recurrent_activation="sigmoid")``, which this returns, so a
    script written for a CUDA GPU runs anywhere and saves files Keras 3 reads as ``LSTM``.
    Its arguments are ``LSTM``'s (CuDNNLSTM had no activations or dropouts to choose).

    >>> import numpy as np
    >>> layer = CuDNNLSTM(4, return_sequences=True)
    >>> type(layer).__name__, layer.recurrent_activation.__name__
    ('LSTM', 'sigmoid')
    >>> layer(np.zeros((2, 3, 5), "float32")).shape
    (2, 3, 4)
    """
    from lamina.layers.recurrent import LSTM

    return LSTM(units, activation="tanh", recurrent_activation="sigmoid", **kwargs)


def CuDNNGRU(units, **kwargs):  # noqa: N802
    """Keras 2's ``CuDNNGRU(units, ...)``: ``GRU(units, reset_after=True,
    recurrent_activation="sigmoid")`` (cuDNN's variant, Keras 3's default GRU), returned as a
    ``GRU``.

    >>> type(CuDNNGRU(4)).__name__, CuDNNGRU(4).reset_after
    ('GRU', True)
    """
    from lamina.layers.recurrent import GRU

    return GRU(units, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
               **kwargs)


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
    return _merge_layer(mode, concat_axis, dot_axes, output_shape, output_mask, arguments,
                        node_indices, tensor_indices, name)(inputs)


def _merge_layer(mode, concat_axis, dot_axes, output_shape, output_mask, arguments,
                 node_indices, tensor_indices, name):
    """The Keras 2 layer that Keras 1's ``merge``/``Merge`` of ``mode`` became."""
    from lamina import layers as L

    if node_indices is not None or tensor_indices is not None or output_mask is not None:
        raise ValueError(
            "merge(): node_indices, tensor_indices and output_mask (Keras 1's layer-graph "
            "arguments) are not supported; call merge on the tensors themselves."
        )
    kw = {} if name is None else {"name": name}
    if callable(mode):
        return L.Lambda(mode, output_shape=output_shape, arguments=arguments, **kw)
    if mode in _MERGE_MODES:
        return getattr(L, _MERGE_MODES[mode])(**kw)
    if mode == "concat":
        return L.Concatenate(axis=concat_axis, **kw)
    if mode in ("dot", "cos"):
        return L.Dot(axes=dot_axes, normalize=mode == "cos", **kw)
    raise ValueError(
        f"merge(): unknown mode {mode!r}; expected one of 'sum', 'mul', 'concat', 'ave', "
        f"'cos', 'dot', 'max' or a function."
    )

__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "Convolution1D",
    "Convolution2D",
    "CuDNNGRU",
    "CuDNNLSTM",
    "Deconvolution2D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "MaxPool1D",
    "MaxPool2D",
    "Merge",
    "SeparableConvolution2D",
    "TimeDistributedDense",
]
