"""``keras.mixed_precision``: the legacy names of dtype policies and loss scaling.

Mixed precision computes in float16 or bfloat16 and keeps the weights in float32.  Set the
global policy before building the model; the layers made afterwards use it, and a layer that
must stay in float32 (usually the last softmax) says so with ``dtype="float32"``::

    import lamina as keras
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(256, activation="relu"),   # computes in bfloat16
        keras.layers.Dense(10),
        keras.layers.Activation("softmax", dtype="float32"),  # outputs float32
    ])

Losses are computed in float32.  Under ``"mixed_float16"``, ``compile()`` wraps the optimizer
in a :class:`LossScaleOptimizer` (dynamic loss scaling), as Keras does.

>>> from lamina import mixed_precision
>>> mixed_precision.set_global_policy("mixed_float16")
>>> mixed_precision.global_policy()
<DTypePolicy "mixed_float16">
>>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

from lamina.dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from lamina.optimizers.loss_scale import LossScaleOptimizer

__all__ = [
    "DTypePolicy",
    "Policy",
    "LossScaleOptimizer",
    "dtype_policy",
    "set_dtype_policy",
    "global_policy",
    "set_global_policy",
]

#: tf.keras 2's name of :class:`~lamina.dtype_policies.DTypePolicy`.
Policy = DTypePolicy


def set_global_policy(policy) -> None:
    """Sets the global dtype policy (``keras.mixed_precision.set_global_policy``).

    Args:
        policy: a policy name (``"mixed_float16"``, ``"mixed_bfloat16"``, ``"float32"``) or a
            :class:`DTypePolicy`.

    Raises:
        ValueError: ``policy`` is neither.
    """
    set_dtype_policy(policy)


def global_policy() -> DTypePolicy:
    """The global dtype policy (``keras.mixed_precision.global_policy``)."""
    return dtype_policy()


from lamina.mixed_precision import experimental  # noqa: E402 - TF 2.1-2.3's module path
