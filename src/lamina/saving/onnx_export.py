"""ONNX export of a ``Sequential``'s inference function (``model.export(path, format="onnx")``).

Supported layers: ``Dense``, ``Activation``, ``Dropout`` (identity at inference), ``Flatten``,
``Reshape``; activations ``linear``, ``relu``, ``sigmoid``, ``tanh``, ``softmax``, ``elu``,
``softplus``, ``softsign``, ``selu``, ``swish``/``silu``.  Other layers raise a ValueError naming
the layer.  Needs the ``onnx`` package (``pip install onnx``); the graph has one input
``"input"`` with a dynamic batch dimension and one output ``"output"``.

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

import numpy as np

from lamina import activations as _activations
from lamina.saving import safety
from lamina.saving.weights_h5 import layer_arrays

OPSET = 13
_SIMPLE = {
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "elu": "Elu",
    "softplus": "Softplus",
    "softsign": "Softsign",
    "selu": "Selu",
}


class _Graph:
    def __init__(self, helper, numpy_helper):
        self.h, self.nh = helper, numpy_helper
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, hint, value):
        name = self.name(hint)
        self.inits.append(self.nh.from_array(np.asarray(value), name))
        return name

    def op(self, op_type, inputs, hint, **attrs):
        out = self.name(hint)
        self.nodes.append(self.h.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _activation(g, x, layer, fn):
    name = _activations.serialize(fn)
    name = name if isinstance(name, str) else str(name)
    if name in ("linear", None):
        return x
    if name in _SIMPLE:
        return g.op(_SIMPLE[name], [x], f"{layer.name}_{name}")
    if name == "softmax":
        return g.op("Softmax", [x], f"{layer.name}_softmax", axis=-1)
    if name in ("swish", "silu"):
        return g.op("Mul", [x, g.op("Sigmoid", [x], f"{layer.name}_sig")], f"{layer.name}_swish")
    raise ValueError(f"ONNX export: activation {name!r} of layer {layer.name!r} is not supported.")


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
            "model.export(format='onnx') needs the onnx package: pip install onnx"
        ) from e
    model._require_built("export")
    g = _Graph(helper, numpy_helper)
    x = "input"
    for i, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if kind == "Dense":
            arrays = layer_arrays(model, i)
            x = g.op("MatMul", [x, g.const(f"{layer.name}_kernel", arrays[0])], f"{layer.name}_mm")
            if layer.use_bias:
                x = g.op("Add", [x, g.const(f"{layer.name}_bias", arrays[1])], f"{layer.name}_add")
            x = _activation(g, x, layer, layer.activation)
        elif kind == "Activation":
            x = _activation(g, x, layer, layer.activation)
        elif kind == "Dropout":
            continue
        elif kind == "Flatten":
            x = g.op("Flatten", [x], f"{layer.name}", axis=1)
        elif kind == "Reshape":
            shape = np.asarray([0, *layer.target_shape], np.int64)
            x = g.op("Reshape", [x, g.const(f"{layer.name}_shape", shape)], layer.name)
        else:
            raise ValueError(
                f"ONNX export: layer {layer.name!r} ({kind}) is not supported; supported are "
                "Dense, Activation, Dropout, Flatten and Reshape."
            )
    out_shape = ["batch", *model.output_shape[1:]]
    in_shape = ["batch", *model.input_shape[1:]]
    g.nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        model.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        initializer=g.inits,
    )
    proto = helper.make_model(
        graph, producer_name="lamina", opset_imports=[helper.make_opsetid("", opset)]
    )
    proto.ir_version = min(proto.ir_version, 8)
    onnx.checker.check_model(proto)
    with safety.atomic_write(os.fspath(filepath)) as tmp:
        onnx.save(proto, tmp)
