"""The check of input data against a model's input shape, before anything is traced.

``Sequential._check_input_shape`` (also used by functional models with one input) delegates
here.  It is a pure function of two shapes, kept apart from the model class so that the rules
(Keras's tolerance of a missing or extra trailing axis of 1, the message for a wrong number of
feature columns) read in one place.

>>> check_input_shape((None, 3), (10, 3))
>>> check_input_shape((None, 28, 28, 1), (10, 28, 28))
>>> check_input_shape((None, 3), (10, 4))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: x has 4 feature column(s) but the model expects 3 (input shape (None, 3)). ...
"""

from __future__ import annotations


def check_input_shape(expected, shape) -> None:
    """Raises if data of ``shape`` cannot feed a model whose input shape is ``expected``.

    Args:
        expected: the model's input shape, batch dimension first (``None`` where free), or
            ``None`` when the model has none yet (then nothing is checked).
        shape: the data's shape, batch dimension first.

    Raises:
        ValueError: the rank or a fixed dimension differs (after Keras's adding or dropping
            of a trailing axis of 1).
    """
    if expected is None:
        return
    if len(shape) == len(expected) - 1 and expected[-1] == 1:
        shape = (*shape, 1)  # Keras adds the last axis of an Input((..., 1))
    elif len(shape) == len(expected) + 1 and shape[-1] == 1:
        shape = shape[:-1]  # and drops a trailing axis of 1
    if len(shape) != len(expected) or any(
        e is not None and e != s for e, s in zip(expected[1:], shape[1:])
    ):
        if len(expected) == 2 and len(shape) == 2:
            raise ValueError(
                f"x has {shape[1]} feature column(s) but the model expects {expected[1]} "
                f"(input shape {expected}). Select the same feature columns used to build "
                f"the model (a target column left in X is the usual cause)."
            )
        raise ValueError(
            f"Input of shape {tuple(shape)} is incompatible with the model's input shape "
            f"{expected} (batch dimension first). Reshape the data or the model's Input."
        )


def runs_at(model, shape) -> bool:
    """Whether ``model``'s built layers accept inputs of ``shape`` although it differs from
    the model's input shape in a fixed dimension: Keras lets the layers decide (a model built
    on sequences of 8 tokens predicts a sentence of 5; a ``Dense`` on 8 features refuses 5).
    Checked by tracing the forward pass for shapes only (``jax.eval_shape``), integer and float
    inputs; a model not built yet is not checked here."""
    import jax
    import jax.numpy as jnp

    ts = getattr(model, "_train_state", None)
    if ts is None or len(shape) < 2:
        return False
    net = model._engine_network()
    for dtype in (jnp.float32, jnp.int32):
        x = jax.ShapeDtypeStruct((1, *shape[1:]), dtype)
        try:
            jax.eval_shape(
                lambda p, s, x: net.forward(p, s, x, training=False)[0], ts.params, ts.state, x
            )
        except Exception:  # noqa: BLE001 - any failure means the layers refuse the shape
            continue
        return True
    return False
