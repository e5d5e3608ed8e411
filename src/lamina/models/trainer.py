"""``fit``, ``evaluate`` and ``predict`` of a model, on the one engine.

A mixin: the model class provides ``_engine_network()`` (its
:class:`~lamina.training.network.Network`), ``_get_program()``, ``_ensure_built(shape)``,
``_check_inputs(x)``, ``_check_targets(y)``, and keeps its ``TrainState`` in
``_train_state`` and its shuffle key in ``_rng``.  :meth:`TrainerMixin._binding` turns these
into the :class:`~lamina.training.network.Binding` the engine takes, so the engine itself
never reads the model's attributes.

>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> model = Sequential([Input((2,)), Dense(1)])
>>> model.compile(optimizer="sgd", loss="mse")
>>> b = model._binding()
>>> b.compiled, b.steps_per_execution
(True, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lamina.models import host_prefix as _host_prefix
from lamina.models.legacy_api import legacy_fit_kwargs
from lamina.training import guardrails as _guardrails
from lamina.training import loop as _loop
from lamina.training import state as _state
from lamina.training.network import Binding

if TYPE_CHECKING:  # annotations only: callbacks import nothing from models
    from lamina.callbacks.core import History


class TrainerMixin:
    """Keras's ``fit``/``evaluate``/``predict`` through :mod:`lamina.training.loop`."""

    _compile_seconds = None

    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Quantizes the built model's weights in place (Keras 3's ``model.quantize``).

        Mode ``"int8"``: the kernels of ``Dense``/``EinsumDense`` and the ``Embedding``
        tables become int8 with a float scale (:mod:`lamina.models.quantize`,
        :mod:`lamina.layers.quantized`); ``"int4"``: packed int4 with grouped scales
        (:mod:`lamina.layers.quantized_int4`); Keras's other modes raise
        ``NotImplementedError``.

        >>> from lamina.models import Sequential
        >>> from lamina.layers import Input, Dense
        >>> model = Sequential([Input((3,)), Dense(2)])
        >>> model.quantize("float8")
        Traceback (most recent call last):
        ...
        NotImplementedError: Quantization mode='float8' is not supported by Lamina: ...
        """
        from lamina.models.quantize import quantize_model

        quantize_model(self, mode, config=config, filters=filters, **kwargs)

    def _binding(self) -> Binding:
        compiled = getattr(self, "_compiled", None)

        def set_state(ts):
            self._train_state = ts

        def set_rng(rng):
            self._rng = rng

        return Binding(
            model=self,
            program=self._get_program,
            get_state=lambda: self._train_state,
            set_state=set_state,
            get_rng=lambda: self._rng,
            set_rng=set_rng,
            build=self._build_for_data,
            check_x=self._check_inputs,
            check_y=self._check_targets,
            metrics_names=lambda: self.metrics_names,
            finalize=self._finalize,
            compiled=compiled is not None,
            steps_per_execution=(compiled or {}).get("steps_per_execution", 1),
            n_params=self.count_params,
            compile_seconds=self._compile_seconds,
            predict_width=self._predict_width,
            # compile() without a loss (add_loss terms only): fit needs no targets, as in Keras.
            needs_y=(compiled or {}).get("loss", True) is not None,
            forward_profile=self._forward_profile,
            write_metrics=self._write_metric_states,
        )

    def _build_for_data(self, shape, dtypes=None) -> None:
        """Builds the model for data of ``shape`` (and ``dtypes``: a subclassed model's
        ``call`` runs on zeros of them, so integer ids stay integers)."""
        from lamina.layers.trace_inputs import called_on

        with called_on(self, dtypes):
            self._ensure_built(shape)

    def _forward_profile(self, row):
        """:func:`lamina.training.strategy.forward_profile` of the forward pass on ``row``,
        remembered per network and row shape (fits repeat it)."""
        from lamina.models.forward_profile import remembered_profile

        return remembered_profile(self, row)

    # The model's state, for callbacks that save or change it (BackupAndRestore, learning
    # rate schedules); the engine itself goes through the Binding.
    @property
    def train_state(self):
        """The model's whole training state: a :class:`lamina.training.state.TrainState`
        (weights, optimizer state, per-step random key), ``None`` before the model is built.
        Assigning a state of the same structure replaces it (callbacks restore backups so)."""
        ts = self._train_state
        if ts is not None and ts.opt_state is None and getattr(self, "_compiled", None):
            self._reset_optimizer()
            ts = self._train_state
        return ts

    @train_state.setter
    def train_state(self, ts):
        self._train_state = ts

    @property
    def shuffle_key(self):
        """The JAX key that shuffles the training data (advanced once per epoch)."""
        return self._rng

    @shuffle_key.setter
    def shuffle_key(self, key):
        self._rng = key

    def _finalize(self, epochs) -> None:
        if self._train_state is not None:
            self._train_state = _state.finalized(
                self._train_state, getattr(self, "optimizer", None), self._trainable_mask(), epochs
            )

    def _predict_width(self) -> int:
        """Values per row of the widest activation (input included)."""
        shapes = [self._input_shape, *self._output_shape_of(self._input_shape)]
        flat = [t for s in shapes for t in (s if s and isinstance(s[0], tuple | list) else [s])]
        return max(math.prod(d for d in s[1:] if d) or 1 for s in flat)

    def _check_inputs(self, x):
        if not hasattr(x, "shape"):
            raise ValueError(
                f"{type(self).__name__} {self.name!r} takes one input array; received a "
                f"{type(x).__name__} of {len(x)} arrays. Pass a single array (a dict only "
                f"as {{input name: array}}), or build a functional model with several inputs."
            )
        self._check_input_shape(x.shape)

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: list[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool | str = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | Sequence[int] = 1,
        **kwargs: Any,
    ) -> History:
        """Trains the model; returns a :class:`~lamina.callbacks.History`.

        Accepts Keras 1's ``nb_epoch=`` for ``epochs``.  With ``shuffle=False`` and the same
        starting weights, the result matches Keras 3 to float32 rounding.  ``shuffle=True``
        permutes the rows every epoch, ``"batch"`` the order of fixed batches, for every
        input kind that can be shuffled (arrays, memory maps).

        Args:
            x: the inputs: a NumPy array (or a list/dict of arrays for several inputs), a
                pandas object, a memory-mapped array, a generator or ``PyDataset`` yielding
                ``(x, y)`` or ``(x, y, sample_weight)``, or a ``lamina.data`` file source.
            y: the targets, for array inputs (``None`` when ``x`` yields them).
            batch_size: rows per step (default 32); for generators, their own batch size.
            epochs: the epoch to stop after (with ``initial_epoch``, the last epoch index + 1).
            verbose: ``"auto"``/1 a progress bar (one line per epoch when piped), 2 one line
                per epoch, 0 silent.
            callbacks: ``lamina.callbacks.Callback`` instances (batch hooks fire once per
                compiled chunk of steps).
            validation_split: the fraction of the *last* rows of array inputs held out for
                validation.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight)``, or a
                generator/dataset, evaluated at the end of each epoch.
            shuffle: ``True`` shuffles rows every epoch, ``"batch"`` shuffles fixed batches,
                ``False`` keeps the order.
            class_weight: ``{class index: weight}`` scaling each row's loss by its class.
            sample_weight: one weight per row, multiplying its loss; for a model with several
                outputs, one array per output (a list like ``y``, or a dict keyed by output
                name; ``None`` for an output left unweighted) weighs each output's loss and
                ``weighted_metrics`` by its own array.
            initial_epoch: the epoch to start from (to resume a run).
            steps_per_epoch: batches per epoch for generators (default: until exhausted).
            validation_steps: batches of ``validation_data`` per validation.
            validation_batch_size: the batch size of the validation (default ``batch_size``).
            validation_freq: validate every ``n`` epochs, or at the epochs in a list.
            **kwargs: Keras 1/2 spellings (``nb_epoch``) and Keras 2's ignored
                ``workers``/``use_multiprocessing``/``max_queue_size``.

        Returns:
            The ``History``: ``history.history`` maps ``loss``, each metric and their
            ``val_`` twins to one value per epoch.

        Raises:
            ValueError: the model is not compiled, or the data does not fit the model
                (shapes, sizes, a ``validation_split`` outside [0, 1)), with the usual fix.
            TypeError: an argument of the wrong type, or an unknown keyword argument.

        Example:

        >>> import numpy as np
        >>> from lamina.models import Sequential
        >>> from lamina.layers import Dense, Input
        >>> model = Sequential([Input((3,)), Dense(1, activation="sigmoid")])
        >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        >>> X = np.random.rand(32, 3); y = (X[:, 0] > 0.5).astype(int)
        >>> history = model.fit(X, y, epochs=2, batch_size=8, verbose=0)
        >>> sorted(history.history)
        ['accuracy', 'loss']
        """
        epochs = legacy_fit_kwargs(kwargs, epochs)
        _guardrails.on_train(self)
        _host_prefix.adopt_string_input(self, x)
        snapshot = self._snapshot()
        b = self._binding()
        try:
            history = _loop.fit(
                b,
                x,
                y,
                batch_size=batch_size,
                epochs=epochs,
                verbose=verbose,
                callbacks=callbacks,
                validation_split=validation_split,
                validation_data=validation_data,
                shuffle=shuffle,
                class_weight=class_weight,
                sample_weight=sample_weight,
                initial_epoch=initial_epoch,
                validation_batch_size=validation_batch_size,
                validation_freq=validation_freq,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
            )
        except (ValueError, TypeError):
            self._restore(snapshot)
            raise
        finally:
            self._compile_seconds = b.compile_seconds
        self._after_fit()
        return history

    def _after_fit(self) -> None:
        """What a model kind says once a fit has run (a subclassed model: a warning)."""

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: list[Any] | None = None,
        return_dict: bool = False,
        **kwargs: Any,
    ) -> Any:  # a float, a list or a dict: Any keeps ``loss, acc = evaluate(...)`` typed
        """Returns the loss (no metrics), ``[loss, *metrics]``, or a dict with ``return_dict``
        (Keras 3's order: the loss, each output's loss, then the metrics).

        Args:
            x: the inputs (any input kind ``fit`` takes).
            y: the targets, for array inputs.
            batch_size: rows per step (default 32).
            verbose: ``"auto"``/1 prints one line with the step count, 2 a plain line, 0
                nothing.
            sample_weight: one weight per row, or one array per output as in ``fit``.
            steps: batches to evaluate for generators (default: until exhausted).
            callbacks: callbacks receiving the test hooks.
            return_dict: return ``{name: value}`` instead of a scalar or a list.
            **kwargs: Keras 2 arguments that do not apply here are accepted and ignored.

        Returns:
            A float (loss only), a list ``[loss, *metrics]`` in ``model.metrics_names``
            order, or a dict.

        Raises:
            ValueError: the model is not compiled or the data does not fit it.

        Example:

        >>> import numpy as np
        >>> from lamina.models import Sequential
        >>> from lamina.layers import Dense, Input
        >>> model = Sequential([Input((3,)), Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        >>> loss, mae = model.evaluate(np.ones((8, 3)), np.zeros((8, 1)), verbose=0)
        """
        _host_prefix.adopt_string_input(self, x)
        snapshot = self._snapshot()
        try:
            return _loop.evaluate(
                self._binding(),
                x,
                y,
                batch_size=batch_size,
                verbose=verbose,
                sample_weight=sample_weight,
                return_dict=return_dict,
                steps=steps,
                callbacks=callbacks,
            )
        except (ValueError, TypeError):
            self._restore(snapshot)
            raise

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: list[Any] | None = None,
    ) -> Any:
        """Returns the model's outputs for ``x`` as NumPy arrays.

        Args:
            x: the inputs (any input kind ``fit`` takes; targets, if given, are ignored).
            batch_size: rows per step (default 32; small models run larger tiles, with the
                same outputs).
            verbose: ``"auto"``, 0, 1 or 2, as in ``fit``.
            steps: batches to predict for generators (default: until exhausted).
            callbacks: callbacks receiving the predict hooks.

        Returns:
            One array with a row per input row (a list of arrays for several outputs).

        Raises:
            ValueError: the inputs do not fit the model.

        Example:

        >>> import numpy as np
        >>> from lamina.models import Sequential
        >>> from lamina.layers import Dense, Input
        >>> Sequential([Input((3,)), Dense(2)]).predict(np.ones((5, 3)), verbose=0).shape
        (5, 2)
        """
        _host_prefix.adopt_string_input(self, x)
        return _loop.predict(
            self._binding(),
            x,
            batch_size=batch_size,
            verbose=verbose,
            steps=steps,
            callbacks=callbacks,
        )

    def _snapshot(self):
        return (self._train_state, self._input_shape, self._y_shape, self._rng)

    def _restore(self, snap):
        self._train_state, self._input_shape, self._y_shape, self._rng = snap
