"""EinsumDense: a dense layer whose contraction is an einsum equation (as ``keras.layers``)."""

from __future__ import annotations

import re
from typing import Any

import jax.numpy as jnp

from lamina import activations as _activations
from lamina import constraints as _constraints
from lamina import initializers as _initializers
from lamina import regularizers as _regularizers
from lamina.layers.activation_sublayer import activate, init_activation
from lamina.layers.base import Layer
from lamina.layers.einsum_fans import einsum_fan_initializer
from lamina.layers.lora import LoraMixin, lora_config, lora_options, merged
from lamina.layers.quantized import EinsumQuantizeMixin, einsum_call
from lamina.quantization_configs import deserialize_config, serialize_config
from lamina.utils import random as _random


def analyze_einsum(equation: str, bias_axes, input_shape, output_shape):
    """Kernel shape, bias shape and full output shape of an EinsumDense, as Keras derives them.

    Equations have the forms ``ab,bc->ac``, ``...ab,bc->...ac`` or ``ab...,bc->ac...``.

    Returns:
        ``(kernel_shape, bias_shape or None, full_output_shape)``.

    Raises:
        ValueError: for an equation of another form or shapes that do not fit it.
    """
    dotted = re.sub(r"\.\.\.", "0", equation.replace(" ", ""))
    forms = (
        ("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", False),
        ("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", True),
        ("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", False),
    )
    for pattern, left in forms:
        match = re.match(pattern, dotted)
        if match:
            return _analyze(match.groups(), bias_axes, tuple(input_shape), output_shape, left)
    raise ValueError(
        f"Invalid einsum equation {equation!r}. EinsumDense equations must be in the form "
        "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]..., e.g. 'ab,bc->ac'."
    )


def _analyze(specs, bias_axes, input_shape, output_shape, left_elided):
    input_spec, weight_spec, output_spec = specs
    elided = len(input_shape) - len(input_spec)
    out = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    out.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        out[1:1] = input_shape[1:elided]  # in order (Keras 3.15 reverses 2+ elided axes)
    elif elided > 0:
        out.extend(input_shape[len(input_shape) - elided :])
    if left_elided:
        in_map = {d: i + elided - len(input_shape) for i, d in enumerate(input_spec)}
        out_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        in_map = {d: i for i, d in enumerate(input_spec)}
        out_map = {d: i for i, d in enumerate(output_spec)}
    if len(out) != len(output_spec) + max(elided, 0):
        raise ValueError(
            f"EinsumDense output_shape={output_shape!r} does not fit the equation's output "
            f"{output_spec!r}: give one size per output axis after the batch axis."
        )
    for d in input_spec:
        if d in out_map and out[out_map[d]] is not None and out[out_map[d]] != input_shape[in_map[d]]:
            raise ValueError(
                f"Input shape and output shape do not match at shared dimension {d!r}. Input "
                f"shape is {input_shape[in_map[d]]}, and output shape is {out[out_map[d]]}."
            )
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise ValueError(
                f"Dimension {d!r} was specified in the output {output_spec!r} but has no "
                f"corresponding dim in the input spec {input_spec!r} or weight spec "
                f"{weight_spec!r}."
            )
    for d in output_spec:  # an output axis shared with the input has the input's size
        if d in in_map and out[out_map[d]] is None:
            out[out_map[d]] = input_shape[in_map[d]]
    kernel = []
    for d in weight_spec:
        if d in out_map:
            kernel.append(out[out_map[d]])
        elif d in in_map:
            kernel.append(input_shape[in_map[d]])
        else:
            raise ValueError(
                f"Weight dimension {d!r} did not have a match in either the input spec "
                f"{input_spec!r} or the output spec {output_spec!r}. For this layer, the "
                "weight must be fully specified."
            )
    bias = None
    if bias_axes:
        for c in bias_axes:
            if c not in output_spec:
                raise ValueError(
                    f"Bias dimension {c!r} was requested, but is not part of the output "
                    f"spec {output_spec!r}."
                )
        offset = elided if left_elided else 0
        sizes = {c: out[i + offset] for i, c in enumerate(output_spec)}
        first = min(output_spec.find(c) for c in bias_axes)
        bias = [sizes[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias.extend([1] * max(elided, 0))
    return kernel, bias, out


class EinsumDense(EinsumQuantizeMixin, LoraMixin, Layer):
    """A dense layer computed by ``einsum(equation, inputs, kernel) + bias`` (Keras's layer).

    Args:
        equation: ``"ab,bc->ac"``-style equation: input, kernel -> output; ``...`` stands for
            axes passed through unchanged.
        output_shape: sizes of the output axes after the batch axis (``None`` for an axis
            taken from the input); an int for one axis.
        activation: activation applied to the output.
        bias_axes: letters of the output axes that get a bias (``None``: no bias).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as for :class:`Dense`.
        lora_rank, lora_alpha: LoRA from the start (see :mod:`lamina.layers.lora`).

    >>> import numpy as np
    >>> from lamina.layers import EinsumDense
    >>> layer = EinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de")
    >>> layer(np.ones((3, 5, 8), "float32")).shape
    (3, 5, 2, 4)
    """

    _activation_sublayer = True  # ``activation=PReLU()``: see ``activation_sublayer``

    def __init__(
        self,
        equation,
        output_shape,
        activation=None,
        bias_axes=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs: Any,
    ):
        lora = kwargs.pop("lora_rank", None), kwargs.pop("lora_alpha", None)
        quantization_config = kwargs.pop("quantization_config", None)
        kwargs.pop("gptq_unpacked_column_size", None)
        super().__init__(**kwargs)
        # Kept as Keras does (allow-listed classes only); its int4 block size wins at build.
        self.quantization_config = deserialize_config(quantization_config)
        self._lora_setup(*lora)
        if not isinstance(equation, str):
            raise TypeError(f"EinsumDense(equation=...) must be a string; received {equation!r}.")
        self.equation = equation
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        self.partial_output_shape = tuple(output_shape)
        self.bias_axes = bias_axes or None
        self.activation = _activations.get(activation)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)

    def _shapes(self, input_shape):
        return analyze_einsum(self.equation, self.bias_axes, input_shape, self.partial_output_shape)

    def init(self, key, input_shape):
        kernel_shape, bias_shape, _ = self._shapes(input_shape)
        if any(d is None for d in kernel_shape):
            raise ValueError(
                f"EinsumDense {self.name!r}: the kernel shape {tuple(kernel_shape)} has an "
                f"unknown size for inputs of shape {tuple(input_shape)}; give the sizes in "
                "output_shape or inputs with known feature sizes."
            )
        kkey, bkey = _random.split(key)
        kernel_init = einsum_fan_initializer(  # Keras 3's fans: the einsum's axes
            _initializers.or_default(self.kernel_initializer), self.equation
        )
        params = {"kernel": kernel_init(tuple(kernel_shape), jnp.float32, key=kkey)}
        if bias_shape is not None:
            params["bias"] = _initializers.or_default(self.bias_initializer)(tuple(bias_shape), jnp.float32, key=bkey)
        self.__dict__["_input_ndim"] = len(input_shape)  # the int8 scales' layout needs it
        built = self._lora_layout(*init_activation(self, key, input_shape, params, {}))
        return self._quantized_layout(*built, input_shape)

    def apply(self, params, state, x, *, training=False, key=None):
        if self.quantization_mode:  # model.quantize("int8")
            return einsum_call(self, params, state, x, training=training)
        params = merged(self, params, state)
        y = jnp.einsum(self.equation, x, params["kernel"])
        if "bias" in params:
            b = params["bias"]
            y = y + jnp.reshape(b, (1,) * (y.ndim - b.ndim) + b.shape)
        return activate(self, params, state, y, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(self._shapes(input_shape)[2])

    def _weight_regularizers(self):
        return lora_options(
            self, {"kernel": self.kernel_regularizer, "bias": self.bias_regularizer}
        )

    def _weight_constraints(self):
        return {"kernel": self.kernel_constraint, "bias": self.bias_constraint}

    def get_config(self):
        config = super().get_config()
        config.update(
            output_shape=self.partial_output_shape,  # Keras: always a tuple
            equation=self.equation,
            activation=_activations.serialize(self.activation),
            bias_axes=self.bias_axes,
            kernel_initializer=_initializers.serialize(self.kernel_initializer),
            bias_initializer=_initializers.serialize(self.bias_initializer),
            kernel_regularizer=_ser(_regularizers.serialize, self.kernel_regularizer),
            bias_regularizer=_ser(_regularizers.serialize, self.bias_regularizer),
            activity_regularizer=_ser(_regularizers.serialize, self.activity_regularizer),
            kernel_constraint=_ser(_constraints.serialize, self.kernel_constraint),
            bias_constraint=_ser(_constraints.serialize, self.bias_constraint),
            # set by quantize(), as Keras's; None otherwise (Keras's value when unset)
            quantization_config=serialize_config(self.__dict__.get("quantization_config")),
        )
        return lora_config(self, config)


def _ser(fn, obj):
    return None if obj is None else fn(obj)
