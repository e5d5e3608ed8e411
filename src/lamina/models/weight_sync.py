"""Layers shared by several models see one set of weights, as Keras's layers own their variables.

A model keeps its arrays in its ``TrainState`` (one pytree, donated to the compiled programs).
A layer used by several models (an autoencoder and its encoder, siamese towers, a model nested
in another, a Keras 2 feature extractor built after training) has one *owner of record*: the
model whose ``TrainState`` last wrote its weights (``layer._lamina_owner``).  Every model:

* **pulls** at the start of an engine call (any read of ``model._train_state``): each of its
  leaf layers owned by another model (or holding standalone arrays) whose weights changed
  since this model last looked is copied into this model's state (a copy: this model's next
  call donates its buffers, which must never be the owner's);
* **claims** on every write of its state (the end of each compiled call, ``set_weights``,
  a loaded file): it becomes the owner of all its leaf layers.

Changes are found with two global counters, so the one-model case costs a comparison per
read and write: ``_WRITES`` (bumped by any write of any model or standalone layer) and
``_OWNERS`` (bumped when a layer changes owner).  A model that dies while owning layers that
live on leaves them its arrays as their standalone weights (``weakref.finalize``).

A *leaf* is a layer of the model that is not itself a model; the layers of a nested model are
leaves of the outer one, their arrays under ``"<layer name>/"`` in the nested model's dicts
(the map of a model's leaves, and its record, are :mod:`lamina.models.sync_leaves`).

>>> import numpy as np, lamina
>>> from lamina import layers
>>> inp = lamina.Input((4,)); shared = layers.Dense(2)
>>> a = lamina.Model(inp, shared(inp)); b = lamina.Model(inp, shared(inp))
>>> a.set_weights([np.ones((4, 2)), np.zeros(2)])
>>> float(b.predict(np.ones((1, 4)), verbose=0).sum())
8.0
"""

from __future__ import annotations

import itertools
import weakref

import jax
import jax.numpy as jnp

from lamina.layers.borrowed import own_arrays
from lamina.models.sync_leaves import _fresh as _fresh  # what pickles of a _Sync name
from lamina.models.sync_leaves import arrays_in, isolate, leaves, locate, raw_state, sync_of

_GEN = itertools.count(1)
_WRITES = [0]
_OWNERS = [0]


def owners_changed() -> None:
    """Records that some layer changed owner (``set_owner`` calls it)."""
    _OWNERS[0] += 1
    _WRITES[0] += 1


def standalone_written(layer) -> None:
    """Records a write of a layer's standalone weights (an eager ``Dense(3)(x)``)."""
    layer.__dict__["_standalone_gen"] = next(_GEN)
    _WRITES[0] += 1


# ------------------------------------------------------------- reading
def _source(leaf, reader):
    """``(params, state, token)``: the current weights of ``leaf`` where they live, or None."""
    owner = leaf._owner_model() if hasattr(leaf, "_owner_model") else None
    if owner is reader:
        return None
    if owner is not None and getattr(owner, "_is_model", False):
        ts = raw_state(owner)
        if ts is None or sync_of(owner).isolated:
            return None
        where = locate(owner, leaf)
        if where is None:
            return None
        p, s, _ = arrays_in(ts, owner._weight_order, *where)
        return own_arrays(leaf, p), own_arrays(leaf, s), ("m", sync_of(owner).gen)
    store = leaf.__dict__.get("_standalone")
    if store is not None and owner is None:
        return store[0], store[1], ("s", leaf.__dict__.get("_standalone_gen", 0))
    return None


def _traced(arrays: dict) -> bool:
    return any(isinstance(v, jax.core.Tracer) for v in arrays.values())


def pull(model, ts):
    """``ts`` with the current weights of ``model``'s layers owned elsewhere (copies)."""
    s = sync_of(model)
    if s.isolated:
        s.synced_at = _WRITES[0]
        return ts
    params, state = list(ts.params), list(ts.state)
    changed = False
    for key, (leaf, i, prefix) in leaves(model).items():
        src = _source(leaf, model)
        if src is None or s.pulled.get(key) in (src[2], ("unfit", src[2])):
            continue
        if _traced(src[0]) or _traced(src[1]):
            # The owner holds a step's traced arrays while a custom step is traced: they are
            # no weights to keep (the step's own result is written when it returns).
            continue
        # Copies made now, even while a step is traced (a sub-model called in a custom
        # ``compute_loss`` reads its weights): they are kept, so they must be arrays.
        with jax.ensure_compile_time_eval():
            new_p = _merged(params[i], prefix, src[0])
            new_s = _merged(state[i], prefix, src[1])
        if new_p is not None and new_s is not None:
            params[i], state[i] = new_p, new_s
            changed = True
            s.pulled[key] = src[2]
        else:  # rebuilt for other shapes: this model's weights replace the layer's
            s.pulled[key] = ("unfit", src[2])
    s.synced_at = _WRITES[0]
    if not changed:
        return ts
    ts = ts._replace(params=tuple(params), state=tuple(state))
    model.__dict__["_train_state"] = ts
    if s.box is not None:
        s.box[0] = ts
    return ts


def _merged(mine: dict, prefix, theirs: dict):
    """``mine`` with ``theirs`` (copied) in place of its entries under ``prefix``; None when
    they do not fit (another shape: the layer was rebuilt for other inputs)."""
    out = dict(mine)
    for k, v in theirs.items():
        old = mine.get(prefix + k)
        if old is None or getattr(v, "is_deleted", lambda: False)():
            return None
        if tuple(old.shape) != tuple(v.shape):
            return None
        out[prefix + k] = jnp.array(v, dtype=old.dtype, copy=True)
    return out


def read(model):
    """The model's state, with what other models wrote to its shared layers pulled in."""
    ts = raw_state(model)
    if ts is None:
        return None
    s = sync_of(model)
    if s.box is None or s.box[0] is not ts:  # written around ``store`` (unpickling)
        store(model, ts)
        s = sync_of(model)
    if s.synced_at == _WRITES[0]:
        return ts
    return pull(model, ts)


# ------------------------------------------------------------- writing
def store(model, ts, claim: bool = True) -> None:
    """Stores a new state on ``model``; it becomes the owner of all its leaf layers."""
    s = sync_of(model)
    old = raw_state(model)
    model.__dict__["_train_state"] = ts
    if ts is None:
        if old is not None and s.box is not None:
            _orphan(s.box, model)
        s.box = None
        s.pulled.clear()
        return
    s.gen = next(_GEN)
    if s.box is None:
        from lamina.layers.weight_views import owner_ref

        s.box = [ts, None, None, owner_ref(model)]  # the reference its layers hold
        weakref.finalize(model, _orphan, s.box, None).atexit = False
    s.box[0], s.box[1], s.box[2] = ts, model.__dict__.get("_weight_order"), leaves(model)
    if claim and not s.isolated:
        _claim(model, s)
    _WRITES[0] += 1
    s.synced_at = _WRITES[0]


def relaid(model, ts) -> None:
    """Replaces the state of ``model``, a model that does not own its layers' weights, by the
    same weights in a new layout (``lamina.layers.lora``), without claiming the layers: the
    owner's arrays are pulled into it again at its next read."""
    s = sync_of(model)
    model.__dict__["_train_state"] = ts
    if s.box is not None:
        s.box[0], s.box[1] = ts, model.__dict__.get("_weight_order")
    s.pulled.clear()


def adopt(model, ts) -> None:
    """Stores the state of a just-built model: the layers whose weights live elsewhere keep
    them (copied in); the others get this model's fresh weights."""
    s = sync_of(model)
    s.pulled.clear()
    store(model, ts, claim=False)
    if s.isolated:
        return
    ts = pull(model, ts)
    s.box[0] = ts
    for key, (leaf, _, _) in leaves(model).items():
        src = _source(leaf, model)
        if src is None or s.pulled.get(key) != src[2]:
            if leaf._owner_model() is not model:
                _set_owner(leaf, model)
    s.claimed_at = -1


def _claim(model, s) -> None:
    if s.claimed_at == _OWNERS[0]:
        return
    for leaf, _, _ in leaves(model).values():
        if leaf._owner_model() is not model:
            _set_owner(leaf, model)
    s.claimed_at = _OWNERS[0]


def _set_owner(leaf, model):
    from lamina.layers.keras_api import set_owner

    set_owner(leaf, model)


def _orphan(box, model) -> None:
    """Leaves the arrays of the layers that ``box``'s model owned to the layers themselves
    (the model died, or dropped its weights to rebuild)."""
    ts, order, leaves_of, ref = box
    if ts is None or not leaves_of:
        return
    box[0] = None
    for leaf, i, prefix in leaves_of.values():
        if leaf.__dict__.get("_lamina_owner") is not ref:
            continue
        try:
            p, s, names = arrays_in(ts, order, i, prefix)
            if any(v.is_deleted() for v in jax.tree_util.tree_leaves((p, s))):
                continue
        except (IndexError, KeyError, AttributeError, TypeError):
            continue
        leaf.__dict__["_lamina_owner"] = None
        leaf.__dict__["_standalone"] = [dict(p), dict(s), names]
        standalone_written(leaf)
        owners_changed()


# ------------------------------------------------- the layers' weight views
def weights_of(model, layer, build=True):
    """``(params, state, names)`` of ``layer``'s current weights in ``model`` (what its
    ``layer.weights`` views read), or None; with ``build``, a model that knows its input
    shape is built first."""
    found = model._arrays_of(layer)
    if found is None and build and model.__dict__.get("_train_state") is None:
        if model._input_shape is not None:
            model._require_built("weights")  # shapes are known: build on first look
            found = model._arrays_of(layer)
    return found


def write_weight(model, layer, key, trainable, value) -> None:
    """Writes one weight of ``layer`` (``variable.assign``, ``layer.set_weights``); every
    model sharing the layer sees it."""
    model._write_array(layer, key, trainable, value)


# ------------------------------------------------------------- copies
def isolated_copy(model):
    """``copy.copy(model)``: an independent model over the same layer objects (Lamina's
    contract: training either leaves the other as it was)."""
    from lamina.models.io import SavingMixin

    read(model)
    new = SavingMixin.__copy__(model)
    isolate(new)
    return new


def synced_getstate(model):
    """Pickled state with the shared layers' current weights."""
    from lamina.models.io import SavingMixin

    read(model)
    state = SavingMixin.__getstate__(model)
    state.pop("_wsync", None)
    if "_nodes" not in state:  # a Sequential's symbolic graph is rebuilt on demand
        layers = list(state.get("_layers", ()))
        if state.get("_input_layer") is not None:
            layers.append(state["_input_layer"])
        clean = {id(la): _without_nodes(la) for la in layers}
        clean = {k: v for k, v in clean.items() if v is not None}
        if clean:  # every place naming a cleaned layer names its copy (a subclass's self.d)

            def swap(value):
                if type(value) in (list, tuple):  # not a NamedTuple such as TrainState
                    return type(value)(clean.get(id(v), v) for v in value)
                return clean.get(id(value), value)

            state.update((k, swap(v)) for k, v in list(state.items()))
    return state


def _without_nodes(layer):
    """A shallow copy of ``layer`` without its graph nodes (which a functional model built on
    the Sequential's graph may hold), for pickling; None when it has none."""
    if not layer.__dict__.get("_inbound_nodes"):
        return None
    import copy

    clone = copy.copy(layer)
    clone.__dict__["_inbound_nodes"] = None
    return clone


def lazy_built(model) -> bool:
    """``model.built``: builds a model whose input shape is known (Keras builds functional
    models, and a ``Sequential`` starting with ``Input``, at construction); a model that
    cannot build yet reads as not built, and the call that needs weights says why."""
    if model.__dict__.get("_train_state") is None and model.__dict__.get("_input_shape"):
        if not model.__dict__.get("_lazy_building"):
            model.__dict__["_lazy_building"] = True
            try:
                model._require_built("built")
            except (ValueError, TypeError):
                pass
            finally:
                model.__dict__.pop("_lazy_building", None)
    return model.__dict__.get("_train_state") is not None
