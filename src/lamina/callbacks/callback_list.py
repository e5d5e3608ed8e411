"""``CallbackList``, as ``keras.callbacks.CallbackList``: one object dispatching every hook to
a list of callbacks (Keras's constructor: ``callbacks, add_history, add_progbar, model,
**params``).

The engine's own dispatcher is :class:`lamina.callbacks.core.CallbackList`; this public class
shares its hooks and adds Keras's constructor, ``History``/``ProgbarLogger`` defaults and
iteration (a ``CallbackList`` passed to ``fit(callbacks=...)`` runs its callbacks).

>>> from lamina.callbacks import Callback, CallbackList
>>> seen = []
>>> class Log(Callback):
...     def on_epoch_end(self, epoch, logs=None):
...         seen.append((epoch, logs))
>>> cbs = CallbackList([Log()], add_history=True, epochs=3)
>>> cbs.on_epoch_end(0, {"loss": 1.0})
>>> seen, [type(c).__name__ for c in cbs.callbacks], cbs.params
([(0, {'loss': 1.0})], ['Log', 'History'], {'epochs': 3})
"""

from __future__ import annotations

from lamina.callbacks import core as _core


def _flatten(callbacks) -> list:
    if callbacks is None:
        return []
    if isinstance(callbacks, list | tuple):
        return [c for item in callbacks for c in _flatten(item)]
    if isinstance(callbacks, CallbackList):
        return list(callbacks.callbacks)
    return [callbacks]


class CallbackList(_core.CallbackList, _core.Callback):
    """Container dispatching each hook to its callbacks, in order.

    Args:
        callbacks: a list (nested lists are flattened) of callbacks.
        add_history: append a :class:`~lamina.callbacks.History` unless one is there.
        add_progbar: append a :class:`~lamina.callbacks.ProgbarLogger` unless one is there.
        model: the model, set on every callback (and given the ``History`` as
            ``model.history``).
        **params: set on every callback with ``set_params`` (``epochs``, ``steps``,
            ``verbose``).

    Raises:
        TypeError: an entry that is not a callback.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        from lamina.callbacks.progress import ProgbarLogger

        flat = _flatten(callbacks)
        self._history = next((c for c in flat if isinstance(c, _core.History)), None)
        self._progbar = next((c for c in flat if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = _core.History()
            flat.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            flat.append(self._progbar)
        for cb in flat:
            if not isinstance(cb, _core.Callback) and not _core._duck_callback(cb):
                raise TypeError(
                    f"callbacks must be lamina.callbacks.Callback instances; received "
                    f"{type(cb).__name__}."
                )
        self.callbacks = flat
        self.model = None
        self.params = {}
        self.set_model(model)
        self.set_params(params)

    def set_model(self, model):
        """Sets ``model`` on every callback (nothing for ``None``, as Keras)."""
        if model is None:
            return
        self.model = model
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        """Sets ``params`` on every callback (nothing for an empty dict, as Keras)."""
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)
