"""Turning ``fit``/``evaluate``/``predict`` arguments into an epoch source, checked.

In-memory data (NumPy, pandas, lists, JAX arrays, or a list/tuple/dict of them for a model
with several inputs or outputs) is converted on the host (integers to int32, the rest to float32), checked against the
model through its :class:`~lamina.training.network.Binding`, and becomes a
:class:`~lamina.data.epochs.ResidentEpochs` (training) or
:class:`~lamina.data.epochs.ResidentBatches` (evaluation).  Anything else (generators,
``PyDataset``, DataLoader-likes, memory maps, ``lamina.data.from_csv``/``from_parquet``) goes
through an adapter and becomes a :class:`~lamina.data.epochs.StreamEpochs`.

>>> import numpy as np
>>> is_structure([np.zeros((2, 3)), np.zeros((2, 1))]), is_structure([[1.0, 2.0]])
(True, False)
"""

from __future__ import annotations

import math
import warnings

import jax
import numpy as np

from lamina.data import adapters as _adapters
from lamina.data import arrays as _arrays
from lamina.data import epochs as _epochs
from lamina.data import structures as _structures
from lamina.training import compilation as _compilation
from lamina.training import output_weights as _output_weights
from lamina.training import strategy as _strategy
from lamina.training import streaming_dist as _dist

#: Upper bound on the host bytes of one streamed chunk (x, y and weights) in flight.
MAX_CHUNK_BYTES = 32 << 20
#: Steps per streamed chunk when the epoch length is unknown (generators, CSV files).
UNKNOWN_LENGTH_CHUNK = 256
#: Largest number of steps run by one evaluate/predict call (longer inputs loop over chunks).
MAX_EVAL_CHUNK = 1024


is_structure = _structures.is_structure
leaves = _structures.leaves
_float32 = _structures.float32


def to_arrays(data, name):
    """``data`` as NumPy arrays: one array, or a tuple/dict of arrays (a structure)."""
    if isinstance(data, dict):
        return {k: _arrays.to_numpy(v, f"{name}[{k!r}]") for k, v in data.items()}
    if is_structure(data):
        return tuple(_arrays.to_numpy(v, f"{name}[{i}]") for i, v in enumerate(data))
    return _arrays.to_numpy(data, name)


def is_in_memory(x) -> bool:
    if isinstance(x, dict):
        return all(_arrays.is_in_memory(v) for v in x.values())
    if is_structure(x):
        return all(_arrays.is_in_memory(v) for v in x)
    return _arrays.is_in_memory(x)


def _in_output_order(b, y):
    """Targets given as a dict keyed by output name, as a tuple in the model's output order
    (a flattened dict would follow the sorted keys instead, pairing targets with the wrong
    outputs of a model whose outputs are a list)."""
    if not isinstance(y, dict):
        return y
    names = _output_names(b)
    if names is None or set(names) != set(y):
        return y
    return tuple(y[k] for k in names)


def _output_names(b):
    network = getattr(b.model, "_engine_network", None)
    return network().output_names if callable(network) else None


def _one_input(model, x):
    """``[x]`` for a model with one input is ``x``, as Keras flattens it (Keras 2 code passes
    ``model.predict([X])``); a model declared with a list of inputs keeps the list, and a
    subclassed model's ``call`` receives what was given.  ``{name: x}`` is ``x`` too when
    ``name`` is the input's (a ``Sequential`` takes any name, with Keras's warning)."""
    one_dict = isinstance(x, dict) and len(x) == 1
    if one_dict:
        (key, value), = x.items()
        if not hasattr(value, "shape"):
            return x
    elif not (isinstance(x, list | tuple) and len(x) == 1 and hasattr(x[0], "shape")):
        return x
    stack = hasattr(model, "add")
    graph = stack or getattr(model, "_nodes", None) is not None
    if not graph or isinstance(getattr(model, "_inputs_struct", None), list | tuple | dict):
        return x
    if not one_dict:
        return x[0]
    names = [getattr(t, "name", None) for t in (getattr(model, "inputs", None) or [])]
    if stack:
        if names != [key]:
            warnings.warn(
                f"The structure of `inputs` doesn't match the expected structure. Expected: "
                f"{names[0] if names else 'one array'}; received a dict with key {key!r}. "
                f"The Sequential model takes its one array.",
                UserWarning,
                stacklevel=4,
            )
        return value
    return value if names == [key] else x


def _targets_of_lossless_outputs(model, x, y, zeros=True):
    """``y`` with a placeholder for each output that ``compile(loss=[fn, None])`` gave no
    loss, as Keras pairs the targets given with the outputs that have one (the keras.io
    miniature GPT: ``fit(x, y)`` on a model returning ``[logits, hidden]``).  ``None``
    entries of a target list (``[y, None]``) become placeholders too.  ``zeros=False``: the
    placeholders are ``None`` (per-output sample weights, paired the same way)."""
    compiled = getattr(model, "_compiled", None)
    if y is None or not compiled or not isinstance(compiled.get("loss"), list | tuple):
        return y
    losses = list(compiled["loss"])
    if None not in losses:
        return y
    n = len(leaves(x)[0])
    blank = np.zeros((n, 1), np.float32) if zeros else None
    targets = list(y) if isinstance(y, list | tuple) else [y]
    if len(targets) == len(losses):
        return type(y)(blank if t is None else t for t in targets)
    with_loss = [i for i, lo in enumerate(losses) if lo is not None]
    if len(targets) != len(with_loss):
        return y
    full = [blank] * len(losses)
    for i, t in zip(with_loss, targets):
        full[i] = t
    return full


def host_inputs(b, x, name="x"):
    """``(x, hosted)``: ``x`` through the model's host prefix (its string preprocessing
    layers, :mod:`lamina.models.host_prefix`) when it has one, checked there; else ``x``."""
    x = _one_input(b.model, x)
    find = getattr(b.model, "_host_prefix", None)
    prefix = find() if find is not None else None
    if prefix is None:
        return x, False
    return prefix.run(x, name), True


def prepare(b, x, y, sample_weight=None, class_weight=None, *, name="x", need_y=True):
    """Converts and checks in-memory ``(x, y, sample_weight)``; builds the model if needed.

    Returns:
        ``(x, ys, sample_weight)``: ``x`` (array or structure; integers as int32, the rest
        float32), ``ys`` a tuple with
        one target array per output (``()`` without targets), and the sample weights (or
        ``None``), class weights folded in.
    """
    x, hosted = host_inputs(b, x, name)
    x = to_arrays(x, name)
    y = _targets_of_lossless_outputs(b.model, x, y)
    y_arr = None
    if need_y:
        if y is None:
            raise ValueError(
                f"y is None. {'fit' if name == 'x' else 'evaluate'} needs targets: call it as "
                f"model.fit(X, y) with one target per row of X."
            )
        y_arr = to_arrays(y, "y")
    x_leaves = leaves(x)
    y_leaves = [] if y_arr is None else leaves(y_arr)
    sample_weight = _output_weights.single(sample_weight, y_arr)
    per_output = _output_weights.is_structure(sample_weight)
    sw = None
    if sample_weight is not None and not per_output:
        sw = _arrays.to_numpy(sample_weight, "sample_weight")
    _arrays.check_samples(x_leaves[0], y_leaves[0] if y_leaves else None, sw)
    n = x_leaves[0].shape[0]
    for i, a in enumerate([*x_leaves[1:], *y_leaves[1:]]):
        if a.shape[0] != n:
            raise ValueError(
                f"Every input and target array needs the same number of rows: the first input "
                f"has {n}, array {i + 1} of the structure has {a.shape[0]}."
            )
    b.build(_structures.shape_tree(x), _structures.dtype_tree(x))
    if not hosted:
        b.check_x(x)
    y_given, y_arr = y_arr, _in_output_order(b, y_arr)
    if need_y:
        b.check_y(y_arr)
    x = _structures.model_inputs(x, name)
    ys = () if y_arr is None else tuple(leaves(_float32(y_arr, "y")))
    if per_output:  # one array per output, in the targets' order; ``None`` entries as ones
        if not isinstance(sample_weight, dict):
            sample_weight = _targets_of_lossless_outputs(b.model, x, sample_weight, zeros=False)
        sw = _output_weights.per_output(sample_weight, y_given, n, _output_names(b))
        sw = tuple(leaves(_in_output_order(b, sw)))
    elif sw is not None:
        sw = _arrays.as_float32(sw, "sample_weight")
    if class_weight is not None:
        if len(ys) != 1:
            raise ValueError(
                f"class_weight is only supported for models with a single output; this model "
                f"has {len(ys)}. Pass sample_weight instead, one array per output (a list, or "
                f"a dict keyed by output name) holding each sample's class weight."
            )
        cw = _arrays.class_weight_to_sample_weight(ys[0], class_weight)
        sw = cw if sw is None else _output_weights.rows(sw, lambda w: w * cw)
    return x, ys, sw


def ones_if_none(sw, x):
    n = leaves(x)[0].shape[0]
    return np.ones((n,), np.float32) if sw is None else sw


def resident_eval(b, x, y, sample_weight, batch_size, *, name="x", need_y=True):
    """Checked in-memory evaluation data on the devices, and the host arrays."""
    x, ys, sw = prepare(b, x, y, sample_weight, name=name, need_y=need_y or y is not None)
    batches, mask, real = _epochs.batched((x, ys, ones_if_none(sw, x)), batch_size)
    return _epochs.ResidentBatches(batches, mask, real), (x, ys, sw)


def check_steps(value, name):
    if isinstance(value, float | np.floating) and np.isfinite(value) and value > 0:
        # Keras 2's loops ran ``while steps < steps_per_epoch``: a fraction
        # (``len(x) / batch_size``) meant one more, partial, step.
        value = math.ceil(value)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1
    ):
        raise ValueError(f"{name} must be a positive integer or None. Received: {name}={value!r}.")
    return None if value is None else int(value)


def first_batch(b, adapter, need_y=True, hosted=False):
    """Builds the model from a stream's first batch and checks the batch against it.

    ``x`` and ``y`` may be structures (several inputs or outputs), checked as in memory.
    ``hosted``: the batches went through the model's host prefix, which checked them."""
    x, y, _ = adapter.peek()
    b.build(_structures.shape_tree(x), _structures.dtype_tree(x))
    try:
        if not hosted:
            b.check_x(x)
    except ValueError as e:
        raise ValueError(f"Batch 0: {e}") from None
    if need_y:
        if y is None:
            raise ValueError(
                "The input gives no targets: fit and evaluate need (x, y) batches (for a file, "
                "pass target=...)."
            )
        b.check_y(y)
    return x, y


def stream(
    b,
    x,
    y,
    sample_weight,
    *,
    batch_size,
    steps,
    steps_name,
    shuffle=False,
    class_weight=None,
    need_y=True,
):
    """The :class:`~lamina.data.epochs.StreamEpochs` of a streamed input, and its first
    batch."""
    adapter = _adapters.get(
        x,
        y,
        sample_weight,
        batch_size=batch_size,
        shuffle=shuffle,
        class_weight=class_weight,
        need_y=need_y,
    )
    find = getattr(b.model, "_host_prefix", None)
    prefix = find() if find is not None else None
    if prefix is not None:  # string batches: the prefix runs on each before its checks
        from lamina.models.host_prefix import wrap_adapter

        wrap_adapter(adapter, prefix)
    first = first_batch(b, adapter, need_y=need_y, hosted=prefix is not None)
    feed = _dist.feed(adapter, first, steps, steps_name)
    return _epochs.StreamEpochs(feed, steps), first


def stream_chunk(b, source, first, *, train=True):
    """Steps per streamed chunk: the strategy's length, bounded by ``MAX_CHUNK_BYTES``."""
    x, y = first
    cap = source.feed.capacity or _structures.rows(x)
    steps = source.steps
    per_row = [a[0].size for a in leaves(x) + ([] if y is None else leaves(y))]
    row_bytes = 4 * (sum(per_row) + 2)
    if train:
        length = train_chunk_length(b, cap, steps or (1 << 30))
    else:
        length = min(MAX_EVAL_CHUNK, steps or (1 << 30))
    if steps is None:
        length = min(length, UNKNOWN_LENGTH_CHUNK)
    return max(1, min(length, MAX_CHUNK_BYTES // (cap * row_bytes)))


def train_chunk_length(b, batch_size, steps) -> int:
    """Steps per compiled training call (see :mod:`lamina.training.strategy`)."""
    return train_plan(b, batch_size, steps).steps_per_call


def train_plan(b, batch_size, steps, *, live=True, epochs=1, source=None):
    """The strategy's plan for a training program (the one place the engine asks it).

    With ``source`` (resident rows), the model's forward pass on one row is profiled
    (:func:`lamina.training.strategy.forward_profile`, remembered per model and row shape)
    when the plan may use it: convolutions and their FLOPs can make the plan a timed trial
    (enough epochs, the automatic strategy) or mark the fit compile-bound (a model above
    :data:`lamina.training.compilation.SMALL_MODEL_WEIGHTS` with or without convolutions,
    whose training program then compiles with lighter options unless it has a loop)."""
    conv, flops, kind, profiled = False, None, None, False
    data = getattr(source, "data", None)
    trial_possible = (
        epochs >= _strategy.TRIAL_MIN_EPOCHS and steps >= 3 and _strategy.resolve() == "auto"
    )
    if isinstance(data, tuple) and (
        trial_possible or b.n_params() > _compilation.SMALL_MODEL_WEIGHTS
    ):
        row = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct((1, *a.shape[1:]), a.dtype), data[0]
        )
        conv, flops, kind = b.forward_profile(row)
        profiled = True
    return _strategy.plan(
        b.n_params(),
        batch_size,
        steps,
        live=live,
        flops_per_sample=flops,
        loop_sensitive=conv,
        epochs=epochs,
        profiled=profiled,
    )._replace(forward_kind=kind)


def validation_source(b, validation_data, batch_size, steps):
    """An evaluation source for any kind of ``validation_data``."""
    if isinstance(validation_data, tuple | list) and 1 <= len(validation_data) <= 3:
        # ``(x_val,)`` or ``(x_val, None)``: a model whose test_step needs no targets (a
        # self-supervised one), as Keras unpacks them.
        vx, vy, vsw = (*validation_data, None, None)[:3]
        if len(validation_data) == 1 and not is_in_memory(vx):
            raise ValueError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                "sample_weight), or a generator/PyDataset of batches. Received: a tuple of one "
                f"{type(vx).__name__}."
            )
        need_y = b.needs_y or vy is not None
        if is_in_memory(vx):
            source = resident_eval(b, vx, vy, vsw, batch_size, name="validation x", need_y=need_y)
            return source[0], None
        source, first = stream(
            b, vx, vy, vsw, batch_size=batch_size, steps=steps, steps_name="validation_steps",
            need_y=need_y,
        )
        return source, stream_chunk(b, source, first, train=False)
    if isinstance(validation_data, tuple | list):
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight). "
            f"Received: {type(validation_data).__name__} of length {len(validation_data)}."
        )
    if isinstance(validation_data, dict | np.ndarray) or _arrays.is_in_memory(validation_data):
        if not b.needs_y:
            # Keras unpacks bare arrays as ``x_val`` alone: a model with its own test_step
            # (Zero-DCE, an autoencoder's custom step) evaluates without targets.
            return validation_source(b, (validation_data,), batch_size, steps)
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight). "
            f"Received: {type(validation_data).__name__}."
        )
    try:
        source, first = stream(
            b,
            validation_data,
            None,
            None,
            batch_size=batch_size,
            steps=steps,
            steps_name="validation_steps",
        )
    except TypeError:
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
            f"or a generator/PyDataset of batches. Received: {type(validation_data).__name__}."
        ) from None
    return source, stream_chunk(b, source, first, train=False)
