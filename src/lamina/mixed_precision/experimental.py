"""TensorFlow 2.1-2.3's ``tf.keras.mixed_precision.experimental``: the same policies and loss
scaling as :mod:`lamina.mixed_precision`, under their first names.

Scripts of that time set mixed precision this way::

    from tensorflow.keras.mixed_precision import experimental as mixed_precision
    policy = mixed_precision.Policy("mixed_float16")
    mixed_precision.set_policy(policy)

>>> from lamina.mixed_precision import experimental as mixed_precision
>>> mixed_precision.set_policy(mixed_precision.Policy("mixed_float16"))
>>> mixed_precision.global_policy().compute_dtype
'float16'
>>> mixed_precision.set_policy("float32")
"""

from __future__ import annotations

from lamina.mixed_precision import DTypePolicy, global_policy, set_global_policy
from lamina.optimizers.loss_scale import LossScaleOptimizer as _LossScaleOptimizer

__all__ = ["LossScaleOptimizer", "Policy", "get_layer_policy", "global_policy", "set_policy"]


def Policy(name, loss_scale="auto"):  # noqa: N802 - TensorFlow's class name
    """A dtype policy (``"mixed_float16"``, ``"mixed_bfloat16"``, ``"float32"``, ...).

    ``loss_scale`` was TensorFlow 2.1-2.3's per-policy loss scale; as in Keras 3, ``compile``
    wraps the optimizer for ``"mixed_float16"`` with dynamic loss scaling, so only ``"auto"``,
    ``"dynamic"`` and ``None`` are accepted.

    Raises:
        ValueError: a fixed numeric ``loss_scale`` (wrap the optimizer in
            :class:`LossScaleOptimizer` instead).
    """
    if loss_scale not in ("auto", "dynamic", None):
        raise ValueError(
            f"Policy(loss_scale={loss_scale!r}): a fixed loss scale per policy is not supported "
            "(TensorFlow 2.4 removed it). Use loss_scale='auto' and, for another scale, wrap "
            "the optimizer: LossScaleOptimizer(optimizer, loss_scale=1024)."
        )
    return DTypePolicy(name)


def set_policy(policy) -> None:
    """Sets the global dtype policy (TensorFlow 2.1-2.3's name of ``set_global_policy``)."""
    set_global_policy(policy)


def get_layer_policy(layer):
    """The dtype policy of ``layer``."""
    return layer.dtype_policy


def LossScaleOptimizer(optimizer, loss_scale="dynamic"):  # noqa: N802 - TensorFlow's name
    """Wraps ``optimizer`` with loss scaling (TensorFlow 2.1-2.3's signature).

    Args:
        optimizer: the optimizer to wrap.
        loss_scale: ``"dynamic"`` (start at 2**15, Keras's default), or a number: the
            starting scale of the dynamic scaling.

    Returns:
        A :class:`lamina.optimizers.LossScaleOptimizer`.

    Raises:
        ValueError: ``loss_scale`` neither ``"dynamic"`` nor a positive number.
    """
    if loss_scale == "dynamic":
        return _LossScaleOptimizer(optimizer)
    if isinstance(loss_scale, bool) or not isinstance(loss_scale, int | float) or loss_scale <= 0:
        raise ValueError(
            f"LossScaleOptimizer(loss_scale=...) must be 'dynamic' or a positive number. "
            f"Received: {loss_scale!r}."
        )
    return _LossScaleOptimizer(optimizer, initial_scale=float(loss_scale))
