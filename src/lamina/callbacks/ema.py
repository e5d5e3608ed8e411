"""``SwapEMAWeights``, as ``keras.callbacks.SwapEMAWeights``: evaluate (and optionally end each
epoch) with the optimizer's moving average of the weights (``use_ema=True``).

The swap exchanges the model's trainable weights with the optimizer's averages in the model's
``train_state``; swapping again restores both exactly.
"""

from __future__ import annotations

import dataclasses

from lamina.callbacks.core import Callback


class SwapEMAWeights(Callback):
    """Swaps the model's weights with their exponential moving average for evaluation.

    Args:
        swap_on_epoch: also swap at the end of each epoch (so checkpoints saved there hold the
            averaged weights) and back at the start of the next one.

    Raises:
        ValueError: the model's optimizer does not have ``use_ema=True``.

    >>> from lamina import callbacks
    >>> callbacks.SwapEMAWeights(swap_on_epoch=True).swap_on_epoch
    True
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _parts(self):
        from lamina.optimizers.state import _find_state, _replace_state

        optimizer = getattr(self.model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        ts = self.model.train_state
        if not getattr(optimizer, "use_ema", False) or ts is None:
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                f"Received: use_ema={getattr(optimizer, 'use_ema', None)}. Compile with e.g. "
                "optimizer=keras.optimizers.Adam(use_ema=True)."
            )
        return ts, _find_state(ts.opt_state), _replace_state

    def _swap(self, finalize=False):
        from lamina.training.state import merge_params, split_trainable

        ts, st, replace = self._parts()
        mask = self.model.saving_view().trainable_mask()  # the public saving contract
        trained, frozen = split_trainable(ts.params, mask)
        ema = st.ema
        new_ema = ema if finalize else trained
        new_state = dataclasses.replace(st, ema=new_ema)
        self.model.train_state = ts._replace(
            params=merge_params(tuple(ema), frozen, mask),
            opt_state=replace(ts.opt_state, new_state),
        )

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            last = epoch == self.params.get("epochs", 0) - 1
            self._swap(finalize=last)  # last epoch: averages kept as they are (Keras)
            self._ema_weights_in_model = True

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras 3.15 tests ``not self._ema_weights_in_model`` here, so the averaged weights
        # stay in the model after predict; Lamina does the same.
        if not self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = False
