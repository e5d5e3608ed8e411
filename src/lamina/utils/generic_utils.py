"""Keras 2's ``keras.utils.generic_utils``: the helpers scripts import from it.

``to_list`` is here, and the names Keras 2 re-exported from it (``Progbar``,
``CustomObjectScope``, ``custom_object_scope``, ``get_custom_objects``,
``serialize_keras_object``, ``deserialize_keras_object``) come from ``lamina.utils``; the
others (``func_dump``, ``has_arg``, ...) raise an error naming them instead of an
``AttributeError``.

>>> from lamina.utils.generic_utils import to_list
>>> to_list(3), to_list([1, 2])
([3], [1, 2])
"""

from __future__ import annotations

from lamina._unsupported import KNOWN, module_getattr, unsupported

__all__ = ["to_list"]


def to_list(x, allow_tuple=False):
    """Wraps ``x`` in a list unless it already is one (Keras 2's ``to_list``).

    Args:
        x: anything.
        allow_tuple: also pass tuples through as lists.

    Returns:
        A list.
    """
    if isinstance(x, list):
        return x
    if allow_tuple and isinstance(x, tuple):
        return list(x)
    return [x]


_FROM_UTILS = frozenset(
    """Progbar CustomObjectScope custom_object_scope get_custom_objects serialize_keras_object
    deserialize_keras_object""".split()
)
_KERAS2 = frozenset(
    """func_dump func_load has_arg unpack_singleton object_list_uid slice_arrays
    transpose_shape""".split()
)
_lookup = module_getattr("utils", globals())


def __getattr__(name: str):
    if name in _FROM_UTILS:
        import lamina.utils

        return getattr(lamina.utils, name)
    if name in _KERAS2 or name in KNOWN["utils"]:
        raise unsupported("utils.generic_utils", name)
    return _lookup(name)
