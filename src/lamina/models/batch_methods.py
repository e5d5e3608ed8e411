"""``train_on_batch``, ``test_on_batch`` and ``predict_on_batch``: one batch, no loop.

Each runs the model's compiled programs on one batch (the whole input): ``train_on_batch`` is
one optimizer step, exactly ``fit(x, y, batch_size=len(x), epochs=1, shuffle=False)``.

As in Keras 3, each call starts with fresh metrics: it reports the loss and metrics of its own
batch.  The "evaluating on the training data" guardrail stays quiet here (a batch loop that
tests on the batch it trained on is the usual pattern).

>>> import numpy as np
>>> from lamina import Sequential, Input, layers
>>> model = Sequential([Input((3,)), layers.Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
>>> loss = model.train_on_batch(x, y)
>>> model.predict_on_batch(x).shape
(4, 1)
"""

from __future__ import annotations

import contextlib
import warnings

import jax
import numpy as np

from lamina.models.step_functions import StepFunctionsMixin


def _rows(x) -> int:
    leaves = jax.tree_util.tree_leaves(x)
    if not leaves:
        raise ValueError("The batch is empty: pass at least one row.")
    return int(np.shape(leaves[0])[0])


@contextlib.contextmanager
def _quiet_guardrails():
    from lamina.training.guardrails import GuardrailWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GuardrailWarning)
        yield


class BatchMethodsMixin(StepFunctionsMixin):  # make_train_function & co. run batches
    """Keras's single-batch methods, on top of ``fit``/``evaluate``/``predict``."""

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on the batch ``(x, y)``; returns its loss (and metrics).

        Returns:
            The loss (a float) when there are no metrics, else ``[loss, *metrics]``, or a dict
            with ``return_dict=True``.
        """
        from lamina.training.guardrails import on_train

        on_train(self)  # the one guardrail a batch loop needs: everything frozen
        with _quiet_guardrails():
            history = self.fit(
                x,
                y,
                batch_size=_rows(x),
                epochs=1,
                verbose=0,
                shuffle=False,
                sample_weight=sample_weight,
                class_weight=class_weight,
            )
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        if return_dict:
            return logs
        names = [n for n in self.metrics_names if n in logs]  # Keras's order: loss first
        values = [logs[n] for n in names] + [v for k, v in logs.items() if k not in names]
        return values[0] if len(values) == 1 else values

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) on the batch ``(x, y)``, as ``evaluate`` gives them."""
        with _quiet_guardrails():
            return self.evaluate(
                x,
                y,
                batch_size=_rows(x),
                verbose=0,
                sample_weight=sample_weight,
                return_dict=return_dict,
            )

    def predict_on_batch(self, x):
        """The model's outputs for the batch ``x`` (NumPy)."""
        return self.predict(x, batch_size=_rows(x), verbose=0)

    def reset_metrics(self):
        """Kept for Keras compatibility: Lamina's metrics start fresh in every call."""
        return None
