"""What the host reads back after a compiled training call: the logs, and when to read them.

Reading a call's logs waits for it to finish, so the engine reads them only when something
looks (:func:`read_logs`); :func:`host_logs` turns them into Keras's float logs and reports a
non-finite step found by the compiled NaN guard.

>>> import numpy as np
>>> host_logs({"loss": np.float32(0.5), "accuracy": np.float32(1.0)})
{'accuracy': 1.0, 'loss': 0.5}
"""

from __future__ import annotations

import time
import warnings

import jax
import numpy as np

from lamina.training.step_losses import (
    NONFINITE_APPLIED,
    NONFINITE_KEY,
    NONFINITE_WHAT,
    NONFINITE_WHAT_KEY,
)


def host_logs(raw, model=None, epoch=None):
    """Device logs -> host floats, sorted by name.  In training (``model`` given), a non-finite
    update found by the compiled step (loss, gradients or new weights) stops the fit with a
    warning naming the epoch, the batch and what was not finite; the weights from before that
    batch (the last finite ones) are kept and the epoch's ``loss`` is logged as NaN."""
    # A metric with one value per class (F1Score(average=None)) logs an array, as in Keras.
    logs = {
        k: float(v) if np.ndim(v) == 0 else np.asarray(v)
        for k, v in jax.device_get(raw).items()
    }
    bad = int(logs.pop(NONFINITE_KEY, -1))
    code = int(logs.pop(NONFINITE_WHAT_KEY, 0))
    what = NONFINITE_WHAT.get(code, "the loss")
    kept = (
        "that batch's update was applied (the weights are not finite)"
        if code == NONFINITE_APPLIED
        else "the weights from before that batch (the last finite ones) are kept"
    )
    if bad >= 0 and model is not None:
        logs["loss"] = float("nan")
        if not model.stop_training:
            warnings.warn(
                f"{what[0].upper() + what[1:]} became NaN or infinite at epoch {epoch + 1}, "
                f"batch {bad}: training stopped and {kept}. Usual causes: a learning rate too high, "
                f"unscaled inputs, or NaN/inf produced inside the model or loss (e.g. log or "
                f"sqrt of zero in a custom loss).",
                RuntimeWarning,
                stacklevel=4,
            )
        model.stop_training = True
    return dict(sorted(logs.items()))


def read_logs(batch_logs, trial, first_calls, c, steps) -> bool:
    """Whether a training chunk's logs are read now.  Reading waits for the chunk to finish,
    so when nothing looks at a batch's logs (no batch hooks, no live bar) only the last chunk
    of an epoch reads them, and the next chunks are dispatched while one runs, as Keras-JAX
    does.  The NaN guard still holds: a bad step freezes the rest of the epoch on the device.
    Timed calls (the compile-time measurement, a strategy trial) read theirs."""
    return (
        batch_logs
        or (trial is not None and trial.wants_sync(c.begin))
        or (first_calls is not None and len(first_calls) < 2)
        or steps is None
        or c.begin + max(c.real, 1) >= steps
    )


def time_first_calls(first_calls, t0):
    """Records the wall time of the first two compiled calls (their difference ~ compile time)."""
    if first_calls is not None and len(first_calls) < 2:
        first_calls.append(time.perf_counter() - t0)
