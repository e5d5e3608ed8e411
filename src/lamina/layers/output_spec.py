"""Keras 3's ``layer.compute_output_spec(...)`` and ``layer.symbolic_call(...)``: a layer (or
model) on ``KerasTensor`` inputs gives ``KerasTensor`` outputs with Keras's shapes and dtypes;
``symbolic_call`` also records the call in the graph (as calling the layer on them does),
``compute_output_spec`` records nothing.

>>> from lamina import KerasTensor, layers
>>> dense = layers.Dense(4, dtype="float16")
>>> dense.compute_output_spec(KerasTensor((None, 3)))
<KerasTensor shape=(None, 4), dtype=float16, name=None>
>>> getattr(dense, "_inbound_nodes", None) is None  # nothing recorded
True
>>> dense.symbolic_call(KerasTensor((2, 3))).shape
(2, 4)
>>> len(dense._inbound_nodes)
1
"""

from __future__ import annotations

import jax


def _as_keras_tensor(value):
    from lamina.layers.dtype_names import dtype_name
    from lamina.layers.symbolic import KerasTensor

    if isinstance(value, KerasTensor):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # arrays, jax.ShapeDtypeStruct
        return KerasTensor(tuple(value.shape), dtype_name(value.dtype))
    return value


def _model_spec(model, inputs, outputs):
    """A model's outputs as Keras runs its layers on ``inputs``: the inputs' batch size (the
    model's shapes have ``None`` there) and each output's own dtype (a graph's outputs)."""
    from lamina.layers.symbolic import KerasTensor

    batches = {t.shape[0] for t in jax.tree_util.tree_leaves(inputs, is_leaf=_kt_leaf) if t.shape}
    batch = batches.pop() if len(batches) == 1 else None
    recorded = getattr(model, "outputs", None) if getattr(model, "_nodes", None) else None
    many = isinstance(outputs, list)
    out = outputs if many else [outputs]
    dtypes = [t.dtype for t in (recorded if isinstance(recorded, list | tuple) else [])]
    if len(dtypes) != len(out):
        dtypes = [t.dtype for t in out]
    fixed = [
        KerasTensor((batch, *t.shape[1:]) if t.shape and t.shape[0] is None else t.shape, dt)
        for t, dt in zip(out, dtypes)
    ]
    return fixed if many else fixed[0]


def _kt_leaf(value) -> bool:
    from lamina.layers.symbolic import KerasTensor

    return isinstance(value, KerasTensor)


class OutputSpecAPI:
    """Mixin of :class:`lamina.layers.Layer`: ``compute_output_spec``/``symbolic_call``."""

    def compute_output_spec(self, *args, **kwargs):
        """The output ``KerasTensor``(s) of the layer on ``KerasTensor`` inputs (arrays and
        ``jax.ShapeDtypeStruct`` are read as their shapes and dtypes); nothing is recorded.

        Args:
            *args: the inputs, as the layer is called (one tensor, a list or a dict).
            **kwargs: the call's other arguments (``training=``, ``mask=``, ...); they do not
                change shapes.

        Returns:
            One ``KerasTensor``, or a list for a layer with several outputs.
        """
        from lamina.layers import symbolic

        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if len(args) != 1:
            args = (list(args),)  # Keras-style call(a, b): the inputs travel as one list
        inputs = jax.tree_util.tree_map(_as_keras_tensor, args[0], is_leaf=_kt_leaf)
        if not symbolic.has_symbolic(inputs):
            raise TypeError(
                f"{type(self).__name__}.compute_output_spec() expects KerasTensor inputs (or "
                f"arrays), e.g. layer.compute_output_spec(keras.KerasTensor((None, 8))). "
                f"Received: {type(args[0]).__name__}."
            )
        if not (getattr(self, "_is_model", False) or hasattr(self, "_stack")):
            return symbolic.output_spec(self, inputs)
        from lamina.models.nesting import _build_on_symbolic_call

        _build_on_symbolic_call(self, inputs)
        return _model_spec(self, inputs, symbolic.output_spec(self, inputs))

    def symbolic_call(self, *args, **kwargs):
        """Calls the layer on ``KerasTensor`` inputs, recording the call in the graph (a node
        of the layer), and returns the output ``KerasTensor``(s), as ``layer(*args)`` does.

        Raises:
            TypeError: no input is a ``KerasTensor`` (call the layer on arrays instead).
        """
        from lamina.layers import symbolic

        if not symbolic.has_symbolic((args, kwargs)):
            raise TypeError(
                f"{type(self).__name__}.symbolic_call() expects KerasTensor inputs, e.g. "
                "layer.symbolic_call(keras.Input((8,))); call the layer itself on arrays. "
                f"Received: {[type(a).__name__ for a in args]}."
            )
        return self(*args, **kwargs)

