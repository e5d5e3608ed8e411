"""``lamina.ops``: Keras 3's ``keras.ops`` on JAX.

Keras's names, argument names, defaults and dtype rules (an integer input to a float function
gives ``floatx()``; Python scalars stay weakly typed, so ``int8 + 2`` is int8 and
``int32 + 1.5`` float32). The numpy-style ops, ``nn`` ops, ``linalg`` ops, math ops and core
ops (control flow, slicing, scatter) are all reachable here, as in Keras; the submodules
``lamina.ops.numpy``, ``lamina.ops.nn``, ``lamina.ops.linalg`` and ``lamina.ops.image`` hold
their own groups. Every op accepts JAX/NumPy arrays, Python scalars and lists, and Lamina
``Variable``s, and works inside ``jax.jit``.

>>> from lamina import ops
>>> x = ops.convert_to_tensor([[1.0, -2.0], [3.0, 4.0]])
>>> ops.sum(ops.relu(x), axis=-1).tolist()
[1.0, 7.0]
"""

from lamina.ops import _symbolic, core, image, linalg, math, nn, numpy
from lamina.ops.core import *  # noqa: F403
from lamina.ops.einops import rearrange
from lamina.ops.linalg import *  # noqa: F403
from lamina.ops.math import *  # noqa: F403
from lamina.ops.nn import *  # noqa: F403
from lamina.ops.numpy import *  # noqa: F403

# Called on the KerasTensors of lamina.Input, an op records a node of the functional graph.
for _module in (core, image, linalg, math, nn, numpy):
    _symbolic.wrap_module(_module, _module.__all__)
for _name in [n for n in dir() if not n.startswith("_")]:
    _value = globals()[_name]
    if (
        callable(_value)
        and not isinstance(_value, type)
        and _name not in ("image", "linalg", "nn", "numpy")
    ):
        globals()[_name] = _symbolic.symbolic_aware(_value, _name)

__all__ = sorted(
    {
        *core.__all__,
        *linalg.__all__,
        *math.__all__,
        *nn.__all__,
        *numpy.__all__,
        "image",
        "linalg",
        "nn",
        "numpy",
        "rearrange",
    }
)
