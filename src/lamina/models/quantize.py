"""``model.quantize(mode)``: Keras 3's post-training quantization of a model's layers.

As Keras's ``Model.quantize``, it visits every layer of the model, nested models' too, and
quantizes each leaf layer that can be (``Dense``, ``EinsumDense``, ``Embedding``:
:mod:`lamina.layers.quantized`), warning for the others; the model must be built.  The
quantized weights replace the float ones in place; the optimizer's state starts again at the
next ``fit`` (Keras's flow re-``compile``s), which trains the weights left trainable (biases,
layers not quantized) while the int8 kernels stay frozen.

>>> import numpy as np
>>> import lamina as keras
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")  # InputLayer has no quantize(), as in Keras
...     model.quantize("int8")
>>> model.layers[0].dtype_policy.name, model.layers[0].kernel.dtype
('int8_from_float32', 'int8')
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

from lamina import quantized_policy as _policy


def quantize_model(model, mode=None, config=None, filters=None, **kwargs) -> None:
    """Quantizes ``model``'s layers in place (``keras.Model.quantize``).

    Args:
        model: a built model.
        mode: ``"int8"`` or ``"int4"``; Keras's other modes raise ``NotImplementedError``.
        config: an ``Int4QuantizationConfig`` or ``Int8QuantizationConfig()`` (other
            configs are not supported; a mode string is read as ``mode``).
        filters: a regex, a list of regexes (matched against layer names with
            ``re.search``) or a callable ``filters(layer) -> bool``: only the layers selected
            are quantized.
        **kwargs: ``type_check`` (default True: subclasses of the built-in layers are left
            alone, with a warning).

    Raises:
        ValueError: an unknown keyword or mode, bad ``filters``, a layer not built or already
            quantized.
        NotImplementedError: a Keras mode other than ``"int8"``, or a config.
    """
    type_check = kwargs.pop("type_check", True)
    if kwargs:
        raise ValueError(
            f"Unrecognized keyword arguments passed to {type(model).__name__}: {kwargs}"
        )
    if filters is not None and not isinstance(filters, str | Callable | list | tuple):
        raise ValueError(
            "The `filters` argument must be a regex string, a list of regex strings, or a "
            f"callable. Received: {type(filters)}"
        )
    if isinstance(config, str):
        mode, config = config, None
    from lamina.layers.quantized_int4 import resolve_config

    mode, config = resolve_config(mode, config)  # int4: Keras's default Int4QuantizationConfig
    if mode is None and config is None:
        raise ValueError("You must provide either `mode` or `config` to `quantize`.")
    if config is not None and mode not in ("int4", "int8"):
        raise NotImplementedError(
            "model.quantize(config=...) is not supported by Lamina: it quantizes with the "
            f"mode's default quantizers. Received: config={config!r}; call "
            "model.quantize('int8') instead."
        )
    _policy.check_mode(mode)
    if not model.built:  # Keras checks the model (a layer) first
        raise ValueError(
            "Cannot quantize a layer that isn't yet built. "
            f"Layer '{model.name}' (of type '{type(model).__name__}') is not built yet."
        )
    modified = False
    for layer in _leaf_layers(model):
        if not _selected(layer, filters):
            continue
        quantize = getattr(layer, "quantize", None)
        if quantize is None:
            from lamina.layers.quantized import check_quantizable

            check_quantizable(layer, mode)  # Keras checks every layer before its quantize
            warnings.warn(
                f"Layer {type(layer).__name__} does not have a `quantize` method implemented.",
                stacklevel=2,
            )
            continue
        try:
            quantize(mode, type_check=type_check, config=config)
            modified = True
        except NotImplementedError as e:
            warnings.warn(str(e), stacklevel=2)
    if modified:  # Keras rebuilds its step functions
        for name in ("train_function", "test_function", "predict_function"):
            if name in model.__dict__:
                model.__dict__[name] = None


def _selected(layer, filters) -> bool:
    if filters is None:
        return True
    if isinstance(filters, str):
        return bool(re.search(filters, layer.name))
    if isinstance(filters, list | tuple):
        return any(re.search(p, layer.name) for p in filters)
    return bool(filters(layer))


def _leaf_layers(model) -> list:
    """The layers without sub-layers under ``model``, each once, depth first in Keras's
    order (a model's ``layers``, a Keras-style layer's tracked attributes)."""
    from lamina.layers.activation_sublayer import held_activation
    from lamina.layers.tracing import tracked_layers

    seen, out = set(), []

    def children(layer) -> list:
        if getattr(layer, "_is_model", False):
            return list(layer.layers)
        subs = [sub for _, sub in tracked_layers(layer)] if getattr(layer, "_traced", False) else []
        act = held_activation(layer)
        return subs + ([act] if act is not None else [])

    def visit(layer, depth: int) -> None:
        if id(layer) in seen or depth > 64:
            return
        seen.add(id(layer))
        subs = children(layer)
        if not subs and layer is not model:
            out.append(layer)
        for sub in subs:
            visit(sub, depth + 1)

    visit(model, 0)
    return out
