"""The Keras-facing side of every layer: calling it, ``add_weight``, and weights as Keras shows
them (``layer.weights``, ``layer.kernel``, ``get_weights``/``set_weights``; those views live in
:mod:`lamina.layers.weight_views`).

Calling a layer:

* on symbolic tensors (from ``lamina.Input``) records a node of a functional graph;
* inside a traced ``call`` (a custom layer's or a subclassed model's), runs it on the arrays
  bound to it;
* on arrays, runs it eagerly with weights of its own, built on first call, as Keras does for a
  standalone layer (``Dense(3)(np.ones((2, 4)))``).

>>> import numpy as np
>>> from lamina.layers import Dense
>>> layer = Dense(3)
>>> layer(np.ones((2, 4), "float32")).shape
(2, 3)
>>> [w.shape for w in layer.weights]
[(4, 3), (3,)]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.layers import call_losses as _call_losses
from lamina.layers import symbolic_masks as _masks
from lamina.layers.build_config import LayerBuildConfig
from lamina.layers.call_args import as_array, first_call_argument, is_tensor, named_call_args
from lamina.layers.core_methods import layer_init
from lamina.layers.free_variables import (
    adopt_attribute,
    is_adoptable,
    unique_key,
    variable_owner,
)
from lamina.layers.graph_api import LayerGraphAPI
from lamina.layers.layer_metrics import LayerMetrics
from lamina.layers.shape_compat import wrap_user_shape_method
from lamina.layers.trace_inputs import build_in_scope, called_on, keep_order, scope_user_build
from lamina.layers.variables import Variable, current_scope
from lamina.layers.weight_views import LayerWeightViews

# ``set_owner`` keeps its import path here (``name as name`` re-exports it).
from lamina.layers.weight_views import set_owner as set_owner


class KerasLayerAPI(LayerWeightViews, LayerGraphAPI, LayerBuildConfig, LayerMetrics):
    """Mixin of :class:`lamina.layers.Layer`: Keras's eager/symbolic calls and weight views."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        scope_user_build(cls)  # ``self.block.build(shape)`` in a custom layer's own build()
        wrap_user_shape_method(cls)  # tf.keras 2 code reads ``input_shape.as_list()``

    #: ``training`` of an eager call that does not pass it: Keras takes it from ``call``'s
    #: default, ``True`` for image preprocessing (``RandomFlip()(images)`` flips).
    _training_default: bool = False

    def _eager_training_default(self) -> bool:
        """What a call without ``training=`` means here.  Keras resolves it layer by layer; a
        model runs one flag, so it is ``True`` when every layer that behaves differently in
        training defaults to ``True`` (a ``Sequential`` of augmentation layers); a user's
        ``call(self, x, training=True)`` gives its own default, as in Keras."""
        from lamina.layers.call_args import call_training_default

        default = call_training_default(self)
        if default is not None:
            return default
        if not getattr(self, "_is_model", False):
            return bool(self._training_default)
        flags = [
            la._eager_training_default()
            for la in getattr(self, "_layers", None) or []
            if la.uses_rng
            or getattr(la, "_is_model", False)
            or getattr(la, "uses_batch_mask", False)
        ]
        return bool(flags) and all(flags)

    #: The names of Keras's ``call`` arguments after the inputs, for a built-in layer called
    #: with them positionally (none by default: several tensors go in one list).
    _keras_call_args: tuple = ()

    @property
    def built(self) -> bool:
        """Whether the layer has weights: built standalone (or its ``build`` set ``built``), or
        held by a built model (Keras builds the layers of a model it builds)."""
        if self.__dict__.get("_built_flag"):
            return True
        owner = self._owner_model()
        return owner is not None and owner is not self and bool(owner.built)

    @built.setter
    def built(self, value) -> None:
        self.__dict__["_built_flag"] = bool(value)

    def __setattr__(self, name, value):
        # Keras tracks a variable set as an attribute as one of the layer's weights.
        if _adoptable(value):
            value = adopt_attribute(self, value)
        elif name == "activation" and value is None and callable(self.__dict__.get(name)):
            # ``model.layers[-1].activation = None`` (Grad-CAM's logits): a built-in layer
            # skips its activation then, as Keras's ``if self.activation is not None``.
            if not getattr(self, "_traced", False):
                from lamina import activations

                value = activations.linear
        super().__setattr__(name, value)

    # ------------------------------------------------------------------ calls
    def __call__(self, *args, **kwargs):
        from lamina.layers import symbolic, tracing

        if not args and "inputs" in kwargs:
            args = (kwargs.pop("inputs"),)
        if not args and self._traced:  # ``layer(logits=x, targets=y)``: call's first argument
            first = first_call_argument(self)
            if first is not None and first in kwargs:
                args = (kwargs.pop(first),)
        if len(args) > 1 and self._keras_call_args and not self._traced:
            args, kwargs = named_call_args(self, args, kwargs)
        if len(args) > 1 and self._traced and all(is_tensor(a) for a in args):
            # Keras-style ``call(self, a, b)``: the tensors travel as one list input.
            self._call_arity = len(args)
            args = (list(args),)
        if symbolic.has_symbolic((args, kwargs)):
            return symbolic.symbolic_call(self, args, kwargs)
        if len(args) != 1:
            loose = [a for a in args[1:] if not is_tensor(a)]
            if loose:  # Keras's rule and words
                raise ValueError(
                    "Only input tensors may be passed as positional arguments. The following "
                    f"argument value should be passed as a keyword argument: {loose[0]!r} (of "
                    f"type {type(loose[0])}), e.g. {self.name}(x, training=...)."
                )
            raise TypeError(
                f"Layer {self.name!r} takes its input(s) as one argument (a list for several); "
                f"received {len(args)} positional arguments."
            )
        # ``call`` gets a dict of inputs in the user's key order, as in Keras (pytrees sort it).
        x = keep_order(jax.tree_util.tree_map(as_array, args[0]), args[0])
        out = tracing.sub_call(self, x, dict(kwargs))
        if out is not None or current_scope() is not None and current_scope().lookup(self):
            return out
        return self._eager_call(x, kwargs)

    def _eager_call(self, x, kwargs):
        """A standalone call on arrays: build own weights on first use, then apply."""
        from lamina.layers.variables import AuxCollector
        from lamina.training.autocast import policy_apply
        from lamina.utils import random as _random

        self.__dict__["_eager_losses"] = []

        training = kwargs.pop("training", None)
        default = self._eager_training_default()
        if training is not None:
            training = bool(training)
        elif not self._traced:  # a user ``call`` (None) resolves it: its own default, its
            training = default  # sub-layers theirs, as Keras's
        mask = kwargs.pop("mask", None)
        if mask is None:  # Keras passes an eager input's ``_keras_mask`` on to ``call``
            mask = _masks.eager_input_mask(x)
        if getattr(self, "_standalone", None) is None and self._owner_model() is None:
            # A stateful RNN keeps one state per row: it takes its batch size from this call.
            # A Keras-style layer is built on the call's real shapes and dtypes, as in Keras.
            fixed = bool(getattr(self, "stateful", False)) or self._traced
            shape = jax.tree_util.tree_map(
                lambda a: tuple(a.shape) if fixed else (None, *a.shape[1:]), x
            )
            shape = (
                list(shape)
                if isinstance(shape, list | tuple) and shape and isinstance(shape[0], tuple)
                else shape
            )
            with called_on(self, x):
                self._build_standalone(shape)
        params, state, _ = self._weights_source()
        random = (default if training is None else training) or self.rng_in_inference
        key = _random.next_key() if random and self.uses_rng else None
        if self.uses_mask:
            kwargs["mask"] = mask
        with AuxCollector(), _call_losses.TermLog() as log, called_on(self, x):
            y, new_state = policy_apply(
                self, params, state, x, training=training, key=key, **kwargs
            )
            if self.activity_regularizer is not None:
                from lamina.training.network import activity_penalty

                _call_losses.log_term(self, activity_penalty(self.activity_regularizer, y))
        _call_losses.record(self, [la for la, _ in log.terms], [v for _, v in log.terms])
        if new_state:  # assign() in an eager call updates the variable, as in Keras
            for k, v in new_state.items():
                self._write_weight(k, False, v)
        return _masks.with_eager_mask(self, x, y, mask)

    def _build_standalone(self, shape):
        """Creates the layer's own weights (a standalone layer, not yet in a model)."""
        from lamina.layers.stateful import weight_names
        from lamina.models import weight_sync
        from lamina.utils import random as _random

        p, s = layer_init(self)(_random.next_key(), shape)
        self.__dict__.setdefault("_built_input_shape", shape)  # its get_build_config()
        self._standalone = [p, s, (tuple(p), weight_names(s))]
        self.built = True
        weight_sync.standalone_written(self)

    # ---------------------------------------------------------- Keras building
    def build(self, input_shape):
        """Creates the layer's weights with :meth:`add_weight` (override it).

        A built-in layer's ``build`` creates its weights, as in Keras
        (``Dense(3).build((None, 4))``, then ``set_weights``).
        """
        if self._traced:
            return
        if current_scope() is not None:  # a custom layer's build() building its sub-layer
            build_in_scope(self, current_scope(), input_shape)
            return
        if getattr(self, "_standalone", None) is not None or self._owner_model() is not None:
            return
        if (
            isinstance(input_shape, list)
            and input_shape
            and isinstance(input_shape[0], list | tuple)
        ):
            shape = [tuple(s) for s in input_shape]
        else:
            shape = tuple(input_shape)
        self._build_standalone(shape)

    def add_weight(self, *args, **kwargs) -> Variable:
        """Adds a weight, as Keras's ``Layer.add_weight``; call it in ``build`` or ``__init__``.

        Keras 3's positional order is ``(shape, initializer, dtype, trainable, ...)``; Keras
        2.2+ and tf.keras put the name first, ``add_weight(name, shape, dtype, initializer,
        regularizer, trainable, constraint)`` (TensorFlow's custom-layer tutorial calls
        ``self.add_weight("kernel", shape=[...])``): a string first argument selects that
        order.  tf.keras's ``use_resource``, ``synchronization``, ``partitioner``,
        ``caching_device`` and ``getter`` are accepted and ignored.

        Args:
            *args: positional arguments in one of the two orders above.
            **kwargs: ``shape``, ``initializer``, ``dtype``, ``trainable``, ``regularizer``,
                ``constraint``, ``name``, ... (see :meth:`_keras3_add_weight`).

        Returns:
            The :class:`~lamina.layers.variables.Variable`.

        Raises:
            TypeError: an argument given twice, or an unknown keyword argument.

        >>> from lamina.layers import Layer
        >>> layer = Layer()
        >>> layer.add_weight("kernel", shape=(2, 3), initializer="zeros").shape
        (2, 3)
        """
        for ignored in ("use_resource", "synchronization", "partitioner", "caching_device",
                        "getter"):  # fmt: skip
            kwargs.pop(ignored, None)
        if args and isinstance(args[0], str):
            order = ("name", "shape", "dtype", "initializer", "regularizer", "trainable",
                     "constraint")  # fmt: skip
            if len(args) > len(order):
                raise TypeError(
                    f"add_weight() takes at most {len(order)} positional arguments in Keras 2's "
                    f"order {order}; received {len(args)}."
                )
            for key, value in zip(order, args):
                if key in kwargs:
                    raise TypeError(f"add_weight() got multiple values for argument {key!r}.")
                kwargs[key] = value
            args = ()
        return self._keras3_add_weight(*args, **kwargs)

    def _keras3_add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable=True,
        autocast=True,
        regularizer=None,
        constraint=None,
        aggregation="none",
        overwrite_with_gradient=False,
        name=None,
        **kwargs,
    ) -> Variable:
        """Keras 3's ``add_weight`` (:meth:`add_weight` maps Keras 2's order onto it).

        Args:
            shape: the weight's shape; ``()`` by default.
            initializer: name or initializer; ``"glorot_uniform"`` by default (``"zeros"``
                for integer dtypes), as Keras.
            dtype: ``"float32"`` by default.
            trainable: whether the optimizer updates it (else it is ``state``, updated with
                ``assign`` inside ``call``).
            regularizer, constraint: as for built-in layers' weights.
            name: the weight's name (``layer.<name>`` is not set; assign the result).

        Returns:
            The :class:`~lamina.layers.variables.Variable`.
        """
        from lamina import constraints as _constraints
        from lamina import initializers as _initializers
        from lamina import regularizers as _regularizers

        if kwargs:
            raise TypeError(f"add_weight() got unexpected keyword argument(s): {sorted(kwargs)}.")
        owner = variable_owner(self, "add_weight()")
        if owner is not self:  # a subclassed model's own variable: its holder makes it
            return owner.add_weight(
                shape=shape, initializer=initializer, dtype=dtype, trainable=trainable,
                autocast=autocast, regularizer=regularizer, constraint=constraint,
                aggregation=aggregation, overwrite_with_gradient=overwrite_with_gradient,
                name=name,
            )  # fmt: skip
        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = "float32" if dtype is None else str(np.dtype(dtype))
        if initializer is None:
            initializer = "glorot_uniform" if np.dtype(dtype).kind == "f" else "zeros"
        init = _initializers.get(initializer)
        if init is None:
            raise ValueError(f"add_weight(initializer={initializer!r}) is not an initializer.")
        if not hasattr(self, "_variables") or self._variables is None:
            self._variables = []
        key = unique_key(self, name or "variable")
        var = Variable(
            self,
            key,
            shape=shape,
            dtype=dtype,
            trainable=bool(trainable),
            initializer=init,
            regularizer=_regularizers.get(regularizer),
            constraint=_constraints.get(constraint),
            name=name or key,
        )
        self._variables.append(var)
        store = getattr(self, "_init_store", None)
        if store is not None:  # inside traced init: draw the value now
            scope = current_scope()
            store[0 if var._trainable else 1][key] = _draw(var, scope.next_init_key())
        else:  # in __init__: drawn when the layer is built
            self._early_variables = [*getattr(self, "_early_variables", []), var]
        return var

    add_variable = add_weight

    def add_loss(self, loss, inputs=None):
        """Adds a term to the training loss (Keras's ``add_loss``), from inside ``call``.

        ``inputs`` is Keras 2's argument (the inputs the loss depends on); the term joins the
        loss of the call it is added in, so it is accepted and not needed."""
        del inputs
        if any(type(v).__name__ == "KerasTensor" for v in jax.tree_util.tree_leaves(loss)):
            if getattr(self, "_nodes", None) is not None:  # a functional model: Keras 2's
                self._add_graph_loss(loss)  # ``model.add_loss(symbolic tensor)``
                return
            # Keras 3 refuses it on a layer (ValueError) and a subclassed model.
            error = NotImplementedError if getattr(self, "_is_model", False) else ValueError
            raise error(
                "`add_loss()` can only be called from inside `build()` or `call()`, on a "
                f"tensor input. Received invalid value: {loss!r} (a symbolic tensor). Add the "
                "loss from a layer's call() (self.add_loss(...)) or override compute_loss."
            )
        scope = current_scope()
        if scope is None:
            self.__dict__.setdefault("_eager_losses", []).append(loss)
            return
        term = jnp.sum(jnp.asarray(loss, jnp.float32))
        scope.aux = scope.aux + term
        from lamina.layers.call_losses import log_term
        from lamina.training.whole_batch import mark

        log_term(self, term)  # listed under this layer in ``losses`` after an eager call

        mark()  # a term over the batch: a short batch must run at its real size (Keras's)

    @property
    def losses(self) -> list:
        """Keras's ``layer.losses``: the ``add_loss`` and activity-regularization terms of the
        last eager call, then the weight regularizers' penalties on the current weights.

        >>> import lamina
        >>> layer = lamina.layers.Dense(2, kernel_regularizer=lamina.regularizers.L2(0.5))
        >>> layer.build((None, 1))
        >>> layer.set_weights([np.array([[1.0, 2.0]]), np.zeros(2)])
        >>> [float(loss) for loss in layer.losses]  # 0.5 * (1 + 4)
        [2.5]
        """
        from lamina.layers.call_losses import losses_of

        return losses_of(self) + self._weight_penalties()

    def _weight_regularizers(self) -> dict:
        return {v._key: v.regularizer for v in getattr(self, "_variables", None) or []}

    def _weight_constraints(self) -> dict:
        return {v._key: v.constraint for v in getattr(self, "_variables", None) or []}


def _adoptable(value) -> bool:
    if isinstance(value, list | tuple):
        return any(is_adoptable(v) for v in value[:64])
    return is_adoptable(value)


def _draw(var: Variable, key):
    value = var.initializer(var._shape, dtype=var.dtype, key=key)
    return value
