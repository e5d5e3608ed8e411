"""A layer used as another layer's activation: ``Dense(10, activation=PReLU())``.

Keras 3 tracks such a layer as a sub-layer of the layer it activates: it is built on the
first call, on the shape of what it activates; its weights follow the layer's own in
``layer.weights`` (``kernel``, ``bias``, then PReLU's ``alpha``), train with them, count in
``summary()`` and save under ``<layer>/activation`` in ``model.weights.h5``.  Lamina keeps
them the same way, in the activated layer's arrays under ``activation/``
(``params["activation/alpha"]``), as a Keras-style layer keeps its sub-layers' weights under
their attribute's name:

* :func:`init_activation` adds them to the layer's ``init`` (built on the layer's output
  shape);
* :func:`activate` runs the activation in the layer's ``apply`` with them (and keeps the new
  state of one with non-trainable weights, such as ``BatchNormalization``);
* :func:`held_activation` names the sub-layer for the weight views, the regularizers and
  constraints, and the ``.keras`` weight paths.

A weightless layer (``LeakyReLU(0.1)``) runs as before, as a plain function.  The layers
that apply their activation to their output support it (``Dense``, ``EinsumDense``,
``Activation`` and the convolutions, marked by ``_activation_sublayer``); others refuse a
layer with weights (:func:`check_activation_attribute`).

>>> import jax, numpy as np
>>> from lamina.layers import Dense, PReLU
>>> layer = Dense(2, activation=PReLU(alpha_initializer="ones"))
>>> params, state = layer.init(jax.random.key(0), (None, 3))
>>> sorted(params), params["activation/alpha"].shape
(['activation/alpha', 'bias', 'kernel'], (2,))
>>> y, _ = layer.apply(params, state, np.ones((1, 3), "float32"))
>>> y.shape
(1, 2)
"""

from __future__ import annotations

from lamina.layers.core_methods import layer_init

#: The attribute a built-in layer holds its activation in (and the weights' key prefix).
ATTRIBUTE = "activation"
#: Attributes that take an activation but cannot hold a layer with weights.
_OTHER_ACTIVATIONS = ("recurrent_activation", "activation")


def has_weights(obj) -> bool:
    """Whether ``obj`` is a layer that makes weights (``PReLU``; not ``LeakyReLU``)."""
    from lamina.layers.base import Layer

    if not isinstance(obj, Layer):
        return False
    cls = type(obj)
    return bool(cls.weight_specs) or cls.init is not Layer.init or bool(obj._traced)


def held_activation(layer):
    """The layer with weights a built-in ``layer`` holds as its activation, or ``None`` (a
    function, a weightless layer, or ``layer`` is a Keras-style layer or a model, whose
    sub-layers are tracked their own way)."""
    if getattr(layer, "_traced", False) or getattr(layer, "_is_model", False):
        return None
    act = layer.__dict__.get(ATTRIBUTE)
    return act if has_weights(act) else None


def check_activation_attribute(layer, name: str, value) -> None:
    """Refuses a layer with weights as an activation that ``layer`` cannot hold (a recurrent
    cell's activations run inside its loop, where Lamina cannot build or train them).

    Raises:
        ValueError: naming the layer, the argument and what works instead.
    """
    if name not in _OTHER_ACTIVATIONS or not has_weights(value):
        return
    if getattr(layer, "_traced", False) or getattr(layer, "_is_model", False):
        return  # a Keras-style layer tracks it as any sub-layer and calls it itself
    if name == ATTRIBUTE and getattr(type(layer), "_activation_sublayer", False):
        return
    if not type(layer).__module__.startswith("lamina."):
        return  # a user layer with its own ``apply`` calls it as it wants
    cls = type(value).__name__
    owner = type(layer).__name__.lstrip("_")
    raise ValueError(
        f"{owner}({name}={cls}(...)): a layer with weights as the {name} of a {owner} is not "
        "supported by Lamina (Dense, EinsumDense, Activation and the convolutions take one as "
        "`activation`; a recurrent cell's activations run inside its loop). Use a function "
        f"activation here, or apply the {cls} layer to the output instead."
    )


def init_activation(layer, key, input_shape, params: dict, state: dict) -> tuple[dict, dict]:
    """``(params, state)`` of ``layer``'s ``init`` plus its activation layer's weights (under
    ``activation/``), built on ``layer``'s output shape from a key of their own (the layer's
    own draws stay what they are without it)."""
    act = held_activation(layer)
    if act is None:
        return params, state
    from lamina.layers.weight_views import set_owner
    from lamina.utils import random as _random

    holder = act._owner_model()
    if holder is not None and holder is not layer and getattr(holder, "_is_model", False) is False:
        raise ValueError(
            f"One {type(act).__name__} object ({act.name!r}) is the activation of two layers "
            f"({holder.name!r} and {layer.name!r}): Keras shares its weights between them, "
            f"Lamina cannot. Give each layer its own {type(act).__name__}()."
        )
    act_key = _random.split(key, 3)[2]
    shape = tuple(layer.compute_output_shape(tuple(input_shape)))
    p, s = layer_init(act)(act_key, shape)
    set_owner(act, layer)  # ``dense.activation.alpha`` reads the arrays ``dense`` holds
    act.__dict__["_activation_input_shape"] = (None, *shape[1:])  # its config's build_config
    params = {**params, **{f"{ATTRIBUTE}/{k}": v for k, v in p.items()}}
    state = {**state, **{f"{ATTRIBUTE}/{k}": v for k, v in s.items()}}
    return params, state


def activate(layer, params: dict, state: dict, y, *, training: bool = False):
    """``(layer.activation(y), state)``: a layer with weights runs on the ones ``layer``
    holds for it, and its new non-trainable weights go back into ``state``."""
    act = held_activation(layer)
    if act is None:
        return layer.activation(y), state
    from lamina.layers.base import sub_params

    own_state = sub_params(state, ATTRIBUTE)
    y, new = act.apply(sub_params(params, ATTRIBUTE), own_state, y, training=training, key=None)
    if new:
        state = {**state, **{f"{ATTRIBUTE}/{k}": v for k, v in new.items()}}
    return y, state


def sub_layers(layer, keys) -> list:
    """``[("activation", sub-layer)]`` when ``layer`` holds an activation layer whose
    weights are among ``keys`` (a built-in layer's only sub-layer), else ``[]``."""
    act = held_activation(layer)
    if act is None or not any(k.startswith(ATTRIBUTE + "/") for k in keys):
        return []
    return [(ATTRIBUTE, act)]
