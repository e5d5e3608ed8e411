"""Model parallelism (Keras 3's ``keras.distribution.ModelParallel``): weights split over a mesh.

A :class:`ModelParallel` distribution reads a :class:`~lamina.distribution.LayoutMap`, whose keys
are regular expressions over Keras's variable paths (``d1/kernel``,
``sequential/dense/bias``).  Under it, ``fit``, ``evaluate`` and ``predict`` run the usual
compiled programs with

* each weight placed with the ``jax.sharding.NamedSharding`` of its layout (unmatched weights
  replicated), and each optimizer slot (Adam's moments, ...) placed like the weight it mirrors
  (:func:`place_state`);
* each batch split over the mesh axis ``batch_dim_name``, as under ``DataParallel``;
* the output of a layer whose ``"<layer path>/output"`` the map names constrained to that
  layout (``jax.lax.with_sharding_constraint``, :func:`relayout_outputs`), as Keras's
  ``Layer.__call__`` relayouts it.

``jit`` propagates these shardings through the forward pass, the gradients and the optimizer
update: XLA inserts the collectives, so every device holds only its part of a split weight and
training matches a single device up to float rounding.

>>> from lamina import distribution
>>> mesh = distribution.DeviceMesh((1, len(distribution.list_devices())), ["batch", "model"])
>>> layout_map = distribution.LayoutMap(mesh)
>>> layout_map["d1/kernel"] = (None, "model")
>>> mp = distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
>>> mp.get_tensor_layout("d1/kernel").axes, mp.get_data_layout((8, 3)).axes
((None, 'model'), ('batch', None))
"""

from __future__ import annotations

import jax
from jax.sharding import NamedSharding, PartitionSpec

from lamina.distribution import api as _api
from lamina.distribution.layouts import LayoutMap, TensorLayout

__all__ = ["ModelParallel", "place_state", "relayout_outputs"]


class ModelParallel(_api.Distribution):
    """Weights split over a device mesh as a :class:`~lamina.distribution.LayoutMap` says, and
    batches split over its batch axis (Keras 3's ``keras.distribution.ModelParallel``).

    Args:
        layout_map: a :class:`~lamina.distribution.LayoutMap`; its mesh is the distribution's.
            Keys are regular expressions matched (``re.fullmatch``) against the variables'
            paths (``model.weights[i].path``) and against ``"<layer path>/output"`` for the
            layers' outputs.
        batch_dim_name: the mesh axis batches are split over (default: the mesh's first axis).
        auto_shard_dataset: Keras's flag (each process reads its own rows in a multi-process
            job); kept for compatibility.
        device_mesh: accepted for Keras 3.0-3.2 code and ignored, as Keras does: the mesh is
            ``layout_map.device_mesh``.

    Raises:
        ValueError: no ``layout_map``, a ``layout_map`` that is not a ``LayoutMap``, or a
            ``batch_dim_name`` that is not an axis of the mesh.

    ``batch_size`` stays the global batch size; it must be a multiple of the size of the
    batch axis.

    >>> import numpy as np
    >>> import lamina as keras
    >>> from lamina import distribution
    >>> mesh = distribution.DeviceMesh((1, len(distribution.list_devices())), ["data", "model"])
    >>> layout_map = distribution.LayoutMap(mesh)
    >>> layout_map["d1/kernel"] = (None, "model")
    >>> with distribution.ModelParallel(layout_map=layout_map, batch_dim_name="data").scope():
    ...     inputs = keras.Input((3,))
    ...     model = keras.Model(inputs, keras.layers.Dense(4, name="d1")(inputs))
    ...     model.compile(optimizer="adam", loss="mse")
    ...     _ = model.fit(np.ones((8, 3)), np.ones((8, 4)), verbose=0)
    >>> sharding = model.layers[1].kernel.value.sharding  # one device: nothing to split
    >>> len(distribution.list_devices()) == 1 or tuple(sharding.spec) == (None, "model")
    True
    """

    def __init__(
        self, *, layout_map=None, batch_dim_name=None, auto_shard_dataset=True, device_mesh=None
    ):
        del device_mesh  # Keras 3.0-3.2's argument; the layout map's mesh is the one used
        if layout_map is None:
            raise ValueError(
                "You must specify a layout_map argument: ModelParallel(layout_map=LayoutMap("
                "device_mesh), batch_dim_name=...)."
            )
        if not isinstance(layout_map, LayoutMap):
            raise ValueError(
                "Argument `layout_map` must be a `LayoutMap` instance. "
                f"Received: layout_map={layout_map!r}"
            )
        mesh = layout_map.device_mesh
        if not isinstance(mesh, _api.DeviceMesh):
            raise ValueError(
                "ModelParallel needs a LayoutMap made with a DeviceMesh: "
                f"LayoutMap(DeviceMesh(...)). Received a LayoutMap whose mesh is {mesh!r}."
            )
        batch_dim_name = batch_dim_name or mesh.axis_names[0]
        if batch_dim_name not in mesh.axis_names:
            raise ValueError(
                f"Invalid axis names for Layout. Valid axis names: {set(mesh.axis_names)}, Got "
                f"{ {batch_dim_name} }: batch_dim_name must be an axis of the mesh "
                f"{mesh.axis_names}."
            )
        super().__init__(mesh, batch_dim_name)
        self.auto_shard_dataset = auto_shard_dataset
        self._layout_map = layout_map

    @property
    def num_model_replicas(self) -> int:
        """How many copies of the model there are: the size of the batch axis."""
        return self.num_data_shards

    def get_data_layout(self, data_shape) -> TensorLayout:
        """Inputs: the first (batch) dimension split over the batch axis."""
        axes = [None] * len(data_shape)
        axes[0] = self.batch_dim_name
        return TensorLayout(axes, self.device_mesh)

    def get_variable_layout(self, variable) -> TensorLayout:
        """A variable's layout: its own ``_layout`` if set, else the layout map's entry for
        its ``path``, else replicated."""
        own = getattr(variable, "_layout", None)
        if own is not None:
            return own
        layout = self._layout_map[variable.path]
        if layout is not None:
            return layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        """The layout the map gives ``path`` (an intermediate tensor such as
        ``"d2/output"``), or ``None``."""
        return self._layout_map[path]

    def __repr__(self):
        return f"ModelParallel(device_mesh={self.device_mesh!r}, batch_dim_name={self.batch_dim_name!r})"


def _checked_sharding(layout, path: str, shape) -> NamedSharding:
    """The ``NamedSharding`` of ``layout`` for an array of ``shape`` named ``path``; a
    ``ValueError`` naming the path when the layout's rank or the axis sizes do not fit."""
    if len(layout.axes) != len(shape):
        raise ValueError(
            f"The layout {layout.axes} for {path!r} has {len(layout.axes)} axes, but the "
            f"variable has shape {tuple(shape)}. Give one mesh axis name (or None) per "
            "dimension of the variable."
        )
    mesh = layout.device_mesh
    for dim, axis in zip(shape, layout.axes):
        if axis is None:
            continue
        size = mesh.shape[mesh.axis_names.index(axis)]
        if dim % size:
            raise ValueError(
                f"The layout {layout.axes} splits a dimension of size {dim} of {path!r} "
                f"(shape {tuple(shape)}) over mesh axis {axis!r} of size {size}, which does not "
                "divide it. Choose a layout or mesh whose axis sizes divide the dimensions."
            )
    return layout.backend_layout


def _weight_shardings(dist: ModelParallel, model, ts):
    """``{(kind, layer index, key): NamedSharding}`` for the weights the layout map splits."""
    from lamina.layers.variable_paths import weight_path

    view = getattr(model, "saving_view", None)
    if view is None:
        return None
    layers = view().layers
    out = {}
    for kind, per_layer in (("params", ts.params), ("state", ts.state)):
        if not isinstance(per_layer, tuple) or len(per_layer) != len(layers):
            return None  # not the per-layer layout of a built-in model: replicate everything
        if not all(isinstance(weights, dict) for weights in per_layer):
            return None
        for i, (layer, weights) in enumerate(zip(layers, per_layer)):
            for key, value in weights.items():
                path = weight_path(layer, key)
                layout = dist._layout_map[path]
                if layout is None or all(a is None for a in layout.axes):
                    continue
                out[(kind, i, key)] = _checked_sharding(layout, path, value.shape)
    return out


def _slot_sharding(path, leaf, by_param):
    """An optimizer slot's sharding: that of the weight whose (layer index, key) ends its
    path in the optax state (``mu[2]["kernel"]``), when the shapes agree."""
    if len(path) < 2 or not hasattr(leaf, "shape"):
        return None
    idx, key = path[-2], path[-1]
    if not isinstance(idx, jax.tree_util.SequenceKey) or not isinstance(key, jax.tree_util.DictKey):
        return None
    found = by_param.get((idx.idx, key.key))
    if found is None or found[1] != tuple(leaf.shape):
        return None
    return found[0]


def _put(leaf, sharding):
    if isinstance(leaf, jax.Array) and leaf.sharding.is_equivalent_to(sharding, leaf.ndim):
        return leaf
    return jax.device_put(leaf, sharding)


def place_state(ts, model):
    """``ts`` (a model's ``TrainState``) on the devices of the current distribution.

    Under :class:`ModelParallel`: each weight with the layout the map gives its path, each
    optimizer slot like its weight, everything else replicated (a compiled call may hand back
    other layouts XLA chose for unsplit weights; they are put back here, so every call sees
    the same input layouts and compiles once).  Under any other distribution (or none):
    :func:`lamina.distribution.sharding.replicate`.

    Args:
        ts: the ``TrainState`` (or another state pytree, which is replicated).
        model: the model ``ts`` belongs to (its layers name the weights).

    Returns:
        The placed state.
    """
    from lamina.distribution import sharding as _sharding

    dist = _sharding.active()
    if not isinstance(dist, ModelParallel):
        return _sharding.replicate(ts)
    if isinstance(ts, dict) and {"tv", "ntv", "opt"} <= set(ts):
        return _place_custom_state(dist, model, _sharding.replicate(ts))
    if not hasattr(ts, "opt_state"):
        return _sharding.replicate(ts)
    shardings = _weight_shardings(dist, model, ts)
    ts = _sharding.replicate(ts)  # one process's values everywhere, then laid out
    if shardings is None:
        return ts
    rep = NamedSharding(dist.mesh, PartitionSpec())

    def laid(kind, per_layer):
        return tuple(
            {k: _put(v, shardings.get((kind, i, k), rep)) for k, v in weights.items()}
            for i, weights in enumerate(per_layer)
        )

    by_param = {
        (i, k): (s, tuple(ts.params[i][k].shape))
        for (kind, i, k), s in shardings.items()
        if kind == "params"
    }

    def slot(path, leaf):
        if not isinstance(leaf, jax.Array):
            return leaf
        return _put(leaf, _slot_sharding(path, leaf, by_param) or rep)

    opt_state = jax.tree_util.tree_map_with_path(slot, ts.opt_state)
    return ts._replace(
        params=laid("params", ts.params), state=laid("state", ts.state), opt_state=opt_state
    )


def _layouts_of(dist, variables, arrays, rep):
    """The sharding of each of ``arrays``, the values of ``variables`` (Keras's order)."""
    variables = list(variables)
    if len(variables) != len(arrays):
        return [rep] * len(arrays)
    out = []
    for v, a in zip(variables, arrays):
        layout = dist._layout_map[v.path]
        same = tuple(v.shape) == tuple(a.shape)
        out.append(
            rep if layout is None or not same else _checked_sharding(layout, v.path, a.shape)
        )
    return out


def _place_custom_state(dist, model, s):
    """The state a model with its own ``train_step`` carries (Keras's stateless lists:
    ``tv``, ``ntv``, and ``opt``, the optimizer's variables: its counters, then one slot
    per trainable variable per slot kind, in the variables' order) laid out."""
    rep = NamedSharding(dist.mesh, PartitionSpec())
    tv = _layouts_of(dist, model.trainable_variables, s["tv"], rep)
    ntv = _layouts_of(dist, model.non_trainable_variables, s["ntv"], rep)
    n = len(tv)
    opt = []
    owners = _slot_owners(model, len(s["opt"]))
    for j, a in enumerate(s["opt"]):
        ref = owners[j] if owners is not None else ((j - len(s["opt"])) % n if n else None)
        ref = ref if ref is not None and 0 <= ref < n else None
        same = ref is not None and tuple(getattr(a, "shape", ())) == tuple(s["tv"][ref].shape)
        opt.append(tv[ref] if same else rep)
    out = dict(s)
    for name, shardings in (("tv", tv), ("ntv", ntv), ("opt", opt)):
        out[name] = [
            _put(a, sh) if isinstance(a, jax.Array) else a for a, sh in zip(s[name], shardings)
        ]
    return out


def _slot_owners(model, count):
    """The trainable variable each of the optimizer's ``count`` variables belongs to (``None``
    for the counters), or ``None`` when the optimizer cannot say (the layout is then
    guessed)."""
    owners = getattr(getattr(model, "optimizer", None), "_variable_owners", None)
    owners = owners() if callable(owners) else None
    return owners if owners is not None and len(owners) == count else None


def keeps_layout(leaf, mesh) -> bool:
    """Whether ``leaf`` is an array already laid out on ``mesh`` (by :func:`place_state`),
    which :func:`~lamina.distribution.sharding.replicate` then leaves as it is."""
    sharding = getattr(leaf, "sharding", None)
    return isinstance(sharding, NamedSharding) and sharding.mesh == mesh


def relayout_outputs(layer, apply):
    """``apply`` (a layer's ``apply``) whose outputs take the layout the current
    :class:`ModelParallel` gives ``"<layer path>/output"``; ``apply`` itself otherwise."""
    dist = _api.distribution()
    if not isinstance(dist, ModelParallel) or not len(dist._layout_map):
        return apply
    from lamina.layers.variable_paths import layer_path

    layout = dist.get_tensor_layout(layer_path(layer) + "/output")
    if layout is None:
        return apply
    sharding = NamedSharding(dist.mesh, PartitionSpec(*layout.axes))

    def constrain(a):
        if not hasattr(a, "ndim") or a.ndim != len(layout.axes):
            return a
        if isinstance(a, jax.core.Tracer):
            return jax.lax.with_sharding_constraint(a, sharding)
        return jax.device_put(a, sharding)

    def relaid(*args, **kwargs):
        y, new_state = apply(*args, **kwargs)
        return jax.tree_util.tree_map(constrain, y), new_state

    return relaid


def traced_layouts():
    """The current :class:`ModelParallel` (else ``None``): part of a model's program key,
    since the output layouts it names are traced into the programs."""
    dist = _api.distribution()
    return dist if isinstance(dist, ModelParallel) else None
