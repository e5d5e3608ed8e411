"""The graph of a functional model: its layers in Keras's order and a pure forward pass.

``map_graph(inputs, outputs)`` walks the ``_keras_history`` of the outputs back to the inputs
(a depth-first search, then ordering by depth, as ``keras.src.ops.function.map_graph`` does), so
``model.layers`` lists the layers in the same order as Keras, and weight files written by one
load in the other.  ``graph_forward`` runs the nodes in order on arrays.

>>> from lamina.layers import Input, Dense
>>> x = Input((4,)); h = Dense(3)(x); y = Dense(1)(h)
>>> nodes, layers = map_graph([x], [y])
>>> [type(layer).__name__ for layer in layers]
['InputLayer', 'Dense', 'Dense']
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers import call_args
from lamina.layers.borrowed import offer_layers, offering
from lamina.layers.call_losses import TermLog, log_term
from lamina.layers.symbolic import KerasTensor, resolve_args
from lamina.layers.variables import AuxCollector
from lamina.models.graph_masks import _node_masks, _output_mask
from lamina.ops._symbolic import live_values
from lamina.training.network import activity_penalty, apply_collecting_masks, conform_input
from lamina.training.output_masks import OutputMasks, report_gradients, report_values
from lamina.training.output_masks import report as report_output_masks


def _node_of(tensor):
    layer, index, _ = tensor._keras_history
    return layer._inbound_nodes[index]


def map_graph(inputs: list, outputs: list):
    """Returns ``(nodes, layers)``: the nodes from inputs to outputs (a valid execution order)
    and the layers in Keras's ``model.layers`` order.

    Raises:
        ValueError: a tensor is not reachable from ``inputs`` ("graph disconnected"), or an
            output is not a symbolic tensor.
    """
    for t in outputs:
        if not isinstance(t, KerasTensor) or t._keras_history is None:
            raise ValueError(
                f"Model outputs must be symbolic tensors made by calling layers on Input(...) "
                f"tensors. Received: {t!r}."
            )
    input_ids = {id(t) for t in inputs}
    finished, in_progress = set(), set()
    ordered, first_seen = [], {}

    def visit(root):
        # Depth first, post-order, with an explicit stack: a chain of thousands of layers
        # (or a file claiming one) must not exhaust Python's recursion limit.
        stack = [(root, None)]
        while stack:
            tensor, pending = stack.pop()
            node = _node_of(tensor)
            if pending is None:  # first arrival at this tensor
                if id(node) in finished:
                    continue
                if not node.is_input and id(tensor) in input_ids:
                    finished.add(id(node))
                    continue
                if id(node) in in_progress:
                    raise ValueError(
                        f"Tensor {tensor!r} from layer {node.layer.name!r} is in a cycle."
                    )
                first_seen.setdefault(id(node.layer), (len(first_seen), node.layer))
                in_progress.add(id(node))
                pending = iter(() if node.is_input else node.input_tensors)
            child = next(pending, None)
            if child is not None:
                stack.append((tensor, pending))
                stack.append((child, None))
                continue
            finished.add(id(node))
            in_progress.discard(id(node))
            ordered.append(node)

    for t in outputs:
        visit(t)
    # Depths: outputs at 0, each parent one deeper than its deepest child (Keras's rule).
    depth, layer_depth = {}, {}
    in_graph = {id(n) for n in ordered}
    for node in reversed(ordered):
        d = depth.setdefault(id(node), 0)
        d = max(d, layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = d
        depth[id(node)] = d
        if not node.is_input:
            for t in node.input_tensors:
                parent = _node_of(t)
                if id(parent) in in_graph:
                    depth[id(parent)] = max(d + 1, depth.get(id(parent), 0))
    for t in inputs:  # inputs not connected to any output still belong to the model
        node = _node_of(t)
        if node.is_input and id(node.layer) not in layer_depth:
            layer_depth[id(node.layer)] = 0
            first_seen[id(node.layer)] = (-1, node.layer)
    by_layer = sorted(first_seen.values(), key=lambda e: (-layer_depth[id(e[1])], e[0]))
    layers = [layer for _, layer in by_layer]
    ordered = _keras_run_order(ordered, depth)
    _check_computable(inputs, ordered)
    _check_unique_names(layers)
    from lamina.models.host_prefix import check_graph

    check_graph(inputs, ordered)  # strings reach only layers that run on the host
    return ordered, layers


def _node_training(layer, recorded, training):
    """The ``training`` flag a node's layer runs with.  A model run with a flag (``fit``:
    True; ``predict``, ``evaluate``: False; ``model(x, training=...)``) gives it to every
    node, over the node's own ``training=`` (Keras 3's functional models: ``base_model(x,
    training=False)`` trains its ``BatchNormalization`` in ``fit`` unless the layer is frozen;
    ``Dropout(r)(x, training=True)`` is off in ``predict``).  ``training`` None (``model(x)``
    without it) leaves it to each node: its recorded flag, else the call's own default
    (``def call(self, x, training=True)``), a built-in layer's, a nested functional model's
    layers' own."""
    if training is None:
        if recorded is not None:
            return bool(recorded)
        return call_args.default_training(layer)
    return training


def _keras_run_order(nodes, depth: dict) -> list:
    """``nodes`` in the order Keras runs them (``Function._run_through_graph``): deepest first,
    and within one depth in the order the depths were first set (``depth``'s insertion order:
    from the outputs back), so sibling branches run last-built first.  A layer shared by them
    (one ``BatchNormalization`` on two inputs) updates its state in Keras's order."""
    rank = {key: i for i, key in enumerate(depth)}
    return sorted(nodes, key=lambda n: (-depth[id(n)], rank[id(n)]))


def _check_computable(inputs, nodes):
    known = {id(t) for t in inputs}
    done = []
    for node in nodes:
        if node.is_input:  # an Input not among the model's inputs: its tensor stays unknown
            continue
        for t in node.input_tensors:
            if id(t) not in known:
                raise ValueError(
                    f"Graph disconnected: cannot find parent for tensor {t!r} at layer "
                    f"{node.layer.name!r}. The model's inputs must include every Input(...) the "
                    f"outputs depend on. Layers reached without issue: {done}."
                )
        done.append(node.layer.name)
        known.update(id(t) for t in node.output_tensors)


def _check_unique_names(layers):
    seen = set()
    for layer in layers:
        if layer.name in seen:
            raise ValueError(
                f"The name {layer.name!r} is used by two different layers of the model; all "
                "layer names should be unique. Pass name=... to one of them."
            )
        seen.add(layer.name)


def graph_forward(
    nodes, layers, flat_inputs, output_struct, params, state, x, *, training, key, batch_mask,
    input_masks=None, capture=None, chain=None,
):  # fmt: skip
    """Runs the graph's nodes on arrays; returns ``(outputs, new_state, aux_loss)``.
    ``input_masks``: the Keras masks of the inputs (a model nested in another gets its
    inputs' masks, ``Functional.call(..., mask=)``), one per input or ``None``.
    ``capture``: a dict whose keys (``id`` of graph tensors) get those tensors' values.
    ``chain``: a :class:`lamina.models.state_chain.StateChain` of the entries holding copies
    of a layer used at several places (each use's state update starts from the last)."""
    index = {id(layer): i for i, layer in enumerate(layers)}
    values, masks = {}, {}
    for kt, arr in zip(flat_inputs, x):
        # Keras converts each input to its Input's rank and dtype (Functional._standardize_inputs).
        values[id(kt)] = conform_input(arr, kt.shape, kt.dtype)
    if input_masks is not None:
        given = input_masks if isinstance(input_masks, list | tuple) else [input_masks]
        for kt, m in zip(flat_inputs, given):
            if m is not None:
                masks[id(kt)] = m
    new_state = list(state)
    aux = jnp.zeros((), jnp.float32)
    collector = AuxCollector()
    # A layer reading another's variables (tied weights) reads this graph's arrays of it.
    ordinals = {id(n): i + 1 for i, n in enumerate(n for n in nodes if not n.is_input)}
    before: dict = {}
    with collector, live_values(lambda t: values.get(id(t))), offering():  # closures: tensors
        offer_layers(layers, params, state)
        _, new_state, aux = _run_nodes(
            nodes, index, values, masks, params, new_state, aux, training, key, batch_mask,
            ordinals, before=before, chain=chain,
        )  # fmt: skip
    if chain:
        chain.settle(new_state)
    if capture is not None:
        capture.update((k, values[k]) for k in capture)
    out = jax.tree_util.tree_map(
        lambda t: values[id(t)], output_struct, is_leaf=lambda v: isinstance(v, KerasTensor)
    )
    leaves = jax.tree_util.tree_leaves(output_struct, is_leaf=lambda v: isinstance(v, KerasTensor))
    report_output_masks(out, tuple(masks.get(id(t)) for t in leaves))  # for losses, metrics
    report_values(values)  # a Keras 2 loss function may read the graph's tensors
    run_masks = dict(masks)
    final_state = list(new_state)

    def gradients(loss_value, wrts):
        """``K.gradients(y_pred, tensor)`` in a loss function (the improved WGAN's gradient
        penalty): ``y_pred`` is this graph's value of one of its tensors."""
        loss_id = next((k for k, v in values.items() if v is loss_value), None)
        if loss_id is None or any(id(w) not in values for w in wrts):
            return None
        return [
            _gradient_of(
                id(w), loss_id, nodes, index, values, run_masks, params, final_state,
                training, key, batch_mask, ordinals, before,
            )  # fmt: skip
            for w in wrts
        ]

    report_gradients(gradients)
    return out, tuple(new_state), aux + collector.total


def _run_nodes(
    nodes, index, values, masks, params, new_state, aux, training, key, batch_mask,
    ordinals=None, replay=None, before=None, chain=None,
):  # fmt: skip
    """Runs the nodes; on return ``masks`` holds the masks the run-time tensors carry.

    Keras carries masks two ways in a functional graph.  A mask its layer's ``call`` takes as
    an argument (``mask=``, ``value_mask=``/``key_mask=``) is recorded in the node when the
    graph is built, so at run time it is the symbolic mask (``masks``, as built).  All else
    reads the ``_keras_mask`` the run-time tensors carry (``runtime``): the previous mask of a
    layer whose ``call`` takes none (``Add``, ``LayerNormalization``, ``Dense``), the query mask
    of ``MultiHeadAttention`` (its ``call`` reads it off the query), and the outputs' masks
    that losses and metrics use.  The two part once a ``MultiHeadAttention`` clears its
    query/value/key tensors' masks in place: the residual ``Add([attention, x])`` after it
    then passes no mask on.

    ``ordinals`` and ``replay`` serve a ``K.gradients`` node, which runs some nodes again:
    each node's place in the whole graph (its random key) and the state it started from;
    ``before`` (a dict) receives the state each node started from; ``chain`` (see
    :func:`graph_forward`) moves shared layers' state between the entries holding them."""
    runtime = dict(masks)
    before = {} if before is None else before  # the state each node started from
    if ordinals is None:  # each call's random key follows from its place in the graph
        ordinals = {id(n): i + 1 for i, n in enumerate(n for n in nodes if not n.is_input)}
    for node in nodes:
        if node.is_input:
            continue
        layer = node.layer
        if getattr(layer, "differentiates", False):  # K.gradients (Keras 2)
            values[id(node.outputs)] = _graph_gradient(
                node, nodes, index, values, masks, params, new_state, training, key, batch_mask,
                ordinals, before,
            )  # fmt: skip
            continue
        i = index[id(layer)]
        if replay is not None:  # the same seeds as the pass it repeats
            new_state[i] = replay[id(node)]
        if chain:
            chain.pull(new_state, i)
        before[id(node)] = new_state[i]
        arg, kwargs = resolve_args(node, values)
        kwargs = dict(kwargs)
        call_training = _node_training(layer, kwargs.pop("training", None), training)
        mask, query_mask = _node_masks(node, layer, arg, kwargs, masks)
        first = node.args[0] if node.args else None
        clears = getattr(layer, "_clears_input_masks", False) and isinstance(first, list | tuple)
        run_query_mask = None
        if clears:
            run_query_mask = runtime.get(id(first[0]))
            kwargs.pop("query_mask", None)
            if run_query_mask is not None:
                kwargs["query_mask"] = run_query_mask
        if layer.uses_mask:
            kwargs["mask"] = mask
        if getattr(layer, "uses_batch_mask", False):
            kwargs["batch_mask"] = batch_mask
        n_call = ordinals[id(node)]
        k = None
        if key is not None and layer.uses_rng and (call_training or layer.rng_in_inference):
            k = jax.random.fold_in(key, n_call)
        y, s, inner = apply_collecting_masks(
            layer, params[i], new_state[i], arg, training=call_training, key=k, **kwargs
        )
        new_state[i] = s
        if chain:
            chain.push(new_state, i)
        if layer.activity_regularizer is not None:
            term = activity_penalty(layer.activity_regularizer, y, batch_mask)
            aux = aux + term
            log_term(layer, term)
        outs = node.output_tensors
        ys = list(y) if len(outs) > 1 else [y]
        for t, v in zip(outs, ys):
            values[id(t)] = v
        # Keras's previous mask: the mask argument when the call takes one, else the masks
        # the run-time inputs carry.
        if layer.uses_mask and mask is not None:
            run_mask = mask
        elif isinstance(first, KerasTensor):
            run_mask = runtime.get(id(first))
        elif isinstance(first, list | tuple):
            found = [runtime.get(id(t)) if isinstance(t, KerasTensor) else None for t in first]
            run_mask = found if any(m is not None for m in found) else None
        else:
            run_mask = None
        if clears:
            run_mask = None
            for t in first:
                runtime.pop(id(t), None)
        for table, m, q in ((masks, mask, query_mask), (runtime, run_mask, run_query_mask)):
            if inner is not None:  # a nested model's outputs keep the masks made inside it
                table.update((id(t), m) for t, m in zip(outs, inner) if m is not None)
            elif len(outs) == 1:
                out_mask = _output_mask(layer, arg, m, q)
                if out_mask is not None:
                    table[id(outs[0])] = out_mask
            elif m is not None and not isinstance(arg, list | tuple | dict):
                # A layer with several outputs masks each as its compute_mask lists them (an
                # LSTM's sequence with return_state, both directions of Bidirectional).
                out_masks = layer.compute_mask(arg, m)
                if isinstance(out_masks, list | tuple) and len(out_masks) == len(outs):
                    table.update((id(t), m) for t, m in zip(outs, out_masks) if m is not None)
    masks.clear()
    masks.update(runtime)
    return None, new_state, aux


def _nodes_between(nodes, wrt: int, loss: int) -> list:
    """The nodes (in run order) computing tensor ``loss`` from tensor ``wrt`` (their ids):
    downstream of one, upstream of the other."""
    downstream, after = {wrt}, set()
    for node in nodes:
        if not node.is_input and any(id(t) in downstream for t in node.input_tensors):
            after.add(id(node))
            downstream.update(id(t) for t in node.output_tensors)
    upstream, between = {loss}, []
    for node in reversed(nodes):
        if any(id(t) in upstream for t in node.output_tensors) and id(node) in after:
            between.append(node)
            upstream.update(id(t) for t in node.input_tensors)
    return between[::-1]


def _graph_gradient(
    node, nodes, index, values, masks, params, state, training, key, batch_mask, ordinals,
    before,
):  # fmt: skip
    """The value of a ``K.gradients`` node: ``d sum(loss) / d wrt`` for its inputs ``[wrt,
    loss]``, by running the nodes between them again as a function of ``wrt`` (every other
    tensor keeps the value this pass gave it, each layer draws the random numbers it drew).
    Their loss terms and state updates, already counted by this pass, are dropped."""
    wrt, loss = node.input_tensors
    return _gradient_of(
        id(wrt), id(loss), nodes, index, values, masks, params, state, training, key,
        batch_mask, ordinals, before,
    )  # fmt: skip


def _gradient_of(
    wrt, loss, nodes, index, values, masks, params, state, training, key, batch_mask,
    ordinals, before,
):  # fmt: skip
    """``d sum(values[loss]) / d values[wrt]`` (tensor ids), running the nodes between them
    again as a function of ``wrt`` (see :func:`_graph_gradient`)."""
    between = _nodes_between(nodes, wrt, loss)

    def total(value):
        env = dict(values)
        env[wrt] = value
        with AuxCollector(), TermLog(), OutputMasks(passes_values=False):
            _run_nodes(
                between, index, env, dict(masks), params, list(state), jnp.zeros(()),
                training, key, batch_mask, ordinals, before,
            )  # fmt: skip
        return jnp.sum(jnp.asarray(env[loss], jnp.float32))

    return jax.grad(total)(values[wrt])
