"""The layer protocol: a small spec plus two pure functions.

A layer object holds only configuration (numbers, strings, other specs). Arrays never live on
it; they live in two dicts that the model keeps in its training state:

* ``params``: the trainable weights, e.g. ``{"kernel": ..., "bias": ...}``;
* ``state``: the non-trainable weights, e.g. batch normalization's moving statistics.

Both dicts are ordered as Keras orders ``layer.weights`` (trainable variables first, in creation
order), so ``get_weights``/``set_weights`` exchange weights with a Keras model unchanged.

Subclasses implement:

* ``init(key, input_shape) -> (params, state)``: pure; builds the weights;
* ``apply(params, state, x, *, training, key) -> (y, state)``: pure; the forward pass;
* ``compute_output_shape(input_shape) -> shape``;
* ``get_config() -> dict``: constructor arguments, Keras's names.  Built-in layers derive it
  from their constructor (:mod:`lamina.layers.config`); a user layer that defines none gets
  Keras 3's automatic config (the constructor's arguments, recorded by ``__new__``).

A layer that declares ``weight_specs`` (:mod:`lamina.layers.weight_specs`) gets ``init``,
``_weight_regularizers`` and ``_weight_constraints`` from the declaration.

Shapes include the batch dimension as ``None``, as in Keras.

``Layer`` gathers mixins, one concept each: its config and the key of its compiled program
(:mod:`lamina.layers.layer_config`), its dtype policy (:mod:`lamina.layers.layer_dtype`), and
Keras's calls, ``add_weight`` and weight views (:mod:`lamina.layers.keras_api`).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from lamina import dtype_policies as _dtype_policies
from lamina import regularizers as _regularizers
from lamina import rematerialization as _remat
from lamina import scopes as _scopes
from lamina._naming import snake_case, unique_name
from lamina.layers import activation_sublayer as _activation_sublayer
from lamina.layers import arg_checks as _arg_checks
from lamina.layers import config as _config
from lamina.layers import legacy_args as _legacy_args
from lamina.layers import tracking_order as _tracking_order
from lamina.layers import weight_specs as _weight_specs
from lamina.layers.keras_api import KerasLayerAPI
from lamina.layers.layer_config import LayerConfigAPI, freeze
from lamina.layers.layer_dtype import LayerDTypeAPI
from lamina.layers.layer_stateless import LayerStatelessAPI
from lamina.layers.output_spec import OutputSpecAPI
from lamina.layers.own_state import OwnVariablesAPI

Shape = tuple[Any, ...]


#: Built-in layers that pass a mask on unchanged (Keras 3 sets ``supports_masking`` on them).
_MASKING_LAYERS = frozenset({
    "Activation", "ActivityRegularization", "AlphaDropout", "BatchNormalization", "Dense",
    "Dropout", "ELU", "GaussianDropout", "GaussianNoise", "GroupNormalization", "Identity",
    "LayerNormalization", "LeakyReLU", "MultiHeadAttention", "GroupQueryAttention",
    "Normalization", "PReLU", "ReLU", "Rescaling", "Softmax", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "UnitNormalization", "TimeDistributed",
    "Bidirectional", "RNN", "LSTM", "GRU", "SimpleRNN", "Add", "Average", "Concatenate",
    "Dot", "Maximum", "Minimum", "Multiply", "Subtract", "Lambda", "Masking", "Embedding",
    "ReversibleEmbedding", "GlobalAveragePooling1D", "Attention", "AdditiveAttention",
})  # not the models: as in Keras, a nested model's outputs carry only the masks made inside it


class Layer(
    LayerConfigAPI, LayerDTypeAPI, KerasLayerAPI, OwnVariablesAPI, OutputSpecAPI, LayerStatelessAPI
):
    """Base class of Lamina layers.

    Args:
        name: the layer's name; Keras's automatic ``dense``, ``dense_1``, ... when omitted.
        trainable: whether the optimizer updates this layer's ``params``.
        input_shape: shape of one sample (no batch dimension), for the first layer of a model.
        input_dim: Keras 1/2 spelling of ``input_shape=(input_dim,)``.
        batch_size: fixed batch size of the input, for the first layer (informational).
        dtype: the layer's dtype policy: a name (``"mixed_bfloat16"``, ``"float32"``) or a
            ``lamina.DTypePolicy``; the global policy (``lamina.config.set_dtype_policy``)
            when omitted.  See ``lamina.dtype_policies``.
        autocast: whether floating inputs and weights are cast to the policy's compute dtype.
        activity_regularizer: a regularizer applied to the layer's output.
    """

    #: Whether ``apply`` takes a ``mask=`` argument (sequence layers after ``Embedding``).
    uses_mask = False
    #: Whether ``apply`` draws random numbers when ``training`` (Dropout, GaussianNoise).
    uses_rng = False
    #: The layer's weights, declared once (see :mod:`lamina.layers.weight_specs`).
    weight_specs: tuple = ()

    def __new__(cls, *args, **kwargs):
        # Keras 3's ``Operation.__new__``: record the constructor's arguments, so a user layer
        # without ``get_config`` still saves (``get_config`` returns them).  Only computed for
        # classes that use the default ``get_config``; the others never read it.
        instance = super().__new__(cls)
        if getattr(cls.get_config, "_is_default", False):
            config, error_args = _config.auto_config(cls, args, kwargs)
            instance.__dict__["_auto_config"] = config
            instance.__dict__["_auto_config_error_args"] = error_args
        return instance

    def __init__(
        self,
        *,
        name: str | None = None,
        trainable: bool = True,
        input_shape: Shape | None = None,
        input_dim: int | None = None,
        batch_size: int | None = None,
        batch_input_shape: Shape | None = None,
        dtype: Any = None,
        activity_regularizer: Any = None,
        autocast: bool = True,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s): "
                f"{', '.join(sorted(kwargs))}. Check the spelling against Keras's "
                f"{type(self).__name__} arguments."
            )
        if name is not None and (not isinstance(name, str) or "/" in name):
            # Keras's check (a config's ``"name": 5``, a list; "/" separates weight paths)
            raise ValueError(
                "Argument `name` must be a string and cannot contain character `/`. Received: "
                f"name={_arg_checks.shown(name)}, for a {type(self).__name__} layer."
            )
        self.name = name or unique_name(snake_case(type(self).__name__))
        if not _arg_checks.is_bool(trainable):
            raise ValueError(  # Keras's check: a config's "no" would otherwise be truthy
                f"Expected `trainable` to be a boolean. Received: trainable={trainable!r} "
                f"(of type {type(trainable)}) in layer {self.name!r} ({type(self).__name__})."
            )
        self.trainable = bool(trainable)
        self._dtype_policy = _dtype_policies.get(dtype)
        self.autocast = bool(autocast)
        owner = type(self).__name__
        if batch_input_shape is not None:
            batch_input_shape = _arg_checks.check_shape(
                batch_input_shape, "batch_input_shape", owner
            )
            if not batch_input_shape:
                raise ValueError(
                    f"{owner}(batch_input_shape=...) must start with the batch size. "
                    "Received: batch_input_shape=()."
                )
            batch_size = batch_input_shape[0]
            input_shape = tuple(batch_input_shape[1:])
        if input_dim is not None and input_shape is None:
            input_shape = (_arg_checks.check_int(input_dim, "input_dim", owner, minimum=1),)
        if input_shape is not None:
            if _arg_checks.is_int(input_shape):
                input_shape = (input_shape,)
            input_shape = _arg_checks.check_shape(input_shape, "input_shape", owner)
        if batch_size is not None:
            batch_size = _arg_checks.check_int(batch_size, "batch_size", owner, minimum=0)
        self._input_shape_arg = input_shape
        self._batch_size_arg = batch_size
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        _remat.note_remat_mode(self)  # Keras keeps the RematScope open at construction

    # Defaults for objects that are layers without running ``Layer.__init__`` (models).
    _auto_config: dict | None = None
    _auto_config_error_args = False
    _input_shape_arg = None
    _batch_size_arg = None
    activity_regularizer = None
    autocast = True
    #: True for a Keras-style layer: it overrides ``call`` and gets ``init``/``apply`` by tracing.
    _traced = False
    #: Whether the layer draws random numbers in inference too (then every inference call
    #: gets a fresh key): a built-in random layer whose subclass calls it with
    #: ``training=True`` (:mod:`lamina.layers.call_override`).
    rng_in_inference = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _legacy_args.install(cls)  # Keras 1/2 argument spellings, one table for all layers
        if "init" in cls.__dict__:  # weights made in the layer's name scope (their paths)
            cls.init = _scopes.scoped_init(cls.__dict__["init"])
        module = getattr(cls, "__module__", None) or ""  # exec() code may define no module
        if module.startswith("lamina.") and "get_config" not in cls.__dict__:
            if getattr(cls.get_config, "_is_default", False):
                # A built-in layer without arguments of its own (Add, Identity): Keras's
                # config is the base one, not the automatic config of user layers.
                cls.get_config = Layer._base_config  # type: ignore[method-assign]
        if (
            cls.call is not Layer.call
            and cls.apply is not Layer.apply
            and "apply" not in cls.__dict__
            and not getattr(cls, "_is_model", False)
        ):
            # A user subclass of a built-in layer overriding ``call`` (Keras's MC dropout).
            from lamina.layers import call_override

            call_override.install(cls)
        if cls.call is not Layer.call and cls.apply is Layer.apply:
            cls._traced = True
            if "uses_mask" not in cls.__dict__:
                # Keras passes the inputs' mask to ``call(..., mask=)``; and even to a ``call``
                # without one, the mask rides on the input tensor to the layers it calls.
                cls.uses_mask = True
            if "uses_rng" not in cls.__dict__:
                from lamina.layers.tracing import SubLayerRng

                cls.uses_rng = SubLayerRng()

    def __setattr__(self, name, value):
        _activation_sublayer.check_activation_attribute(self, name, value)
        # Keras orders ``layer.weights`` by when each sub-layer was tracked: note the time.
        _tracking_order.note(self, name, value)
        super().__setattr__(name, value)

    # ----------------------------------------------------------------- the pure core
    @_scopes.scoped_init
    def init(self, key, input_shape: Shape) -> tuple[dict, dict]:
        """Builds ``(params, state)`` for inputs of ``input_shape`` (batch dim included)."""
        if self._traced:
            from lamina.layers.tracing import traced_init

            return traced_init(self, key, input_shape)
        params, state = {}, {}
        if self.weight_specs:
            params, state = _weight_specs.create_weights(self, key, input_shape)
        # ``Dense(8, activation=PReLU())``: the activation layer's weights, as Keras tracks it
        return _activation_sublayer.init_activation(self, key, input_shape, params, state)

    def apply(self, params: dict, state: dict, x, *, training: bool = False, key=None, **kwargs):
        """Runs the layer: returns ``(outputs, new_state)``."""
        if self._traced:
            from lamina.layers.tracing import traced_apply

            return traced_apply(self, params, state, x, training=training, key=key, **kwargs)
        raise NotImplementedError(
            f"{type(self).__name__} defines neither call(inputs) (Keras style: build() + "
            "add_weight() + call()) nor apply(params, state, x, *, training, key) (Lamina's "
            "pure protocol). Implement one of them."
        )

    def call(self, inputs, *args, **kwargs):
        """The forward pass, written Keras's way (override it; see :meth:`add_weight`).

        In a user subclass of a built-in layer, ``super().call(inputs, ...)`` from the
        overriding ``call`` runs the built-in computation
        (:mod:`lamina.layers.call_override`)."""
        from lamina.layers.call_override import _NOT_HERE, builtin_call

        if not args:
            out = builtin_call(self, inputs, kwargs)
            if out is not _NOT_HERE:
                return out
        raise NotImplementedError(f"{type(self).__name__}.call")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self._traced:
            from lamina.layers.symbolic import call_dtypes, traced_output_shape

            # Tracing call() costs milliseconds and the engine asks on every predict: keep
            # each input shape's (and dtype's) answer; a layer's config does not change after
            # it is built.
            cache = vars(self).setdefault("_output_shape_cache", {})
            n = len(input_shape) if isinstance(input_shape, list) else 1
            key = (freeze(input_shape), call_dtypes(n))
            if key not in cache:
                cache[key] = traced_output_shape(self, input_shape)
            return cache[key]
        return tuple(input_shape)

    def compute_mask(self, x, mask):
        """The mask passed on to the next layer (Keras's ``compute_mask``): the input's when
        the layer :attr:`supports_masking`, else none (Keras 3 drops it there)."""
        return mask if self.supports_masking else None

    @property
    def supports_masking(self) -> bool:
        """Whether the layer passes its input's mask on, as in Keras 3: the layers Keras marks
        (``Dense``, activations, dropouts, normalizations, merges, recurrent layers, ...), any
        layer with its own ``compute_mask``, or one that sets ``self.supports_masking = True``;
        others (convolutions, pooling, ``Flatten``, ``Reshape``, a plain custom layer) drop it."""
        value = self.__dict__.get("_supports_masking")
        if value is not None:
            return value
        for cls in type(self).__mro__:
            if cls is Layer:
                break
            if cls.__module__.startswith("lamina.") and cls.__name__ in _MASKING_LAYERS:
                return True
            if "compute_mask" in cls.__dict__:
                return True
        return False

    @supports_masking.setter
    def supports_masking(self, value) -> None:
        self.__dict__["_supports_masking"] = bool(value)

    def expected_rank(self) -> tuple[int, ...] | None:
        """Input ranks (batch dim included) this layer accepts, or None for any rank."""
        return None

    def regularization_loss(self, params: dict):
        """Sum of the weight regularizers' penalties for this layer's ``params`` (a Keras-style
        layer's sub-layers' too: their weights sit under ``<attribute>/``)."""
        total = jnp.zeros((), jnp.float32)
        for attr, reg in self._weight_regularizers().items():
            if reg is not None and attr in params:
                total = total + reg(params[attr])
        for path, sub in self._sub_layer_weights(params):
            total = total + sub.regularization_loss(sub_params(params, path))
        return total

    def apply_constraints(self, params: dict) -> dict:
        """Projects ``params`` after an optimizer step, as Keras applies ``constraint``s (to a
        Keras-style layer's sub-layers' weights too)."""
        cons = self._weight_constraints()
        out = params
        if any(c is not None for c in cons.values()):
            out = {k: (cons[k](v) if cons.get(k) is not None else v) for k, v in params.items()}
        for path, sub in self._sub_layer_weights(params):
            inner = sub_params(params, path)
            new = sub.apply_constraints(inner)
            if new is not inner:
                out = {**out, **{f"{path}/{k}": v for k, v in new.items()}}
        return out

    def _sub_layer_weights(self, params: dict) -> list:
        """``[(path, sub-layer)]`` of a Keras-style layer's sub-layers holding weights in
        ``params`` (for a built-in layer, the layer it holds as its activation)."""
        if not self._traced:
            return _activation_sublayer.sub_layers(self, params)
        if not any("/" in k for k in params):
            return []
        from lamina.layers.tracing import tracked_layers

        return [(path, sub) for path, sub in tracked_layers(self) if sub_params(params, path)]

    def _weight_regularizers(self) -> dict:
        """Maps a weight name to its regularizer: the declared weights' (``weight_specs``),
        then those of ``add_weight(regularizer=...)``."""
        found = _weight_specs.weight_options(self, "regularizer")
        found.update(
            (k, r) for k, r in KerasLayerAPI._weight_regularizers(self).items() if r is not None
        )
        return found

    def _weight_constraints(self) -> dict:
        """Maps a weight name to its constraint: the declared weights' (``weight_specs``),
        then those of ``add_weight(constraint=...)``."""
        found = _weight_specs.weight_options(self, "constraint")
        found.update(
            (k, c) for k, c in KerasLayerAPI._weight_constraints(self).items() if c is not None
        )
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def sub_params(params: dict, path: str) -> dict:
    """The entries of ``params`` under ``path/``, the prefix removed."""
    cut = len(path) + 1
    return {k[cut:]: v for k, v in params.items() if k.startswith(path + "/")}


def check_rank(layer: Layer, input_shape: Shape) -> None:
    """Raises a ValueError naming the layer when ``input_shape`` has a rank it cannot take."""
    ranks = layer.expected_rank()
    if ranks is None or len(input_shape) in ranks:
        return
    want = " or ".join(str(r) for r in ranks)
    sample = tuple(input_shape[1:])
    fix = (
        "add a Flatten() layer before it"
        if len(input_shape) > max(ranks)
        else f"add a Reshape(...) layer before it (e.g. Reshape({sample + (1,) * (min(ranks) - len(input_shape))}))"
    )
    raise ValueError(
        f"Layer {layer.name!r} ({type(layer).__name__}) expects inputs of rank {want} "
        f"(batch dimension included), but received inputs of shape {tuple(input_shape)} "
        f"(rank {len(input_shape)}). To fix it, {fix}, or give data of the expected rank."
    )
