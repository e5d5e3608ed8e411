"""Checks applied to every layer where a model computes shapes: config sizes and output shapes.

A model calls :func:`output_shape` for each layer instead of ``layer.compute_output_shape``.
It refuses, naming the layer and the shapes, what would otherwise build a model with negative
or zero dimensions (a kernel or pool larger than its input, strides that leave nothing,
cropping more than the input) or divide by zero (``strides=0``), as Keras does at build time
("Computed output size would be zero or negative").

>>> from lamina.layers import Conv2D
>>> from lamina.layers.shape_checks import output_shape
>>> output_shape(Conv2D(4, 3), (None, 8, 8, 1))
(None, 6, 6, 4)
>>> output_shape(Conv2D(4, 5, name="c"), (None, 3, 3, 1))
Traceback (most recent call last):
...
ValueError: Computed output size would be zero or negative for layer 'c' (Conv2D): input shape (None, 3, 3, 1) gives output shape (None, -1, -1, 4). Received: kernel_size=(5, 5), strides=(1, 1), padding='valid', dilation_rate=(1, 1). Use a smaller kernel_size/pool_size/strides/cropping, padding='same', or a larger input.
"""

from __future__ import annotations

import numbers

#: Config entries that are sizes, counts or steps: each must be a positive integer (or None).
POSITIVE = (
    "units",
    "filters",
    "kernel_size",
    "pool_size",
    "strides",
    "dilation_rate",
    "size",
    "n",
    "input_dim",
    "output_dim",
    "depth_multiplier",
)
#: Config entries shown in the zero-or-negative message, when the layer has them.
_SHOWN = ("kernel_size", "pool_size", "strides", "padding", "dilation_rate", "cropping")


def _label(layer) -> str:
    return f"layer {getattr(layer, 'name', '?')!r} ({type(layer).__name__})"


def _config(layer) -> dict:
    """The size-like settings of a built-in layer, read from its attributes (named as Keras's
    config keys).  Not ``get_config()``: that serializes initializers too, and models compute
    shapes often (20,000 layers, three walks).  A user's layer is not checked: its attributes
    may mean anything."""
    if not type(layer).__module__.startswith("lamina.layers"):
        return {}
    found = {}
    attrs, cls = layer.__dict__, type(layer)
    for key in (*POSITIVE, *_SHOWN):
        if key not in attrs and not hasattr(cls, key):
            continue  # not ``getattr``: a missing name would fall back to a weight lookup
        value = getattr(layer, key, None)
        if value is not None and not callable(value):
            found[key] = value
    return found


def check_config(layer, config: dict | None = None) -> None:
    """Refuses size-like config entries (``strides``, ``units``, ...) that are not positive.

    Raises:
        ValueError: an entry of :data:`POSITIVE` holds zero, a negative or a non-integer.
    """
    config = _config(layer) if config is None else config
    for key in POSITIVE:
        value = config.get(key)
        if value is None:
            continue
        items = value if isinstance(value, list | tuple) else (value,)
        if not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) > 0
            for v in items
        ):
            raise ValueError(
                f"Invalid {key} for {_label(layer)}: expected a positive integer (or a tuple "
                f"of them). Received: {key}={value!r}."
            )


def _dims_ok(shape, minimum: int) -> bool:
    return all(d is None or not isinstance(d, numbers.Integral) or d >= minimum for d in shape[1:])


def _shapes(shape) -> list[tuple]:
    """A layer's output shape as a list of shapes (a layer with several outputs has a list)."""
    if (
        isinstance(shape, list | tuple)
        and shape
        and all(isinstance(s, list | tuple) for s in shape)
    ):
        return [tuple(s) for s in shape]
    return [tuple(shape)]


def _own_methods(layer) -> set:
    """The methods a user class (not a built-in layer) defines on ``layer``'s type."""
    return {
        name
        for klass in type(layer).__mro__
        if not klass.__module__.startswith("lamina.")
        for name in vars(klass)
    }


def output_shape(layer, input_shape) -> tuple:
    """``layer.compute_output_shape(input_shape)``, checked; the model's one call for shapes.

    Args:
        layer: a Lamina layer.
        input_shape: its input shape, batch dimension first.

    Returns:
        The output shape as a tuple.

    Raises:
        ValueError: a size-like config entry is not positive, the input shape has a negative
            dimension, or the output shape would have a zero or negative dimension.
    """
    input_shape = tuple(input_shape)
    config = _config(layer)
    check_config(layer, config)
    if not _dims_ok(input_shape, 0):
        raise ValueError(
            f"{_label(layer).capitalize()} received input shape {input_shape}: every dimension "
            "after the batch must be a positive integer or None."
        )
    try:
        out = layer.compute_output_shape(input_shape)
    except (ZeroDivisionError, OverflowError) as e:
        raise ValueError(
            f"Cannot compute the output shape of {_label(layer)} for input shape {input_shape} "
            f"({type(e).__name__}: {e}); check its sizes and strides."
        ) from None
    if getattr(layer, "_traced", False) and "compute_output_shape" in _own_methods(layer):
        # The user's own shape skips the trace that finds unseeded draws: look for them.
        from lamina.layers.symbolic_shapes import count_training_draws

        count_training_draws(layer, input_shape)
    shapes = _shapes(out)
    for shape in shapes:
        if not _dims_ok(shape, 1):
            shown = ", ".join(f"{k}={config[k]!r}" for k in _SHOWN if k in config)
            raise ValueError(
                f"Computed output size would be zero or negative for {_label(layer)}: input "
                f"shape {input_shape} gives output shape {shape}."
                + (f" Received: {shown}." if shown else "")
                + " Use a smaller kernel_size/pool_size/strides/cropping, padding='same', or a "
                "larger input."
            )
    return tuple(out) if _is_multi(out) else shapes[0]


def _is_multi(shape) -> bool:
    return isinstance(shape, list | tuple) and bool(shape) and isinstance(shape[0], list | tuple)
