"""``InputSpec``: the rank, shape and dtype a layer accepts (as ``keras.layers.InputSpec``).

A Keras-style layer sets ``self.input_spec = InputSpec(ndim=4)`` (or a list of specs, one per
input); every build and call of the layer then checks its inputs with Keras's own error
messages (:func:`assert_input_compatibility`).

>>> import numpy as np
>>> from lamina.layers import InputSpec
>>> spec = InputSpec(ndim=2, axes={-1: 3})
>>> spec
InputSpec(ndim=2, axes={-1: 3})
>>> assert_input_compatibility(spec, np.zeros((4, 3)), "dense")
>>> assert_input_compatibility(spec, np.zeros((4, 2)), "dense")
Traceback (most recent call last):
...
ValueError: Input 0 with name 'None' of layer 'dense' is incompatible with the layer: expected axis -1 of input shape to have value 3, but received input with shape (4, 2)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _standardize_dtype(dtype) -> str | None:
    if dtype is None:
        return None
    return str(np.dtype(getattr(dtype, "name", dtype)))


def _standardize_shape(shape) -> tuple:
    return tuple(None if d is None else int(d) for d in shape)


class InputSpec:
    """Specifies the rank, dtype and shape of each input of a layer.

    Args:
        dtype: expected dtype of the input.
        shape: expected shape, batch dimension included (``None`` matches any size).
        ndim: expected rank.
        max_ndim, min_ndim: the largest / smallest accepted rank.
        axes: a dict mapping an axis to the size it must have.
        allow_last_axis_squeeze: accept an extra or a missing trailing axis of size 1.
        name: the input's key when inputs are passed as a dict.
        optional: whether the input may be ``None``.

    Raises:
        TypeError: ``axes`` is not a dict with integer keys.
        ValueError: an ``axes`` key is beyond the rank.
    """

    def __init__(
        self,
        dtype=None,
        shape=None,
        ndim=None,
        max_ndim=None,
        min_ndim=None,
        axes=None,
        allow_last_axis_squeeze=False,
        name=None,
        optional=False,
    ):
        self.dtype = _standardize_dtype(dtype)
        if shape is not None:
            self.shape: tuple | None = _standardize_shape(shape)
            self.ndim = len(shape)
        else:
            self.ndim = ndim
            self.shape = None
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.name = name
        self.optional = optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            axes = axes or {}
            self.axes = {int(k): axes[k] for k in axes}
        except (ValueError, TypeError):
            raise TypeError(
                f"Argument `axes` must be a dict with integer keys. Received: axes={axes}"
            ) from None
        if self.axes and (self.ndim is not None or self.max_ndim is not None):
            max_dim = (self.ndim if self.ndim else self.max_ndim) - 1
            max_axis = max(self.axes)
            if max_axis > max_dim:
                raise ValueError(
                    f"Axis {max_axis} is greater than the maximum allowed value: {max_dim}"
                )

    def __repr__(self) -> str:
        spec = [
            f"dtype={self.dtype}" if self.dtype else "",
            f"shape={self.shape}" if self.shape else "",
            f"ndim={self.ndim}" if self.ndim else "",
            f"max_ndim={self.max_ndim}" if self.max_ndim else "",
            f"min_ndim={self.min_ndim}" if self.min_ndim else "",
            f"axes={self.axes}" if self.axes else "",
        ]
        return f"InputSpec({', '.join(x for x in spec if x)})"

    def get_config(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "shape": self.shape,
            "ndim": self.ndim,
            "max_ndim": self.max_ndim,
            "min_ndim": self.min_ndim,
            "axes": self.axes,
            "optional": self.optional,
        }

    @classmethod
    def from_config(cls, config: dict) -> InputSpec:
        return cls(**config)


def _is_shape(x) -> bool:
    return isinstance(x, tuple) and all(d is None or isinstance(d, int | np.integer) for d in x)


def _flatten(obj) -> list:
    if obj is None or isinstance(obj, InputSpec) or _is_shape(obj) or hasattr(obj, "shape"):
        return [obj]
    if isinstance(obj, dict):
        return [v for k in sorted(obj) for v in _flatten(obj[k])]
    if isinstance(obj, list | tuple):
        return [v for item in obj for v in _flatten(item)]
    return [obj]


def assert_input_compatibility(input_spec, inputs, layer_name: str) -> None:
    """Raises Keras's ``ValueError`` when ``inputs`` do not satisfy ``input_spec``.

    Args:
        input_spec: an :class:`InputSpec`, a list/nest of them, or ``None``.
        inputs: arrays (or shape tuples, batch dimension included), nested as the layer takes
            them.
        layer_name: the layer's name, for the message.
    """
    if not input_spec:
        return
    specs = _flatten(input_spec)
    if isinstance(inputs, dict):
        names = [spec.name for spec in specs]
        if all(names):
            for name in names:
                if name not in inputs:
                    raise ValueError(
                        f'Missing data for input "{name}". You passed a data dictionary with '
                        f"keys {list(inputs.keys())}. Expected the following keys: {names}"
                    )
            inputs = [inputs[name] for name in names]
    inputs = _flatten(inputs)
    if len(inputs) != len(specs):
        raise ValueError(
            f'Layer "{layer_name}" expects {len(specs)} input(s), but it received '
            f"{len(inputs)} input tensors. Inputs received: {inputs}"
        )
    for index, (x, spec) in enumerate(zip(inputs, specs)):
        if spec is None or (x is None and spec.optional):
            continue
        _check_one(index, x, spec, layer_name)


def _check_one(index, x, spec, layer_name):
    if not (_is_shape(x) or hasattr(x, "shape")):
        raise ValueError(
            f"Inputs to a layer should be tensors. Got '{x}' (of type {type(x)}) as input for "
            f"layer '{layer_name}'."
        )
    shape = _standardize_shape(x if _is_shape(x) else x.shape)
    ndim = len(shape)
    head = f"Input {index} with name '{spec.name}' of layer '{layer_name}' is incompatible with the layer:"
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(
            f"{head} expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {shape}"
        )
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{head} expected max_ndim={spec.max_ndim}, found ndim={ndim}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(
            f"{head} expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
            f"Full shape received: {shape}"
        )
    if spec.dtype is not None and not _is_shape(x):
        dtype = _standardize_dtype(x.dtype)
        if dtype != spec.dtype:
            raise ValueError(f"{head} expected dtype={spec.dtype}, found dtype={dtype}")
    for axis, value in spec.axes.items():
        if value is not None and shape[axis] not in {value, None}:
            raise ValueError(
                f"{head} expected axis {axis} of input shape to have value {value}, but "
                f"received input with shape {shape}"
            )
    if spec.shape is not None:
        spec_shape = spec.shape
        if spec.allow_last_axis_squeeze:
            if shape and shape[-1] == 1:
                shape = shape[:-1]
            if spec_shape and spec_shape[-1] == 1:
                spec_shape = spec_shape[:-1]
        for spec_dim, dim in zip(spec_shape, shape):
            if spec_dim is not None and dim is not None and spec_dim != dim:
                raise ValueError(f"{head} expected shape={spec.shape}, found shape={shape}")


def check_layer_inputs(layer, inputs) -> None:
    """Checks ``inputs`` (arrays or shapes) against ``layer.input_spec`` when it has one."""
    spec = vars(layer).get("input_spec")
    if spec is not None:
        assert_input_compatibility(spec, inputs, layer.name)


__all__ = ["InputSpec", "assert_input_compatibility"]
