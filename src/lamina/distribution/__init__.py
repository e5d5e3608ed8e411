"""Training on several devices or machines (Keras 3's ``keras.distribution`` API).

``DataParallel`` copies the weights to every device and splits the batches; ``ModelParallel``
also splits the weights a ``LayoutMap`` names over a mesh axis.

>>> from lamina import distribution
>>> distribution.set_distribution(distribution.DataParallel())  # every device splits batches
>>> distribution.set_distribution(None)

Several processes (machines, or ``lamina launch -n 2 train.py`` on one machine) join with
:func:`initialize`; each ``fit`` then trains one model over all their devices.
"""

from lamina.distribution.api import (
    DataParallel,
    DeviceMesh,
    Distribution,
    distribution,
    list_devices,
    set_distribution,
)
from lamina.distribution.cluster import initialize
from lamina.distribution.layouts import (
    LayoutMap,
    TensorLayout,
    distribute_tensor,
    get_device_count,
)
from lamina.distribution.model_parallel import ModelParallel
from lamina.distribution.sharding import (
    data_sharding,
    global_batch_check,
    is_main_process,
    process_shard,
    replicate,
    shard_batches,
)

__all__ = [
    "DataParallel",
    "DeviceMesh",
    "Distribution",
    "LayoutMap",
    "ModelParallel",
    "TensorLayout",
    "data_sharding",
    "distribute_tensor",
    "distribution",
    "get_device_count",
    "global_batch_check",
    "initialize",
    "is_main_process",
    "list_devices",
    "process_shard",
    "replicate",
    "set_distribution",
    "shard_batches",
]

from lamina._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr("distribution", globals())  # Keras names Lamina lacks: a clear error
