"""Keras-style layers (``build``/``add_weight``/``call``) as Lamina's pure ``init``/``apply``.

A layer that overrides ``call`` (and not ``apply``) gets:

* ``init(key, input_shape)``: runs ``build(input_shape)``, where ``add_weight`` draws each
  weight from ``key``; then, if the layer holds sub-layers (attributes such as
  ``self.dense = Dense(8)``), runs ``call`` once on zeros so that each sub-layer is built by its
  first call, as in Keras: on the real shapes and dtypes of what it is called on
  (:mod:`lamina.layers.trace_inputs`).  A sub-layer ``build`` builds itself (``self.dense.
  build(shape)``, then ``self.dense.kernel``) is built the same way.  Weights are ``params``
  (trainable) and ``state`` (the others); a sub-layer's weights sit under its attribute name:
  ``"dense/kernel"``.
* ``apply(params, state, x, *, training, key)``: runs ``call`` inside a :class:`Scope` that binds
  the layer's variables and sub-layers to these arrays (Keras-JAX's stateless scope), and
  returns the new ``state`` (what ``assign`` recorded).

>>> import numpy as np, jax
>>> from lamina.layers import Layer
>>> class Scale(Layer):
...     def build(self, input_shape):
...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
...     def call(self, x):
...         return x * self.w
>>> layer = Scale()
>>> params, state = layer.init(jax.random.key(0), (None, 3))
>>> y, _ = layer.apply(params, state, np.full((2, 3), 2.0, "float32"))
>>> y.tolist()
[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
"""

from __future__ import annotations

import inspect

import jax

from lamina.layers import borrowed as _borrowed
from lamina.layers import build_record as _record
from lamina.layers import trace_inputs as _inputs
from lamina.layers import user_generators as _generators
from lamina.layers.call_args import default_training
from lamina.layers.core_methods import layer_init
from lamina.layers.shape_compat import keras2_shapes
from lamina.layers.variables import Scope, current_scope

#: Attributes never searched for sub-layers.
_SKIP = {"_lamina_owner", "_standalone", "_variables", "_inbound_nodes", "_init_store"}


def tracked_layers(obj) -> list[tuple[str, object]]:
    """Sub-layers held by ``obj``'s attributes, in Keras's tracking order (when each was
    assigned or appended, :mod:`lamina.layers.tracking_order`): ``[(path, layer)]``.

    Lists, tuples and dicts of layers are searched too (``self.blocks = [Dense(4), ...]``:
    paths ``blocks/0``, ``blocks/1``, ...).  A layer held twice is listed once, at its first
    path.
    """
    from lamina.layers.base import Layer
    from lamina.layers.tracking_order import in_tracking_order

    out = []

    def visit(path, value, depth):
        if isinstance(value, Layer):
            if value is not obj:
                out.append((path, value))
        elif depth < 2 and isinstance(value, list | tuple):
            for i, v in enumerate(value):
                visit(f"{path}/{i}", v, depth + 1)
        elif depth < 2 and isinstance(value, dict):
            for k, v in value.items():
                visit(f"{path}/{k}", v, depth + 1)

    skip = _SKIP | set(getattr(type(obj), "_untracked_attributes", ()))
    for name, value in vars(obj).items():
        if name not in skip:
            visit(name, value, 0)
    return in_tracking_order(obj, out)


def call_kwargs(fn, training, mask, extra: dict) -> dict:
    """The keyword arguments ``fn`` (a ``call``) accepts among training/mask/extra."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    out = dict(extra)
    # None: the call was made without ``training``; Keras then leaves ``call``'s own default.
    if training is not None and ("training" in params or var_kw):
        out.setdefault("training", training)
    if mask is not None and ("mask" in params or var_kw):
        out.setdefault("mask", mask)
    return out


def _zeros(shape_tree, dtypes=None):
    """Zeros of ``shape_tree`` (a shape, or a list/dict of shapes); unknown dims become 1;
    integer and boolean inputs keep their ``dtypes`` (see :func:`trace_inputs.zeros`)."""
    return _inputs.zeros(shape_tree, dtypes)


def split_prefixed(params: dict, prefix: str) -> dict:
    """The entries of ``params`` under ``prefix/``, with the prefix removed."""
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in params.items() if k.startswith(prefix + "/")}


def own_entries(params: dict) -> dict:
    return {k: v for k, v in params.items() if "/" not in k}


def run_call(layer, x, kwargs):
    """``layer.call(x)``; a layer called with several positional tensors (Keras's
    ``Endpoint()(targets, logits)``) gets them back as separate arguments.  A variable the
    call returns (``return self.total``, Keras's subclassing guide) comes back as its value."""
    if getattr(layer, "_call_arity", 1) > 1 and isinstance(x, list | tuple):
        y = layer.call(*x, **kwargs)
    else:
        y = layer.call(x, **kwargs)
    from lamina.layers.variables import Variable

    def value(v):
        return v.value if isinstance(v, Variable) else v

    return jax.tree_util.tree_map(value, y, is_leaf=lambda v: isinstance(v, Variable))


def traced_init(layer, key, input_shape):
    """``init`` of a Keras-style layer: ``build`` + a first ``call`` that builds sub-layers."""
    from lamina.layers.input_spec import check_layer_inputs

    like = _inputs.inputs_like(layer)  # the inputs of the call building it, when known
    input_shape = _inputs.keep_order(input_shape, like)  # ``build`` sees the user's dict order
    check_layer_inputs(layer, input_shape)  # ``self.input_spec``, Keras's errors
    subs = tracked_layers(layer)
    # Sub-layers another part of the model holds (tied weights) are read, not re-made.
    foreign = _borrowed.foreign_paths(layer, subs)
    unbuilt = _borrowed.unbuilt_shapes(subs, foreign)
    early = list(getattr(layer, "_early_variables", []))  # add_weight() in __init__
    layer._variables = list(early)
    layer._init_store = ({}, {})
    scope = Scope(init_key=key)
    scope.caller = layer
    scope.shapes_known = _inputs.shapes_known(input_shape)  # else the batch is filled with 1
    with scope, jax.numpy_rank_promotion("allow"):
        for var in early:
            value = var.initializer(var._shape, dtype=var.dtype, key=scope.next_init_key())
            layer._init_store[0 if var._trainable else 1][var._key] = value
        if _record.recorded(layer) is None:  # Keras's build config: the shape built on
            layer._built_input_shape = input_shape
        _borrowed.build_unbuilt(scope, subs, unbuilt)
        record = _record.recorded(layer)
        if record is not None:  # Keras builds a layer once: what its build made stays
            _record.replay(layer, scope, record, skip=early)
        elif not layer.__dict__.get("_built_by_user"):  # built by hand: its weights are made
            # tf.keras 2 code calls ``.as_list()`` on the shape
            _record.run_build(layer, scope, keras2_shapes(input_shape))
        params, state = layer._init_store
        subs = tracked_layers(layer)  # with those ``build`` made (never foreign: new here)
        if subs:
            scope.bind(layer, params, state)
            # Keras builds the sub-layers on the first call's real inputs: their sizes where
            # known (see ``sub_call``) and their dtypes (integer indices stay integers).
            x = _zeros(input_shape, None if like is None else _inputs.dtype_tree(like))
            run_call(layer, x, call_kwargs(layer.call, False, None, {}))
            for path, sub in subs:
                entry = scope.lookup(sub)
                if path in foreign:
                    entry = _borrowed.held_entry(scope, sub, entry)
                if entry is None:  # never called: Keras leaves it unbuilt, without weights
                    continue
                sub_p, sub_s = scope.originals.get(id(sub), entry[0]), entry[1]
                params.update({f"{path}/{k}": v for k, v in sub_p.items()})
                state.update({f"{path}/{k}": v for k, v in sub_s.items()})
    layer._init_store = None
    state.update(_generators.initial_states(layer))  # Keras's draws, after set_random_seed
    layer.built = True
    layer.__dict__["_foreign_paths"] = foreign
    from lamina.layers.keras_api import set_owner

    for path, sub in tracked_layers(layer):
        if path not in foreign:  # a foreign layer's weights stay where they live
            set_owner(sub, layer)
    return params, state


def bind_all(scope, layer, params, state):
    """Binds ``layer``'s own weights and each sub-layer's to ``params``/``state`` (a foreign
    sub-layer to the arrays of the model around, :func:`borrowed.bind_foreign`)."""
    scope.bind(layer, own_entries(params), own_entries(state))
    foreign = layer.__dict__.get("_foreign_paths") or ()
    for path, sub in tracked_layers(layer):
        sub_p, sub_s = split_prefixed(params, path), split_prefixed(state, path)
        if path in foreign:
            _borrowed.bind_foreign(scope, sub, sub_p, sub_s)
        else:
            scope.bind(sub, sub_p, sub_s)


def collect_state(scope, layer) -> dict:
    """The new ``state`` after a traced call: the layer's own, then each sub-layer's."""
    new = dict(scope.lookup(layer)[2])
    for path, sub in tracked_layers(layer):
        entry = scope.lookup(sub)
        if entry is not None:
            new.update({f"{path}/{k}": v for k, v in entry[2].items()})
    return new


def traced_apply(layer, params, state, x, *, training=False, key=None, mask=None, **extra):
    """``apply`` of a Keras-style layer: ``call`` with its variables bound to the arrays."""
    from lamina.layers.input_spec import check_layer_inputs

    x = _inputs.in_call_order(layer, x)  # casts and maps on the way sorted a dict's keys
    check_layer_inputs(layer, x)
    scope = Scope(training=training, key=key)
    scope.caller = layer
    record_masks(scope, x, mask)
    gens, rest = _generators.split(layer, state)
    # User code is written for Keras, whose ops broadcast like NumPy.
    with scope, jax.numpy_rank_promotion("allow"), _unseeded_draws(layer, key):
        with _generators.bound(gens, state) as advanced:
            bind_all(scope, layer, params, rest)
            y = run_call(layer, x, call_kwargs(layer.call, training, mask, extra))
            drawn = advanced()
    if not isinstance(scope.aux, float) or scope.aux != 0.0:
        from lamina.layers.variables import report_aux

        report_aux(scope.aux, required=training)
    new_state = {**collect_state(scope, layer), **drawn}
    return y, {k: new_state[k] for k in state}


def _unseeded_draws(layer, key):
    """Unseeded ``keras.random`` draws in ``call`` come from the call's key, for a layer found
    to draw them (:func:`lamina.layers.symbolic_shapes.mark_unseeded_draws`)."""
    import contextlib

    if key is None or not layer.__dict__.get("_draws_unseeded"):
        return contextlib.nullcontext()
    from lamina.random import drawing_from

    # Folded apart from the keys the scope hands to sub-layers (``scope.next_key``).
    return drawing_from(jax.random.fold_in(key, 0x5EED))


def sub_call(layer, x, kwargs):
    """A layer called inside a traced ``call``: run it with the arrays the scope bound to it
    (initializing it first when the scope is building).  Returns None outside any scope."""
    scope = current_scope()
    if scope is None:
        return None
    entry = scope.lookup(layer)
    if entry is None:  # a layer of the model (or call) around: its arrays (shared weights)
        entry = _borrowed.outer_entry(scope, layer)
    building = entry is None
    if building:
        if scope.init_key is None:
            return None
        copy = _borrowed.current_copy(layer)  # built elsewhere already: Keras keeps them
        if copy is not None:
            p, s = copy
        else:  # built on ``x``'s real shape and dtypes, as Keras builds it on its first call
            with _inputs.called_on(layer, x):
                p, s = layer_init(layer)(scope.next_init_key(), _inputs.sub_layer_shapes(scope, x))
        scope.bind(layer, p, s)
        if getattr(scope, "builds_model", False):  # later layers of the model may read it
            _borrowed.offer(layer, p, s)
        entry = scope.lookup(layer)
    explicit = "training" in kwargs
    training = kwargs.pop("training", None)
    if training is not None:
        training = bool(training)
    elif explicit:  # ``self.t(x, training=training)`` with None: Keras hands ``call`` None
        training = False
    else:  # the enclosing call's flag, else (a call made without one) the layer's default
        training = scope.training
        if training is None:
            training = default_training(layer)
    mask, query_mask = _carried_masks(scope, layer, x, kwargs)
    random = training or getattr(layer, "rng_in_inference", False)
    key = scope.next_key() if (random and layer.uses_rng) else None
    if layer.uses_mask:
        kwargs["mask"] = mask
    if getattr(layer, "uses_batch_mask", False):
        kwargs["batch_mask"] = scope.batch_mask
    from lamina.training.network import apply_collecting_masks

    chain = getattr(scope, "state_chain", None)  # a layer held at several places of a model
    if chain is not None:
        chain.pull(layer)
    with _inputs.called_on(layer, x):
        y, new_state, inner = apply_collecting_masks(
            layer, entry[0], entry[2], x, training=training, key=key, **kwargs
        )
    entry[2] = dict(new_state)
    if chain is not None:
        chain.push(layer)
    if building:  # what summary() shows for a subclassed model's layer, as Keras
        batch = getattr(scope, "build_batch", None)
        layer.__dict__["_built_output_shape"] = jax.tree_util.tree_map(
            lambda a: (batch, *a.shape[1:]), y
        )
    from lamina.models.graph_masks import _output_mask

    if inner is not None:  # a nested model's outputs keep the masks made inside it
        record_masks(scope, y, inner if isinstance(y, list | tuple) else inner[0])
    else:
        record_masks(scope, y, _output_mask(layer, x, mask, query_mask))
    if layer.activity_regularizer is not None:
        from lamina.layers.call_losses import log_term
        from lamina.training.network import activity_penalty

        term = activity_penalty(layer.activity_regularizer, y, scope.batch_mask)
        scope.aux = scope.aux + term
        log_term(layer, term)
    return y


def record_masks(scope, x, mask) -> None:
    """Notes that ``x`` (an array, or each of a list) carries ``mask``: Keras attaches a mask
    to the tensor itself (``_keras_mask``), so a layer called on that tensor inside a
    ``call`` (``self.attention(inputs, inputs)`` after ``Embedding(mask_zero=True)``) gets
    it without being passed it.  Tracers take no attributes, so the scope keeps the pairs."""
    if mask is None:
        return
    if isinstance(x, list | tuple):
        masks = mask if isinstance(mask, list | tuple) and len(mask) == len(x) else [None] * len(x)
        for a, m in zip(x, masks):
            record_masks(scope, a, m)
        return
    if isinstance(mask, list | tuple) or not hasattr(x, "shape"):
        return
    scope.masks[id(x)] = (x, mask)  # the array too: its id stays unique while it lives


def _carried_masks(scope, layer, x, kwargs):
    """``(mask, query mask)`` for a layer called inside a traced ``call``: an explicit
    ``mask=`` wins; else the masks its input tensors carry (``query_mask``/``value_mask``/
    ``key_mask`` for an attention layer called on ``[query, value, key]``)."""
    from lamina.models.graph_masks import _QUERY_VALUE_KEY, _takes_qvk_masks

    mask = kwargs.pop("mask", None)
    if getattr(layer, "_clears_input_masks", False) and isinstance(x, list | tuple):
        # Keras's MultiHeadAttention reads the query's mask off the query and ignores a
        # query_mask= argument (the keras.io translation example passes one): as the graph does.
        kwargs.pop("query_mask", None)
    if mask is not None or not scope.masks:
        return mask, kwargs.get("query_mask")

    def carried(a):
        found = scope.masks.get(id(a))
        return found[1] if found is not None and found[0] is a else None

    if not isinstance(x, list | tuple):
        return carried(x), None
    found = [carried(a) for a in x]
    if _takes_qvk_masks(layer):
        for name, m in zip(_QUERY_VALUE_KEY, found):
            if m is not None and kwargs.get(name) is None:
                kwargs[name] = m
        if getattr(layer, "_clears_input_masks", False):
            for a in x:  # as Keras's MultiHeadAttention clears its inputs' masks in place
                scope.masks.pop(id(a), None)
        return None, kwargs.get("query_mask")
    return (found if any(m is not None for m in found) else None), None


class SubLayerRng:
    """``uses_rng`` of a Keras-style layer: whether it holds a ``SeedGenerator`` (the VAE's
    sampling layer) or any sub-layer draws random numbers (unless set explicitly)."""

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if "_uses_rng_set" in obj.__dict__:
            return obj.__dict__["_uses_rng_set"]
        return holds_seed_generator(obj) or any(sub.uses_rng for _, sub in tracked_layers(obj))

    def __set__(self, obj, value):
        obj.__dict__["_uses_rng_set"] = bool(value)


def holds_seed_generator(obj) -> bool:
    """Whether ``obj``'s attributes (or lists/dicts of them) hold a ``SeedGenerator``."""
    from lamina.random import SeedGenerator

    for value in vars(obj).values():
        if isinstance(value, dict):
            items = list(value.values())
        else:
            items = list(value) if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, SeedGenerator) for v in items):
            return True
    return False
