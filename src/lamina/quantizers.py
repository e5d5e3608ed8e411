"""``lamina.quantizers`` stands for ``keras.quantizers`` (int8/int4/float8 quantizers and
configs), which Lamina does not support: each of its Keras names
raises ``UnsupportedKerasAPIError`` here.

>>> import lamina
>>> try:
...     lamina.quantizers.AbsMaxQuantizer
... except NotImplementedError as e:
...     print(str(e).split(":")[0])
keras.quantizers.AbsMaxQuantizer is not supported by Lamina
"""

from lamina._unsupported import namespace_getattr

#: Keras 3's public names in keras.quantizers.
_KERAS_NAMES = """AWQConfig AbsMaxQuantizer Float8QuantizationConfig GPTQConfig
    Int4QuantizationConfig Int8QuantizationConfig QuantizationConfig Quantizer abs_max_quantize
    abs_max_quantize_grouped_with_zero_point compute_float8_amax_history compute_float8_scale
    deserialize fake_quant_with_min_max_vars get pack_int4 quantize_and_dequantize serialize
    unpack_int4"""

__getattr__ = namespace_getattr(
    "quantizers",
    _KERAS_NAMES,
    "Lamina does not quantize models (model.quantize is not supported either); train and "
    "predict in float32 or under a mixed-precision dtype policy",
)
