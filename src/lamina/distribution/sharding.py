"""What the training loop calls to place data and state on the devices of a distribution.

Every function is a no-op (or the plain single-device call) when no distribution is set and the
job has one process, so that path keeps its behaviour and speed.  With one:

* weights, optimizer state and keys are replicated (:func:`replicate`);
* the training rows are split over the batch axis, each process putting only its own rows
  (:func:`process_shard`, :func:`put_rows`); each step gathers its batch with
  :meth:`ShardedRows.gather`: every device picks the batch rows it holds and one
  reduce-scatter hands each device its part of the batch, the same rows, in the same order, as
  a single device would use;
* pre-batched (steps, batch, ...) evaluation data is split along its batch axis
  (:func:`shard_batches`), and streamed chunks, of which each process holds its own rows of
  every batch, become global arrays split the same way (:func:`put_local_batches`);
* gradients and metrics are then summed over devices by XLA, so every process sees the same
  global values.

>>> import numpy as np
>>> from lamina.distribution import sharding
>>> sharding.active() is None  # no distribution set, one process
True
>>> sharding.process_shard(10)
slice(0, 10, None)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from lamina.distribution import api as _api
from lamina.distribution.model_parallel import ModelParallel, keeps_layout
from lamina.distribution.model_parallel import place_state as place_state  # the engine's entry

_DEFAULT = {}


def active():
    """The distribution in effect: the one set, else data parallel over all devices when the
    job has several processes, else ``None``."""
    dist = _api.distribution()
    if dist is not None:
        return dist
    if jax.process_count() > 1:
        if "dp" not in _DEFAULT:
            _DEFAULT["dp"] = _api.DataParallel()
        return _DEFAULT["dp"]
    return None


def is_main_process() -> bool:
    """True on process 0, the one that prints progress and writes files."""
    return jax.process_index() == 0


def data_sharding(ndim=1, batch_axis=0, dist=None):
    """The sharding that splits axis ``batch_axis`` of an ``ndim``-D array over the batch axis."""
    dist = dist or active()
    spec = [None] * ndim
    spec[batch_axis] = dist.batch_dim_name
    return NamedSharding(dist.mesh, PartitionSpec(*spec))


def global_batch_check(batch_size, name="batch_size"):
    """Raises ``ValueError`` naming the nearest valid sizes when ``batch_size`` does not split
    evenly over the data shards; returns ``batch_size``.

    >>> from lamina import distribution
    >>> with distribution.DataParallel().scope():
    ...     distribution.global_batch_check(8)
    8
    """
    dist = active()
    if dist is None:
        return batch_size
    shards = dist.num_data_shards
    if batch_size % shards:
        lower, upper = batch_size // shards * shards, (batch_size // shards + 1) * shards
        nearest = f"{lower} or {upper}" if lower else f"{upper}"
        raise ValueError(
            f"{name}={batch_size} does not split evenly over the {shards} devices of the "
            f"data-parallel mesh (axis {dist.batch_dim_name!r}). Use a multiple of {shards}, "
            f"e.g. {name}={nearest}."
        )
    return batch_size


def _padded_rows(n_rows, dist):
    shards = dist.num_data_shards
    return max(1, math.ceil(n_rows / shards)) * shards


def _row_range(n_padded, sharding):
    """The rows [start, stop) of an (n_padded,)-row array this process's devices hold."""
    spans = [
        idx[0].indices(n_padded)[:2]
        for idx in sharding.addressable_devices_indices_map((n_padded,)).values()
    ]
    spans = sorted(set(spans))
    start, stop = spans[0][0], spans[-1][1]
    if sum(b - a for a, b in spans) != stop - start:  # this process's rows are not contiguous
        return None
    return start, stop


def process_shard(n_rows) -> slice:
    """The rows of an ``n_rows``-row dataset that this process feeds (all of them when alone).

    Rows are split in contiguous blocks, process 0 first, padded to a multiple of the number
    of data shards; the slice is clipped to ``n_rows``.
    """
    dist = active()
    if dist is None:
        return slice(0, n_rows)
    n_padded = _padded_rows(n_rows, dist)
    span = _row_range(n_padded, data_sharding(1, 0, dist))
    if span is None:
        raise ValueError("This process's devices do not hold a contiguous block of rows.")
    return slice(min(span[0], n_rows), min(span[1], n_rows))


def _global_array(host, sharding, shape=None):
    """A global array from a host array every process holds in full."""
    host = np.asarray(host)
    shape = host.shape if shape is None else shape
    return jax.make_array_from_callback(shape, sharding, lambda index: host[index])


def replicate(tree):
    """``tree`` with every array copied to every device of the distribution (as is without one).

    Under a ``ModelParallel`` distribution, arrays already laid out on its mesh (weights
    split by ``model_parallel.place_state``) are kept as they are.  With several processes,
    process 0's values are used everywhere, so processes that initialized or shuffled
    differently still agree.
    """
    dist = active()
    if dist is None:
        return tree
    target = NamedSharding(dist.mesh, PartitionSpec())
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    # Under ModelParallel, weights already split by their layouts keep them.
    laid_out = isinstance(dist, ModelParallel)
    todo = [
        i
        for i, a in enumerate(leaves)
        if not (isinstance(a, jax.Array) and a.sharding.is_equivalent_to(target, a.ndim))
        and not (laid_out and keeps_layout(a, dist.mesh))
    ]
    if not todo:
        return tree
    if jax.process_count() == 1:
        for i in todo:
            leaves[i] = jax.device_put(leaves[i], target)
        return jax.tree_util.tree_unflatten(treedef, leaves)
    from jax.experimental import multihost_utils

    local = [leaves[i] for i in todo]
    keys = [jax.dtypes.issubdtype(getattr(a, "dtype", None), jax.dtypes.prng_key) for a in local]
    raw = [jax.random.key_data(a) if k else a for a, k in zip(local, keys)]
    fully = [not isinstance(a, jax.Array) or a.is_fully_addressable for a in raw]
    host = multihost_utils.broadcast_one_to_all([np.asarray(a) for a, f in zip(raw, fully) if f])
    host = iter(host)
    for i, a, k, f in zip(todo, raw, keys, fully):
        if f:
            g = _global_array(next(host), target)
        else:  # already global, just laid out differently
            g = jax.jit(lambda v: v, out_shardings=target)(a)
        leaves[i] = jax.random.wrap_key_data(g, impl=jax.random.key_impl(leaves[i])) if k else g
    return jax.tree_util.tree_unflatten(treedef, leaves)


def shard_batches(tree, batch_axis=1):
    """Pre-batched ``(steps, batch, ...)`` arrays split along ``batch_axis`` over the batch
    axis (replicated when the batch does not split evenly); ``jax.device_put`` without a
    distribution.  Every process passes the full arrays and puts only its devices' part."""
    dist = active()
    if dist is None:
        return jax.device_put(tree)

    def put(a):
        a = np.asarray(a)
        even = a.ndim > batch_axis and a.shape[batch_axis] % dist.num_data_shards == 0
        sharding = (
            data_sharding(a.ndim, batch_axis, dist)
            if even
            else NamedSharding(dist.mesh, PartitionSpec())
        )
        return _global_array(a, sharding)

    return jax.tree_util.tree_map(put, tree)


def put_local_batches(tree, global_batch, batch_axis=1):
    """Pre-batched ``(steps, batch, ...)`` arrays that hold this process's rows of each batch,
    as global arrays split along ``batch_axis`` over the batch axis (``batch_axis`` of the
    result has ``global_batch`` rows).

    With one process the arrays are the whole batches (a sharded ``device_put``); with several
    each process passes its own ``global_batch // process_count`` rows and
    ``jax.make_array_from_process_local_data`` joins them.  ``jax.device_put`` without a
    distribution.
    """
    dist = active()
    if dist is None:
        return jax.device_put(tree)

    def put(a):
        a = np.asarray(a)
        sharding = data_sharding(a.ndim, batch_axis, dist)
        if jax.process_count() == 1:
            return jax.device_put(a, sharding)
        shape = list(a.shape)
        shape[batch_axis] = global_batch
        return jax.make_array_from_process_local_data(sharding, a, tuple(shape))

    return jax.tree_util.tree_map(put, tree)


def batch_span(global_batch):
    """The rows ``[start, stop)`` of every ``global_batch``-row batch that this process's
    devices hold (``(0, global_batch)`` without a distribution or with one process)."""
    dist = active()
    if dist is None or jax.process_count() == 1:
        return 0, global_batch
    span = _row_range(global_batch, data_sharding(1, 0, dist))
    if span is None:
        raise ValueError("This process's devices do not hold a contiguous block of rows.")
    return span


def device_get(tree):
    """``jax.device_get`` that also fetches arrays split over several processes."""
    leaves = jax.tree_util.tree_leaves(tree)
    if all(
        not isinstance(a, jax.Array) or a.is_fully_addressable or a.is_fully_replicated
        for a in leaves
    ):
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return jax.tree_util.tree_map(
        lambda a: np.asarray(multihost_utils.process_allgather(a, tiled=True)), tree
    )


@jax.tree_util.register_pytree_node_class
class ShardedRows:
    """Training rows ``(x, y, sample_weight)`` split over the batch axis of ``mesh``.

    Unpacks like the plain ``(x, y, sw)`` tuple; :meth:`gather` is the data-parallel version of
    ``jnp.take(a, batch_indices, axis=0)``.  Rows are zero-padded to a multiple of the number of
    shards; batch indices never point at the padding.
    """

    def __init__(self, arrays, mesh, axis, treedef=None):
        self.arrays = tuple(arrays)
        self.mesh = mesh
        self.axis = axis
        #: The structure of ``(x, ys, sample_weight)`` over ``arrays`` (pytree inputs).
        self.treedef = treedef

    def tree_flatten(self):
        return self.arrays, (self.mesh, self.axis, self.treedef)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children, *aux)

    def __iter__(self):
        if self.treedef is not None:
            return iter(jax.tree_util.tree_unflatten(self.treedef, self.arrays))
        return iter(self.arrays)

    def gather(self, bidx, bmask):
        """Inside ``jit``: the rows ``bidx`` (global row numbers, replicated) as batch-split
        ``(x, y, sample_weight * bmask)``, each device holding its consecutive part."""
        axis = self.axis
        row_spec = PartitionSpec(axis)

        def local(bidx, *arrays):
            n_local = arrays[0].shape[0]
            offset = bidx - jax.lax.axis_index(axis) * n_local
            mine = (offset >= 0) & (offset < n_local)
            offset = jnp.where(mine, offset, 0)
            out = []
            for a in arrays:
                g = jnp.take(a, offset, axis=0)
                g = jnp.where(
                    jnp.reshape(mine, mine.shape + (1,) * (g.ndim - 1)), g, jnp.zeros((), g.dtype)
                )
                out.append(jax.lax.psum_scatter(g, axis, scatter_dimension=0, tiled=True))
            return tuple(out)

        out = jax.shard_map(
            local,
            mesh=self.mesh,
            in_specs=(PartitionSpec(), *(row_spec,) * len(self.arrays)),
            out_specs=(row_spec,) * len(self.arrays),
        )(bidx, *self.arrays)
        if self.treedef is not None:
            out = jax.tree_util.tree_unflatten(self.treedef, out)
        x, y, sw = out
        bmask = jax.lax.with_sharding_constraint(bmask, NamedSharding(self.mesh, row_spec))
        # ``sw``: one array, or one per output (a tuple).
        sw = jax.tree_util.tree_map(
            lambda w: w * bmask.reshape(bmask.shape + (1,) * (w.ndim - bmask.ndim)), sw
        )
        return x, y, sw


def put_rows(arrays):
    """The training rows on the devices: ``jax.device_put(arrays)`` without a distribution,
    else a :class:`ShardedRows` built from this process's rows (:func:`process_shard`).
    ``arrays`` is ``(x, ys, sample_weight)``, whose parts may be pytrees of arrays.  Every
    process passes the full arrays."""
    dist = active()
    if dist is None:
        return jax.device_put(arrays)
    arrays, treedef = jax.tree_util.tree_flatten(arrays)
    n = arrays[0].shape[0]
    n_padded = _padded_rows(n, dist)
    out = []
    for a in arrays:
        a = np.asarray(a)
        sharding = data_sharding(a.ndim, 0, dist)
        span = _row_range(n_padded, sharding)
        shape = (n_padded, *a.shape[1:])
        if span is None:
            padded = np.concatenate([a, np.zeros((n_padded - n, *a.shape[1:]), a.dtype)])
            out.append(_global_array(padded, sharding))
            continue
        rows = a[process_shard(n)]
        local = np.concatenate(
            [rows, np.zeros((span[1] - span[0] - len(rows), *a.shape[1:]), a.dtype)]
        )
        out.append(jax.make_array_from_process_local_data(sharding, local, shape))
    return ShardedRows(out, dist.mesh, dist.batch_dim_name, treedef)
