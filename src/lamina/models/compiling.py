"""``compile()`` and the compiled program of a model: optimizer, loss and metrics resolved by
name, and the ``lamina.training.step.Program`` built once per compile settings and shapes.

A mixin of :class:`lamina.models.Sequential`, kept apart so each file holds one concept.
"""

from __future__ import annotations

import jax
import numpy as np

from lamina import losses as _losses
from lamina import metrics as _metrics
from lamina import optimizers as _optimizers
from lamina.distribution import model_parallel as _model_parallel
from lamina.optimizers.multi_models import optimizer_tx
from lamina.training import compilation as _compilation
from lamina.training import guardrails as _guardrails
from lamina.training import layer_metric_state as _held_metrics
from lamina.training import outputs as _outputs
from lamina.training import step as _step
from lamina.training.state import fresh_copy, split_trainable


class CompileMixin:
    """``compile`` and the program cache; expects ``_layers``, ``_train_state`` and friends."""

    def get_compile_config(self) -> dict | None:
        """Keras's compile settings of the model, serialized (``None`` before ``compile``):
        what a saved file holds and :meth:`compile_from_config` restores.

        >>> import lamina
        >>> model = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> model.get_compile_config()["loss"]["class_name"]
        'MeanSquaredError'
        """
        from lamina.saving.keras_compile import compile_config

        return compile_config(self)

    def compile_from_config(self, config: dict) -> None:
        """Compiles the model from :meth:`get_compile_config`'s output (Keras's method; a
        model whose ``compile`` takes other arguments overrides both).

        Raises:
            lamina.saving.FileFormatError: the settings cannot be restored.
        """
        from lamina.saving.keras_compile import compile_from_config

        compile_from_config(self, config, "<compile_config>")

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
        custom = bool(getattr(self, "_custom_hooks", lambda: ())())
        # Custom train steps may compute their own loss; user layers and subclassed models may
        # add theirs with add_loss (Keras then trains on those alone).
        if loss is None and not custom and not _may_add_losses(self):
            raise ValueError(
                "compile() needs a loss, e.g. loss='mse' for regression, "
                "'binary_crossentropy' for two classes or 'categorical_crossentropy' for more."
            )
        opt = _optimizers.get(optimizer)
        if auto_scale_loss and opt is not None and self.dtype_policy.name == "mixed_float16":
            from lamina.optimizers.loss_scale import LossScaleOptimizer

            if not isinstance(opt, LossScaleOptimizer):  # Keras's dynamic loss scaling
                opt = LossScaleOptimizer(opt, name="loss_scale_optimizer")
        if isinstance(loss, dict | list | tuple):  # one loss per output, resolved by name
            for lo in loss.values() if isinstance(loss, dict) else loss:
                if lo is not None:
                    _losses.resolve(lo)
            loss_obj = loss
        elif loss is None:
            loss_obj = None
        else:
            loss_obj = _losses.resolve(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str) or (callable(metrics) and not isinstance(metrics, type)):
            # One metric on its own (tf.keras 2 took it; the TensorFlow text-classification
            # tutorial passes ``metrics=tf.metrics.BinaryAccuracy(threshold=0.0)``).
            metrics = [metrics]
        if isinstance(weighted_metrics, str) or (
            callable(weighted_metrics) and not isinstance(weighted_metrics, type)
        ):
            weighted_metrics = [weighted_metrics]
        if not isinstance(metrics, list | tuple | dict):
            raise TypeError(
                f"metrics must be a list, e.g. metrics=['accuracy'] (or one list per output, or "
                f"a dict keyed by output name). Received: {metrics!r}."
            )
        for m in _leaves(metrics):  # check names eagerly; 'accuracy' resolves with shapes
            if isinstance(m, str) and m.lower() not in ("accuracy", "acc"):
                _metrics.resolve(m)
        if not isinstance(run_eagerly, bool):
            raise TypeError(f"run_eagerly must be True or False. Received: {run_eagerly!r}.")
        if (
            isinstance(steps_per_execution, bool)
            or not isinstance(steps_per_execution, int)
            or steps_per_execution < 1
        ):
            raise ValueError(
                f"steps_per_execution must be a positive integer. Received: "
                f"steps_per_execution={steps_per_execution!r}."
            )
        self._compiled = {
            "optimizer": opt,
            "loss": loss_obj,
            "metrics": metrics if isinstance(metrics, dict) else list(metrics),
            "weighted_metrics": weighted_metrics or [],
            "loss_weights": loss_weights,
            "run_eagerly": run_eagerly,
            "steps_per_execution": int(steps_per_execution),
        }
        self.run_eagerly = run_eagerly
        self.steps_per_execution = int(steps_per_execution)
        self.compiled = True
        if (
            loss_obj is not None
            and loss_weights is not None
            and self._outputs_known()
            and self._engine_network().output_names is None
        ):
            _outputs.resolve_losses(loss_obj, loss_weights, None)  # the error, at compile time
        self.optimizer = opt
        self.loss = loss_obj
        self._program = None
        self._compile_seconds = None
        if self._train_state is not None and not custom:
            self._reset_optimizer()
        if not custom:
            _guardrails.on_compile(self)
        _guardrails.note_compile(self)

    def _outputs_known(self) -> bool:
        """Whether the outputs are known before the model is built (a subclassed model's
        ``call`` decides them when it first runs); compile checks ``loss_weights`` then."""
        return True

    def _reset_optimizer(self):
        """A fresh optimizer state for the current trainable weights (Keras's ``compile``).

        The weights and the per-step random key stream are kept: a re-``compile`` after ``fit``
        (fine-tuning, a new learning rate, changed ``trainable`` flags) continues from the
        trained weights with new optimizer slots, as in Keras.
        """
        from lamina.training.compilation import enable_persistent_cache

        enable_persistent_cache()  # before the optimizer's init program: cached on disk too
        tx = optimizer_tx(self, self._compiled["optimizer"])
        mask = self._trainable_mask()
        trained, _ = split_trainable(self._train_state.params, mask)
        rng = self._train_state.rng
        if rng is None:
            # The per-step key (dropout) is a stream of its own, apart from the shuffling key.
            rng = self._rng if self._step_rng is None else self._step_rng
            # Copied: the first fit donates the state's buffers, and a later re-build or
            # re-compile must not meet a deleted key.
            rng = fresh_copy(rng)
        self._train_state = self._train_state._replace(opt_state=jax.jit(tx.init)(trained), rng=rng)
        self._optimizer_mask = mask

    def _trainable_mask(self):
        return tuple(self.trainable and layer.trainable for layer in self._layers)

    def _check_compiled(self, what):
        if self._compiled is None:
            raise RuntimeError(
                f"You must call compile() before {what}(): e.g. model.compile(optimizer='adam', "
                f"loss='binary_crossentropy', metrics=['accuracy'])."
            )

    def _output_shapes(self):
        """Per output, the prediction shape (batch dimension first)."""
        return (self.output_shape,)

    def _resolved_metrics(self):
        """The compiled metrics (:class:`lamina.training.step.OutputMetric`), shapes known."""
        preds = self._output_shapes()
        ys = self._y_shapes() or preds
        resolved = _outputs.resolve_metrics(
            self._compiled["metrics"],
            self._compiled["weighted_metrics"],
            self._engine_network().output_names,
            ys,
            preds,
        )
        if not self._compiled.get("metric_names_counted"):
            # Keras instantiates a string's metric class once per compile, when its compiled
            # metrics are built: that advances the class's automatic names (``AUC()`` made
            # after a fit with ``metrics=["auc"]`` is ``auc_2``).
            self._compiled["metric_names_counted"] = True
            _outputs.count_metric_names(
                self._compiled["metrics"], self._compiled["weighted_metrics"]
            )
        return resolved

    def _y_shapes(self):
        return None if self._y_shape is None else (self._y_shape,)

    _y_shape = None

    def _compiler_options(self):
        """XLA options for this model's programs (small models compile with lighter ones)."""
        ts = getattr(self, "_train_state", None)
        if ts is None:
            return None
        n = sum(int(np.size(v)) for v in jax.tree_util.tree_leaves((ts.params, ts.state)))
        return _compilation.program_compiler_options(n)

    def _get_program(self):
        """The compiled program for the current layers, compile settings and trainable flags.

        An uncompiled model gets a predict-only program (Keras predicts without compile too).
        """
        network = self._engine_network()
        mask = self._trainable_mask()
        if self._compiled is None:
            key = ("predict-only", network.spec_key, _model_parallel.traced_layouts())
            if self._program is None or self._program_key != key:
                self._program = _step.build_program(
                    network, None, [], None, mask, trace_counter=self._trace_counter,
                    compiler_options=self._compiler_options(),
                )
                self._program_key = key
            return self._program
        if (
            self._train_state.opt_state is None
            or getattr(self, "_optimizer_mask", None) != mask
        ):
            # New weights, or ``trainable`` flags changed since compile(): the optimizer's
            # slots no longer match the trained weights.  Keras asks for a re-compile here;
            # Lamina resets the optimizer as that re-compile would.
            self._reset_optimizer()
        metrics = self._resolved_metrics()
        losses = _outputs.resolve_losses(
            self._compiled["loss"], self._compiled["loss_weights"], network.output_names
        )
        _held_metrics.discover_training_metrics(self, network)
        held = tuple(self._layer_held_metrics())
        key = (
            network.spec_key,
            mask,
            tuple((m.index, m.log_name, m.weighted) for m in metrics),
            tuple((t.index, t.weight, t.log_name) for t in losses),
            self._y_shapes(),
            self._compiled["run_eagerly"],
            tuple((id(m), m.name) for m in held),
            _model_parallel.traced_layouts(),  # its output layouts are traced in
        )
        if self._program is None or self._program_key != key:
            self._compiled_metrics = [m.metric for m in metrics]
            self._program = _step.build_program(
                network,
                losses,
                metrics,
                optimizer_tx(self, self._compiled["optimizer"]),
                mask,
                trace_counter=self._trace_counter,
                run_eagerly=self._compiled["run_eagerly"],
                compiler_options=self._compiler_options(),
                layer_metrics=held,
            )
            self._program_key = key
        return self._program

    @property
    def metrics_names(self) -> list[str]:
        """The names of ``evaluate``'s values in Keras 3's order: ``loss``, each output's loss
        (several outputs), then the metrics; known once the data shapes are."""
        if self._compiled is None:
            return []
        held = [m.name for m in self._layer_held_metrics()]
        if self._input_shape is None:
            return ["loss"] + [
                m if isinstance(m, str) else getattr(m, "name", str(m))
                for m in _leaves(self._compiled["metrics"])
            ] + held
        network = self._engine_network()
        names = ["loss"]
        if network.output_names is not None:
            losses = _outputs.resolve_losses(
                self._compiled["loss"], self._compiled["loss_weights"], network.output_names
            )
            if len(losses) > 1:
                names += [t.log_name for t in losses]
            # Keras 3 lists the per-output metrics ("a_mae") after the losses, sorted by name
            # (``Trainer._flatten_metrics_in_order``: their names are not its metric names).
            return names + held + sorted(m.log_name for m in self._resolved_metrics())
        return names + [m.log_name for m in self._resolved_metrics()] + held

    compiled = False
    loss = None  # Keras's ``model.loss`` before ``compile``


def _may_add_losses(model) -> bool:
    """Whether user code (a subclassed model or layer, in ``model``) could call ``add_loss``,
    or a functional model holds Keras 2's ``add_loss(symbolic tensor)`` terms."""
    seen, stack = set(), [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if not type(obj).__module__.startswith("lamina.") or getattr(obj, "_graph_losses", None):
            return True
        try:
            stack.extend(getattr(obj, "layers", None) or [])
        except (AttributeError, TypeError, ValueError):
            continue
    return False


def _leaves(value):
    """The metric identifiers of a list, list of lists or dict of ``compile(metrics=...)``."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None else [value]
