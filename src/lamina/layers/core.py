"""The core layers of the seed's models: Input, Dense, Activation, Dropout, Flatten, Reshape."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina._unsupported import layer_module_getattr as _layer_module_getattr
from lamina.layers import arg_checks as _checks
from lamina.layers.activation_sublayer import activate
from lamina.layers.base import Layer
from lamina.layers.config import derived_config
from lamina.layers.dtype_names import dtype_name
from lamina.layers.input_args import check_dense_input
from lamina.layers.lora import LoraMixin, lora_config, merged
from lamina.layers.quantized import DenseQuantizeMixin, dense_call
from lamina.layers.seed_state import generator_state, next_seed, uses_step_key
from lamina.layers.weight_specs import WeightSpec
from lamina.quantization_configs import deserialize_config, serialize_config
from lamina.utils.random import generator_seed


class InputLayer(Layer):
    """Declares the shape of one sample; created by :func:`Input`.

    Args:
        shape: shape of one sample, without the batch dimension.
        batch_size: optional fixed batch size.
        dtype: the input's dtype (``"float32"`` by default); ``"string"`` makes the model's
            first string layers run on the host (:mod:`lamina.models.host_prefix`).
    """

    def __init__(
        self, shape=None, batch_size=None, name=None, dtype=None, sparse=None, ragged=None,
        optional=False, **kwargs,
    ):  # fmt: skip
        check_dense_input(sparse=sparse, ragged=ragged, optional=optional)
        if kwargs.get("input_tensor") is not None:
            raise ValueError(
                "InputLayer(input_tensor=...) is not supported by Lamina: it builds models "
                "from Input() tensors only. Pass shape= (and dtype=) instead."
            )
        kwargs.pop("input_tensor", None)
        if shape is None and "batch_shape" in kwargs:
            batch_shape = kwargs.pop("batch_shape")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if shape is None:
            raise ValueError(
                "Input() needs shape=, the shape of one sample, e.g. Input(shape=(8,))."
            )
        super().__init__(name=name, input_shape=shape, batch_size=batch_size, **kwargs)
        self.shape = self._input_shape_arg
        if dtype is not None:
            self._input_dtype = dtype_name(dtype)

    def apply(self, params, state, x, *, training=False, key=None):
        return x, state

    def get_config(self):
        return {
            "batch_shape": (self._batch_size_arg, *self.shape),
            "dtype": getattr(self, "_input_dtype", None) or "float32",
            "sparse": False,
            "ragged": False,
            "name": self.name,
            "optional": False,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        batch_shape = config.pop("batch_shape", None) or config.pop("batch_input_shape", None)
        if isinstance(batch_shape, str | bytes | dict) or not batch_shape:
            raise ValueError(
                "An InputLayer config needs 'batch_shape': the input's shape, batch size first "
                f"(e.g. [null, 8]). Received: batch_shape={batch_shape!r}."
            )
        dtype = config.pop("dtype", None)
        if isinstance(dtype, dict):  # a Keras DTypePolicy config
            dtype = dtype.get("config", {}).get("name")
        if dtype is not None and not _is_string_name(dtype):
            try:
                dtype = dtype_name(dtype)
            except TypeError:  # bfloat16 without ml_dtypes: fed as float32
                dtype = None
        for k in ("sparse", "ragged", "optional"):
            config.pop(k, None)
        config["dtype"] = dtype
        return cls(shape=tuple(batch_shape[1:]), batch_size=batch_shape[0], **config)


def _is_string_name(dtype) -> bool:
    try:
        return dtype_name(dtype) == "string"
    except TypeError:  # a dtype NumPy does not know (bfloat16 without ml_dtypes): numeric
        return False


def Input(shape=None, batch_size=None, dtype=None, name=None, **kwargs) -> InputLayer:  # noqa: N802
    """Declares a model's input shape, as ``keras.Input``; add it first to a ``Sequential``.

    >>> from lamina.layers import Input, Dense
    >>> from lamina.models import Sequential
    >>> model = Sequential([Input((8,)), Dense(1)])
    >>> model.output_shape
    (None, 1)
    """
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype, **kwargs)


@derived_config
class Dense(DenseQuantizeMixin, LoraMixin, Layer):
    """A densely connected layer: ``activation(x @ kernel + bias)``.

    Args:
        units: output dimension.
        activation: name or function; ``None`` is linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: names or initializer objects.
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: constraints applied after each update.
        quantization_config: accepted for Keras 3 compatibility (the config holds ``None``);
            ``quantize("int8")`` quantizes with Keras's defaults (:mod:`lamina.layers.quantized`).
        lora_rank, lora_alpha: LoRA from the start (see :meth:`enable_lora`,
            :mod:`lamina.layers.lora`).

    Keras 1/2 spellings (``output_dim``, ``init``, ``W_regularizer``, ``bias`` ...) are
    translated by :mod:`lamina.layers.legacy_args`.

    >>> import numpy as np
    >>> from lamina.layers import Dense
    >>> import jax
    >>> layer = Dense(3, activation="relu")
    >>> params, state = layer.init(jax.random.key(0), (None, 4))
    >>> [tuple(w.shape) for w in params.values()]
    [(4, 3), (3,)]
    >>> y, _ = layer.apply(params, state, np.ones((2, 4), "float32"))
    >>> tuple(y.shape)
    (2, 3)
    """

    weight_specs = (
        WeightSpec("kernel", lambda layer, shape: (shape[-1], layer.units)),
        WeightSpec("bias", lambda layer, shape: (layer.units,), when="use_bias"),
    )
    _activation_sublayer = True  # ``activation=PReLU()``: see ``activation_sublayer``
    _lora_build_resets_alpha = True

    def __init__(
        self,
        units=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        quantization_config=None,
        **kwargs: Any,
    ):
        self._lora_setup(kwargs.pop("lora_rank", None), kwargs.pop("lora_alpha", None))
        # Kept as Keras does (allow-listed classes only); its int4 block size wins at build.
        self.quantization_config = deserialize_config(quantization_config)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if (
            units is None
            or isinstance(units, bool)
            or not isinstance(units, int | jnp.integer)
            or units < 1
        ):
            raise ValueError(
                f"Dense(units=...) must be a positive integer, the layer's output size. "
                f"Received: units={units!r}."
            )
        self.units = int(units)
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)

    def expected_rank(self):
        return None  # Dense applies to the last axis of inputs of any rank >= 2

    def init(self, key, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"Layer {self.name!r} (Dense) expects inputs with a batch dimension and at least "
                f"one feature dimension, but received shape {tuple(input_shape)}."
            )
        built = self._lora_layout(*super().init(key, input_shape))  # the declared weight_specs
        return self._quantized_layout(*built, input_shape)

    def apply(self, params, state, x, *, training=False, key=None):
        if self.quantization_mode:  # model.quantize("int8")
            return dense_call(self, params, state, x, training=training)
        params = merged(self, params, state)
        y = jnp.matmul(x, params["kernel"])
        if self.use_bias:
            y = y + jnp.reshape(params["bias"], (1,) * (y.ndim - 1) + (-1,))
        return activate(self, params, state, y, training=training)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self):
        config = self._derived_config()
        config["quantization_config"] = serialize_config(self.quantization_config)
        return lora_config(self, config)  # Keras adds LoRA's keys when set


@derived_config
class Activation(Layer):
    """Applies an activation function: ``Activation('relu')``.

    >>> import numpy as np
    >>> from lamina.layers import Activation
    >>> y, _ = Activation("relu").apply({}, {}, np.array([[-1.0, 2.0]], "float32"))
    >>> y.tolist()
    [[0.0, 2.0]]
    """

    _activation_sublayer = True  # ``Activation(PReLU())``: see ``activation_sublayer``

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)

    def apply(self, params, state, x, *, training=False, key=None):
        return activate(self, params, state, x, training=training)


@derived_config
class Dropout(Layer):
    """Randomly sets a fraction ``rate`` of inputs to 0 during training only.

    Kept inputs are scaled by ``1 / (1 - rate)`` so the expected sum is unchanged; at inference
    the layer is the identity.  As Keras's, the layer draws its masks from its own seed
    generator: the raw key ``[seed, k]``, ``k`` counting its training calls (kept in the layer's
    non-trainable state, not among its weights), so a fit draws Keras's masks.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        noise_shape: optional shape of the binary mask (``None`` entries take the input's size).
        seed: the generator's seed; when None, one drawn from Python's ``random`` at
            construction, as Keras does (reproducible after ``set_random_seed``).

    >>> import numpy as np
    >>> layer = Dropout(0.5, seed=1)
    >>> x = np.ones((2, 4), "float32")
    >>> first, second = layer(x, training=True), layer(x, training=True)
    >>> bool((np.asarray(first) != np.asarray(second)).any())  # k advanced between the calls
    True
    >>> np.asarray(layer(x)).tolist()  # inference: the identity
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """

    uses_rng = uses_step_key

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ValueError(
                f"Dropout(rate=...) must be a number in [0, 1), the fraction of inputs to drop. "
                f"Received: rate={rate!r}."
            )
        self.rate = float(rate)
        self.noise_shape = (
            None
            if noise_shape is None
            else _checks.check_shape(noise_shape, "noise_shape", "Dropout")
        )
        self.seed = seed
        self._generator_seed = generator_seed(seed, self.rate > 0)

    def init(self, key, input_shape):
        return {}, generator_state(self)

    def apply(self, params, state, x, *, training=False, key=None):
        if not training or self.rate == 0.0:
            return x, state
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for s, n in zip(x.shape, self.noise_shape))
        seed, state = next_seed(state, key)
        if seed is None:  # a state made by hand, and no key: nothing to draw from
            return x, state
        keep = jax.random.bernoulli(seed, 1.0 - self.rate, shape)
        keep = jnp.broadcast_to(keep, x.shape)
        return jax.lax.select(keep, x / (1.0 - self.rate), jnp.zeros_like(x)), state


@derived_config
class Flatten(Layer):
    """Flattens each sample to one dimension: ``(batch, a, b) -> (batch, a * b)``."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format is None:  # Keras's global default (``set_image_data_format``)
            from lamina.backend.config import image_data_format

            data_format = image_data_format()
        if isinstance(data_format, str):
            data_format = data_format.lower()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "Flatten(data_format=...) must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}."
            )
        self.data_format = data_format

    def apply(self, params, state, x, *, training=False, key=None):
        return jnp.reshape(x, (x.shape[0], -1)), state

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)


@derived_config
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1).

    >>> from lamina.layers import Reshape
    >>> Reshape((2, -1)).compute_output_shape((None, 6))
    (None, 2, 3)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _checks.check_int_items(
            target_shape, "target_shape", "Reshape", "a tuple of integers (one may be -1)"
        )
        if any(d < -1 for d in self.target_shape):
            raise ValueError(
                "Reshape(target_shape=...) dimensions must be non-negative integers, or -1 for "
                f"the one inferred. Received: {self.target_shape}."
            )
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(
                f"Reshape(target_shape=...) may hold at most one -1. Received: {self.target_shape}."
            )

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        size = math.prod(rest)
        known = math.prod(d for d in self.target_shape if d != -1)
        target = self.target_shape
        if -1 in target:
            if known == 0 or size % known:
                raise self._mismatch(input_shape)
            target = tuple(size // known if d == -1 else d for d in target)
        elif known != size:
            raise self._mismatch(input_shape)
        return (input_shape[0], *target)

    def _mismatch(self, input_shape):
        return ValueError(
            f"Layer {self.name!r} (Reshape) cannot reshape samples of shape "
            f"{tuple(input_shape[1:])} ({math.prod(input_shape[1:])} values) to "
            f"{self.target_shape}: the number of values must stay the same."
        )

    def apply(self, params, state, x, *, training=False, key=None):
        out = self.compute_output_shape((None, *x.shape[1:]))
        return jnp.reshape(x, (x.shape[0], *out[1:])), state


# Keras 2's keras.layers.core re-exported more layers; scripts import them from here.
__getattr__ = _layer_module_getattr("core")
