"""Keras 1/2 model methods Keras 3 dropped: ``reset_states`` and Keras 2's rules for
``stateful=True`` RNNs in ``fit``/``evaluate``/``predict``, plus the generator methods of
:mod:`lamina.models.generator_methods`.  A mixin of :class:`lamina.models.Sequential` and
:class:`lamina.Model` (functional and subclassed models, and models nested in them).

>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> def batches():
...     while True:
...         yield np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
>>> model = Sequential([Dense(1, input_dim=2)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> h = model.fit_generator(batches(), samples_per_epoch=8, nb_epoch=2, verbose=0)
>>> h.params["steps"], len(h.history["loss"])
(2, 2)
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import jax.numpy as jnp
import numpy as np

from lamina.layers import stateful as _stateful
from lamina.models.generator_methods import GeneratorMethodsMixin, samples_to_steps

if TYPE_CHECKING:  # the return type of fit, for type checkers
    from lamina.callbacks.core import History

__all__ = ["LegacyAPIMixin", "check_stateful_data", "samples_to_steps", "stateful_predict"]


class LegacyAPIMixin(GeneratorMethodsMixin):
    """Keras 1/2 methods of a model that has ``fit``, ``evaluate`` and ``predict``."""

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        _stateful.MODELS[id(obj)] = obj  # so layer.reset_states() finds the model's states
        return obj

    # --------------------------------------------------------------------- stateful RNNs
    # fit/evaluate/predict pass straight through unless the model has stateful=True layers
    # (its own or a nested model's): then Keras 2's rules are checked (whole batches of the
    # fixed size, which is also the default batch size) and predict runs the batches in
    # order, carrying the states.
    def fit(self, x=None, y=None, batch_size=None, *args, shuffle=True, **kwargs) -> History:
        n = _rows(x)
        if n is not None and _stateful.stateful_layers(self):
            batch_size = check_stateful_data(self, n, batch_size, shuffle)
        return super().fit(x, y, batch_size, *args, shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, *args, **kwargs):
        n = _rows(x)
        if n is not None and _stateful.stateful_layers(self):
            batch_size = check_stateful_data(self, n, batch_size)
        return super().evaluate(x, y, batch_size, *args, **kwargs)

    def predict(self, x, batch_size=None, *args, **kwargs):
        n = _rows(x)
        if n is not None and _stateful.stateful_layers(self):
            from lamina.models.sequential import Sequential

            if isinstance(self, Sequential) and hasattr(x, "shape"):
                return stateful_predict(self, x, batch_size)
            # The engine runs batches in order, carrying written state, at this batch size.
            batch_size = check_stateful_data(self, n, batch_size)
        return super().predict(x, batch_size, *args, **kwargs)

    def reset_states(self):
        """Zeroes the carried states of every ``stateful=True`` layer (Keras's
        ``model.reset_states()``); call it between independent sequences.

        >>> from lamina.models import Sequential
        >>> from lamina.layers import LSTM
        >>> m = Sequential([LSTM(2, stateful=True, batch_input_shape=(1, 3, 1))])
        >>> m.reset_states()
        """
        _stateful.reset_model(self)


def _rows(x) -> int | None:
    """The number of samples in in-memory ``x`` (an array, or a list/tuple/dict of them);
    None for generators, datasets and the like (their batches are checked as they come)."""
    if isinstance(x, dict):
        x = next(iter(x.values()), None)
    elif isinstance(x, list | tuple) and x and hasattr(x[0], "shape"):
        x = x[0]
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else None


def stateful_predict(model, x, batch_size=None):
    """``predict`` for a model with ``stateful=True`` layers: batches of exactly the layers'
    batch size, in order, each starting from the states the previous one left; the final
    states stay in the model (Keras carries them across ``predict`` calls too).

    ``Sequential.predict`` runs bigger tiles than ``batch_size`` and does not keep layer
    state, so the engine routes stateful models here.

    Args:
        model: a built or buildable ``Sequential`` with stateful layers.
        x: inputs, ``(n, ...)`` with ``n`` a multiple of the batch size.
        batch_size: rows per batch; the stateful layers' batch size when omitted.

    Returns:
        The outputs for ``x``, a NumPy array.

    Raises:
        ValueError: ``n`` or ``batch_size`` does not match the stateful batch size.
    """
    import jax

    x = np.asarray(x, np.float32)
    model._ensure_built(x.shape)
    model._check_input_shape(x.shape)
    batch = check_stateful_data(model, x.shape[0], batch_size)
    from lamina.training.network import stack_forward, stack_slots

    # The distinct layers own the weights; ``slots`` runs a repeated one at each position.
    layers, slots = stack_slots(model.layers)
    key = ("stateful_predict", tuple(la._spec_key() for la in model.layers), slots)
    cache = model.__dict__.setdefault("_lamina_stateful_programs", {})
    run = cache.get(key)
    if run is None:

        def run(params, state, xb):
            def body(st, xi):
                y, st, _ = stack_forward(layers, params, st, xi, training=False, slots=slots)
                return st, y

            state, ys = jax.lax.scan(body, state, xb)
            return jnp.reshape(ys, (-1, *ys.shape[2:])), state

        run = cache[key] = jax.jit(run)
    ts = model._train_state
    y, state = run(ts.params, ts.state, x.reshape(-1, batch, *x.shape[1:]))
    model._train_state = ts._replace(state=state)
    return np.asarray(y)


def check_stateful_data(model, n, batch_size=None, shuffle=False):
    """Keras 2's rules for feeding a stateful model; returns the batch size to use.

    Args:
        model: the model.
        n: number of samples given.
        batch_size: the batch size asked for (``None``: the stateful layers' own; above
            ``n``: one batch of ``n``, as Keras 2 slices the rows).
        shuffle: ``fit``'s shuffle; ``True`` warns (the carried states would then link
            unrelated samples; Keras 2 documented ``shuffle=False``).

    Raises:
        ValueError: ``batch_size`` differs from the layers' batch size, or ``n`` is not a
            multiple of it.
    """
    fixed = _stateful.fixed_batch(model)
    asked = batch_size
    if batch_size is None:
        batch_size = fixed
    elif n and n < batch_size:
        # Keras 2 slices ``n`` rows into one batch of ``n``: ``predict_classes(x)``'s
        # default ``batch_size=32`` on 4 rows feeds a batch of 4.
        batch_size = n
    if fixed is not None and batch_size != fixed:
        raise ValueError(
            f"This model has stateful layers built for batches of {fixed} samples "
            f"(batch_input_shape); received batch_size={asked} on {n} samples, batches of "
            f"{batch_size}. Pass batch_size={fixed}."
        )
    if batch_size and n % batch_size:
        raise ValueError(
            "In a stateful network, you should only pass inputs with a number of samples that "
            f"can be divided by the batch size ({batch_size}). Found: {n} samples. Trim or pad "
            "the data to a multiple of the batch size."
        )
    if shuffle is True:
        warnings.warn(
            "fit(shuffle=True) on a stateful model carries states between unrelated samples; "
            "Keras 2 documented shuffle=False for stateful RNNs.",
            UserWarning,
            stacklevel=3,
        )
    return batch_size


def legacy_fit_kwargs(kwargs, epochs):
    """``epochs`` after Keras 1's ``nb_epoch=`` (with a warning); the Keras 2 queue
    arguments ``fit`` ignores are dropped, Keras 0's ``show_accuracy`` and unknown ones
    refused with a ``TypeError``."""
    if "nb_epoch" in kwargs:
        warnings.warn(
            "fit(nb_epoch=...) is the Keras 1 spelling; use epochs=... instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        epochs = kwargs.pop("nb_epoch")
    for ignored in ("use_multiprocessing", "workers", "max_queue_size"):
        kwargs.pop(ignored, None)
    if "show_accuracy" in kwargs:  # Keras 0.x; Keras 1 deprecated it, Keras 2 refused it
        raise TypeError(
            "fit(show_accuracy=...) is the Keras 0.x way to log the accuracy, which Keras 2 "
            "refused. Pass metrics=['accuracy'] to compile() instead."
        )
    if kwargs:
        raise TypeError(f"fit() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}.")
    return epochs
