"""Host prefixes: the string layers at the front of a model, run with NumPy before the compiled
network.

Strings cannot enter a jitted program, so a model with an ``Input(dtype="string")`` runs in two
parts:

* **the host prefix**: the maximal set of layers reachable from the string inputs whose inputs
  are strings.  Each must be a host-runnable preprocessing layer (one with ``host_apply``:
  ``StringLookup``, ``TextVectorization``, ``Hashing``, ``HashedCrossing``, ``IntegerLookup``);
  they run eagerly on the host, once per ``fit``/``evaluate``/``predict`` call for in-memory
  data (the whole array at once), or once per batch for streamed data.
* **the compiled network**: every other layer, as for any model.  Its inputs are the prefix's
  outputs (the boundary: token ids, one-hot or multi-hot rows) and the model's numeric inputs.

The boundary is where a tensor stops being a string: a lookup's ids feed an ``Embedding``
inside the compiled program.  Any other layer receiving a string tensor (``Dense`` on the raw
text) is refused when the model is built, with a ``ValueError`` naming the layer.  Models
without string inputs never reach this module (``of(model)`` is ``None``).

>>> import numpy as np
>>> import lamina
>>> from lamina import layers
>>> lookup = layers.StringLookup(vocabulary=["a", "b"])
>>> model = lamina.Sequential([lamina.Input((1,), dtype="string"), lookup,
...                            layers.Embedding(3, 2), layers.Flatten()])
>>> of(model).run(np.array([["a"], ["z"]])).tolist()
[[1], [0]]
>>> model.predict(np.array([["a"], ["b"]]), verbose=0).shape
(2, 2)
"""

from __future__ import annotations

import numpy as np

from lamina.layers.dtype_names import STRING
from lamina.layers.string_ops import moves_strings, run_on_strings
from lamina.models import nested_strings as _nested
from lamina.training.network import Network, stack_forward

_HOST_LAYERS = "StringLookup, TextVectorization, Hashing, HashedCrossing or IntegerLookup"


def is_host_layer(layer) -> bool:
    """Whether ``layer`` can run on host data (it has ``host_apply``)."""
    return callable(getattr(type(layer), "host_apply", None))


def _string_output(layer) -> bool:
    """Whether a host layer gives strings back (an inverted ``StringLookup``)."""
    return bool(getattr(layer, "invert", False)) and bool(getattr(layer, "_strings", False))


def refuse(layer, source) -> ValueError:
    """The error for a layer that cannot take the string tensor ``source``."""
    return ValueError(
        f"Layer {layer.name!r} ({type(layer).__name__}) receives {source}, a string tensor, "
        f"but only host preprocessing layers ({_HOST_LAYERS}) can take strings: they run on "
        "the host before the compiled model. Put an adapted StringLookup or TextVectorization "
        "before it, or move the string preprocessing into the data pipeline and feed numbers."
    )


class _Cached:
    """A derived value kept on a model; never pickled or deep-copied with it."""

    __slots__ = ("key", "value")

    def __init__(self, key, value):
        self.key, self.value = key, value

    def __reduce__(self):
        return (_none, ())

    def __deepcopy__(self, memo):
        return None


def _none():
    return None


def of(model):
    """The model's host prefix (a :class:`StackPrefix` or :class:`GraphPrefix`), or ``None``
    when the model has no string input (the usual case: nothing changes for it)."""
    flat = model.__dict__.get("_flat_inputs")
    if flat is not None:
        if not any(t.dtype == STRING for t in flat):
            return None
        key: tuple = ("graph", id(model.__dict__.get("_nodes")))
    else:
        inp = model.__dict__.get("_input_layer")
        if inp is None or getattr(inp, "_input_dtype", None) != STRING:
            return None
        key = ("stack", id(inp), tuple(id(layer) for layer in model.layers))
    cached = model.__dict__.get("_host_prefix_cache")
    if cached is not None and cached.key == key:
        return cached.value
    prefix = GraphPrefix(model) if flat is not None else StackPrefix(model)
    model.__dict__["_host_prefix_cache"] = _Cached(key, prefix)
    return prefix


def stack_prefix_length(layers, input_name="the model's string input") -> int:
    """The number of leading layers of a stack on a string input that run on the host.

    Raises:
        ValueError: a layer that is not host-runnable would receive strings.
    """
    n, source = 0, input_name
    for layer in layers:
        if not is_host_layer(layer):
            if _nested.takes_strings(layer, adopt=n == 0):  # its own lookups run on the host
                return n
            raise refuse(layer, source)
        n += 1
        if not _string_output(layer):
            return n
        source = f"the strings of layer {layer.name!r}"
    return n


def as_strings(x, shape, name) -> np.ndarray:
    """``x`` (an array, list or pandas object of text) as a NumPy array of the input's rank.

    A missing trailing axis of 1 is added (``(n,)`` for ``Input((1,))``) and an extra one
    dropped, as Keras adjusts input ranks.
    """
    if hasattr(x, "to_numpy") and hasattr(x, "dtypes"):  # pandas
        x = x.to_numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} could not be converted to an array of strings ({e}).") from None
    if arr.dtype.kind not in "OUS":
        raise TypeError(
            f"{name} feeds a string input (Input(dtype='string')), but it holds "
            f"{arr.dtype.name} values. Pass the text itself (a NumPy array or list of str)."
        )
    rank = len(shape)
    if arr.ndim == rank - 1 and shape[-1] == 1:
        arr = arr[..., None]
    elif arr.ndim == rank + 1 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != rank or any(e is not None and e != s for e, s in zip(shape[1:], arr.shape[1:])):
        raise ValueError(
            f"{name} has shape {arr.shape}, but the string input expects {tuple(shape)} (batch "
            f"dimension first)."
        )
    return arr


def _host_call(layer, arg) -> np.ndarray:
    if not is_host_layer(layer):  # an op moving strings (``ops.expand_dims`` of a column)
        return run_on_strings(layer, arg)
    out = layer.host_apply(arg)
    return np.asarray(out) if not isinstance(out, list | tuple) else out


class StackPrefix:
    """The host prefix of a ``Sequential`` on a string ``Input``: its first ``n`` layers."""

    def __init__(self, model):
        self.layers = tuple(model.layers)  # the positions (a repeated layer at each)
        self.n = n = stack_prefix_length(self.layers)
        # Stopped at a layer still receiving strings: a model running its own lookups.
        fed_strings = n == 0 or _string_output(self.layers[n - 1])
        self.nested = fed_strings and n < len(self.layers) and not is_host_layer(self.layers[n])
        self.input_shape = tuple(model._input_shape)

    def run(self, x, name="x"):
        """The compiled network's input for the raw ``x``: the prefix applied on the host."""
        value = as_strings(x, self.input_shape, name)
        for layer in self.layers[: self.n]:
            value = _host_call(layer, value)
        if self.nested:  # a nested model's own lookups; the model itself runs compiled
            value = _nested.run_prefix(self.layers[self.n], value)
        return value

    def wrap(self, net: Network) -> Network:
        """``net`` (the whole stack's network) with its forward starting after the prefix."""
        layers, n = net.layers, self.n
        # The positions after the prefix, as indices of ``net.layers`` (one per distinct
        # layer, the weights' order): a layer the stack repeats runs at each position.
        index = {id(layer): u for u, layer in enumerate(layers)}
        slots = tuple(index[id(layer)] for layer in self.layers[n:])

        def forward(params, state, x, *, training, key=None, batch_mask=None, input_masks=None):
            return stack_forward(
                layers,
                params,
                state,
                x,
                training=training,
                key=key,
                batch_mask=batch_mask,
                slots=slots,
            )  # fmt: skip  (string inputs carry no masks)

        return net._replace(forward=forward, spec_key=(net.spec_key, ("host_prefix", n)))


class GraphPrefix:
    """The host prefix of a functional model: the nodes whose inputs are strings."""

    def __init__(self, model):
        self.in_struct = model._inputs_struct
        self.flat_inputs = list(model._flat_inputs)
        self.out_struct = model._outputs_struct
        nodes = model._nodes
        self.host_nodes, self.engine_nodes = split_nodes(self.flat_inputs, nodes)
        host = {id(n) for n in self.host_nodes}
        used = {id(t) for n in self.engine_nodes if not n.is_input for t in n.input_tensors}
        used |= {id(t) for t in model.outputs}
        boundary = [t for n in self.host_nodes for t in n.output_tensors if id(t) in used]
        numeric = [t for t in self.flat_inputs if t.dtype != STRING]
        self.engine_inputs = numeric + boundary
        self._host_ids = host

    def run(self, x, name="x"):
        """The compiled network's inputs for the raw ``x``: one array, or a tuple (the model's
        numeric inputs, then the prefix's outputs)."""
        from lamina.data.arrays import to_numpy
        from lamina.layers.symbolic import resolve_args
        from lamina.models.functional import _flatten_inputs

        if isinstance(x, dict) and len(self.flat_inputs) == 1 and len(x) == 1:
            # One input given as ``{name: column}``, as Keras takes it.
            x = x.get(self.flat_inputs[0].name, next(iter(x.values())))
        flat = _flatten_inputs(self.in_struct, x)
        if len(flat) != len(self.flat_inputs):
            raise ValueError(
                f"The model has {len(self.flat_inputs)} inputs, but {name} holds {len(flat)}."
            )
        values = {}
        for i, (t, v) in enumerate(zip(self.flat_inputs, flat)):
            label = name if len(flat) == 1 else f"{name}[{t.name or i!r}]"
            values[id(t)] = (
                as_strings(v, t.shape, label) if t.dtype == STRING else to_numpy(v, label)
            )
        for node in self.host_nodes:
            arg, _ = resolve_args(node, values)
            out = _host_call(node.layer, arg)
            outs = node.output_tensors
            for t, v in zip(outs, list(out) if len(outs) > 1 else [out]):
                values[id(t)] = np.asarray(v)
        engine = tuple(values[id(t)] for t in self.engine_inputs)
        return engine[0] if len(engine) == 1 else engine

    def wrap(self, net: Network) -> Network:
        """``net`` with its forward taking :meth:`run`'s arrays and skipping the prefix."""
        from lamina.models.graph import graph_forward

        nodes, layers = self.engine_nodes, net.layers
        inputs, out_struct, single = (
            self.engine_inputs,
            self.out_struct,
            len(self.engine_inputs) == 1,
        )

        def forward(params, state, x, *, training, key=None, batch_mask=None, input_masks=None):
            xs = [x] if single else list(x)
            return graph_forward(
                nodes,
                layers,
                inputs,
                out_struct,
                params,
                state,
                xs,
                training=training,
                key=key,
                batch_mask=batch_mask,
            )  # fmt: skip  (string inputs carry no masks)

        return net._replace(forward=forward, spec_key=(net.spec_key, "host_prefix"))


def split_nodes(flat_inputs, nodes):
    """``(host nodes, compiled nodes)`` of a graph, in execution order.

    A node runs on the host when one of its inputs is a string; it must then be a host layer
    (or an op moving the strings, :mod:`lamina.layers.string_ops`), and its other inputs must
    be known on the host (model inputs or host outputs).

    Raises:
        ValueError: a layer that is not host-runnable would receive a string tensor, or a
            host layer mixes strings with a tensor computed by the compiled network.
    """
    strings = {id(t): f"the string input {t.name!r}" for t in flat_inputs if t.dtype == STRING}
    known = {id(t) for t in flat_inputs}
    host, engine = [], []
    for node in nodes:
        if node.is_input:
            engine.append(node)
            continue
        sources = [strings[id(t)] for t in node.input_tensors if id(t) in strings]
        if not sources:
            engine.append(node)
            continue
        layer = node.layer
        moves = moves_strings(layer, [t.dtype for t in node.input_tensors])
        nested = not (is_host_layer(layer) or moves) and _nested.takes_strings(layer)
        if not (is_host_layer(layer) or moves or nested):
            raise refuse(layer, sources[0])
        late = [t for t in node.input_tensors if id(t) not in known]
        if late:
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) takes strings together with "
                f"{late[0]!r}, computed inside the compiled model; a layer on strings runs on "
                "the host before the model, so its other inputs must be model inputs too."
            )
        if nested:  # a model with its own string Input: its lookups here, the rest compiled
            node, engine_half = _nested.split(node)
            engine.append(engine_half)
        host.append(node)
        for t in node.output_tensors:
            known.add(id(t))
            if moves or _string_output(layer):
                strings[id(t)] = f"the strings of layer {layer.name!r}"
    return host, engine


def check_graph(flat_inputs, nodes) -> None:
    """Refuses a graph where a layer that cannot run on the host receives strings (called
    when a functional model is built; a no-op without string inputs)."""
    if any(getattr(t, "dtype", None) == STRING for t in flat_inputs):
        split_nodes(flat_inputs, nodes)


def wrap_adapter(adapter, prefix) -> None:
    """Makes a stream's adapter run ``prefix`` on the ``x`` of every raw batch before its
    checks (once per batch, on the host)."""
    original = adapter.__dict__.get("_host_prefix_original") or adapter._check

    def check(item, index):
        x, y, sw = adapter._standardize(item, index)
        return original((prefix.run(x, f"x of batch {index}"), y, sw), index)

    adapter.__dict__["_host_prefix_original"] = original
    adapter._check = check


def _first_element(x):
    """The first batch (or array) of ``x`` without consuming it, or ``None``."""
    if isinstance(x, tuple | list) and x and not isinstance(x[0], str | bytes):
        x = x[0]  # (x, y) of a first batch, or the inputs of a several-input call
    if hasattr(x, "to_numpy") and hasattr(x, "dtypes"):
        return x.to_numpy()
    if isinstance(x, np.ndarray | list):
        return np.asarray(x) if isinstance(x, list) else x
    getitem = getattr(type(x), "__getitem__", None)
    if getitem is not None and hasattr(type(x), "__len__") and not hasattr(x, "shape"):
        try:  # a PyDataset (Keras's dataset utilities' results): batch 0 by index
            if len(x) == 0:
                return None
            batch = x[0]
        except Exception:  # noqa: BLE001 - a dataset that cannot be indexed: no guess
            return None
        return _first_element(batch)
    return None


def adopt_string_input(model, x) -> bool:
    """Gives a ``Sequential`` without an ``Input`` whose first layer is a host layer a string
    input when ``x`` holds text, as Keras builds a model from its first data.

    TensorFlow's text classification tutorial exports
    ``Sequential([vectorize_layer, model, layers.Activation("sigmoid")])`` and evaluates it
    on the raw text dataset; the model learns its input from that data.

    Returns:
        True when the model got a string input.
    """
    if (
        model.__dict__.get("_flat_inputs") is not None
        or model.__dict__.get("_input_layer") is not None
        or model.__dict__.get("_input_shape") is not None
        or model.__dict__.get("_train_state") is not None
        or not hasattr(model, "_stack")
    ):
        return False
    stack = model.__dict__.get("_stack") or []
    if not stack or not is_host_layer(stack[0]):
        return False
    first = _first_element(x)
    if first is None or getattr(first, "ndim", 0) < 1:
        return False
    arr = np.asarray(first)
    if arr.dtype.kind == "O":
        if not arr.size or not isinstance(arr.reshape(-1)[0], str | bytes):
            return False
    elif arr.dtype.kind not in "US":
        return False
    from lamina.layers.core import InputLayer

    stack_prefix_length(stack)  # a layer that cannot take strings is named now
    shape = (None, *arr.shape[1:])
    model.__dict__["_input_layer"] = InputLayer(batch_shape=shape, dtype=STRING)
    model._input_shape = shape
    model._invalidate()
    return True
