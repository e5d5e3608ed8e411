"""The positions of a ``Sequential``'s stack: one layer object may come at several of them.

Keras shares such a layer ("Hands-On Machine Learning"'s ``block1`` used three times): it is
built at its first use and every later use applies the same weights.  ``Sequential`` keeps the
positions (``model.layers``, ``_stack``) and the distinct layers in order of first use
(``_layers``, aligned with the ``TrainState``); the shape walks over the positions and the
check that a repeat fits its weights live here.

>>> from lamina.layers import Dense
>>> d = Dense(4, name="d")
>>> output_shapes([d, d], (None, 4))
[(None, 4), (None, 4)]
>>> first_use_shapes([d, d], [d], [(None, 4), (None, 4)])
[(None, 4)]
>>> output_shapes([d, d], (None, 8))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Layer 'd' comes at several positions of this Sequential model, ...
"""

from __future__ import annotations

from lamina.layers import shape_checks
from lamina.layers.base import check_rank
from lamina.layers.core_methods import layer_init


def is_repeat(layer, names, layers) -> bool:
    """Whether ``layer`` is one of ``layers`` already (added again: shared, as in Keras).

    Args:
        layer: the layer being added.
        names: the names of ``layers``.
        layers: the model's distinct layers.

    Raises:
        ValueError: another layer of ``layers`` has its name (Keras's unique-names rule).
    """
    if layer.name not in names:
        return False
    if any(other is layer for other in layers):  # a name met again is rare: scan then
        return True
    raise ValueError(
        f"All layers added to a Sequential model should have unique names. Name "
        f"{layer.name!r} is already the name of a layer in this model. Update the `name` "
        f"argument to pass a unique name (the same layer object may come again: its "
        f"weights are then shared)."
    )


def output_shapes(stack, input_shape) -> list:
    """Each position's output shape for inputs of ``input_shape`` (batch first).

    Raises:
        ValueError: a layer refuses its input, or a repeated layer's weights (built at its
            first use) do not fit a later input (:func:`check_repeat`).
    """
    shape = tuple(input_shape)
    shapes, first = [], {}
    for layer in stack:
        if id(layer) in first:
            check_repeat(layer, first[id(layer)], shape)
        first.setdefault(id(layer), shape)
        check_rank(layer, shape)
        shape = shape_checks.output_shape(layer, shape)  # refuses empty/negative shapes
        shapes.append(shape)
    return shapes


def first_use_shapes(stack, layers, input_shapes) -> list:
    """Per distinct layer (``layers``), the input shape of its first position, given each
    position's input shape (``input_shapes``, aligned with ``stack``)."""
    first: dict = {}
    for layer, shape in zip(stack, input_shapes):
        first.setdefault(id(layer), shape)
    return [first[id(layer)] for layer in layers]


def remove_last(stack, layers):
    """Pops the last position; the layer leaves ``layers`` too unless it is used earlier
    (its only use was the last position, so it was the last first use as well)."""
    layer = stack.pop()
    if not any(other is layer for other in stack):
        layers.pop()
    return layer


def check_repeat(layer, first_shape, shape) -> None:
    """Raises if ``layer``, repeated in a stack, cannot take ``shape`` at a later position.

    Its weights are built once, for ``first_shape`` (the input of its first use), and shared
    by every use, as Keras's layer keeps the variables of its first call.  A weightless layer
    takes any shape; a model nested in the stack checks its inputs itself.

    Args:
        layer: the repeated layer.
        first_shape: its input shape at its first position (batch first).
        shape: its input shape at the new position.

    Raises:
        ValueError: the weights built for ``first_shape`` do not fit inputs of ``shape``.
    """
    if first_shape is None or tuple(first_shape) == tuple(shape):
        return
    if getattr(layer, "_is_model", False):
        return
    try:
        built = _weight_shapes(layer, first_shape)
    except Exception:  # noqa: BLE001 - the first use's own checks report it
        return
    try:
        needed = _weight_shapes(layer, shape)
    except Exception:  # noqa: BLE001 - any failure means the layer refuses the shape
        needed = None
    if needed == built:
        return
    raise ValueError(
        f"Layer {layer.name!r} comes at several positions of this Sequential model, which "
        f"shares its weights between them: expected its later input to fit the weights "
        f"built for its first input shape {tuple(first_shape)} ({_describe(built)}), but it "
        f"received an input of shape {tuple(shape)}"
        f"{'' if needed is None else f' (which needs {_describe(needed)})'}. Repeat a layer "
        f"only where its input has a shape its weights fit, or add a new layer there."
    )


def _weight_shapes(layer, shape) -> dict:
    """``{weight name: shape}`` of the weights ``layer`` builds for inputs of ``shape``
    (traced for shapes only: nothing is drawn)."""
    import jax

    p, s = jax.eval_shape(lambda k: layer_init(layer)(k, tuple(shape)), jax.random.key(0))
    return {k: tuple(v.shape) for k, v in (*p.items(), *s.items())}


def _describe(shapes: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in shapes.items()) or "no weights"
