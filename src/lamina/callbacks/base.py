"""The ``Callback`` base class: Keras's hook names, each a no-op until a subclass overrides it,
and how the engine tells which batch hooks a callback really uses (a loop whose batch hooks
nobody overrides runs a whole epoch per compiled call).

These names stay importable from :mod:`lamina.callbacks.core`.
"""

from __future__ import annotations


class Callback:
    """Base class: override the hooks you need.

    >>> from lamina.callbacks import Callback
    >>> class Print(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, sorted(logs))
    """

    def __init__(self):
        self.model = None
        self.params = {}
        self.validation_data = None  # Keras 2: fit's validation arrays (``callbacks.legacy``)

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)  # Keras's backwards-compatible alias

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


#: The batch hooks of each loop, as Keras names them.
BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


def overrides_hooks(callback, hooks) -> bool:
    """Whether ``callback`` defines any of ``hooks`` itself (not Keras's no-op base)."""
    return any(
        (
            getattr(type(callback), hook, None) is not getattr(Callback, hook, None)
            and getattr(type(callback), hook, None) is not None
        )
        or hook in vars(callback)
        for hook in hooks
    )


def _duck_callback(obj) -> bool:
    return all(hasattr(obj, h) for h in ("set_model", "set_params", "on_epoch_end"))
