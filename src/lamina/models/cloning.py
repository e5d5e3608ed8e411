"""``clone_model``: the same architecture with new layers (and new weights), as Keras's.

>>> import lamina
>>> from lamina import layers
>>> x = lamina.Input((3,))
>>> model = lamina.Model(x, layers.Dense(2)(x))
>>> copy = clone_model(model)
>>> copy.layers[1] is model.layers[1], copy.output_shape
(False, (None, 2))
"""

from __future__ import annotations

import jax

from lamina.layers.symbolic import Input, KerasTensor


def _clone_layer(layer):
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, **kwargs):
    """A new model with the architecture of ``model``; its layers are new, its weights drawn
    afresh (copy them with ``new.set_weights(model.get_weights())``).

    Args:
        model: a ``Sequential``, functional or subclassed model.
        input_tensors: optional ``Input`` tensor(s) to build the clone on.
        clone_function: ``layer -> new layer``; by default ``from_config(get_config())``.
        call_function: ``(layer, *args, **kwargs) -> outputs``, to change how each layer is
            called in the clone (functional models).

    Raises:
        ValueError: a subclassed model without ``get_config``/``from_config``.
    """
    from lamina.models.model import Functional, is_graph_or_subclassed
    from lamina.models.sequential import Sequential

    if kwargs.pop("recursive", False):
        pass  # nested models are cloned by clone_function's default (from their config)
    if kwargs:
        raise TypeError(f"clone_model() got unexpected arguments {sorted(kwargs)}.")
    clone_function = clone_function or _clone_layer
    if isinstance(model, Sequential):
        clones: dict = {}  # a layer the stack repeats is cloned once and shared (Keras)
        for layer in model.layers:
            if id(layer) not in clones:
                clones[id(layer)] = clone_function(layer)
        layers = [clones[id(layer)] for layer in model.layers]
        new = Sequential(name=model.name)
        if input_tensors is not None:
            new.add(input_tensors[0] if isinstance(input_tensors, list) else input_tensors)
        elif model.input_shape is not None:
            text = getattr(model.__dict__.get("_input_layer"), "_input_dtype", None) == "string"
            new.add(Input(batch_shape=tuple(model.input_shape), dtype="string" if text else None))
        for layer in layers:
            new.add(layer)
        return new
    if isinstance(model, Functional):
        return _clone_functional(model, input_tensors, clone_function, call_function)
    if is_graph_or_subclassed(model):
        try:
            return type(model).from_config(model.get_config())
        except TypeError as e:
            raise ValueError(
                f"clone_model() of the subclassed model {type(model).__name__} needs its "
                f"get_config() and from_config() to rebuild it ({e})."
            ) from None
    raise TypeError(f"clone_model() takes a model; received {type(model).__name__}.")


def _clone_functional(model, input_tensors, clone_function, call_function):
    from lamina.models.model import Functional

    values = {}
    flat_new = jax.tree_util.tree_leaves(input_tensors, is_leaf=_is_kt) if input_tensors else []
    for i, t in enumerate(model._flat_inputs):
        if flat_new:
            values[id(t)] = flat_new[i]
        else:
            layer = t._keras_history[0]
            values[id(t)] = Input(batch_shape=t.shape, dtype=t.dtype, name=layer.name)
    clones = {}
    for node in model._nodes:
        if node.is_input:
            continue
        layer = node.layer
        if id(layer) not in clones:
            clones[id(layer)] = clone_function(layer)
        new_layer = clones[id(layer)]

        def sub(v):
            return values[id(v)] if _is_kt(v) else v

        args = jax.tree_util.tree_map(sub, node.args, is_leaf=_is_kt)
        kwargs = jax.tree_util.tree_map(sub, node.kwargs, is_leaf=_is_kt)
        if call_function is not None:
            out = call_function(new_layer, *args, **kwargs)
        else:
            out = new_layer(*args, **kwargs)
        outs = out if isinstance(out, list) else [out]
        for old, new in zip(node.output_tensors, outs):
            values[id(old)] = new

    def remap(struct):
        return jax.tree_util.tree_map(lambda t: values[id(t)], struct, is_leaf=_is_kt)

    return Functional(
        remap(model._inputs_struct), remap(model._outputs_struct), name=model.name,
        trainable=model.trainable,
    )  # fmt: skip


def _is_kt(v):
    return isinstance(v, KerasTensor)
