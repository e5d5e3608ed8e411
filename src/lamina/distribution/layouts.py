"""Tensor layouts (Keras 3's ``TensorLayout``, ``LayoutMap``, ``distribute_tensor``) and
``get_device_count``.

A :class:`TensorLayout` names, per tensor axis, the mesh axis it is split over (or ``None``);
with a :class:`~lamina.distribution.DeviceMesh` it is a ``jax.sharding.NamedSharding``
(``backend_layout``), which :func:`distribute_tensor` applies to an array.  A
:class:`LayoutMap` maps variable paths (regular expressions) to layouts, as Keras's; ``fit`` reads one
through :class:`~lamina.distribution.ModelParallel`, which splits the weights it names.
"""

from __future__ import annotations

import collections.abc
import re

import jax
from jax.sharding import NamedSharding, PartitionSpec


def get_device_count(device_type=None) -> int:
    """The number of devices of one type, over every process (Keras's ``get_device_count``).

    Args:
        device_type: ``"cpu"``, ``"gpu"`` or ``"tpu"``; ``None`` counts the default backend's
            devices (accelerators when there are any, else CPUs).  Types are never mixed.

    >>> from lamina.distribution import get_device_count, list_devices
    >>> get_device_count() == len(list_devices())
    True
    """
    device_type = device_type.lower() if device_type else None
    return jax.device_count(device_type)


class TensorLayout:
    """How one tensor is split over a device mesh (Keras's ``TensorLayout``).

    Args:
        axes: one entry per tensor axis: a mesh axis name, or ``None`` for an axis that is
            not split.
        device_mesh: the :class:`~lamina.distribution.DeviceMesh` (may be set once later,
            e.g. by a :class:`LayoutMap`).

    >>> from lamina.distribution import DeviceMesh, TensorLayout, list_devices
    >>> mesh = DeviceMesh((len(list_devices()),), ["model"])
    >>> tuple(TensorLayout((None, "model"), mesh).backend_layout.spec)
    (None, 'model')
    """

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(axes)
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def axes(self) -> tuple:
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError(
                f"Cannot override device mesh value. Existing value is {self._device_mesh}"
            )
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def backend_layout(self) -> NamedSharding:
        """The ``jax.sharding.NamedSharding`` of this layout (needs a device mesh)."""
        if self._device_mesh is None:
            raise ValueError(
                f"{self!r} has no device mesh: pass device_mesh=DeviceMesh(...) or add the "
                "layout to a LayoutMap that has one."
            )
        return NamedSharding(self._device_mesh.mesh, PartitionSpec(*self._axes))

    def _validate_axes(self):
        if self._device_mesh:
            valid = set(self._device_mesh.axis_names)
            names = set(self._axes) - {None}
            if names - valid:
                raise ValueError(
                    f"Invalid axis names for Layout. Valid axis names: {valid}, Got {names}"
                )

    def __repr__(self):
        return f"<{type(self).__name__} axes={self.axes}, device_mesh={self.device_mesh}>"


class LayoutMap(collections.abc.MutableMapping):
    """A dict of :class:`TensorLayout` whose keys are regular expressions (Keras's).

    ``layout_map[path]`` returns the layout stored under ``path``, else the one whose key
    ``re.fullmatch``-es ``path`` (a ``ValueError`` when several do), else ``None``.  A tuple
    value is turned into a ``TensorLayout`` on this map's mesh.

    Args:
        device_mesh: the :class:`~lamina.distribution.DeviceMesh` of the layouts.

    >>> from lamina.distribution import DeviceMesh, LayoutMap, list_devices
    >>> layout_map = LayoutMap(DeviceMesh((len(list_devices()),), ["model"]))
    >>> layout_map[".*dense.*kernel"] = (None, "model")
    >>> layout_map["dense_1/kernel"].axes, layout_map["dense_1/bias"]
    ((None, 'model'), None)
    """

    def __init__(self, device_mesh):
        self._layout_map: collections.OrderedDict = collections.OrderedDict()
        self._device_mesh = device_mesh

    def __getitem__(self, key):
        if key in self._layout_map:
            return self._layout_map[key]
        matching = [p for p in self._layout_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise ValueError(
                f"Path '{key}' matches multiple layout specification keys: {matching}. Please "
                "make sure each tensor/variable path only matches at most one layout "
                "specification key in the LayoutMap."
            )
        return self._layout_map[matching[0]] if matching else None

    def __setitem__(self, key, layout):
        if key in self._layout_map:
            raise ValueError(
                f"{key} already exist in the LayoutMap with value {self._layout_map[key]}. "
                "Please make sure to not use duplicated keys."
            )
        if isinstance(layout, tuple):
            layout = TensorLayout(axes=layout, device_mesh=None)
        if not isinstance(layout, TensorLayout):
            raise ValueError(f"{layout} should be a TensorLayout type, got {type(layout)}")
        if layout.device_mesh is None and self._device_mesh is not None:
            layout.device_mesh = self._device_mesh
        self._layout_map[key] = layout

    def __delitem__(self, key):
        return self._layout_map.pop(key)

    def __len__(self):
        return len(self._layout_map)

    def __iter__(self):
        return iter(self._layout_map)

    @property
    def device_mesh(self):
        return self._device_mesh


def distribute_tensor(tensor, layout):
    """Places ``tensor`` as ``layout`` says (Keras's ``distribute_tensor``).

    Outside ``jit`` the array is moved (``jax.device_put``); inside, the layout becomes a
    sharding constraint.

    Args:
        tensor: an array.
        layout: a :class:`TensorLayout` with a mesh, or a ``jax.sharding.Sharding``.

    Returns:
        The array with that sharding.

    >>> import numpy as np
    >>> from lamina.distribution import DeviceMesh, TensorLayout, distribute_tensor, list_devices
    >>> mesh = DeviceMesh((len(list_devices()),), ["batch"])
    >>> x = distribute_tensor(np.zeros((4, 3), "float32"), TensorLayout(("batch", None), mesh))
    >>> tuple(x.sharding.spec)
    ('batch', None)
    """
    sharding = layout.backend_layout if isinstance(layout, TensorLayout) else layout
    if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError(
            "distribute_tensor expects a TensorLayout or a jax.sharding.Sharding. "
            f"Received: layout={layout!r}."
        )
    if isinstance(tensor, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(tensor, sharding)
    return jax.device_put(tensor, sharding)
