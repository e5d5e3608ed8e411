"""``lamina.Operation``: Keras 3's ``keras.Operation``, the base of a computation that runs on
arrays and records a graph node on symbolic tensors.

A subclass defines ``call(*args, **kwargs)``.  Called on arrays, the operation runs ``call``;
called with a ``KerasTensor`` among its arguments (from ``lamina.Input``), it records a node of
the functional graph whose output shapes and dtypes come from tracing ``call``, so it can sit
in a ``Model`` like any ``lamina.ops`` function.  Every layer is an ``Operation`` too
(``isinstance(Dense(2), lamina.Operation)``), as in Keras.

>>> import numpy as np
>>> import lamina as keras
>>> class Scale(keras.Operation):
...     def call(self, x, factor=2.0):
...         return x * factor
>>> Scale()(np.ones(2), factor=3.0).tolist()
[3.0, 3.0]
>>> inputs = keras.Input((3,))
>>> model = keras.Model(inputs, Scale()(inputs, factor=3.0))
>>> model.predict(np.ones((1, 3)), verbose=0).tolist()
[[3.0, 3.0, 3.0]]
"""

from __future__ import annotations

import abc

import jax

from lamina._naming import snake_case, unique_name

__all__ = ["Operation", "output_spec"]


_SINGLE = jax.tree_util.tree_structure(0)


def _is_kt(value) -> bool:
    from lamina.layers.symbolic import KerasTensor

    return isinstance(value, KerasTensor)


class Operation(abc.ABC):  # noqa: B024 - Keras's base class; ``call`` is the one to define
    """A computation on arrays that records a graph node on symbolic tensors.

    Args:
        name: the operation's name (no ``/``); Keras's automatic snake-case name of the class
            (``scale``, ``scale_1``, ...) when omitted.

    Raises:
        ValueError: ``name`` is not a string or contains ``/`` (Keras's message).
    """

    def __init__(self, name=None):
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name} (of type {type(name)})"
            )
        self.name = name or unique_name(snake_case(type(self).__name__))

    @classmethod
    def __subclasshook__(cls, other):
        # Keras's layers are operations: ``isinstance(layer, keras.Operation)`` holds.
        if cls is Operation:
            from lamina.layers.base import Layer

            if issubclass(other, Layer):
                return True
        return NotImplemented

    def __call__(self, *args, **kwargs):
        leaves = jax.tree_util.tree_leaves((args, kwargs), is_leaf=_is_kt)
        if any(_is_kt(v) for v in leaves):
            return self.symbolic_call(*args, **kwargs)
        return self.call(*args, **kwargs)

    def symbolic_call(self, *args, **kwargs):
        """Records a graph node running ``call`` on the values of the symbolic arguments;
        returns its output ``KerasTensor``(s), in the structure ``call`` returns."""
        from lamina.ops._symbolic import symbolic_aware

        structure = {}

        def flat_call(*a, **k):
            # A graph node gives out one tensor or a list: a dict or nested output travels as
            # its leaves and is put back together below.
            leaves, structure["tree"] = jax.tree_util.tree_flatten(self.call(*a, **k))
            return leaves[0] if structure["tree"] == _SINGLE else leaves

        recorded = symbolic_aware(flat_call, self.name, saveable=False)(*args, **kwargs)
        if structure["tree"] == _SINGLE:
            return recorded
        leaves = recorded if isinstance(recorded, list | tuple) else [recorded]
        return jax.tree_util.tree_unflatten(structure["tree"], list(leaves))

    def call(self, *args, **kwargs):
        """The computation on arrays (override it)."""
        raise NotImplementedError(
            f"{type(self).__name__} is a lamina.Operation without call(): define "
            "call(self, *args, **kwargs) returning the result on arrays."
        )

    def compute_output_spec(self, *args, **kwargs):
        """The ``KerasTensor``(s) ``call`` returns for these (symbolic) arguments, found by
        tracing it; unknown (``None``) dimensions stay unknown where the output follows them.

        Raises:
            Exception: the trace's own error, saying which operation failed.
        """
        return output_spec(self.call, args, kwargs, self.name)

    def get_config(self) -> dict:
        """``{"name": ...}``: an operation holding more must override it, as in Keras."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<Operation name={self.name}>"


def output_spec(fn, args, kwargs, name="operation"):
    """``fn(*args, **kwargs)``'s outputs as ``KerasTensor``s, traced with the symbolic
    arguments' shapes and dtypes at two sizes for each unknown dimension.

    Args:
        fn: the function to trace.
        args, kwargs: its arguments; ``KerasTensor``s among them.
        name: the operation named in an error.

    Returns:
        A ``KerasTensor``, or the structure of them ``fn`` returns.

    >>> import jax.numpy as jnp
    >>> from lamina.layers.symbolic import KerasTensor
    >>> tensors = [KerasTensor((None, 2)), KerasTensor((None, 3))]
    >>> output_spec(jnp.concatenate, (tensors,), {"axis": -1})
    <KerasTensor shape=(None, 5), dtype=float32, name=None>
    """
    from lamina.layers.dtype_names import dtype_name
    from lamina.layers.symbolic import KerasTensor

    flat, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=_is_kt)

    def run(fill):
        def struct(v):
            if not _is_kt(v):
                return v
            return jax.ShapeDtypeStruct(tuple(fill if d is None else d for d in v.shape), v.dtype)

        values = [struct(v) for v in flat]
        positions = [i for i, v in enumerate(flat) if _is_kt(v)]

        def traced(*tensors):
            filled = list(values)
            for i, t in zip(positions, tensors):
                filled[i] = t
            a, k = jax.tree_util.tree_unflatten(treedef, filled)
            return fn(*a, **k)

        return jax.eval_shape(traced, *[values[i] for i in positions])

    try:
        small, large = run(3), run(4)
    except Exception as e:  # say which operation could not run on these shapes
        message = (
            f"Could not infer the output shape and dtype of {name!r}: its call() failed on "
            f"symbolic inputs. Error encountered: {e}"
        )
        try:
            wrapped = type(e)(message)
        except TypeError:  # an exception type taking other arguments: the original, as is
            raise e from None
        raise wrapped from e

    def merge(a, b):
        shape = tuple(p if p == q else None for p, q in zip(a.shape, b.shape))
        return KerasTensor(shape, dtype_name(a.dtype))

    return jax.tree_util.tree_map(merge, small, large)
