"""``History.history``'s dict: Keras 3's keys, and Keras 2's names of them when read
(also by the callbacks that monitor a log: ``monitor='val_acc'``).

>>> from lamina.callbacks.history_dict import HistoryDict
>>> HistoryDict(learning_rate=[0.1])["lr"]
[0.1]
"""

from __future__ import annotations

import copy


def keras3_name(name):
    """Keras 3's name of the Keras 2 log ``name`` (``lr``, ``acc``, ``val_acc``,
    ``dense_1_acc``), or None when it has no other name.

    >>> keras3_name("val_acc"), keras3_name("lr"), keras3_name("loss")
    ('val_accuracy', 'learning_rate', None)
    >>> keras3_name("val_mean_absolute_error")
    'val_mae'
    """
    if not isinstance(name, str):
        return None
    if name == "lr":
        return "learning_rate"
    if name == "acc" or name.endswith("_acc"):
        return name[:-3] + "accuracy"
    for long, short in _KERAS22_METRIC_NAMES.items():
        if name == long or name.endswith("_" + long):
            return name[: -len(long)] + short
    return None


#: Keras 2.2 logged ``metrics=['mae']`` under the function's name (Deep Learning with
#: Python's K-fold loop reads ``history.history['val_mean_absolute_error']``); Keras 3 logs
#: the name as given.
_KERAS22_METRIC_NAMES = {
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "mean_absolute_percentage_error": "mape",
    "mean_squared_logarithmic_error": "msle",
}


def log_value(logs, name):
    """``logs[name]``, or the value Keras 3 logs under ``name``'s new name (a callback's
    ``monitor='val_acc'`` from Keras 2 code, with ``metrics=['accuracy']``); None if absent.

    >>> log_value({"val_accuracy": 0.9}, "val_acc")
    0.9
    """
    logs = logs or {}
    if name in logs:
        return logs[name]
    new = keras3_name(name)
    return logs.get(new) if new is not None else None


class HistoryDict(dict):
    """``History.history`` (and the ``logs`` callbacks get): Keras 3's dict, which also
    answers Keras 2's names.

    Keras 2's ``ReduceLROnPlateau`` and ``LearningRateScheduler`` logged the learning rate as
    ``lr`` (Keras 2 code plots ``history.history['lr']``); Keras 3 logs it as
    ``learning_rate``.  Keras 2.2 and earlier logged ``metrics=['accuracy']`` as ``acc`` and
    ``val_acc`` (tutorials plot ``history.history['val_acc']``); Keras 3 as ``accuracy``.  The dict holds Keras 3's keys only (``keys()``, iteration, ``len``
    and ``pandas.DataFrame(history.history)`` are Keras 3's), and a Keras 2 name missing from
    it reads its Keras 3 entry: ``['lr']``, ``.get('lr')`` and ``'lr' in``.  Pickled, it is a
    plain ``dict``, loadable without Lamina.

    >>> h = HistoryDict(loss=[0.5], learning_rate=[0.01], val_accuracy=[0.75])
    >>> h["lr"], "lr" in h, h["val_acc"], list(h)
    ([0.01], True, [0.75], ['loss', 'learning_rate', 'val_accuracy'])
    """

    def __missing__(self, key):
        new = keras3_name(key)
        if new is not None and dict.__contains__(self, new):
            return dict.__getitem__(self, new)
        raise KeyError(key)

    def __contains__(self, key):
        if dict.__contains__(self, key):
            return True
        new = keras3_name(key)
        return new is not None and dict.__contains__(self, new)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def __reduce__(self):
        return (dict, (dict(self),))

    def __copy__(self):
        return HistoryDict(self)

    def __deepcopy__(self, memo):
        return HistoryDict(copy.deepcopy(dict(self), memo))
