"""Weights as Keras shows them, a mixin of every layer (through
:class:`lamina.layers.keras_api.KerasLayerAPI`): ``layer.weights``, ``layer.kernel``,
``get_weights``/``set_weights``, and where their arrays live.

A layer inside a built model owns no arrays: its weight views read the ``TrainState`` of its
owner of record, the model that last wrote its weights (several models may share a layer:
:mod:`lamina.models.weight_sync`); a standalone layer holds its own, built on first call.

>>> import numpy as np
>>> from lamina.layers import Dense
>>> layer = Dense(3)
>>> layer.build((None, 4))
>>> [w.shape for w in layer.weights], layer.count_params()
([(4, 3), (3,)], 15)
"""

from __future__ import annotations

import weakref

import jax.numpy as jnp
import numpy as np

from lamina.layers.variables import Variable, layer_view


class LayerWeightViews:
    """Mixin of :class:`lamina.layers.Layer`: its weights as Keras's views, read from the
    arrays of its owner (a model, or a Keras-style layer holding it) or its own."""

    # ------------------------------------------------------------ weight views
    def _owner_model(self):
        ref = getattr(self, "_lamina_owner", None)
        return ref() if ref is not None else None

    def _weights_source(self, build=True):
        """``(params, state, (param names, state names))`` of this layer's current weights.

        With ``build``, a functional model holding the layer is built first if it is not yet.
        """
        owner = self._owner_model()
        if owner is not None:
            found = _owned_arrays(owner, self, build)
            if found is not None:
                return found
        store = getattr(self, "_standalone", None)
        if store is not None:
            return store
        raise ValueError(
            f"Layer {self.name!r} has no weights yet: it is built when first called on data, "
            "or when the model holding it is built (model.build(input_shape), or fit)."
        )

    # A Keras-style layer holds its sub-layers' arrays under their attribute paths; these two
    # methods let a sub-layer's weight views read and write them there.
    def _arrays_of(self, sub, build=False):
        from lamina.layers.tracing import split_prefixed, tracked_layers

        for path, layer in tracked_layers(self):
            if layer is sub:
                try:  # with ``build``, the model holding this layer is built first (as Keras's)
                    params, state, (p_names, s_names) = self._weights_source(build=build)
                except ValueError:
                    return None
                cut = len(path) + 1
                names = (
                    tuple(k[cut:] for k in p_names if k.startswith(path + "/")),
                    tuple(k[cut:] for k in s_names if k.startswith(path + "/")),
                )
                return split_prefixed(params, path), split_prefixed(state, path), names
        return None

    def _write_array(self, sub, key, trainable, value):
        from lamina.layers.tracing import tracked_layers

        path = next(p for p, layer in tracked_layers(self) if layer is sub)
        self._write_weight(f"{path}/{key}", trainable, value)

    def _current_weight(self, key, trainable):
        params, state, _ = self._weights_source()
        return (params if trainable else state)[key]

    def _write_weight(self, key, trainable, value):
        owner = self._owner_model()
        if owner is not None and _owned_arrays(owner, self, True) is not None:
            if getattr(owner, "_is_model", False):
                from lamina.models import weight_sync

                weight_sync.write_weight(owner, self, key, trainable, value)
            else:
                owner._write_array(self, key, trainable, value)
            return
        store = self._weights_source()
        store[0 if trainable else 1] = {**store[0 if trainable else 1], key: jnp.asarray(value)}
        from lamina.models import weight_sync

        weight_sync.standalone_written(self)

    def _weight_views(self) -> list[Variable]:
        """The layer's weights in Keras's order (trainable, then the others, per sub-layer),
        then those of the layers it reads and does not hold (tied weights), as Keras lists a
        tracked sub-layer's."""
        from lamina.layers.variables import find_binding

        bound = find_binding(self)  # built in the call or model build running now
        try:
            params, state, (p_names, s_names) = self._weights_source(build=bound is None)
            if bound is not None and not set(p_names) <= set(bound[0]):
                raise ValueError("built again since")
        except ValueError:
            if bound is None:  # not built: the variables made in ``__init__``, as Keras lists
                return _keras_order(list(getattr(self, "_early_variables", None) or []), self)
            p_names, s_names = tuple(bound[0]), tuple(bound[1])
            params, state = {}, {}
        named = {v._key: v for v in getattr(self, "_variables", None) or []}
        out = []
        for key, trainable in [(k, True) for k in p_names] + [(k, False) for k in s_names]:
            view = named.get(key)
            if view is None:  # a built-in layer's weight: its options from the declaration
                array = (params if trainable else state).get(key)
                view = layer_view(self, key, trainable, array, options=True)
            out.append(view)
        listed = getattr(self, "_keras_weight_list", None)
        if listed is not None:  # a layer listing its weights in its own order (Keras's)
            return listed(out, lambda v: v._key)
        from lamina.layers.borrowed_weights import borrowed_views

        borrowed = borrowed_views(self, (*p_names, *s_names))
        if not borrowed:
            return _keras_order(out, self)
        keys = {id(v): k for k, v in borrowed}
        items = out + [v for _, v in borrowed]
        return keras_grouped(items, lambda v: keys.get(id(v), v._key), lambda v: v._trainable, self)

    def _weight_penalties(self) -> list:
        """The weight regularizers' penalties on the current trainable weights, one per
        regularized weight (the part of Keras's ``layer.losses`` that needs no call)."""
        try:
            weights = self.trainable_weights
        except ValueError:  # a model not built yet
            return []
        return [v.regularizer(v.value) for v in weights if v.regularizer is not None]

    @property
    def weights(self) -> list:
        return self._weight_views()

    @property
    def variables(self) -> list:
        return self._weight_views()

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w for w in self._weight_views() if w._trainable]

    @trainable_weights.setter
    def trainable_weights(self, items) -> None:
        # Keras 1/2 custom layers list their weights in ``build``: ``self.trainable_weights =
        # [self.W]``.
        from lamina.layers.free_variables import set_trainable

        set_trainable(self, items, True)

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self._weight_views()
        return [w for w in self._weight_views() if not w._trainable]

    @non_trainable_weights.setter
    def non_trainable_weights(self, items) -> None:
        from lamina.layers.free_variables import set_trainable

        set_trainable(self, items, False)

    def _has_weights(self) -> bool:
        try:
            self._weights_source(build=False)
        except ValueError:
            return False
        return True

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        """The layer's weights as NumPy arrays, in Keras's order."""
        return [w.numpy() for w in self._weight_views()]

    def set_weights(self, weights) -> None:
        """Sets the layer's weights from a list in :meth:`get_weights`'s order."""
        views = self._weight_views()
        weights = list(weights)
        if len(weights) != len(views):
            raise ValueError(
                f"Layer {self.name!r} expects {len(views)} weight arrays "
                f"({[tuple(v.shape) for v in views]}); set_weights received {len(weights)}."
            )
        for v, w in zip(views, weights):
            if tuple(np.shape(w)) != tuple(v.shape):
                raise ValueError(
                    f"Layer {self.name!r}: weight {v.name!r} has shape {tuple(v.shape)}; the "
                    f"array given for it has shape {tuple(np.shape(w))}."
                )
            v.assign(np.asarray(w))

    def count_params(self) -> int:
        return int(sum(int(np.prod(w.shape)) for w in self._weight_views()))

    def __getattr__(self, name):
        # Only reached when normal lookup fails: ``dense.kernel``, ``bn.moving_mean``...
        if name.startswith("_") or name in ("name", "trainable"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name in ("input", "output", "input_shape", "output_shape"):
            self._first_node()  # raises its own message
        from lamina.layers.variables import find_binding

        bound = find_binding(self)  # built by a traced build()/call() that is running now
        if bound is not None and (name in bound[0] or name in bound[2]):
            return layer_view(self, name, name in bound[0])
        try:
            params, state, _ = self._weights_source(build=False)
        except (ValueError, AttributeError, TypeError):
            params, state = {}, {}
        if name not in params and name not in state and name in _declared_weights(self):
            # ``model.layers[1].kernel`` before anything read the weights: Keras has built
            # the model already (an ``Input`` gives the shapes), so build it now.
            try:
                params, state, _ = self._weights_source(build=True)
            except (ValueError, AttributeError, TypeError):
                params, state = {}, {}
        if name in params or name in state:
            array = params.get(name, state.get(name))
            return layer_view(self, name, name in params, array, options=True)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _declared_weights(layer) -> tuple:
    """The weight names a built-in layer declares (``kernel``, ``bias``, ...)."""
    if getattr(layer, "_traced", False):
        return ()
    try:
        return tuple(layer._weight_regularizers())
    except (AttributeError, TypeError, ValueError):
        return ()


def _declaring_layer(layer, key):
    """``(layer, key)`` of the layer that declares weight ``key`` of ``layer`` (a Keras-style
    layer lists its sub-layers' weights under their attribute paths: ``dense/kernel``)."""
    if "/" in key and getattr(layer, "_traced", False):
        from lamina.layers.tracing import tracked_layers

        for path, sub in tracked_layers(layer):
            if key.startswith(path + "/"):
                return _declaring_layer(sub, key[len(path) + 1 :])
    elif "/" in key:  # a built-in layer's activation layer (``Dense(8, activation=PReLU())``)
        from lamina.layers.activation_sublayer import sub_layers

        for path, sub in sub_layers(layer, (key,)):
            return _declaring_layer(sub, key[len(path) + 1 :])
    return layer, key


def _keras_order(views, layer=None):
    """Own weights first (trainable, then not), then each sub-layer's, as Keras lists them."""
    return keras_grouped(views, lambda v: v._key, lambda v: v._trainable, layer)


def keras_grouped(items, key_of, trainable_of, layer=None, prefix: str = "") -> list:
    """``items`` (weights named by ``/``-paths) in Keras's ``layer.weights`` order: the
    layer's own (trainable, then not), then each sub-layer's, each ordered the same way (a
    ``Sequential`` held by a custom layer lists ``dense``'s, then ``batch_normalization``'s
    gamma, beta and moving statistics, then the next layer's).

    Args:
        items: the weights (or anything ``key_of`` names by its path under ``layer``).
        key_of: an item's path (``"blocks/0/kernel"``).
        trainable_of: whether an item is trainable.
        layer: the layer holding them: its sub-layers come in the order Keras tracked them
            (:func:`lamina.layers.tracing.tracked_layers`; two lists filled in one loop
            interleave), a model's in its ``layers`` order.  Without it, or for paths no
            sub-layer claims, sub-layers come in the order their first path part first
            appears.
        prefix: the path of ``layer`` within the items' keys (``""`` at the top).

    Returns:
        The items, reordered.

    >>> keys = ["seq/d/kernel", "seq/bn/gamma", "seq/d2/kernel", "seq/bn/moving_mean", "w"]
    >>> keras_grouped(keys, lambda k: k, lambda k: "moving" not in k)
    ['w', 'seq/d/kernel', 'seq/bn/gamma', 'seq/bn/moving_mean', 'seq/d2/kernel']
    """
    own, rest = [], []
    for item in items:
        (rest if "/" in key_of(item)[len(prefix) :] else own).append(item)
    out = [i for i in own if trainable_of(i)] + [i for i in own if not trainable_of(i)]
    for path, sub in _sub_layers(layer):
        start = f"{prefix}{path}/"
        group = [i for i in rest if key_of(i).startswith(start)]
        if group:
            rest = [i for i in rest if not key_of(i).startswith(start)]
            out += keras_grouped(group, key_of, trainable_of, sub, start)
    groups: dict = {}
    for item in rest:
        groups.setdefault(key_of(item)[len(prefix) :].split("/")[0], []).append(item)
    for part, group in groups.items():
        out += keras_grouped(group, key_of, trainable_of, None, f"{prefix}{part}/")
    return out


def _sub_layers(layer) -> list:
    """``(path, sub-layer)`` of the layers ``layer``'s weight keys are grouped under, in
    Keras's order: a Keras-style layer's by attribute path, a model's by layer name."""
    if layer is None:
        return []
    if getattr(layer, "_is_model", False):
        return [(sub.name, sub) for sub in getattr(layer, "_layers", None) or []]
    if getattr(layer, "_traced", False):
        from lamina.layers.tracing import tracked_layers

        return tracked_layers(layer)
    return []


def _owned_arrays(owner, layer, build):
    """``layer``'s arrays held by ``owner`` (a model, through its public weight protocol in
    :mod:`lamina.models.weight_sync`; or a Keras-style layer holding it as a sub-layer)."""
    if getattr(owner, "_is_model", False):
        from lamina.models import weight_sync

        return weight_sync.weights_of(owner, layer, build=build)
    return owner._arrays_of(layer, build=build)


class OwnerRef(weakref.ref):
    """The weak reference from a layer to the model holding its arrays.  It pickles (and
    deep-copies) as a dead reference: the model a layer is unpickled with makes itself the
    owner again (``SavingMixin.__setstate__``), so a functional graph of layers and symbolic
    tensors pickles as it stands."""

    def __reduce__(self):
        return (_dead_owner, ())


class _Gone:
    """A referent that dies at once: the target of an unpickled :class:`OwnerRef`."""


def _dead_owner() -> OwnerRef:
    return OwnerRef(_Gone())


def owner_ref(model) -> OwnerRef:
    """The one :class:`OwnerRef` to ``model`` that its layers hold (compared by identity when
    the model dies and leaves them their arrays)."""
    ref = model.__dict__.get("_owner_ref")
    if ref is None or ref() is not model:  # none yet, or an unpickled copy's dead one
        ref = model.__dict__["_owner_ref"] = OwnerRef(model)
    return ref


def set_owner(layer, model) -> None:
    """Records that ``layer``'s arrays live in ``model`` (its weight views read them there)."""
    layer._lamina_owner = owner_ref(model)
    layer._standalone = None
    from lamina.models import weight_sync

    weight_sync.owners_changed()
