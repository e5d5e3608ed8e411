"""Keras 1/2 generator methods Keras 3 dropped: ``fit_generator``, ``evaluate_generator``
and ``predict_generator``, on every model kind (``Sequential``, functional and subclassed).

They call ``fit``/``evaluate``/``predict`` (which take generators in Keras 3) after
translating Keras 1's spellings as Keras 2 did: ``nb_epoch`` -> ``epochs``,
``nb_worker``/``pickle_safe``/``max_q_size`` (ignored: Lamina reads the generator in one
thread), and the *sample* counts ``samples_per_epoch``, ``nb_val_samples`` and ``val_samples``
-> *step* counts.  Keras 1 ended an epoch once ``samples_per_epoch`` samples were drawn, so
the steps are ``ceil(samples / batch size)``, the batch size read from the first batch (which
is then fed as usual).

>>> import numpy as np
>>> import lamina
>>> def batches():
...     while True:
...         yield np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
>>> inputs = lamina.Input((2,))
>>> model = lamina.Model(inputs, lamina.layers.Dense(1)(inputs))
>>> model.compile(optimizer="sgd", loss="mse")
>>> h = model.fit_generator(batches(), samples_per_epoch=8, nb_epoch=2, verbose=0)
>>> h.params["steps"], len(h.history["loss"])
(2, 2)
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the return type of fit, for type checkers
    from lamina.callbacks.core import History

_IGNORED = ("max_queue_size", "max_q_size", "workers", "nb_worker", "use_multiprocessing",
            "pickle_safe", "shuffle")  # fmt: skip


def _warn(method, old, new):
    warnings.warn(
        f"{method}({old}=...) is the Keras 1 spelling; Lamina translates it as Keras 2 did. "
        f"Use {new} instead.",
        UserWarning,
        stacklevel=4,
    )


def _batch_rows(batch) -> int:
    """Number of samples in one generator batch ``x`` or ``(x, y[, w])``."""
    x = batch[0] if isinstance(batch, tuple | list) else batch
    while isinstance(x, list | tuple | dict):  # several inputs: the first one's rows
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return int(np.shape(x)[0])


def samples_to_steps(data, samples, what):
    """Turns a Keras 1 sample count into ``(data, steps)``.

    A generator is peeked: its first batch gives the batch size and is put back in front.
    A ``PyDataset``/``Sequence`` is read at index 0.

    Args:
        data: a generator, iterator or ``PyDataset``.
        samples: the Keras 1 number of samples.
        what: the argument's name, for error messages.

    Returns:
        ``(data, steps)`` with ``steps = ceil(samples / batch_rows)``.

    Raises:
        ValueError: ``samples`` is not a positive integer, or the data is empty.
    """
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 1:
        raise ValueError(f"{what} must be a positive number of samples. Received: {samples!r}.")
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        rows = _batch_rows(data[0])
    else:
        it = iter(data)
        try:
            first = next(it)
        except StopIteration:
            raise ValueError(f"{what}: the generator yielded no batch.") from None
        rows = _batch_rows(first)
        data = itertools.chain([first], it)
    return data, max(1, math.ceil(int(samples) / max(rows, 1)))


class GeneratorMethodsMixin:
    """Keras 2's ``fit_generator``/``evaluate_generator``/``predict_generator`` on a model that
    has ``fit``, ``evaluate`` and ``predict``."""

    # ------------------------------------------------------------------- generators
    def fit_generator(
        self,
        generator,
        steps_per_epoch=None,
        epochs=1,
        verbose=1,
        callbacks=None,
        validation_data=None,
        validation_steps=None,
        validation_freq=1,
        class_weight=None,
        initial_epoch=0,
        **kwargs,
    ) -> History:
        """Keras 2's ``fit_generator``: ``fit`` on a generator of ``(x, y[, sample_weight])``.

        Args:
            generator: a generator/iterator of batches, or a ``PyDataset``/``Sequence``.
            steps_per_epoch: batches per epoch (Keras 1: ``samples_per_epoch`` samples).
            epochs: number of epochs (Keras 1: ``nb_epoch``).
            verbose, callbacks, class_weight, initial_epoch, validation_freq: as ``fit``.
            validation_data: arrays ``(x, y)`` or a generator.
            validation_steps: batches drawn from a validation generator (Keras 1:
                ``nb_val_samples`` samples).
            **kwargs: the Keras 1 spellings above; ``shuffle`` (default True: the batch order
                of a ``Sequence``/``PyDataset`` is shuffled each epoch, as Keras 2 did;
                ``False`` keeps it); ``max_queue_size``, ``workers``, ``use_multiprocessing``
                (and Keras 1's ``max_q_size``, ``nb_worker``, ``pickle_safe``) are accepted
                and ignored.

        Returns:
            The :class:`~lamina.callbacks.History`.

        Raises:
            TypeError: an unknown keyword argument.
            ValueError: ``validation_data`` is a plain generator and ``validation_steps`` is
                not given (Keras 2's rule: such a generator may never end).
        """
        shuffle = kwargs.pop("shuffle", True)
        if "nb_epoch" in kwargs:
            _warn("fit_generator", "nb_epoch", "epochs=")
            epochs = kwargs.pop("nb_epoch")
        if "samples_per_epoch" in kwargs:
            _warn("fit_generator", "samples_per_epoch", "steps_per_epoch= (a number of batches)")
            generator, steps_per_epoch = samples_to_steps(
                generator, kwargs.pop("samples_per_epoch"), "samples_per_epoch"
            )
        if "nb_val_samples" in kwargs:
            _warn("fit_generator", "nb_val_samples", "validation_steps= (a number of batches)")
            n_val = kwargs.pop("nb_val_samples")
            if validation_data is not None and not isinstance(validation_data, tuple | list):
                validation_data, validation_steps = samples_to_steps(
                    validation_data, n_val, "nb_val_samples"
                )
        _drop_ignored("fit_generator", kwargs)
        if validation_steps is None and _is_plain_generator(validation_data):
            raise ValueError(
                "`validation_steps=None` is only valid for a generator based on the "
                "`keras.utils.Sequence` class. Please specify `validation_steps` or use the "
                "`keras.utils.Sequence` class."
            )
        return self.fit(
            generator,
            shuffle=shuffle,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_data=validation_data,
            validation_steps=validation_steps,
            validation_freq=validation_freq,
            class_weight=class_weight,
            initial_epoch=initial_epoch,
        )

    def evaluate_generator(self, generator, steps=None, callbacks=None, verbose=0, **kwargs):
        """Keras 2's ``evaluate_generator``: ``evaluate`` on a generator of batches.

        Args:
            generator: a generator/iterator of ``(x, y[, sample_weight])`` or a ``PyDataset``.
            steps: batches to draw (Keras 1: ``val_samples`` samples).
            callbacks, verbose: as ``evaluate``.
            **kwargs: ``val_samples`` and the ignored queue/worker arguments of
                :meth:`fit_generator`.

        Returns:
            The loss, or ``[loss, *metrics]``, as ``evaluate``.
        """
        generator, steps = _val_samples("evaluate_generator", generator, steps, kwargs)
        return self.evaluate(generator, steps=steps, verbose=verbose)

    def predict_generator(self, generator, steps=None, callbacks=None, verbose=0, **kwargs):
        """Keras 2's ``predict_generator``: ``predict`` on a generator of inputs.

        Args:
            generator: a generator/iterator of ``x`` (or ``(x, ...)``) batches, or a
                ``PyDataset``.
            steps: batches to draw (Keras 1: ``val_samples`` samples).
            callbacks, verbose: as ``predict``.
            **kwargs: ``val_samples`` and the ignored queue/worker arguments of
                :meth:`fit_generator`.

        Returns:
            The stacked predictions, a NumPy array.
        """
        generator, steps = _val_samples("predict_generator", generator, steps, kwargs)
        return self.predict(generator, steps=steps, verbose=verbose)


def _val_samples(method, generator, steps, kwargs):
    if "val_samples" in kwargs:
        _warn(method, "val_samples", "steps= (a number of batches)")
        generator, steps = samples_to_steps(generator, kwargs.pop("val_samples"), "val_samples")
    _drop_ignored(method, kwargs)
    return generator, steps


def _is_plain_generator(data) -> bool:
    """Whether ``data`` is an iterator with no length (a Python generator), which may never
    end, rather than arrays or a ``Sequence``/``PyDataset``."""
    return hasattr(data, "__next__") and not hasattr(data, "__len__")


def _drop_ignored(method, kwargs):
    for k in _IGNORED:
        kwargs.pop(k, None)
    if kwargs:
        raise TypeError(
            f"{method}() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}."
        )
