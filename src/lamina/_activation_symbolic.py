"""``keras.activations`` functions called on symbolic tensors (``Input``s of a functional
model): ``keras.activations.sigmoid(keras.Input((4,)))`` records a graph node, as Keras's does.

Where Keras's activation is one ``keras.ops`` call (``elu`` is ``ops.elu(x, alpha=alpha)``),
the node is that op, so the model saves as Keras's would; the few others (``relu`` with
options, ``mish``) record the activation itself, which runs and predicts but names no Keras op
in a file.

>>> import lamina
>>> from lamina import activations
>>> activations.sigmoid(lamina.Input((4,))).shape
(None, 4)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

#: Activation name -> the ``ops`` function Keras's activation calls, and the arguments it
#: passes on by name (keras/src/activations/activations.py).
_AS_OPS = {
    "leaky_relu": ("leaky_relu", ("negative_slope",)),
    "relu6": ("relu6", ()),
    "elu": ("elu", ("alpha",)),
    "selu": ("selu", ()),
    "softplus": ("softplus", ()),
    "softsign": ("softsign", ()),
    "soft_shrink": ("soft_shrink", ("threshold",)),
    "sparse_plus": ("sparse_plus", ()),
    "silu": ("silu", ()),
    "squareplus": ("squareplus", ("b",)),
    "gelu": ("gelu", ("approximate",)),
    "celu": ("celu", ("alpha",)),
    "glu": ("glu", ("axis",)),
    "tanh": ("tanh", ()),
    "tanh_shrink": ("tanh_shrink", ()),
    "hard_tanh": ("hard_tanh", ()),
    "hard_shrink": ("hard_shrink", ("threshold",)),
    "threshold": ("threshold", ("threshold", "default_value")),
    "exponential": ("exp", ()),
    "hard_sigmoid": ("hard_sigmoid", ()),
    "log_sigmoid": ("log_sigmoid", ()),
    "sparse_sigmoid": ("sparse_sigmoid", ()),
    "hard_silu": ("hard_silu", ()),
    "log_softmax": ("log_softmax", ("axis",)),
    "sparsemax": ("sparsemax", ("axis",)),
    "sigmoid": ("sigmoid", ()),
    "softmax": ("softmax", ("axis",)),
}


def symbolic_activation(fn: Callable) -> Callable:
    """``fn`` that, called on a symbolic tensor, records a graph node (see the module)."""
    from lamina.ops import _symbolic

    name = fn.__name__
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # pragma: no cover - every activation is a def
        signature = None

    @functools.wraps(fn)
    def activation(*args, **kwargs):
        if not _symbolic.has_keras_tensor((args, kwargs)):
            return fn(*args, **kwargs)
        if name == "linear":
            return args[0] if args else kwargs["x"]
        bound = signature.bind(*args, **kwargs) if signature is not None else None
        if bound is not None:
            bound.apply_defaults()
            values = list(bound.arguments.values())
            x, options = values[0], dict(list(bound.arguments.items())[1:])
            target = _AS_OPS.get(name)
            if name == "relu" and options == {"negative_slope": 0.0, "max_value": None,
                                              "threshold": 0.0}:  # fmt: skip
                target = ("relu", ())
            if target is not None:
                from lamina import ops

                return getattr(ops, target[0])(x, **{k: options[k] for k in target[1]})
        return _symbolic.record(fn, name, args, kwargs, saveable=False)

    activation._symbolic_aware = True
    return activation
