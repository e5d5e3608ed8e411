"""The inputs a Keras-style layer is built on: their shapes, dtypes and dict order.

Keras builds a layer on its first call's actual inputs.  ``build(input_shape)`` gets their
real shapes (an eager call's batch size; ``None`` only where a symbolic input's size is
unknown), and a layer holding sub-layers runs ``call`` on inputs of those shapes *and dtypes*,
so integer indices stay integers (``ops.take(x, indices)``) and a first axis that is not the
batch (a graph layer's ``(num_nodes, batch, ...)``) keeps its size.  Lamina's
``init(key, input_shape)`` carries only shapes, so the dtypes travel beside it: whoever knows
the inputs (an eager call, a call inside a traced ``call``, a symbolic call's shape trace)
names them with :func:`called_on`, and a layer of a functional graph takes those of its
first call's symbolic inputs.

Keras also passes a dict of inputs to ``build`` and ``call`` in the user's key order, where
JAX's pytrees sort the keys: :func:`keep_order` puts them back.

>>> import numpy as np
>>> z = zeros([(None, 3), (2,)], ["float32", "int32"])
>>> [(a.shape, str(a.dtype)) for a in z]
[((1, 3), 'float32'), ((2,), 'int32')]
>>> list(keep_order({"a": 0, "b": 1}, {"b": None, "a": None}))
['b', 'a']
"""

from __future__ import annotations

import contextlib
import contextvars
import functools

import jax
import jax.numpy as jnp

from lamina.layers.core_methods import layer_init

#: ``(id(layer), inputs)``: the inputs of the layer's call being built or run now.
_INPUTS: contextvars.ContextVar = contextvars.ContextVar("lamina_call_inputs", default=None)


def _is_shape_list(shape) -> bool:
    return isinstance(shape, list | tuple) and bool(shape) and isinstance(shape[0], list | tuple)


def dtype_tree(tree):
    """``tree`` (arrays, symbolic tensors, shape-dtype structs, dtype names) with each leaf's
    dtype name (None for a leaf without one)."""

    def name(leaf):
        if isinstance(leaf, str):
            return leaf
        dtype = getattr(leaf, "dtype", None)
        return None if dtype is None else str(dtype)

    return jax.tree_util.tree_map(name, tree, is_leaf=lambda v: hasattr(v, "dtype"))


@contextlib.contextmanager
def called_on(layer, inputs):
    """While inside, ``layer``'s traced ``init`` and ``apply`` know the inputs of this call:
    ``inputs`` (arrays, symbolic tensors or dtype names, structured as the call's inputs)
    gives their dtypes and their dicts' key order.  Other layers are not affected."""
    token = _INPUTS.set((id(layer), inputs))
    try:
        yield
    finally:
        _INPUTS.reset(token)


def inputs_like(layer):
    """The inputs of ``layer``'s call being built or run (see :func:`called_on`), else those
    of its first symbolic call (a layer of a functional graph), else None."""
    found = _INPUTS.get()
    if found is not None and found[0] == id(layer):
        return found[1]
    nodes = getattr(layer, "_inbound_nodes", None)
    if nodes and getattr(nodes[0], "args", None):
        return nodes[0].args[0]
    return None


def has_dict(x) -> bool:
    """Whether ``x`` is a dict of inputs, or a list of inputs holding one."""
    if isinstance(x, dict):
        return True
    return isinstance(x, list | tuple) and any(isinstance(v, dict) for v in x)


def in_call_order(layer, x):
    """``x`` with its dicts in the key order of the inputs ``layer`` was called on: Keras's
    ``call`` gets them as the user built them, where pytrees (casts, maps) sort the keys."""
    return keep_order(x, inputs_like(layer)) if has_dict(x) else x


def _kept(dtype):
    """The dtype of the zeros for an input of ``dtype``: integers and booleans keep theirs
    (indices, masks); floating inputs (and unknown or string ones) are float32, as before."""
    try:  # canonical: int64 is int32 unless JAX runs in 64 bits
        dtype = jax.dtypes.canonicalize_dtype(jnp.dtype(dtype))
    except (TypeError, ValueError):
        return jnp.float32
    return dtype if dtype.kind in "iub" else jnp.float32


def zeros(shape_tree, dtypes=None):
    """Zeros of ``shape_tree`` (a shape, or a list/dict of shapes): unknown dimensions become 1,
    and each input takes its dtype from ``dtypes`` (shaped alike) where it is an integer or
    boolean one.  A dict's keys come sorted, as Keras's ``call`` sees them when it builds a
    layer by running it."""
    if isinstance(shape_tree, dict):
        given = dtypes if isinstance(dtypes, dict) else {}
        return {k: zeros(shape_tree[k], given.get(k)) for k in sorted(shape_tree)}
    if _is_shape_list(shape_tree):
        same = isinstance(dtypes, list | tuple) and len(dtypes) == len(shape_tree)
        given = dtypes if same else [None] * len(shape_tree)
        return [zeros(s, d) for s, d in zip(shape_tree, given)]
    dtype = _kept(dtypes) if isinstance(dtypes, str) else jnp.float32
    return jnp.zeros(tuple(1 if d is None else int(d) for d in shape_tree), dtype)


def batch_unknown(scope) -> bool:
    """Whether the inputs ``scope`` builds layers on had unknown sizes (filled with 1)."""
    known = getattr(scope, "shapes_known", None)
    if known is not None:
        return not known
    return getattr(scope, "build_batch", None) is None


def shapes_known(shape_tree) -> bool:
    """Whether every dimension of ``shape_tree`` (a shape, or a list/dict of them) is known."""
    if isinstance(shape_tree, dict):
        return all(shapes_known(s) for s in shape_tree.values())
    if _is_shape_list(shape_tree):
        return all(shapes_known(s) for s in shape_tree)
    return all(d is not None for d in shape_tree)


def sub_layer_shapes(scope, x):
    """The input shape(s) a sub-layer called on ``x`` inside a building ``call`` is built for:
    ``x``'s real shape, as Keras builds it.  When the layer being built had inputs of unknown
    size, a first axis of 1 is its batch filled in, so it becomes ``None`` again (Keras's
    symbolic build); any other size is real (gathered rows, a ``(num_nodes, batch)`` axis)."""
    unknown = batch_unknown(scope)

    def one(a):
        if isinstance(a, list | tuple):  # a nested list: a tuple of shapes, as before
            return tuple(one(v) for v in a)
        if isinstance(a, dict):
            return {k: one(v) for k, v in a.items()}
        shape = tuple(a.shape)
        if unknown and shape and shape[0] == 1:
            return (None, *shape[1:])
        return shape

    return [one(a) for a in x] if isinstance(x, list | tuple) else one(x)


def build_in_scope(layer, scope, input_shape) -> None:
    """``layer.build(input_shape)`` called while a traced ``init`` runs (a custom layer's
    ``build`` building a sub-layer to read its weights, as Keras's PixelCNN example does): the
    sub-layer is initialized and bound in ``scope``, as its first call there would do, so
    ``layer.kernel`` reads it and its later calls use these weights."""
    if scope.init_key is None or scope.lookup(layer) is not None or input_shape is None:
        return
    if _is_shape_list(input_shape):
        input_shape = [tuple(s) for s in input_shape]
    elif not isinstance(input_shape, dict):
        input_shape = tuple(input_shape)
    params, state = layer_init(layer)(scope.next_init_key(), input_shape)
    scope.bind(layer, params, state)
    from lamina.layers.build_record import note_sub_build

    note_sub_build(scope, layer, input_shape)  # a later init of the builder builds it again


def scope_user_build(cls) -> None:
    """Makes the ``build`` a user layer class defines, when the layer holding it calls it
    directly while that one is built (``self.block.build(shape)`` in its own ``build``), build
    the layer in the running scope (:func:`build_in_scope`), once, as Keras builds it then:
    otherwise its weights would be made twice, there and at its first call."""
    build = cls.__dict__.get("build")
    module = getattr(cls, "__module__", None) or ""
    if build is None or module.startswith("lamina.") or getattr(build, "_lamina_scoped", False):
        return
    from lamina.layers.variables import current_scope

    @functools.wraps(build)
    def scoped_build(self, *args, **kwargs):
        scope = current_scope()
        if (
            len(args) == 1
            and not kwargs
            and getattr(self, "_traced", False)
            and scope is not None
            and scope.init_key is not None
            and getattr(self, "_init_store", None) is None  # not its own ``init`` running
        ):
            return build_in_scope(self, scope, args[0])
        from lamina.scopes import layer_scope

        with layer_scope(self):  # as Keras's build: what it builds is under the layer's path
            out = build(self, *args, **kwargs)
        if getattr(self, "_init_store", None) is None and getattr(self, "_traced", False):
            _built_by_user(self, args[0] if args else kwargs.get("input_shape"), scope)
        return out

    scoped_build._lamina_scoped = True
    cls.build = scoped_build


def _built_by_user(layer, input_shape, scope) -> None:
    """``layer.build(...)`` called by the user (``layer.build((None, 8))``, or with extra
    arguments, ``build(shape, layer_init)`` in Keras's customizing-saving guide): as in Keras
    the layer is built then, its weights those this ``build`` made, and its first call does
    not build it again (which would make them twice, or miss the extra arguments)."""
    if getattr(layer, "_is_model", False):
        return
    layer.__dict__["_built_by_user"] = True
    if scope is None and input_shape is not None and layer._owner_model() is None:
        layer._build_standalone(_shape_arg(input_shape))


def _shape_arg(shape):
    if isinstance(shape, dict):
        return {k: _shape_arg(v) for k, v in shape.items()}
    if _is_shape_list(shape):
        return [tuple(s) for s in shape]
    return tuple(shape)


def keep_order(tree, like):
    """``tree`` (the result of mapping over ``like``) with its dicts in ``like``'s key order:
    Keras passes a dict of inputs to ``call`` as the user built it, where ``jax.tree_util``
    sorts the keys."""
    if isinstance(tree, dict) and isinstance(like, dict) and set(tree) == set(like):
        return {k: keep_order(tree[k], like[k]) for k in like}
    if (
        isinstance(tree, list | tuple)
        and isinstance(like, list | tuple)
        and len(tree) == len(like)
        and not hasattr(tree, "_fields")
    ):
        return type(tree)(keep_order(t, s) for t, s in zip(tree, like))
    return tree
