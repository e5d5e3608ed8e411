"""Checks on a loaded model config before any weight is allocated: the declared-size budget.

A model file is small, but its config can declare any number of weights (``Dense(5e7)`` in a
21 KB file asks for gigabytes before a byte of the file's weights is read).  Before a loaded
model is built, :func:`check_weight_budget` computes the bytes its layers declare (shapes only,
with ``jax.eval_shape``: nothing is allocated) and refuses a config over the budget:

* ``LAMINA_MAX_WEIGHT_BYTES`` (default 8 GiB), the same budget the HDF5 reader applies;
* and, when the file's size is known, 1000 times the bytes the file stores for weights (64 MiB
  at least): weights must come from the file, and even compressed ones are rarely 1000 times
  smaller.

Layers without weights can declare outputs no machine holds (``RepeatVector(10**12)``,
``UpSampling2D(10**9)``): :func:`check_activation` refuses a tensor between layers whose one
sample exceeds :data:`MAX_SAMPLE_ACTIVATION_BYTES`, at loading rather than at the first call
(where XLA's allocator would abort the process).

Before any of that, :func:`check_structure` refuses a config whose structure is malformed (a
model's ``name`` that is not a string, a ``trainable`` that is not a boolean, layers that are
not a list of entries, a graph's tensor references of the wrong shape) with a message naming
what was expected and what was received.

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

from lamina.layers.core_methods import layer_init
from lamina.saving import h5_sandbox
from lamina.saving.safety import fail

#: A declared size above this many times the stored weight bytes cannot come from the file.
MAX_EXPANSION = 1000
#: The file-derived bound is never below this (small files hold small models, with room).
MIN_BOUND = 64 << 20

_cache: dict = {}

_MODEL_CLASSES = ("Sequential", "Functional", "Model")
#: Most levels of serialized objects (entries with a ``class_name``) nested in one config.  Real
#: models stay far below (a layer in a wrapper in a model in a model, with its initializer, is
#: 5); each level costs stack frames and rebuilding time when the config is rebuilt.
MAX_OBJECT_NESTING = 32


def check_structure(path, config) -> None:
    """Refuses a model config whose structure is malformed, before anything is built: the
    model's ``class_name`` not a string; a model entry (the top one or one nested as a layer)
    whose ``name`` is not a string, whose ``trainable`` is not a boolean (``"no"`` would be
    truthy) or whose ``layers`` is not a list of layer entries (dicts with a string
    ``class_name`` and, where given, a string ``name``); objects nested more than
    :data:`MAX_OBJECT_NESTING` levels deep.

    Raises:
        FileFormatError: naming the file, the entry and the value received.
    """
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        got = config.get("class_name") if isinstance(config, dict) else config
        raise fail(
            path,
            "the model config should be a dict whose 'class_name' is a string such as "
            f"'Sequential' or 'Functional'; received {str(got)[:200]!r} (of type "
            f"{type(got).__name__}).",
        )
    check_nesting(path, config)
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        inner = node.get("config")
        # A user Model subclass built on a graph is written under its own class name.
        graph = isinstance(inner, dict) and "layers" in inner and "input_layers" in inner
        if (node.get("class_name") in _MODEL_CLASSES or graph) and "config" in node:
            _check_model_entry(path, node)
        elif node.get("class_name") == "__keras_tensor__":
            history = (node.get("config") or {}).get("keras_history") if isinstance(
                node.get("config"), dict) else None  # fmt: skip
            if not _is_ref(history):
                raise fail(
                    path,
                    "a tensor in its model config should name the layer output it is, as "
                    "'keras_history': [layer name, node index, tensor index]; received "
                    f"{str(history)[:200]!r}.",
                )
        stack.extend(v for v in node.values() if isinstance(v, dict | list))


def check_nesting(path, config) -> None:
    """Refuses a config (a model's, a ``FeatureSpace``'s) nesting serialized objects (dicts with
    a ``class_name``) more than :data:`MAX_OBJECT_NESTING` levels deep, before anything is
    rebuilt: rebuilding recurses once or more per level (out of stack a few hundred levels
    down), and nested models cost far more time per level.

    Raises:
        FileFormatError: naming the file and the entry found too deep.
    """
    stack = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):
            stack.extend((v, depth) for v in node)
            continue
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("class_name"), str):
            depth += 1
            if depth > MAX_OBJECT_NESTING:
                raise fail(
                    path,
                    f"its model config nests objects (models, layers, wrappers, initializers) "
                    f"more than {MAX_OBJECT_NESTING} levels deep, at a "
                    f"{str(node['class_name'])[:100]!r} entry; no real model nests that deep, "
                    "and rebuilding it would exhaust the stack or take hours.",
                )
        stack.extend((v, depth) for v in node.values() if isinstance(v, dict | list))


def _is_ref(value) -> bool:
    """Whether ``value`` is ``[layer name, node index, tensor index]`` (Keras's tensor name)."""
    from lamina.layers.arg_checks import is_int

    return (
        isinstance(value, list | tuple)
        and len(value) == 3
        and isinstance(value[0], str)
        and is_int(value[1])
        and is_int(value[2])
        and value[1] >= 0
        and value[2] >= 0
    )


def _check_refs(path, kind, key, value, depth=0) -> None:
    """A functional model's ``input_layers``/``output_layers``: ``[name, node, tensor]``
    references, in lists or dicts (nested a few levels at most)."""
    if depth >= 32:
        ok = False
    elif isinstance(value, list | tuple) and value and isinstance(value[0], str):
        ok = _is_ref(value)
    elif isinstance(value, list | tuple | dict):
        for v in value.values() if isinstance(value, dict) else value:
            _check_refs(path, kind, key, v, depth + 1)
        return
    else:  # a string, a number, null
        ok = False
    if not ok:
        raise fail(
            path,
            f"a {kind} model config's {key!r} should hold [layer name, node index, tensor "
            f"index] references (in lists or dicts); received {str(value)[:200]!r}.",
        )


def _check_nodes(path, spec) -> None:
    """A graph layer entry's ``inbound_nodes``: a list of calls, each Keras 3's
    ``{"args": [...], "kwargs": {...}}`` or Keras 2's list of inbound tensors."""
    nodes = spec.get("inbound_nodes", [])
    bad = not isinstance(nodes, list) or any(not isinstance(n, dict | list) for n in nodes)
    for n in nodes if not bad else ():
        if isinstance(n, dict):
            bad = bad or not isinstance(n.get("args", []), list | tuple)
            bad = bad or not isinstance(n.get("kwargs", {}), dict)
    if bad:
        raise fail(
            path,
            f"the {spec['class_name']} layer entry {spec.get('name')!r} has 'inbound_nodes' "
            f"{str(nodes)[:200]!r}; expected a list of calls, each a dict with a list of "
            "'args' and a dict of 'kwargs' (or, from Keras 2, a list of inbound tensors).",
        )


def _check_model_entry(path, entry) -> None:
    from lamina.layers.arg_checks import shown

    kind = entry["class_name"]
    inner = entry["config"]
    keras1 = kind == "Sequential" and isinstance(inner, list)  # Keras 1: the layers themselves
    layers = inner if keras1 else None
    if not (keras1 or isinstance(inner, dict)):
        raise fail(
            path,
            f"a {kind} model config should be a dict (with its 'layers'); received "
            f"{str(inner)[:200]!r} (of type {type(inner).__name__}).",
        )
    if isinstance(inner, dict):
        name = inner.get("name")
        if name is not None and not isinstance(name, str):
            raise fail(
                path,
                f"a {kind} model's 'name' must be a string; received {shown(name)}.",
            )
        label = f"the {kind} model" + (f" {name!r}" if name else "")
        trainable = inner.get("trainable", True)
        if not isinstance(trainable, bool):
            raise fail(
                path,
                f"{label} has 'trainable': {shown(trainable)}; expected a boolean (true or false).",
            )
        layers = inner.get("layers")
        if kind != "Sequential" and isinstance(layers, list):
            for key in ("input_layers", "output_layers"):
                if key in inner:
                    _check_refs(path, kind, key, inner[key])
        if layers is not None and not isinstance(layers, list):
            raise fail(
                path,
                f"{label} has 'layers' of type {type(layers).__name__}; "
                "expected a list of layer entries.",
            )
    for spec in layers or ():
        if not isinstance(spec, dict) or not isinstance(spec.get("class_name"), str):
            got = spec.get("class_name") if isinstance(spec, dict) else spec
            raise fail(
                path,
                f"a layer entry of a {kind} model config should be a dict whose 'class_name' "
                f"is a string; received {str(got)[:200]!r} (of type {type(got).__name__}).",
            )
        for key in ("module", "registered_name"):
            if not isinstance(spec.get(key), str | type(None)):
                raise fail(
                    path,
                    f"a {spec['class_name']} layer entry's {key!r} must be a string or null; "
                    f"received {shown(spec[key])}.",
                )
        inner = spec.get("config")
        if not (isinstance(inner, dict) or inner is None or spec["class_name"] in _MODEL_CLASSES):
            raise fail(
                path,
                f"a {spec['class_name']} layer entry's config must be a dict of its arguments; "
                f"received {shown(inner)}.",
            )
        name = spec.get("name")
        if name is not None and not isinstance(name, str):
            raise fail(
                path,
                f"a {spec['class_name']} layer entry's 'name' must be a string; received "
                f"{shown(name)}.",
            )
        if kind != "Sequential":
            _check_nodes(path, spec)


def check_input_shape(path, shape):
    """A build config's ``input_shape`` (a shape, or a list of shapes for several inputs):
    lists of integers and ``None``; ``FileFormatError`` otherwise."""
    from lamina.layers.arg_checks import is_int

    def ok(s):
        return isinstance(s, list | tuple) and all(d is None or is_int(d) for d in s)

    if ok(shape) or (isinstance(shape, list | tuple) and shape and all(ok(s) for s in shape)):
        return shape
    raise fail(
        path,
        "the build config's 'input_shape' should be a list of integers (null for unknown "
        f"sizes) or a list of such lists; received {str(shape)[:200]!r}.",
    )


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
    params, state = jax.eval_shape(lambda k: layer_init(layer)(k, shape), jax.random.key(0))
    total = sum(
        int(np.prod(a.shape, dtype=np.float64)) * np.dtype(a.dtype).itemsize
        for a in jax.tree_util.tree_leaves((params, state))
    )
    if key is not None and len(_cache) < 10_000:
        _cache[key] = total
    return total


_layer_bytes = layer_weight_bytes  # the graph loader's name for it


#: Largest activation (one layer's output for one sample, at 4 bytes a value) a loaded config
#: may declare: far beyond real models (a 4096 x 4096 x 64 float32 image is 4 GiB), far below
#: a ``RepeatVector(10**12)`` that would abort the process at its first call.
MAX_SAMPLE_ACTIVATION_BYTES = 16 << 30


def sample_bytes(shape) -> int:
    """Bytes of one sample of ``shape`` (batch first; a list of shapes for several tensors)
    at 4 bytes a value, unknown sizes counted as 1."""
    if not isinstance(shape, tuple | list):
        return 0
    if any(isinstance(s, list | tuple) for s in shape):  # several tensors
        return sum(sample_bytes(s) for s in shape)
    n = 4
    for d in tuple(shape)[1:]:
        if isinstance(d, int) and d > 0:
            n *= d
    return n


def check_activation(path, what: str, shape) -> None:
    """Refuses a tensor (``what``, of ``shape``) whose one sample exceeds
    :data:`MAX_SAMPLE_ACTIVATION_BYTES`: running the model could only fail (or abort the
    process inside XLA's allocator), so loading it is refused up front."""
    nbytes = sample_bytes(shape)
    if nbytes > MAX_SAMPLE_ACTIVATION_BYTES:
        raise fail(
            path,
            f"its model config makes {what} {nbytes} bytes per sample (shape "
            f"{str(shape)[:200]}), over the {MAX_SAMPLE_ACTIVATION_BYTES}-byte limit on one "
            "sample's activation; no real model computes that, so nothing was built.",
        )


def _layer_label(layer) -> str:
    return f"layer {layer.name!r} ({type(layer).__name__})"


def declared_weight_bytes(model, outputs: list | None = None) -> tuple[int, object]:
    """``(bytes, largest layer)`` of the weights ``model``'s layers declare for its input shape.

    Layers whose ``init`` cannot be traced abstractly (a user's layer drawing with NumPy) count
    as zero bytes: this is a guard, not an exact count.  ``(0, None)`` without an input shape.
    ``outputs``, when given, receives each ``(layer, output shape)`` on the way.
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
        if outputs is not None:
            outputs.append((layer, shape))
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
    outputs: list = []
    total, largest = declared_weight_bytes(model, outputs)
    if total > budget:
        raise fail(
            path,
            f"its model config declares {total} bytes of weights (the largest layer is "
            f"{largest.name!r} ({type(largest).__name__})), over the {budget}-byte budget "
            f"({why}); the file cannot hold them, so nothing was allocated. If the model is "
            "really this large, set LAMINA_MAX_WEIGHT_BYTES to a larger number of bytes.",
        )
    check_activation(path, "the model's input", tuple(model.input_shape))
    for layer, shape in outputs:  # then the activations between the layers
        check_activation(path, f"the output of {_layer_label(layer)}", shape)
