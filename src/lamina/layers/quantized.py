"""Keras 3's int8 post-training quantization of ``Dense``, ``EinsumDense`` and ``Embedding``
(``layer.quantize("int8")``, ``model.quantize("int8")``).

Quantizing a built layer replaces its float kernel (``embeddings``) by an int8 one and a float
scale per output channel (per row of ``embeddings``), with Keras's abs-max quantizer
(:func:`lamina.quantizers.abs_max_quantize`), and gives the layer the dtype policy
``"int8_from_<its policy>"`` (:class:`lamina.dtype_policies.QuantizedDTypePolicy`).

In Lamina's layout the int8 kernel and its scale are non-trainable ``state``, as Keras's
variables are (``kernel``, ``kernel_scale``); the bias stays trainable.  ``Dense`` and
``EinsumDense`` quantize their inputs per token at each call (abs-max over the contracted
axes), multiply int8 by int8 into int32 and divide by both scales, as Keras's ``_int8_call``;
the gradient with respect to the inputs goes through the dequantized kernel (Keras's custom
gradient), so the layers before a quantized one still train.  ``.weights.h5`` files hold
Keras's order (``kernel, bias, kernel_scale``); a layer made from a config whose ``dtype`` is a
quantized policy is built in this layout, so Keras's quantized ``.keras`` files load.
Mode ``"int4"`` (packed int4 kernels, grouped or per-channel scales) is
:mod:`lamina.layers.quantized_int4`, reached through the same ``quantize`` and calls.

>>> import numpy as np
>>> from lamina.layers import Dense
>>> layer = Dense(3)
>>> layer.build((None, 4))
>>> layer.quantize("int8")
>>> [(w.name, str(w.dtype), w.trainable) for w in layer.weights]  # doctest: +NORMALIZE_WHITESPACE
[('bias', 'float32', True), ('kernel', 'int8', False), ('kernel_scale', 'float32', False)]
>>> layer.dtype_policy
<QuantizedDTypePolicy "int8_from_float32">
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina import quantized_policy as _policy
from lamina.layers import einsum_quant as _eq
from lamina.layers import quantized_int4 as _int4
from lamina.layers.activation_sublayer import activate
from lamina.quantizers import abs_max_quantize


class QuantizeMixin:
    """``quantize(mode)`` and the int8 layout for a layer with one main weight; the layer
    declares ``_quant_names`` (main weight, scale) and ``_quant_file_order`` (Keras's
    ``variable_serialization_spec["int8"]``)."""

    _quant_names = ("kernel", "kernel_scale")
    _quant_file_order = ("kernel", "bias", "kernel_scale")

    @property
    def quantization_mode(self):
        """The layer's quantization mode (``"int8"``), ``None`` when not quantized."""
        return getattr(self.dtype_policy, "quantization_mode", None)

    def quantize(self, mode=None, type_check=True, config=None):
        """Quantizes the built layer's weights in place (Keras 3's post-training ``"int8"``).

        Args:
            mode: ``"int8"`` or ``"int4"`` (:mod:`lamina.layers.quantized_int4`); Keras's
                other modes raise ``NotImplementedError``.
            type_check: refuse subclasses of the built-in layer, as Keras does.
            config: an ``Int4QuantizationConfig`` (int4's block size) or Keras's default
                ``Int8QuantizationConfig()`` (a mode string here is read as ``mode``); kept
                as the layer's ``quantization_config``.

        Raises:
            ValueError: an unknown mode, no mode, the layer not built, already quantized, a
                float16 compute dtype, or LoRA enabled.
            NotImplementedError: a subclass (with ``type_check``), another quantization
                config, or a Keras mode Lamina does not implement.

        >>> from lamina.layers import Embedding
        >>> emb = Embedding(10, 4)
        >>> emb.build()
        >>> emb.quantize("int8")
        >>> [(w.name, w.shape) for w in emb.weights]
        [('embeddings', (10, 4)), ('embeddings_scale', (10,))]
        """
        if isinstance(config, str):
            mode, config = config, None
        if mode is not None and mode not in _policy.QUANTIZATION_MODES:
            _policy.check_mode(mode)
        mode, config = _int4.resolve_config(mode, config)  # int4: Keras's default config
        if mode == "int4":
            check_quantizable(self, mode)
            if type_check and type(self) not in _builtin_classes():
                raise NotImplementedError(
                    f"Layer {type(self).__name__} does not have a `quantize` method implemented."
                )
            return _int4.quantize_layer(self, config)
        if mode is None and config is None:
            raise ValueError("You must provide either `mode` or `config` to `quantize`.")
        from lamina.quantization_configs import Int8QuantizationConfig

        if not isinstance(config, Int8QuantizationConfig):
            raise NotImplementedError(
                f"{type(self).__name__}.quantize(config=...) is not supported by Lamina "
                "beyond Int8QuantizationConfig() and Int4QuantizationConfig. Received: "
                f"config={config!r}; call quantize('int8') instead."
            )
        check_quantizable(self, mode)
        if type_check and type(self) not in _builtin_classes():
            raise NotImplementedError(
                f"Layer {type(self).__name__} does not have a `quantize` method implemented."
            )
        _policy.check_mode(mode)
        params, _, _ = self._weights_source()
        value, scale = self._quantize_main(np.asarray(jax.device_get(params[self._quant_names[0]])))
        _relayout(self, value, scale)
        self._dtype_policy = _policy.QuantizedDTypePolicy(mode, self.dtype_policy.name)
        self.quantization_config = config  # Keras's get_config entry

    # ----------------------------------------------------------------- hooks
    def _quantized_layout(self, params: dict, state: dict, input_shape=None) -> tuple:
        """A freshly built layer's weights in the int8 layout (a layer made with a quantized
        dtype policy, as a loaded quantized model's): zeros and ones, as Keras's build."""
        if self.quantization_mode is None:
            return params, state
        if self.quantization_mode not in ("int8", "int4"):
            _policy.check_mode(self.quantization_mode)
        if self.lora_rank:
            raise _lora_error(self)
        if self.quantization_mode == "int4":
            return _int4.layout(self, params, state, input_shape)
        main, scale_name = self._quant_names
        params = dict(params)
        kernel = params.pop(main)
        scale_shape = self._scale_shape(tuple(kernel.shape), input_shape)
        own = {
            main: jnp.zeros(kernel.shape, jnp.int8),
            scale_name: jnp.ones(scale_shape, jnp.float32),
        }
        return params, {**own, **state}

    def __getattr__(self, name):
        # Keras's ``layer.kernel`` (``embeddings``) of an int4 layer is the unpacked kernel.
        policy = self.__dict__.get("_dtype_policy")
        if name == self._quant_names[0] and getattr(policy, "quantization_mode", None) == "int4":
            return _int4.unpacked_main(self)
        return super().__getattr__(name)

    def enable_lora(self, *args, **kwargs):
        if self.quantization_mode is not None:
            raise _lora_error(self)
        return super().enable_lora(*args, **kwargs)

    def _keras_file_keys(self, keys: list) -> list:
        """The layer's file entries in Keras's int8 order (``kernel, bias, kernel_scale``)."""
        if self.quantization_mode is None:
            return super()._keras_file_keys(keys)
        order = _int4.file_order(self) if self.quantization_mode == "int4" else None
        rank = {name: i for i, name in enumerate(order or self._quant_file_order)}
        own = [kk for kk in keys if kk[1] in rank]
        own.sort(key=lambda kk: rank[kk[1]])
        return own + [kk for kk in keys if kk[1] not in rank]

    def _check_file_arrays(self, arrays: dict) -> None:
        """Refuses a file's int4 arrays that would load silently wrong (called by the
        weights loader with the layer's arrays by name, shapes already checked)."""
        if self.quantization_mode == "int4":
            _int4.check_file_arrays(self, arrays)
        elif self.quantization_mode == "int8":  # Keras's int8 kernels: [-127, 127]
            for name in ("kernel", "embeddings"):
                if name in arrays:
                    a = np.asarray(arrays[name])
                    _int4.check_whole(self, name, a, -128, 127, "int8 values", mode="int8")

    def _scale_shape(self, kernel_shape: tuple, input_shape) -> tuple:
        return (kernel_shape[-1],)


class DenseQuantizeMixin(QuantizeMixin):
    """``Dense``'s int8 quantization."""

    _quantize_main = staticmethod(lambda kernel: quantize_dense_kernel(kernel))


class EinsumQuantizeMixin(QuantizeMixin):
    """``EinsumDense``'s int8 quantization: its scale's layout follows the equation."""

    def _quantize_main(self, kernel):
        ndim = self.__dict__.get("_input_ndim")  # recorded by ``init``
        if ndim is None:
            ndim = len(self.get_build_config()["input_shape"])
        return quantize_einsum_kernel(self.equation, ndim, kernel)

    def _scale_shape(self, kernel_shape: tuple, input_shape) -> tuple:
        return einsum_scale_shape(self.equation, len(input_shape), kernel_shape)


class EmbeddingQuantizeMixin(QuantizeMixin):
    """``Embedding``'s int8 quantization: one scale per row."""

    _quant_names = ("embeddings", "embeddings_scale")
    _quant_file_order = ("embeddings", "embeddings_scale")
    _quantize_main = staticmethod(lambda kernel: quantize_embeddings(kernel))

    def _scale_shape(self, kernel_shape: tuple, input_shape) -> tuple:
        return (kernel_shape[0],)


def _lora_error(layer) -> NotImplementedError:
    return NotImplementedError(
        f"LoRA on the {layer.quantization_mode or 'int8'}-quantized layer '{layer.name}' "
        "(Keras's LoRA fine-tuning of a "
        "quantized model) is not supported by Lamina. Fine-tune with LoRA in float "
        "(enable_lora before quantize is refused too), then quantize the merged model."
    )


def _builtin_classes() -> tuple:
    from lamina.layers.core import Dense
    from lamina.layers.einsum_dense import EinsumDense
    from lamina.layers.embedding import Embedding

    return (Dense, EinsumDense, Embedding)


def check_quantizable(layer, mode) -> None:
    """Keras's ``_check_quantize_args``: built, not yet quantized, no float16; and no LoRA
    (Lamina does not combine the two)."""
    if not layer.built:
        raise ValueError(
            "Cannot quantize a layer that isn't yet built. "
            f"Layer '{layer.name}' (of type '{type(layer).__name__}') is not built yet."
        )
    if getattr(layer, "quantization_mode", None) is not None:
        raise ValueError(
            f"Layer '{layer.name}' is already quantized with "
            f"dtype_policy='{layer.dtype_policy.name}'. Received: mode={mode}"
        )
    if mode == "int8" and layer.compute_dtype == "float16":
        raise ValueError(
            f"Quantization mode='{mode}' doesn't work well with compute_dtype='float16'. "
            "Consider loading model/layer with another dtype policy such as 'mixed_bfloat16' "
            "or 'mixed_float16' before calling `quantize()`."
        )
    if getattr(layer, "lora_rank", None):
        raise ValueError(
            f"Layer '{layer.name}' has LoRA enabled: Lamina does not quantize a LoRA layer "
            "(Keras does); enable_lora after quantize is not supported either. Fine-tune "
            "with LoRA in float, save, and quantize a model loaded without LoRA."
        )


# ------------------------------------------------------------- relayout
def _relayout(layer, value, scale) -> None:
    """Moves the float kernel out of the trainable params and puts the int8 kernel and its
    scale first in the layer's state, where its arrays live."""
    from lamina.models.layer_relayout import relayout

    main, scale_name = layer._quant_names

    def arrays(p, s, prefix):
        p = {k: v for k, v in p.items() if k != prefix + main}
        return p, {prefix + main: value, prefix + scale_name: scale, **s}

    def names(both, prefix):
        p_names = tuple(k for k in both[0] if k != prefix + main)
        return p_names, (prefix + main, prefix + scale_name, *both[1])

    relayout(layer, arrays, names)


# ------------------------------------------------------------- int8 calls
def _bcast(a, ndim: int):
    """``a`` with leading size-1 axes up to ``ndim`` (the suite refuses implicit promotion)."""
    return jnp.reshape(a, (1,) * (ndim - a.ndim) + tuple(a.shape)) if a.ndim < ndim else a


def _zero_cotangent(a):
    if jnp.issubdtype(a.dtype, jnp.integer):
        return np.zeros(a.shape, dtype=jax.dtypes.float0)
    return jnp.zeros_like(a)


def _with_input_gradient(forward, backward):
    """``f(x, kernel, scale)`` computing ``forward`` whose gradient with respect to ``x`` is
    ``backward(upstream, kernel, scale)`` (Keras's ``custom_gradient``); none for the rest."""

    @jax.custom_vjp
    def f(x, kernel, scale):
        return forward(x, kernel, scale)

    def fwd(x, kernel, scale):
        return forward(x, kernel, scale), (kernel, scale)

    def bwd(res, g):
        kernel, scale = res
        return backward(g, kernel, scale), _zero_cotangent(kernel), _zero_cotangent(scale)

    f.defvjp(fwd, bwd)
    return f


def _autocast(layer, state):
    """The scale in the compute dtype: Keras's autocast reads every float variable so, the
    non-trainable scale too (``int8_from_mixed_bfloat16`` divides in bfloat16)."""
    scale = state[layer._quant_names[1]]
    return scale.astype(jnp.dtype(layer.compute_dtype)) if layer.autocast else scale


def dense_call(layer, params, state, x, training=False):
    """Keras's ``Dense._int8_call``: per-token int8 inputs times the int8 kernel, divided by
    both scales, then the bias and the activation."""
    if layer.quantization_mode == "int4":
        return _int4.dense_call(layer, params, state, x, training=training)
    cd = jnp.dtype(layer.compute_dtype)

    def forward(x, kernel, scale):
        q, x_scale = abs_max_quantize(x, axis=-1)
        out_scale = _bcast(scale, x_scale.ndim) * x_scale
        y = jnp.matmul(q, kernel, preferred_element_type=jnp.int32)
        return y.astype(cd) / out_scale

    def backward(g, kernel, scale):
        float_kernel = kernel.astype(cd) / _bcast(scale, 2)
        return jnp.matmul(g, jnp.transpose(float_kernel))

    y = _with_input_gradient(forward, backward)(x, state["kernel"], _autocast(layer, state))
    if layer.use_bias:
        y = y + jnp.reshape(params["bias"], (1,) * (y.ndim - 1) + (-1,))
    return activate(layer, params, state, y, training=training)


def einsum_call(layer, params, state, x, training=False):
    """Keras's ``EinsumDense._int8_call``: the inputs quantized over their contracted axes,
    an int8 einsum, divided by both scales laid out against the output."""
    if layer.quantization_mode == "int4":
        return _int4.einsum_call(layer, params, state, x, training=training)
    cd = jnp.dtype(layer.compute_dtype)
    info = _eq.analyze(layer.equation, x.ndim)

    def forward(x, kernel, scale):
        q, x_scale = abs_max_quantize(x, axis=tuple(info.input_reduced_axes))
        y = jnp.einsum(layer.equation, q, kernel, preferred_element_type=jnp.int32)
        x_scale = _eq.input_scale_for_output(info, x_scale, y.ndim)
        n = max(y.ndim, x_scale.ndim, scale.ndim)
        return _bcast(y.astype(cd), n) / (_bcast(x_scale, n) * _bcast(scale, n))

    def backward(g, kernel, scale):
        float_kernel = kernel.astype(cd) / _bcast(_eq.scale_for_dequant(info, scale), kernel.ndim)
        return jnp.einsum(info.gradient_equation, g, float_kernel)

    y = _with_input_gradient(forward, backward)(x, state["kernel"], _autocast(layer, state))
    if "bias" in params:
        b = params["bias"]
        y = y + jnp.reshape(b, (1,) * (y.ndim - b.ndim) + b.shape)
    return activate(layer, params, state, y, training=training)


def embedding_call(layer, state, x):
    """Keras's ``Embedding._int8_call``: the rows' int8 values divided by their scales."""
    if layer.quantization_mode == "int4":
        return _int4.embedding_call(layer, state, x)
    idx = jnp.asarray(x)
    if idx.dtype not in (jnp.int32, jnp.int64):
        idx = idx.astype(jnp.int32)
    scale = jnp.take(_autocast(layer, state), idx, axis=0)
    rows = jnp.take(state["embeddings"], idx, axis=0).astype(jnp.dtype(layer.compute_dtype))
    return rows / jnp.expand_dims(scale, -1)


# ------------------------------------------------------- kernel quantizers
def quantize_dense_kernel(kernel: np.ndarray):
    """Dense: abs-max over the input axis, one scale per unit."""
    value, scale = abs_max_quantize(kernel, axis=0, to_numpy=True)
    return value, jnp.squeeze(scale, axis=0)


def quantize_embeddings(embeddings: np.ndarray):
    """Embedding: abs-max over each row (``output_dim`` is usually the smaller axis)."""
    value, scale = abs_max_quantize(embeddings, axis=-1, to_numpy=True)
    return value, jnp.squeeze(scale, axis=-1)


def quantize_einsum_kernel(equation: str, ndim: int, kernel: np.ndarray):
    """EinsumDense: abs-max over the kernel's contracted axes, laid out against the output."""
    info = _eq.analyze(equation, ndim)
    value, scale = abs_max_quantize(kernel, axis=tuple(info.kernel_reduced_axes), to_numpy=True)
    return value, _eq.scale_for_quant(info, scale, "kernel")


def einsum_scale_shape(equation: str, ndim: int, kernel_shape: tuple) -> tuple:
    """The stored scale's shape of an EinsumDense kernel."""
    return tuple(_eq.kernel_scale_shape(_eq.analyze(equation, ndim), kernel_shape))
