"""``Sequential``: a stack of layers with the Keras life cycle (define, compile, fit, evaluate,
predict).

The object is thin: it holds the layer specs, the compile settings, and the latest
``TrainState`` (all arrays, one pytree).  The work happens in pure functions compiled once per
``compile()`` (``lamina.training.step``) and driven by ``lamina.training.loop``.
"""

from __future__ import annotations

import copy

import jax
import numpy as np

from lamina import losses as _losses
from lamina.layers.base import Layer, check_rank
from lamina.layers.core import InputLayer
from lamina.models import summary as _summary
from lamina.models.class_predictions import ClassPredictionsMixin
from lamina.models.compiling import CompileMixin
from lamina.models.initialization import initial_weights
from lamina.models.io import SavingMixin
from lamina.training import loop as _loop
from lamina.training.state import TrainState


class Sequential(CompileMixin, SavingMixin, ClassPredictionsMixin):
    """A linear stack of layers.

    Args:
        layers: optional list of layers to add in order.
        name: the model's name.

    >>> import numpy as np
    >>> from lamina.models import Sequential
    >>> from lamina.layers import Dense, Activation
    >>> model = Sequential()
    >>> model.add(Dense(5, input_dim=2))
    >>> model.add(Activation('relu'))
    >>> model.add(Dense(1))
    >>> model.add(Activation('sigmoid'))
    >>> model.compile(optimizer='sgd', loss='mse', metrics=['accuracy'])
    >>> X = np.random.rand(20, 2); y = (X.sum(1) > 1).astype(int)
    >>> history = model.fit(X, y, batch_size=10, epochs=2, verbose=0)
    >>> loss, accuracy = model.evaluate(X, y, verbose=0)
    >>> model.predict(X, verbose=0).shape
    (20, 1)
    """

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or "sequential"
        self.trainable = trainable
        self._layers: list[Layer] = []
        self._input_shape = None  # batch dim included
        self._train_state: TrainState | None = None
        self._built_key = None
        self._compiled = None  # dict of compile settings
        self._program = None
        self._program_key = None
        self._compile_seconds = None
        self._trace_counter: dict[str, int] = {}
        self._rng = None
        self._step_rng = None
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ define
    def add(self, layer: Layer) -> None:
        """Appends a layer (or an ``Input``) to the stack."""
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add() takes a layer, e.g. Dense(8). Received: {layer!r} "
                f"(type {type(layer).__name__})."
            )
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(
                    "Input(...) must come first in a Sequential model, before any layer."
                )
            self._input_shape = (layer._batch_size_arg, *layer.shape)
            self._input_layer = layer
            self._invalidate()
            return
        if not self._layers and self._input_shape is None and layer._input_shape_arg is not None:
            self._input_shape = (layer._batch_size_arg, *layer._input_shape_arg)
        names = {lay.name for lay in self._layers}
        if layer.name in names:
            raise ValueError(
                f"All layers added to a Sequential model should have unique names. Name "
                f"{layer.name!r} is already the name of a layer in this model."
            )
        self._layers.append(layer)
        self._invalidate()
        if self._input_shape is not None:
            try:
                self._output_shape_of(self._input_shape)
            except ValueError:
                self._layers.pop()
                raise

    def pop(self) -> Layer:
        """Removes and returns the last layer."""
        if not self._layers:
            raise IndexError("There are no layers in the model to pop.")
        layer = self._layers.pop()
        self._invalidate()
        return layer

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def get_layer(self, name=None, index=None) -> Layer:
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Layers: {[la.name for la in self._layers]}.")

    def _invalidate(self):
        """Weights and compiled programs no longer match the layers: rebuild on next use."""
        if self._train_state is not None:
            self._saved_weights = None
        self._train_state = None
        self._program = None

    def _output_shape_of(self, input_shape):
        shape = tuple(input_shape)
        shapes = []
        for layer in self._layers:
            check_rank(layer, shape)
            shape = tuple(layer.compute_output_shape(shape))
            shapes.append(shape)
        return shapes

    @property
    def built(self) -> bool:
        return self._train_state is not None

    @property
    def input_shape(self):
        return self._input_shape

    @property
    def output_shape(self):
        if self._input_shape is None:
            raise ValueError("The model has no input shape yet: build it or call fit first.")
        shapes = self._output_shape_of(self._input_shape)
        return shapes[-1] if shapes else tuple(self._input_shape)

    def build(self, input_shape=None) -> None:
        """Creates the weights for inputs of ``input_shape`` (batch dimension included)."""
        if input_shape is None:
            input_shape = self._input_shape
        if input_shape is None:
            raise ValueError(
                "build() needs an input shape: pass build((None, n_features)), or give the first "
                "layer input_shape=/input_dim=, or call fit() and the model builds from the data."
            )
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
        self._output_shape_of(input_shape)
        self._input_shape = (None, *input_shape[1:])
        init = initial_weights(self._layers, self._input_shape)
        self._rng, self._step_rng = init.shuffle_rng, init.step_rng
        self._weight_order = init.order  # Keras's order; pytrees sort dict keys
        self._train_state = TrainState(init.params, init.state, None, None)
        if self._compiled is not None:
            self._reset_optimizer()

    def _ensure_built(self, data_shape):
        if self._train_state is not None:
            return
        if self._input_shape is None:
            self.build((None, *data_shape[1:]))
        else:
            self.build(self._input_shape)

    # ----------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """All weights as NumPy arrays, in Keras's order (layer by layer, trainable first)."""
        self._require_built("get_weights")
        ts = jax.device_get(self._train_state)
        out = []
        for p, s, (p_names, s_names) in zip(ts.params, ts.state, self._weight_order):
            out.extend(np.asarray(p[k]) for k in p_names)
            out.extend(np.asarray(s[k]) for k in s_names)
        return out

    def set_weights(self, weights) -> None:
        """Sets all weights from a list in :meth:`get_weights`'s order (e.g. from Keras)."""
        self._require_built("set_weights")
        ts = self._train_state
        expected = [
            (layer.name, k, (p | s)[k].shape)
            for layer, p, s, (p_names, s_names) in zip(
                self._layers, ts.params, ts.state, self._weight_order
            )
            for k in (*p_names, *s_names)
        ]
        weights = list(weights)
        if len(weights) != len(expected):
            raise ValueError(
                f"set_weights expected a list of {len(expected)} arrays (the model's weights in "
                f"get_weights() order), but received {len(weights)}."
            )
        for (lname, wname, shape), w in zip(expected, weights):
            if tuple(np.shape(w)) != tuple(shape):
                raise ValueError(
                    f"set_weights: weight {wname!r} of layer {lname!r} has shape {tuple(shape)}, "
                    f"but the array given for it has shape {tuple(np.shape(w))}."
                )
        it = iter(np.asarray(w, np.float32) for w in weights)
        params, state = [], []
        for p_names, s_names in self._weight_order:
            params.append({k: jax.numpy.asarray(next(it)) for k in p_names})
            state.append({k: jax.numpy.asarray(next(it)) for k in s_names})
        self._train_state = ts._replace(params=tuple(params), state=tuple(state))

    @property
    def weights(self):
        return self.get_weights() if self.built else []

    def count_params(self) -> int:
        self._require_built("count_params")
        return int(
            sum(
                np.prod(w.shape)
                for w in jax.tree_util.tree_leaves(
                    (self._train_state.params, self._train_state.state)
                )
            )
        )

    def _require_built(self, what):
        if self._train_state is None:
            if self._input_shape is not None and self._layers:
                self.build(self._input_shape)
                return
            raise ValueError(
                f"{what}() needs a built model, but this model has no input shape yet. Give the "
                f"first layer input_shape=/input_dim=, add Input(shape) first, call "
                f"build((None, n_features)), or fit it on data."
            )

    def summary(self, print_fn=None, line_length=None) -> None:
        """Prints a Keras-like table: layer (type), output shape, parameter count, totals."""
        (print_fn or print)(_summary.render(self, line_length))

    # ------------------------------------------------------------ input checks
    def _check_input_shape(self, shape):
        expected = self._input_shape
        if expected is None:
            return
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

    def _check_targets(self, y):
        out = self.output_shape
        _losses.check_targets(self._compiled["loss"], y.shape, y.dtype.kind, out, y_sample=y)
        self._y_shape = (None, *y.shape[1:])

    # ------------------------------------------------------------- life cycle
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
        **kwargs,
    ):
        """Trains the model; returns a :class:`~lamina.callbacks.History`.

        Accepts Keras 1's ``nb_epoch=`` for ``epochs``.  With ``shuffle=False`` and the same
        starting weights, the result matches Keras 3 to float32 rounding.
        """
        epochs = _legacy_fit_kwargs(kwargs, epochs)
        snapshot = self._snapshot()
        try:
            return _loop.fit(
                self,
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

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
        **kwargs,
    ):
        """Returns the loss (no metrics), ``[loss, *metrics]``, or a dict with ``return_dict``."""
        snapshot = self._snapshot()
        try:
            return _loop.evaluate(
                self,
                x,
                y,
                batch_size=batch_size,
                verbose=verbose,
                sample_weight=sample_weight,
                return_dict=return_dict,
                steps=steps,
            )
        except (ValueError, TypeError):
            self._restore(snapshot)
            raise

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Returns the output layer's values for ``x`` as a NumPy array."""
        return _loop.predict(self, x, batch_size=batch_size, verbose=verbose, steps=steps)

    def __call__(self, x, training=False):
        return self.predict(x, verbose=0)

    def _snapshot(self):
        return (self._train_state, self._input_shape, self._y_shape, self._rng)

    def _restore(self, snap):
        self._train_state, self._input_shape, self._y_shape, self._rng = snap

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        layers = []
        if self._input_shape is not None:
            layers.append(
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {
                        "batch_shape": tuple(self._input_shape),
                        "dtype": "float32",
                        "sparse": False,
                        "ragged": False,
                        "name": "input_layer",
                    },
                    "registered_name": None,
                }
            )
        for layer in self._layers:
            layers.append(
                {
                    "module": "keras.layers",
                    "class_name": type(layer).__name__,
                    "config": layer.get_config(),
                    "registered_name": None,
                }
            )
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": "float32",
            "layers": layers,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from lamina.layers import deserialize as _deserialize_layer

        model = cls(name=config.get("name"))
        for spec in config.get("layers", []):
            model.add(_deserialize_layer(spec, custom_objects=custom_objects))
        return model

    def __copy__(self):
        return copy.copy(self)


def _legacy_fit_kwargs(kwargs, epochs):
    import warnings

    if "nb_epoch" in kwargs:
        warnings.warn(
            "fit(nb_epoch=...) is the Keras 1 spelling; use epochs=... instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        epochs = kwargs.pop("nb_epoch")
    for ignored in ("use_multiprocessing", "workers", "max_queue_size"):
        kwargs.pop(ignored, None)
    if kwargs:
        raise TypeError(f"fit() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}.")
    return epochs
