"""Keras 3's config of a functional model: its layers with their ``inbound_nodes``, and the
model's ``input_layers``/``output_layers``, written and read exactly as
``keras.src.models.functional`` does, so ``.keras`` files move both ways.

>>> import lamina
>>> from lamina import layers
>>> x = lamina.Input((3,), name="x")
>>> model = lamina.Model(x, layers.Dense(2, name="out")(x))
>>> config = functional_config(model)
>>> config["input_layers"], config["output_layers"]
(['x', 0, 0], ['out', 0, 0])
>>> functional_from_config(config).output_shape
(None, 2)
"""

from __future__ import annotations

import collections

import jax

from lamina.layers import op_nodes
from lamina.layers.symbolic import KerasTensor, TensorOp, input_tensor
from lamina.object_registry import get_registered_name


def _is_kt(v):
    return isinstance(v, KerasTensor)


#: Layers Keras defines inside an application's module rather than ``keras.layers``: the module
#: Keras's files name -> Lamina's twin (module, class). Loading resolves a file's entry through
#: this fixed table only; the module named in the file is never imported.
_APPLICATION_LAYERS = {
    ("keras.src.applications.convnext", "LayerScale"): "lamina.applications._convnext",
}


def serialize_layer(layer) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` of a layer or nested model
    (with Keras's ``"shared_object_id"`` when it is serialized twice while a model is saved:
    a layer a custom layer reads, tied weights)."""
    from lamina.utils.serialization import record_serialized

    return record_serialized(layer, serialized_entry(layer))


def serialized_entry(layer) -> dict:
    """:func:`serialize_layer`'s entry, without noting it in the object-sharing scope."""
    from lamina.models.model import Functional
    from lamina.models.sequential import Sequential
    from lamina.saving.keras_archive import compile_config

    cls = type(layer)
    if isinstance(layer, TensorOp):  # an op on symbolic tensors: Keras's op entry
        return op_nodes.serialize_op(layer)
    if isinstance(layer, Sequential):  # its config has its build_input_shape
        return {"module": "keras", "class_name": "Sequential", "config": layer.get_config(),
                "registered_name": None, "compile_config": compile_config(layer) or {}}  # fmt: skip
    if isinstance(layer, Functional):  # as Keras 3 writes a nested functional model
        return {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": layer.get_config(),
            "registered_name": "Functional",
            "compile_config": compile_config(layer) or {},
        }
    for (keras_module, name), module in _APPLICATION_LAYERS.items():
        if cls.__module__ == module and cls.__name__ == name:
            return {"module": keras_module, "class_name": name, "config": layer.get_config(),
                    "registered_name": name}  # fmt: skip
    builtin = cls.__module__.startswith("lamina.")
    return {
        "module": "keras.layers" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": (_named_functions if builtin else _serialized_values)(layer.get_config()),
        "registered_name": None if builtin else get_registered_name(cls),
    }


def _named_functions(config):
    """A built-in layer's config with the user functions it holds (``TextVectorization``'s
    ``standardize``/``split``) written as Keras's function entries, found again by name
    from ``custom_objects`` when the file is loaded; a lambda cannot be."""
    import types

    from lamina.utils.serialization import serialize_keras_object

    if not isinstance(config, dict):
        return config
    return {
        k: serialize_keras_object(v) if isinstance(v, types.FunctionType) else v
        for k, v in config.items()
    }


def _serialized_values(config):
    """A custom layer's ``get_config()`` with the objects it returns (a nested layer, a
    regularizer) serialized, as Keras's ``serialize_dict`` does: its ``from_config`` then
    receives their configs, which ``keras.layers.deserialize`` turns back into objects."""
    from lamina.utils.serialization import serialize_keras_object

    if not isinstance(config, dict):
        return config
    out = dict(config)
    for key, value in out.items():
        try:
            out[key] = serialize_keras_object(value)
        except TypeError:  # a value Keras could not serialize either: kept as given
            pass
    return out


def functional_config(model) -> dict:
    """The ``config`` dict of ``model`` as Keras 3 writes it for a ``Functional`` model."""
    in_model = {id(n) for n in model._nodes}
    # Node indices count only the layer's calls that belong to this model (Keras re-indexes).
    reindex = {}
    for layer in model._layers:
        k = 0
        for i, node in enumerate(layer._inbound_nodes or []):
            if id(node) in in_model:
                reindex[(id(layer), i)] = k
                k += 1

    def history(t):
        layer, i, j = t._keras_history
        return [layer.name, reindex.get((id(layer), i), i), j]

    def tensor(t):
        return {
            "class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": history(t)},
        }

    def leaf(x):
        if _is_kt(x):
            return tensor(x)
        if isinstance(x, jax.Array):  # a constant call argument (vit_small_ds's attention_mask)
            return op_nodes.encode_value(x, tensor)
        return x

    def encode(v):
        return jax.tree_util.tree_map(leaf, v, is_leaf=_is_kt)

    def node_data(layer, node):
        if isinstance(layer, TensorOp):  # the op's call arguments, constants and slices too
            op = layer.keras_op
            return {
                "args": op_nodes.encode_value(op.args, tensor),
                "kwargs": op_nodes.encode_value(op.kwargs, tensor),
            }
        args, kwargs = list(node.args), dict(node.kwargs)
        hook = getattr(layer, "_keras_node_arguments", None)
        if hook is not None:  # the call as Keras writes it (mha(query, value, key=...))
            args, kwargs = hook(args, kwargs)
        return {"args": _listify(encode(args)), "kwargs": encode(kwargs)}

    layers = []
    shapes = dict(zip(map(id, model._layers), model._layer_input_shapes()))
    for layer in model._layers:
        spec = serialize_layer(layer)
        if shapes.get(id(layer)) is not None and not isinstance(layer, TensorOp):
            spec["build_config"] = build_config(layer, _listify(shapes[id(layer)]))
        spec["name"] = layer.name
        spec["inbound_nodes"] = [
            node_data(layer, n)
            for n in (layer._inbound_nodes or [])
            if id(n) in in_model and not n.is_input
        ]
        layers.append(spec)

    def ends(struct):
        if _is_kt(struct):
            name, i, j = history(struct)
            # Keras counts a nested functional model's own built-in node first in the model's
            # input and output lists (not in the nodes' arguments): its first call is node 1.
            return [name, i + 1 if _is_functional(struct._keras_history[0]) else i, j]
        if isinstance(struct, dict):
            return {k: ends(v) for k, v in struct.items()}
        return [ends(t) for t in struct]

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": ends(model._inputs_struct),
        "output_layers": ends(model._outputs_struct),
    }


def _is_functional(layer) -> bool:
    """A nested functional model (not a ``Sequential``: Keras counts no built-in node for
    one)."""
    from lamina.models.model import Functional

    return isinstance(layer, Functional)


def build_config(layer, shape) -> dict:
    """Keras's ``build_config`` of ``layer`` built on ``shape``: ``{"input_shape": ...}``, or
    the ``shapes_dict`` of a layer whose Keras ``build`` takes several shapes by name (its
    ``_keras_build_args``, e.g. ``MultiHeadAttention.build(query_shape, value_shape,
    key_shape)``); a custom layer's own ``get_build_config()`` when it overrides it."""
    from lamina.layers.build_config import overrides

    if overrides(layer, "get_build_config"):
        from lamina.utils.serialization import serialize_keras_object

        return serialize_keras_object(layer.get_build_config())
    return shape_build_config(layer, shape)


def shape_build_config(layer, shape) -> dict:
    """Keras's default ``build_config`` of ``layer`` built on ``shape``."""
    names = getattr(layer, "_keras_build_args", None)
    if names and isinstance(shape, list | tuple) and len(shape) == len(names):
        if all(isinstance(s, list | tuple) for s in shape):
            return {"shapes_dict": dict(zip(names, shape))}
    return {"input_shape": shape}


def _listify(v):
    if isinstance(v, list | tuple):
        return [_listify(x) for x in v]
    if isinstance(v, dict):
        return {k: _listify(x) for k, x in v.items()}
    return v


def deserialize_layer(spec, custom_objects=None):
    """A layer (or nested model) from its serialized form; the one already made for its
    ``"shared_object_id"`` while a model is loaded (Keras's sharing)."""
    from lamina.utils.serialization import record_deserialized, shared_object

    shared = shared_object(spec)
    if shared is not None:
        return shared
    return record_deserialized(spec, _deserialized(spec, custom_objects))


def _deserialized(spec, custom_objects=None):
    from lamina.layers.registry import deserialize
    from lamina.models.sequential import Sequential

    if op_nodes.is_op_entry(spec):  # never imports the module named in the file
        return op_nodes.op_from_entry(spec)
    home = _APPLICATION_LAYERS.get((spec.get("module"), spec.get("class_name")))
    if home is not None:  # a fixed Lamina module from the table above, not from the file
        import importlib

        cls = getattr(importlib.import_module(home), spec["class_name"])
        return cls.from_config(spec.get("config", {}))
    cls_name = spec.get("class_name")
    config = spec.get("config", {})
    if cls_name == "Sequential":
        if not isinstance(config, dict | list):
            raise ValueError(
                f"A Sequential model config should be a dict with 'layers'; received {config!r}."
            )
        return Sequential.from_config(config, custom_objects=custom_objects)
    if cls_name in ("Functional", "Model"):
        if isinstance(config, dict) and "layers" in config:
            return functional_from_config(config, custom_objects)
        if spec.get("registered_name") in (None, "Functional", "Model"):
            # Keras's own model classes: without layers there is nothing to rebuild (and
            # handing the entry back to the layer registry would come straight back here).
            raise ValueError(
                f"A {cls_name} model config should be a dict with 'layers', 'input_layers' "
                f"and 'output_layers'; received {str(config)[:200]!r}."
            )
    return deserialize(spec, custom_objects=custom_objects)


def revivable_as_functional(cls) -> bool:
    """Whether a user ``Model`` subclass built as ``Cls(inputs, outputs)`` (the keras.io
    masked language model) is rebuilt from a functional config as an instance of ``cls``:
    Keras's test, its ``__init__`` is the model's own or takes ``*args, **kwargs``; and it
    keeps the model's ``from_config``.

    >>> import lamina
    >>> class Mine(lamina.Model):
    ...     pass
    >>> revivable_as_functional(Mine), revivable_as_functional(lamina.layers.Dense)
    (True, False)
    """
    import inspect

    from lamina.models.model import Functional, Model

    if not (isinstance(cls, type) and issubclass(cls, Model)):
        return False
    if cls.from_config.__func__ is not Model.from_config.__func__:
        return False
    if cls.__init__ in (Model.__init__, Functional.__init__):
        return True
    spec = inspect.getfullargspec(cls.__init__)
    return spec.varargs is not None and spec.varkw is not None


def functional_from_config(config: dict, custom_objects=None, cls=None):
    """Rebuilds a functional model from Keras 3's (or Keras 2's) config dict, as an instance
    of ``cls`` (a user ``Model`` subclass built on a graph; default ``Functional``).

    Raises:
        ValueError: the config is not a functional model's, or refers to unknown layers.
    """
    from lamina.models.model import Functional

    needed = ("layers", "input_layers", "output_layers")
    missing = [k for k in needed if not isinstance(config, dict) or k not in config]
    if missing:
        raise ValueError(
            f"the Functional model config has no {missing}: a functional model lists its layers "
            "with their inbound_nodes and its input_layers/output_layers (a config with only "
            "'layers' is a Sequential model's: its class_name should be 'Sequential')."
        )
    created, pending = {}, []
    for spec in config["layers"]:
        layer = deserialize_layer(spec, custom_objects)
        name = spec.get("name") or layer.name
        created[name] = layer
        if type(layer).__name__ == "InputLayer":
            created_tensor = input_tensor(layer)
            created[(name, 0, 0)] = created_tensor
            continue
        pending.append([name, layer, list(spec.get("inbound_nodes", [])), 0])

    def tensor(v):
        hist = v["config"]["keras_history"]
        key = (hist[0], int(hist[1]), int(hist[2]))
        if key not in created:
            raise KeyError(key)
        return created[key]

    def decode(v):  # tensors, and Keras's slices, Ellipsis and arrays; Keras 2 node lists
        return op_nodes.decode_value(v, tensor)

    # A worklist: a layer whose next call needs a tensor not made yet waits on that tensor
    # and is woken when it is made, so the graph is rebuilt in time linear in its size
    # whatever the order the file lists the layers in.
    ready = collections.deque(pending)
    waiting: dict = {}
    while ready:
        entry = ready.popleft()
        name, layer, nodes, count = entry
        while nodes:
            node = nodes[0]
            try:
                args = decode(node.get("args", []))
                kwargs = decode(node.get("kwargs", {}))
            except KeyError as missing:
                waiting.setdefault(missing.args[0] if missing.args else None, []).append(entry)
                break
            out = layer(*args, **kwargs)
            outs = list(out) if isinstance(out, list | tuple) else [out]
            for j, t in enumerate(outs):
                created[(name, count, j)] = t
                ready.extend(waiting.pop((name, count, j), ()))
            nodes.pop(0)
            entry[3] = count = count + 1
    if any(p[2] for p in pending):
        stuck = [p[0] for p in pending if p[2]]
        raise ValueError(f"The model config's layers {stuck} refer to tensors that do not exist.")

    def ends(v):
        if isinstance(v, dict):
            return {k: ends(x) for k, x in v.items()}
        if not isinstance(v, list | tuple):  # a string would recurse forever, one letter deep
            raise ValueError(
                "A functional model's input_layers/output_layers hold [layer name, node index, "
                f"tensor index] references; received {str(v)[:100]!r}."
            )
        if len(v) == 3 and isinstance(v[0], str):
            name, i, j = v[0], int(v[1]), int(v[2])
            if _is_functional(created.get(name)) and (name, i - 1, j) in created:
                i -= 1  # Keras's built-in node of a nested functional model (see ``ends``)
            if (name, i, j) not in created:
                raise ValueError(
                    f"The model config names the tensor {[name, i, j]} among its inputs or "
                    "outputs, but no layer of the config makes it."
                )
            return created[(name, i, j)]
        return [ends(x) for x in v]

    inputs = ends(config["input_layers"])
    outputs = ends(config["output_layers"])
    return (cls or Functional)(
        inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True)
    )
