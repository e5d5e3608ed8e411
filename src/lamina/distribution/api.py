"""Keras 3's distribution API on JAX: devices, meshes and the data-parallel distribution.

A distribution says how ``fit``, ``evaluate`` and ``predict`` spread work over devices.
``DataParallel`` keeps a full copy of the weights and optimizer state on every device and splits
each batch over the mesh's batch axis; XLA's collectives sum the gradients, so every device makes
the same update and training matches one device up to float rounding.

>>> import lamina
>>> from lamina import distribution
>>> devices = distribution.list_devices()
>>> data_parallel = distribution.DataParallel(devices=devices)
>>> with data_parallel.scope():
...     distribution.distribution() is data_parallel
True
>>> distribution.distribution() is None
True
"""

from __future__ import annotations

import contextlib
import math
import threading

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

_GLOBAL = {"distribution": None}
_LOCAL = threading.local()


def list_devices(device_type=None) -> list[str]:
    """Names (``"gpu:0"``, ``"cpu:1"``, ...) of every device of every process.

    Args:
        device_type: ``"cpu"``, ``"gpu"`` or ``"tpu"``; ``None`` lists the default backend.

    >>> from lamina.distribution import list_devices
    >>> list_devices("cpu")[0]
    'cpu:0'
    """
    devices = jax.devices(device_type.lower()) if device_type else jax.devices()
    return [f"{d.platform}:{d.id}" for d in devices]


def _to_jax_device(device):
    if isinstance(device, jax.Device):
        return device
    if isinstance(device, str):
        platform, _, index = device.partition(":")
        try:
            candidates = jax.devices(platform.lower())
        except RuntimeError as err:
            raise ValueError(f"Unknown device {device!r}: no {platform!r} backend here.") from err
        for d in candidates:
            if str(d.id) == index:
                return d
        raise ValueError(
            f"Unknown device {device!r}. Devices here: {[f'{d.platform}:{d.id}' for d in candidates]}."
        )
    raise TypeError(f"A device is a name like 'gpu:0' or a jax.Device. Received: {device!r}.")


class DeviceMesh:
    """Devices arranged in a named grid (Keras 3's ``keras.distribution.DeviceMesh``).

    Args:
        shape: the grid's shape, e.g. ``(8,)`` or ``(2, 4)``.
        axis_names: one name per axis, e.g. ``["batch"]`` or ``["batch", "model"]``.
        devices: device names or ``jax.Device`` objects, as many as the grid holds
            (default: every device of every process).

    >>> from lamina.distribution import DeviceMesh, list_devices
    >>> mesh = DeviceMesh((len(list_devices()),), ["batch"])
    >>> mesh.axis_names
    ['batch']
    """

    def __init__(self, shape, axis_names, devices=None):
        shape = tuple(int(s) for s in shape)
        axis_names = [str(a) for a in axis_names]
        if len(shape) != len(axis_names):
            raise ValueError(
                f"DeviceMesh needs one axis name per mesh axis: shape={shape} has {len(shape)} "
                f"axes but axis_names={axis_names} has {len(axis_names)}."
            )
        devs = (
            jax.devices()
            if devices is None
            else [_to_jax_device(d) for d in np.asarray(devices, dtype=object).ravel()]
        )
        if math.prod(shape) != len(devs):
            raise ValueError(
                f"DeviceMesh shape {shape} holds {math.prod(shape)} devices, but {len(devs)} "
                f"were given. Make the shape's product equal the number of devices."
            )
        self.shape = shape
        self.axis_names = axis_names
        self.devices = np.array(devs, dtype=object).reshape(shape)
        self._mesh = Mesh(self.devices, tuple(axis_names))

    @property
    def mesh(self) -> Mesh:
        """The equivalent ``jax.sharding.Mesh``."""
        return self._mesh

    def __repr__(self):
        return f"DeviceMesh(shape={self.shape}, axis_names={self.axis_names})"


class Distribution:
    """Base class: a device mesh plus the name of its batch axis."""

    def __init__(self, device_mesh: DeviceMesh, batch_dim_name: str):
        if batch_dim_name not in device_mesh.axis_names:
            raise ValueError(
                f"The batch axis {batch_dim_name!r} is not an axis of the mesh "
                f"{device_mesh.axis_names}."
            )
        self.device_mesh = device_mesh
        self.batch_dim_name = batch_dim_name

    @property
    def mesh(self) -> Mesh:
        return self.device_mesh.mesh

    @property
    def num_data_shards(self) -> int:
        """How many parts each batch is split into (the size of the batch axis)."""
        return self.device_mesh.shape[self.device_mesh.axis_names.index(self.batch_dim_name)]

    def get_data_layout(self, data_shape) -> NamedSharding:
        """Inputs: the first (batch) dimension split over the batch axis."""
        spec = [self.batch_dim_name] + [None] * (len(data_shape) - 1)
        return NamedSharding(self.mesh, PartitionSpec(*spec))

    def get_variable_layout(self, variable=None) -> NamedSharding:
        """Weights: one full copy per device."""
        return NamedSharding(self.mesh, PartitionSpec())

    @contextlib.contextmanager
    def scope(self):
        """Makes this the distribution inside a ``with`` block (then restores the previous)."""
        stack = _stack()
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()


class DataParallel(Distribution):
    """Data parallelism: weights replicated, each batch split over the devices.

    Args:
        device_mesh: a :class:`DeviceMesh`; its first axis is the batch axis (Keras's
            argument; ``mesh=`` is accepted as well).
        devices: device names or objects for a 1-D mesh with axis ``"batch"``.  Without either
            argument, every device of every process is used.

    ``batch_size`` stays the global batch size (the same number a single-device run uses); it
    must be a multiple of the number of devices on the batch axis.

    >>> from lamina import distribution
    >>> dp = distribution.DataParallel()
    >>> dp.batch_dim_name, dp.num_data_shards == len(distribution.list_devices())
    ('batch', True)
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True, *, mesh=None):
        device_mesh = device_mesh if device_mesh is not None else mesh
        if device_mesh is None:
            devs = jax.devices() if devices is None else list(devices)
            device_mesh = DeviceMesh((len(devs),), ["batch"], devs)
        elif devices is not None:
            raise ValueError("Pass either device_mesh (mesh) or devices to DataParallel, not both.")
        super().__init__(device_mesh, device_mesh.axis_names[0])
        self.auto_shard_dataset = auto_shard_dataset

    def __repr__(self):
        return f"DataParallel(device_mesh={self.device_mesh!r})"


def _stack() -> list:
    if not hasattr(_LOCAL, "stack"):
        _LOCAL.stack = []
    return _LOCAL.stack


def set_distribution(value) -> None:
    """Sets the distribution used by ``fit``/``evaluate``/``predict`` (``None`` to clear)."""
    if value is not None and not isinstance(value, Distribution):
        raise TypeError(
            f"set_distribution expects a Distribution such as DataParallel() or None. "
            f"Received: {value!r}."
        )
    _GLOBAL["distribution"] = value


def distribution():
    """The current distribution: the innermost ``scope()``, else the one set, else ``None``."""
    stack = _stack()
    return stack[-1] if stack else _GLOBAL["distribution"]
