"""Checks on a loaded model config before any weight is allocated: the declared-size budget.

A model file is small, but its config can declare any number of weights (``Dense(5e7)`` in a
21 KB file asks for gigabytes before a byte of the file's weights is read).  Before a loaded
model is built, :func:`check_weight_budget` computes the bytes its layers declare (shapes only,
with ``jax.eval_shape``: nothing is allocated) and refuses a config over the budget:

* ``LAMINA_MAX_WEIGHT_BYTES`` (default 8 GiB), the same budget the HDF5 reader applies;
* and, when the file's size is known, 1000 times the bytes the file stores for weights (64 MiB
  at least): weights must come from the file, and even compressed ones are rarely 1000 times
  smaller.

>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> from lamina.saving.config_checks import declared_weight_bytes
>>> nbytes, largest = declared_weight_bytes(Sequential([Input((3,)), Dense(2, name="d")]))
>>> nbytes, largest.name  # a (3, 2) kernel and 2 biases, float32
(32, 'd')
"""

from __future__ import annotations

import json

import jax
import numpy as np

from lamina.saving import h5_sandbox
from lamina.saving.safety import fail

#: A declared size above this many times the stored weight bytes cannot come from the file.
MAX_EXPANSION = 1000
#: The file-derived bound is never below this (small files hold small models, with room).
MIN_BOUND = 64 << 20

_cache: dict = {}


def layer_weight_bytes(layer, shape) -> int:
    """Bytes of the weights ``layer.init`` creates for input ``shape``, without creating them.

    Computed with ``jax.eval_shape`` (shapes only) and cached by the layer's class, config
    (less its name) and input shape, so 20,000 identical layers cost one trace.

    Raises:
        Exception: whatever the layer's ``init`` raises when traced abstractly.
    """
    try:
        config = layer.get_config()
        rest = {k: v for k, v in config.items() if k != "name"}
        key = (type(layer), json.dumps(rest, sort_keys=True, default=repr), shape)
    except Exception:  # noqa: BLE001 - an unusual config: no caching
        key = None
    if key is not None and key in _cache:
        return _cache[key]
    params, state = jax.eval_shape(lambda k: layer.init(k, shape), jax.random.key(0))
    total = sum(
        int(np.prod(a.shape, dtype=np.float64)) * np.dtype(a.dtype).itemsize
        for a in jax.tree_util.tree_leaves((params, state))
    )
    if key is not None and len(_cache) < 10_000:
        _cache[key] = total
    return total


_layer_bytes = layer_weight_bytes  # the graph loader's name for it


def declared_weight_bytes(model) -> tuple[int, object]:
    """``(bytes, largest layer)`` of the weights ``model``'s layers declare for its input shape.

    Layers whose ``init`` cannot be traced abstractly (a user's layer drawing with NumPy) count
    as zero bytes: this is a guard, not an exact count.  ``(0, None)`` without an input shape.
    """
    from lamina.layers import shape_checks

    shape = model.input_shape
    if shape is None:
        return 0, None
    total, largest, largest_bytes = 0, None, -1
    shape = (None, *tuple(shape)[1:])
    for layer in model.layers:
        try:
            nbytes = layer_weight_bytes(layer, shape)
        except Exception:  # noqa: BLE001 - see the docstring
            nbytes = 0
        total += nbytes
        if nbytes > largest_bytes:
            largest, largest_bytes = layer, nbytes
        shape = shape_checks.output_shape(layer, shape)
    return total, largest


def check_weight_budget(model, path, stored_bytes: int | None = None) -> None:
    """Refuses a loaded config whose weights exceed the budget, before they are allocated.

    Args:
        model: the ``Sequential`` rebuilt from the config, not yet built.
        path: the file, named in the message.
        stored_bytes: bytes the file holds for weights (its size, or the weights member's),
            when known.

    Raises:
        FileFormatError: the declared weights exceed ``LAMINA_MAX_WEIGHT_BYTES`` or the bound
            derived from ``stored_bytes``.
    """
    budget = h5_sandbox.weight_budget()
    why = "LAMINA_MAX_WEIGHT_BYTES"
    if stored_bytes is not None:
        from_file = max(MIN_BOUND, MAX_EXPANSION * int(stored_bytes))
        if from_file < budget:
            budget = from_file
            why = f"{MAX_EXPANSION} times the {int(stored_bytes)} bytes the file stores"
    total, largest = declared_weight_bytes(model)
    if total > budget:
        raise fail(
            path,
            f"its model config declares {total} bytes of weights (the largest layer is "
            f"{largest.name!r} ({type(largest).__name__})), over the {budget}-byte budget "
            f"({why}); the file cannot hold them, so nothing was allocated. If the model is "
            "really this large, set LAMINA_MAX_WEIGHT_BYTES to a larger number of bytes.",
        )
