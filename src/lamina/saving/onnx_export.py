"""ONNX export of a ``Sequential`` or functional model's inference function
(``model.export(path, format="onnx")``; functional graphs: :mod:`lamina.saving.onnx_graph`).

Supported layers: ``Dense``, ``Activation``, ``Flatten``, ``Reshape``; ``Conv1D``/``Conv2D``
(strides, ``valid``/``same``/``causal`` padding, dilation, groups, either data format),
``DepthwiseConv1D/2D``, ``SeparableConv1D/2D``; ``MaxPooling1D/2D``, ``AveragePooling1D/2D``,
``GlobalMax/GlobalAveragePooling1D/2D``; ``BatchNormalization`` (inference: moving statistics),
``LayerNormalization``, ``Normalization``, ``Rescaling``; ``ZeroPadding1D/2D``, ``Cropping1D/2D``,
``Permute``; ``Embedding`` (the graph input is then int64 indices); and the layers that are the
identity at inference (``Dropout``, ``GaussianNoise``, ``GaussianDropout``, ``SpatialDropout1D/2D``,
``ActivityRegularization``).  Activations ``linear``, ``relu``, ``sigmoid``, ``tanh``,
``softmax``, ``elu``, ``softplus``, ``softsign``, ``selu``, ``swish``/``silu``.  Other layers
raise a ValueError naming the layer.  Needs the ``onnx`` package (``pip install "lamina[onnx]"``); a
Sequential's graph has one input ``"input"`` with a dynamic batch dimension and one output
``"output"``.  The
per-layer translations live in :mod:`lamina.saving.onnx_layers`.

Example (needs ``onnx`` and ``onnxruntime``):

>>> import os, tempfile
>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Input, Dense
>>> model = Sequential([Input((3,)), Dense(2, activation="softmax")])
>>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
>>> model.export(path)  # doctest: +SKIP
>>> import onnxruntime as ort  # doctest: +SKIP
>>> x = np.ones((4, 3), "float32")
>>> out = ort.InferenceSession(path).run(None, {"input": x})[0]  # doctest: +SKIP
>>> bool(np.allclose(out, model.predict(x, verbose=0), atol=1e-6))  # doctest: +SKIP
True
"""

from __future__ import annotations

import os

import jax
import numpy as np

from lamina.saving import safety
from lamina.saving.onnx_layers import IDENTITY, TRANSLATIONS, Graph, activation

OPSET = 13
_SUPPORTED = sorted({"Dense", "Activation", "Flatten", "Reshape", *IDENTITY, *TRANSLATIONS})


def _weights(model, i):
    """Layer ``i``'s params and state as NumPy arrays, by Keras weight name."""
    ts = jax.device_get(model.saving_view().train_state)
    merged = {**dict(ts.params[i]), **dict(ts.state[i])}
    return {k: np.asarray(v) for k, v in merged.items()}


def _layer(g, model, i, layer, x, in_shape):
    kind = type(layer).__name__
    if kind in IDENTITY:
        return x
    if kind in TRANSLATIONS:
        return TRANSLATIONS[kind](g, layer, x, _weights(model, i), in_shape)
    if kind == "Dense":
        w = _weights(model, i)
        x = g.op("MatMul", [x, g.f32(f"{layer.name}_kernel", w["kernel"])], f"{layer.name}_mm")
        if layer.use_bias:
            x = g.op("Add", [x, g.f32(f"{layer.name}_bias", w["bias"])], f"{layer.name}_add")
        return activation(g, x, layer, layer.activation)
    if kind == "Activation":
        return activation(g, x, layer, layer.activation)
    if kind == "Flatten":
        return g.op("Flatten", [x], layer.name, axis=1)
    if kind == "Reshape":
        shape = np.asarray([0, *layer.target_shape], np.int64)
        return g.op("Reshape", [x, g.const(f"{layer.name}_shape", shape)], layer.name)
    raise ValueError(
        f"ONNX export: layer {layer.name!r} ({kind}) is not supported; supported are "
        f"{', '.join(_SUPPORTED)}."
    )


#: Keras 3's export formats; Lamina writes only ONNX.
KERAS_FORMATS = ("tf_saved_model", "onnx", "openvino", "litert", "torch")


def check_export_target(filepath, format) -> str:
    """Checks ``model.export``'s arguments; returns the format to write (``"onnx"``).

    ``format=None`` (the default) means ONNX when the path ends in ``.onnx``; any other path
    is refused, because Keras's default there is a TensorFlow SavedModel *directory*.

    Raises:
        ValueError: a format other than ``"onnx"`` (naming the formats that exist), no format
            for a path not ending in ``.onnx``, or a path that is an existing directory.

    >>> check_export_target("model.onnx", None)
    'onnx'
    >>> check_export_target("exported", "tf_saved_model")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: export(format='tf_saved_model') is Keras's TensorFlow export, which Lamina ...
    """
    path = os.fspath(filepath)
    if format is None:
        if not path.lower().endswith(".onnx"):
            raise ValueError(
                f"export({path!r}): Keras's default format 'tf_saved_model' (a directory) is "
                f"not supported by Lamina. Export ONNX instead: model.export('model.onnx') or "
                f"model.export({path!r}, format='onnx')."
            )
        format = "onnx"
    if format != "onnx":
        known = ", ".join(repr(f) for f in KERAS_FORMATS)
        what = (
            f"is Keras's {_FORMAT_NEEDS.get(format, 'export')}, which Lamina does not support"
            if format in KERAS_FORMATS
            else "is not an export format"
        )
        raise ValueError(
            f"export(format={format!r}) {what}. Lamina exports format='onnx' only (Keras's "
            f"formats: {known}); e.g. model.export('model.onnx', format='onnx')."
        )
    if os.path.isdir(path):
        raise ValueError(
            f"export({path!r}, format='onnx'): {path!r} is a directory; ONNX export writes one "
            f"file. Give a file name, e.g. {os.path.join(path, 'model.onnx')!r}."
        )
    return format


_FORMAT_NEEDS = {
    "tf_saved_model": "TensorFlow export",
    "openvino": "OpenVINO export",
    "litert": "LiteRT (TensorFlow Lite) export",
    "torch": "PyTorch export",
}


def export(model, filepath, opset: int = OPSET) -> None:
    """Writes ``model``'s inference graph to ``filepath`` as ONNX, atomically.

    Raises:
        ImportError: the ``onnx`` package is missing.
        ValueError: a layer or activation without an ONNX translation here.
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:
        raise ImportError(
            "model.export(format='onnx') needs the onnx package: pip install \"lamina[onnx]\""
        ) from e
    model.saving_view().require_built("export")
    g = Graph(helper, numpy_helper)
    from lamina.models.functional import Functional
    from lamina.models.sequential import Sequential

    if isinstance(model, Functional):  # walk its graph
        from lamina.saving.onnx_graph import export_graph

        ins, outs = export_graph(g, model, _layer)
    elif isinstance(model, Sequential):  # a chain of layers
        x = "input"
        in_shapes = [tuple(model.input_shape), *model.saving_view().layer_output_shapes()]
        # A layer the stack repeats: its one set of weights (indexed as the saving view's).
        index = {id(layer): i for i, layer in enumerate(model.saving_view().layers)}
        for j, layer in enumerate(model.layers):
            x = _layer(g, model, index[id(layer)], layer, x, in_shapes[j])
        g.nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))
        first = type(model.layers[0]).__name__ if model.layers else None
        ins = [("input", tuple(model.input_shape), first == "Embedding")]
        outs = [("output", tuple(model.output_shape), False)]
    else:
        raise ValueError(
            f"ONNX export supports Sequential and functional models; {type(model).__name__} is "
            "a subclassed model (its call() is Python code). Rebuild it with the functional "
            "API, or export it through jax2onnx-style tools."
        )

    def info(name, shape, is_int):
        kind = TensorProto.INT64 if is_int else TensorProto.FLOAT
        return helper.make_tensor_value_info(name, kind, ["batch", *shape[1:]])

    graph = helper.make_graph(
        g.nodes,
        model.name,
        [info(*i) for i in ins],
        [info(*o) for o in outs],
        initializer=g.inits,
    )
    proto = helper.make_model(
        graph, producer_name="lamina", opset_imports=[helper.make_opsetid("", opset)]
    )
    proto.ir_version = min(proto.ir_version, 8)
    onnx.checker.check_model(proto)
    with safety.atomic_write(os.fspath(filepath)) as tmp:
        onnx.save(proto, tmp)
