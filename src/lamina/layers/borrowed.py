"""Layers that read another layer's variables (tied weights), as Keras shares them.

Keras tracks a layer assigned as an attribute of a custom layer as one of its sub-layers, and
a variable is one object wherever it is read: Hands-On ML's ``DenseTranspose(dense)`` reads
``self.dense.kernel`` of a ``Dense`` that an encoder applies, and a language model projects
onto its ``Embedding`` matrix.  Here a sub-layer that *belongs elsewhere* (a layer of a model,
called in a functional graph, or bound by the call or build around this one) is *foreign* to
the layer holding it, and its arrays have one home per model:

* while a model runs (its ``forward``) or is built, it **offers** the arrays of all its
  layers (those of nested models and the sub-layers a custom layer holds too, see
  :func:`offering`); a foreign sub-layer reads the offered arrays, the model's own
  ``TrainState`` entries, so the gradients of both uses add up;
* a model in which no other layer holds the foreign layer (a decoder used alone) keeps a copy
  of its current weights under the custom layer (``"dense/kernel"``), which
  :mod:`lamina.models.weight_sync` keeps in step with the model that applies it;
* a foreign layer not built yet when the custom layer is built is built on the input of its
  own first call in the graph, as Keras builds layers in graph order.

A custom layer's ``weights`` list a foreign layer's weights after its own, as Keras's do; a
model lists each once (:mod:`lamina.layers.borrowed_weights`).

>>> import numpy as np
>>> import lamina as keras
>>> class Tied(keras.layers.Layer):
...     def __init__(self, dense):
...         super().__init__()
...         self.dense = dense
...     def call(self, x):
...         return keras.ops.matmul(x, keras.ops.transpose(self.dense.kernel))
>>> dense = keras.layers.Dense(2, use_bias=False, kernel_initializer="ones")
>>> model = keras.Sequential([keras.Input((3,)), dense, Tied(dense)])
>>> model.predict(np.ones((1, 3)), verbose=0).tolist(), len(model.weights)
([[6.0, 6.0, 6.0]], 1)
"""

from __future__ import annotations

import contextlib

import jax

from lamina.layers.core_methods import layer_init
from lamina.layers.variables import _LOCAL, _stack, find_binding


# ------------------------------------------------------------------ offers
def offer_stack() -> list:
    """The open offers, outermost first: each maps ``id(layer)`` to a binding (``[params,
    state, new_state, layer]``) and ``("holder", id(layer))`` to the custom layer holding
    that layer's arrays, if any."""
    if not hasattr(_LOCAL, "offers"):
        _LOCAL.offers = []
    return _LOCAL.offers


def offered(layer):
    """The arrays an open offer holds for ``layer`` (the outermost model's first), or None."""
    for offer in offer_stack():
        entry = offer.get(id(layer))
        if entry is not None:
            return entry
    return None


@contextlib.contextmanager
def offering():
    """Opens an offer for the layers of a model being run or built (:func:`offer`); an offer
    opened inside another (a nested model's forward) only adds layers the outer one lacks."""
    stack = offer_stack()
    stack.append({})
    try:
        yield stack[-1]
    finally:
        stack.pop()


def building() -> bool:
    """Whether some model is being run or built here (an offer is open)."""
    return bool(offer_stack())


def offer(layer, params: dict, state: dict) -> None:
    """Offers ``layer``'s arrays to the layers run or built after it in the innermost open
    offer (nothing when none is open): a model's arrays are offered layer by layer, a custom
    layer's with those of the sub-layers it holds."""
    stack = offer_stack()
    if stack:
        _offer(stack[-1], layer, params, state, None, 0)


def offer_layers(layers, params, state) -> None:
    """:func:`offer` for each of a network's layers and its ``params``/``state`` dicts."""
    if offer_stack():
        for layer, p, s in zip(layers, params, state):
            offer(layer, p, s)


def _offer(target: dict, layer, params, state, holder, depth: int) -> None:
    if depth > 16:
        return
    from lamina.layers.tracing import split_prefixed, tracked_layers

    if getattr(layer, "_is_model", False):
        for sub in layer.__dict__.get("_layers") or ():
            p, s = split_prefixed(params, sub.name), split_prefixed(state, sub.name)
            _offer(target, sub, p, s, None, depth + 1)
        return
    if offered(layer) is None:  # the outermost model's arrays are the ones trained
        target[id(layer)] = [params, state, dict(state), layer]
        if holder is not None:
            target[("holder", id(layer))] = holder
    if getattr(layer, "_traced", False):
        for path, sub in tracked_layers(layer):
            p, s = split_prefixed(params, path), split_prefixed(state, path)
            if p or s:
                _offer(target, sub, p, s, layer, depth + 1)


def with_copies(layer, params: dict, state: dict, order) -> tuple:
    """``(params, state, order)`` of a layer whose arrays a model being built takes from
    another model: with copies of the layers it reads that this model does not hold yet
    (their home here, as :func:`held_entry` gives a layer built here)."""
    foreign = layer.__dict__.get("_foreign_paths")
    if not foreign or not building():
        return params, state, order
    from lamina.layers.tracing import tracked_layers

    params, state = dict(params), dict(state)
    p_names, s_names = list(order[0]), list(order[1])
    for path, sub in tracked_layers(layer):
        at = path + "/"
        if (
            path not in foreign
            or any(k.startswith(at) for k in (*params, *state))
            or offered(sub) is not None
            or not sub._has_weights()
        ):
            continue
        sub_p, sub_s, (sub_pn, sub_sn) = sub._weights_source(build=False)
        params.update({at + k: sub_p[k] for k in sub_pn})
        state.update({at + k: sub_s[k] for k in sub_sn})
        p_names += [at + k for k in sub_pn]
        s_names += [at + k for k in sub_sn]
    return params, state, (tuple(p_names), tuple(s_names))


def without_offered_copies(model, params: dict, state: dict) -> tuple[dict, dict]:
    """``model``'s flat arrays (a model nested in one being built) without the copies its
    custom layers keep of layers the model being built holds already (offered)."""
    if not offer_stack():
        return params, state
    from lamina.layers.tracing import tracked_layers

    drop: list[str] = []

    def visit(layer, prefix, depth):
        if depth > 16:
            return
        if getattr(layer, "_is_model", False):
            for sub in layer.__dict__.get("_layers") or ():
                visit(sub, f"{prefix}{sub.name}/", depth + 1)
            return
        foreign = layer.__dict__.get("_foreign_paths")
        for path, sub in tracked_layers(layer) if foreign else ():
            if path in foreign and offered(sub) is not None:
                drop.append(f"{prefix}{path}/")

    visit(model, "", 0)
    if not drop:
        return params, state

    def kept(arrays):
        return {k: v for k, v in arrays.items() if not any(k.startswith(d) for d in drop)}

    return kept(params), kept(state)


def held_copies(layer, prefix: str, names) -> list:
    """``[(sub-layer, its prefix)]``: the layers ``layer`` (a custom layer whose arrays start
    at ``prefix`` among ``names``) keeps copies of; :mod:`lamina.models.weight_sync` treats
    them as leaves of the model, kept in step with their other holders."""
    foreign = layer.__dict__.get("_foreign_paths")
    if not foreign:
        return []
    from lamina.layers.tracing import tracked_layers

    out = []
    for path, sub in tracked_layers(layer):
        at = f"{prefix}{path}/"
        if path in foreign and any(k.startswith(at) for k in names):
            out.append((sub, at))
    return out


def own_arrays(layer, arrays: dict) -> dict:
    """``arrays`` of ``layer`` without the copies it keeps of layers it reads (pulled as
    leaves of their own)."""
    foreign = layer.__dict__.get("_foreign_paths")
    if not foreign:
        return arrays
    return {k: v for k, v in arrays.items() if not any(k.startswith(f + "/") for f in foreign)}


def _outer_binding(scope, layer):
    """``layer``'s binding by a scope other than ``scope``, or by an open offer."""
    for other in reversed(_stack()):
        if other is not scope:
            entry = other.lookup(layer)
            if entry is not None:
                return entry
    return offered(layer)


# ------------------------------------------------------------ custom layers
def belongs_elsewhere(layer, sub) -> bool:
    """Whether ``sub``, held by ``layer`` (a custom layer), is a layer that something else
    holds or applies: bound by the call or build around ``layer``, offered by a model (not
    as ``layer``'s own), a layer of a model or with weights of its own (built standalone),
    or called in a functional graph."""
    for scope in _stack():
        if scope.lookup(sub) is not None:
            return True
    for offers in offer_stack():
        if id(sub) in offers and offers.get(("holder", id(sub))) is not layer:
            return True
    owner = sub._owner_model() if hasattr(sub, "_owner_model") else None
    if owner is not None and owner is not layer and getattr(owner, "_is_model", False):
        return True
    if sub.__dict__.get("_standalone") is not None:
        return True
    return bool(sub.__dict__.get("_inbound_nodes"))


def foreign_paths(layer, subs) -> frozenset:
    """The attribute paths of the sub-layers of ``layer`` (``subs``, from
    :func:`~lamina.layers.tracing.tracked_layers`) that belong elsewhere."""
    return frozenset(path for path, sub in subs if belongs_elsewhere(layer, sub))


def unbuilt_shapes(subs, foreign) -> dict:
    """``{path: input shape}`` of the foreign sub-layers (``subs``, ``foreign``) with no weights
    and no arrays offered yet, from their first call on symbolic tensors: Keras builds layers
    in graph order, so the layer read was built when the custom layer is (its ``build`` may
    read the kernel).  Found before the custom layer's own init starts: finding them may call
    the layers of a ``Sequential`` on its ``Input``, this one too."""
    out = {}
    for path, sub in subs:
        if path in foreign and find_binding(sub) is None and not sub._has_weights():
            shape = _first_input_shape(sub)
            if shape is not None:
                out[path] = shape
    return out


def build_unbuilt(scope, subs, shapes: dict) -> None:
    """Builds the sub-layers :func:`unbuilt_shapes` found, in ``scope``."""
    for path, sub in subs:
        if path in shapes and scope.lookup(sub) is None:
            params, state = layer_init(sub)(scope.next_init_key(), shapes[path])
            scope.bind(sub, params, state)


def _first_input_shape(layer):
    """The input shape of ``layer``'s first call on symbolic tensors, or None."""
    try:
        with _outside_name_scopes():  # a Sequential calls its layers where it stands
            node = layer._first_node()
    except (AttributeError, ValueError, TypeError):
        return None
    if not node.args:
        return None
    shape = jax.tree_util.tree_map(
        lambda t: tuple(t.shape), node.args[0], is_leaf=lambda t: hasattr(t, "_keras_history")
    )
    if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple):
        return list(shape)
    return shape


@contextlib.contextmanager
def _outside_name_scopes():
    """Runs without the name scopes open here (the custom layer's own, while it is built)."""
    try:
        from lamina.scopes import _names
    except ImportError:  # no name scopes
        yield
        return
    names = _names()
    saved = list(names)
    names.clear()
    try:
        yield
    finally:
        names[:] = saved


def held_entry(scope, sub, entry):
    """The binding of foreign ``sub`` that the custom layer built in ``scope`` keeps among
    its own arrays: none when another part of the model (or an enclosing call) holds it;
    else the arrays built in ``scope``, or, while a model is built, a copy of ``sub``'s
    current weights (this model's home for them)."""
    if _outer_binding(scope, sub) is not None:
        return None
    if entry is not None:
        return entry
    if building() and sub._has_weights():
        params, state, (p_names, s_names) = sub._weights_source(build=False)
        return [{k: params[k] for k in p_names}, {k: state[k] for k in s_names}]
    return None


def bind_foreign(scope, sub, params: dict, state: dict) -> None:
    """Binds foreign ``sub`` for a traced call of the custom layer holding it: to the arrays
    of the model around (or the call around) when it has them, else to the custom layer's
    own copy; a layer with weights elsewhere and no copy here is left unbound (it reads its
    current weights, as in a standalone call)."""
    outer = _outer_binding(scope, sub)
    if outer is not None:
        scope.bound[id(sub)] = outer
    elif params or state or not sub._has_weights():
        scope.bind(sub, params, state)


def outer_entry(scope, layer):
    """For a layer called inside a traced call without a binding in ``scope``: the binding
    of an enclosing call or model (now ``scope``'s too), or None."""
    entry = _outer_binding(scope, layer)
    if entry is not None:
        scope.bound[id(layer)] = entry
    return entry


def current_copy(layer):
    """``(params, state)``: a copy of the current weights of a layer called inside a custom
    layer's first call, when it belongs elsewhere and has weights already (Keras keeps
    them); else None (it is built there)."""
    if not (belongs_elsewhere(None, layer) and layer._has_weights()):
        return None
    params, state, (p_names, s_names) = layer._weights_source(build=False)
    return {k: params[k] for k in p_names}, {k: state[k] for k in s_names}
