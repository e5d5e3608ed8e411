"""``compile()`` and the compiled program of a model: optimizer, loss and metrics resolved by
name, and the ``lamina.training.step.Program`` built once per compile settings and shapes.

A mixin of :class:`lamina.models.Sequential`, kept apart so each file holds one concept.
"""

from __future__ import annotations

import copy

import jax

from lamina import losses as _losses
from lamina import metrics as _metrics
from lamina import optimizers as _optimizers
from lamina.training import guardrails as _guardrails
from lamina.training import step as _step
from lamina.training.state import split_trainable


class CompileMixin:
    """``compile`` and the program cache; expects ``_layers``, ``_train_state`` and friends."""

    # ----------------------------------------------------------------- compile
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        loss_weights=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
        **kwargs,
    ):
        """Configures training: optimizer, loss and metrics, by name or object.

        Args:
            optimizer: e.g. ``'sgd'``, ``'adam'`` or ``lamina.optimizers.Adam(1e-3)``.
            loss: e.g. ``'mse'``, ``'binary_crossentropy'`` or a ``lamina.losses.Loss``.
            metrics: list such as ``['accuracy']``; resolved when the data shapes are known.
            loss_weights: a single float scaling the loss (one output).
        """
        if loss is None:
            raise ValueError(
                "compile() needs a loss, e.g. loss='mse' for regression, "
                "'binary_crossentropy' for two classes or 'categorical_crossentropy' for more."
            )
        opt = _optimizers.get(optimizer)
        loss_obj = _losses.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str) or not isinstance(metrics, list | tuple):
            raise TypeError(
                f"metrics must be a list, e.g. metrics=['accuracy']. Received: {metrics!r}."
            )
        for m in metrics:  # check names eagerly; 'accuracy' resolves once shapes are known
            if isinstance(m, str) and m.lower() not in ("accuracy", "acc"):
                _metrics.get(m)
        if loss_weights is not None and not isinstance(loss_weights, int | float):
            if isinstance(loss_weights, list | tuple) and len(loss_weights) == 1:
                loss_weights = loss_weights[0]
            else:
                raise ValueError(
                    "loss_weights must be one number for a Sequential model's single output."
                )
        self._compiled = {
            "optimizer": opt,
            "loss": loss_obj,
            "metrics": list(metrics),
            "weighted_metrics": list(weighted_metrics or []),
            "loss_weights": loss_weights,
        }
        self.optimizer = opt
        self.loss = loss_obj
        self._program = None
        self._compile_seconds = None
        if self._train_state is not None:
            self._reset_optimizer()
        _guardrails.on_compile(self)

    def _reset_optimizer(self):
        tx = self._compiled["optimizer"].to_optax()
        trained, _ = split_trainable(self._train_state.params, self._trainable_mask())
        # The per-step key (dropout) is a stream of its own, apart from the shuffling key.
        self._train_state = self._train_state._replace(
            opt_state=jax.jit(tx.init)(trained),
            rng=self._rng if self._step_rng is None else self._step_rng,
        )

    def _trainable_mask(self):
        return tuple(self.trainable and layer.trainable for layer in self._layers)

    def _check_compiled(self, what):
        if self._compiled is None:
            raise RuntimeError(
                f"You must call compile() before {what}(): e.g. model.compile(optimizer='adam', "
                f"loss='binary_crossentropy', metrics=['accuracy'])."
            )

    def _resolved_metrics(self):
        out = self.output_shape
        y_true_shape = self._y_shape or out
        resolved = [
            _metrics.get(m, y_true_shape=y_true_shape, y_pred_shape=out)
            for m in self._compiled["metrics"]
        ]
        names = {m.name for m in resolved}
        for m in self._compiled["weighted_metrics"]:
            wm = copy.copy(_metrics.get(m, y_true_shape=y_true_shape, y_pred_shape=out))
            if wm.name in names:
                wm.name = "weighted_" + wm.name
            wm._lamina_weighted = True
            resolved.append(wm)
        return resolved

    _y_shape = None

    def _get_program(self):
        """The compiled program for the current layers, compile settings and trainable flags.

        An uncompiled model gets a predict-only program (Keras predicts without compile too).
        """
        if self._compiled is None:
            key = ("predict-only", tuple(la._spec_key() for la in self._layers))
            if self._program is None or self._program_key != key:
                self._program = _step.build_program(
                    self._layers,
                    None,
                    [],
                    None,
                    self._trainable_mask(),
                    trace_counter=self._trace_counter,
                )
                self._program_key = key
            return self._program
        if self._train_state.opt_state is None:
            self._reset_optimizer()
        metrics = self._resolved_metrics()
        loss = self._compiled["loss"]
        scale = self._compiled["loss_weights"]
        scale = 1.0 if scale is None else float(scale)
        key = (
            tuple(la._spec_key() for la in self._layers),
            self._trainable_mask(),
            tuple((m.name, getattr(m, "_lamina_weighted", False)) for m in metrics),
            self._y_shape,
            scale,
        )
        if self._program is None or self._program_key != key:
            self._compiled_metrics = metrics
            self._program = _step.build_program(
                self._layers,
                loss,
                metrics,
                self._compiled["optimizer"].to_optax(),
                self._trainable_mask(),
                loss_scale=scale,
                trace_counter=self._trace_counter,
            )
            self._program_key = key
        return self._program

    @property
    def metrics_names(self) -> list[str]:
        """``['loss', *metric names]`` as Keras 1/2 reported them (once shapes are known)."""
        if self._compiled is None:
            return []
        if self._input_shape is None:
            return ["loss"] + [
                m if isinstance(m, str) else getattr(m, "name", str(m))
                for m in self._compiled["metrics"]
            ]
        return ["loss"] + [m.name for m in self._resolved_metrics()]
