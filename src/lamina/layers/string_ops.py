"""Shape ops on string tensors: ``ops.expand_dims`` of a string ``Input`` before a lookup.

Keras's structured-data examples reshape a string column before looking it up, e.g.
``StringLookup(output_mode="binary")(ops.expand_dims(inputs["city"], -1))``.  Strings never
enter a compiled program, so such an op runs on the host with the string layers
(:mod:`lamina.models.host_prefix`).  Only ops that move, copy or drop elements qualify (no
arithmetic on text): they run on the elements' positions, and the positions pick the strings.

>>> import numpy as np
>>> import lamina
>>> from lamina import layers, ops
>>> city = lamina.Input(shape=(), dtype="string", name="city")
>>> column = ops.expand_dims(city, -1)
>>> column.dtype, column.shape
('string', (None, 1))
>>> lookup = layers.StringLookup(vocabulary=["a", "b"], num_oov_indices=0, output_mode="binary")
>>> model = lamina.Model(city, lookup(column))
>>> model.predict(np.array(["b", "a"]), verbose=0).tolist()
[[0.0, 1.0], [1.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

#: ``lamina.ops`` functions (one output each) that only rearrange their inputs' elements.
MOVING_OPS = frozenset({
    "broadcast_to", "concatenate", "expand_dims", "flip", "get_item", "moveaxis", "ravel",
    "repeat", "reshape", "roll", "slice", "squeeze", "stack", "swapaxes", "take", "tile",
    "transpose",
})  # fmt: skip


def moves_strings(layer, input_dtypes) -> bool:
    """Whether ``layer`` is an element-moving op node whose tensor inputs (their dtype names
    ``input_dtypes``) are all strings, so that it can run on host strings."""
    return (
        type(layer).__name__ == "TensorOp"
        and getattr(layer, "op_name", None) in MOVING_OPS
        and bool(input_dtypes)
        and all(d == "string" for d in input_dtypes)
    )


def run_on_strings(layer, values) -> np.ndarray:
    """Runs the op node ``layer`` on string arrays ``values`` (one, or a list for a node of
    several inputs): the op moves the strings' positions, and the positions pick them."""
    many = isinstance(values, list | tuple)
    arrays = [np.asarray(v) for v in (values if many else [values])]
    starts = np.cumsum([0] + [a.size for a in arrays])
    positions = [
        np.arange(s, s + a.size, dtype=np.int32).reshape(a.shape) for s, a in zip(starts, arrays)
    ]
    pool = np.concatenate([a.reshape(-1) for a in arrays])
    moved = np.asarray(layer.fn(positions if many else positions[0]))
    return pool[moved]


def is_traced(x) -> bool:
    """Whether ``x`` (or a leaf of it) is a JAX tracer: the layer runs inside a traced ``call``."""
    import jax

    return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(x))


def traced_strings_error(layer, received="a JAX array") -> ValueError:
    """The error for a string layer called inside a traced ``call`` (a subclassed model's or a
    custom layer's): there its input is a JAX array, never text, so it cannot look anything up.

    >>> from lamina.layers import StringLookup
    >>> "dataset.map" in str(traced_strings_error(StringLookup(name="words")))
    True
    """
    kind = type(layer).__name__
    return ValueError(
        f"{kind} {layer.name!r} was called inside a traced `call` (a subclassed model's or a "
        f"custom layer's `call`, e.g. `x = self.lookup(inputs)`) on {received}, but it needs "
        "the strings themselves, and strings cannot enter a compiled JAX program. Fix: move "
        "the layer out of `call` and run it on the host before the model: in a functional "
        "model (`text = keras.Input(shape=(1,), dtype='string'); ids = layer(text)`, then the "
        "rest of the model on `ids`), or in the data pipeline (`dataset.map(lambda x, y: "
        "(layer(x), y))`, or `ids = layer(np.array(texts))`) feeding the model the ids."
    )
