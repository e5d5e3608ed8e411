"""The model/engine contract: what a model hands the engine so that ``fit``, ``evaluate`` and
``predict`` can run it.

A model of any kind (``Sequential``, a functional graph, a subclassed ``Model``) becomes one
:class:`Network`: the layers that own weights, and one pure forward function over them.  The
engine (``lamina.training.step`` and ``lamina.training.loop``) never looks inside the model
object; it compiles programs from the ``Network`` and the compile settings, and it reads and
writes the model's arrays only as a :class:`~lamina.training.state.TrainState` pytree.

The contract (stable: other model kinds build on it)
----------------------------------------------------

``Network(layers, forward, spec_key, output_names=None, uses_rng=None)``

* ``layers``: a tuple of the layers that own weights, in Keras's weight order.  The weights
  are two tuples with one dict per layer, aligned with ``layers``: ``params`` (trainable,
  ``{"kernel": ..., "bias": ...}``) and ``state`` (non-trainable, e.g. batch-norm moving
  statistics), as each layer's ``init(key, input_shape) -> (params, state)`` returned them.
  The engine uses the layers only for what travels with a weight: each layer's
  ``regularization_loss(params)`` (added to the loss), ``apply_constraints(params)`` (after
  each optimizer step) and ``uses_rng``.  Which layers train is a tuple of booleans the model
  passes with the compile settings (``trainable`` mask, one per layer).
* ``forward(params, state, x, *, training, key=None, batch_mask=None)
  -> (y_pred, new_state, aux_loss)``: pure and traceable (``jax.jit``, ``jax.grad``,
  ``lax.scan``).

  - ``x``: one array, or a pytree (list / tuple / dict) of arrays, batch dimension first.
  - ``training``: a Python bool (static).
  - ``key``: a JAX key when training and ``uses_rng``; ``None`` otherwise.  Split it for each
    layer that draws random numbers.
  - ``batch_mask``: ``None`` or a float32 ``(batch,)`` array, 1 for real rows and 0 for the
    padding of a short last batch; layers whose statistics depend on the batch (batch
    normalization, activity regularizers) must ignore padded rows.
  - ``y_pred``: one array, or a pytree of arrays (one leaf per model output).
  - ``new_state``: the tuple of per-layer state dicts after the call (unchanged when not
    training).
  - A functional or layer-stack network also takes ``input_masks=`` (one Keras mask per
    input, or ``None``): a model nested in another gets its inputs' masks that way, and
    the masks of its outputs are reported with :func:`report_output_masks`
    (:func:`apply_collecting_masks` hands them to the outer model).
  - ``aux_loss``: a float32 scalar added to the training loss: activity regularization and
    ``add_loss`` terms, each already divided by the real batch size as Keras does.
* ``spec_key``: hashable; two networks with equal keys compute the same function.  It is the
  key of the compiled-program cache (layer specs are static and hashable: ``layer._spec_key()``
  per layer, plus the graph's wiring for a functional model).
* ``output_names``: ``None`` for one output; else a tuple with one name per leaf of ``y_pred``
  in ``jax.tree_util.tree_leaves`` order (dict outputs: sorted keys).  The names key a dict
  ``loss=``/``metrics=`` of ``compile`` and name the logs as Keras 3 does:
  ``<output>_loss`` and ``<output>_<metric>``.
* ``uses_rng``: whether ``forward`` needs a key when training (default: any layer's
  ``uses_rng``).

Targets ``y`` and sample weights follow the structure of ``y_pred`` (or its flat list of
leaves).  The engine flattens both with ``jax.tree_util.tree_leaves``; every leaf has the same
number of rows.

``stack_network(layers)`` is the network of a layer stack (``Sequential``; a layer used at
several positions is one entry of ``layers``, its weights shared by the uses).

The model side: ``Binding``
---------------------------

``fit``/``evaluate``/``predict`` of a model call ``lamina.training.loop.fit(binding, ...)``
(``evaluate``, ``predict``) with a :class:`Binding`: the model object (callbacks get it as
``callback.model``; the engine only sets its Keras attributes ``stop_training`` and
``history``) and the functions through which the engine reads and writes the model's state.
The engine calls nothing else on the model, so any model class that can fill a ``Binding``
trains with the one engine (``Sequential._binding()`` is the example).

>>> import jax, jax.numpy as jnp
>>> from lamina.layers import Dense
>>> layer = Dense(2, name="d")
>>> net = stack_network((layer,))
>>> params, state = layer.init(jax.random.key(0), (None, 3))
>>> y, new_state, aux = net.forward((params,), (state,), jnp.ones((4, 3)), training=False)
>>> y.shape, float(aux)
((4, 2), 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lamina.layers.borrowed import offer_layers, offering
from lamina.layers.call_args import default_training
from lamina.layers.call_losses import log_term
from lamina.training.autocast import policy_apply
from lamina.training.output_masks import OutputMasks
from lamina.training.output_masks import report as report_output_masks


class Network(NamedTuple):
    """A model as the engine sees it (see the module docstring for the full contract).

    Attributes:
        layers: the layers owning weights; ``params``/``state`` hold one dict per layer.
        forward: ``forward(params, state, x, *, training, key=None, batch_mask=None)
            -> (y_pred, new_state, aux_loss)``, pure.
        spec_key: a hashable key; equal keys mean the same ``forward``.
        output_names: ``None`` (one output) or one name per output leaf.
        uses_rng: whether ``forward`` draws random numbers when training (``None``: derived
            from the layers).
        runs_user_code: whether ``forward`` runs user code besides the layers' (a subclassed
            model's ``call``, which may add a loss over the whole batch).
        passes_training: whether the compiled steps pass ``training`` to ``forward``; False
            for a subclassed model whose ``call`` takes no ``training`` argument (Keras 3's
            trainer passes it only to a ``call`` that takes it, so the layers inside run with
            their own default: inference).  A model nested in another always gets its
            caller's mode.
    """

    layers: tuple
    forward: Callable[..., Any]
    spec_key: Hashable
    output_names: tuple | None = None
    uses_rng: bool | None = None
    #: Whether ``forward`` runs user code beyond its layers (a subclassed model's ``call``),
    #: which may call ``add_loss`` on the whole batch.
    runs_user_code: bool = False
    passes_training: bool = True

    @property
    def needs_key(self) -> bool:
        """Whether training calls need a random key."""
        if self.uses_rng is not None:
            return bool(self.uses_rng)
        return any(layer.uses_rng for layer in self.layers)

    @property
    def inference_rng(self) -> bool:
        """Whether inference calls need a random key too (a layer drawing there, such as a
        subclassed ``Dropout`` calling itself with ``training=True``)."""
        return any(getattr(layer, "rng_in_inference", False) for layer in self.layers)

    def regularization(self, params) -> jax.Array:
        """The weight regularizers' total penalty (Keras adds it to the training loss)."""
        total = jnp.zeros((), jnp.float32)
        for layer, p in zip(self.layers, params):
            if p:
                total = total + layer.regularization_loss(p)
        return total

    def constrain(self, params, trainable) -> tuple:
        """Each trained layer's constraints applied to its new weights (after a step)."""
        return tuple(
            layer.apply_constraints(p) if t else p
            for layer, p, t in zip(self.layers, params, trainable)
        )


def conform_input(x, ref_shape=None, dtype="float32"):
    """``x`` as a model input declared with ``ref_shape`` (batch first) and ``dtype``.

    Keras's rule for a model's inputs: an array one rank short whose ``Input`` ends in 1
    gains that axis (``(n,)`` data into ``Input((1,))``), one rank too many ending in 1 loses
    it, and the values are converted to the ``Input``'s dtype (float32 unless declared).
    String inputs are left alone (their layers run on the host).

    >>> conform_input(jnp.arange(3), (None, 1)).shape, conform_input(jnp.arange(3)).dtype
    ((3, 1), dtype('float32'))
    """
    if not hasattr(x, "ndim"):
        return x
    if ref_shape is not None:
        ref = tuple(ref_shape)
        if x.ndim == len(ref) + 1 and x.shape[-1] == 1:
            x = jnp.squeeze(x, axis=-1)
        elif x.ndim == len(ref) - 1 and ref and ref[-1] == 1:
            x = jnp.expand_dims(x, axis=-1)
    if dtype is None or dtype == "string":
        return x
    want = jax.dtypes.canonicalize_dtype(jnp.dtype(dtype))
    return x if x.dtype == want else x.astype(want)


def stack_network(layers, input_shape=None, input_dtype="float32", chain=None) -> Network:
    """The :class:`Network` of ``layers`` applied in order (a ``Sequential`` model).

    Args:
        layers: the layers, first to last; one layer object may come several times (Keras
            shares its weights between the uses), its weights held once.
        input_shape: the model's declared input shape (batch first), or ``None``: inputs
            one rank off are reshaped as :func:`conform_input` says.
        input_dtype: the dtype the inputs are converted to (``None`` or ``"string"``: kept).
        chain: a :class:`lamina.models.state_chain.StateChain` when a layer is held at two
            places (a nested model and the stack): each use's state update starts from the last.

    Returns:
        A network whose ``forward`` runs the layers in order, passing Keras masks
        (``Embedding(mask_zero=True)``) from layer to layer; its ``layers`` are the distinct
        layers in order of first use (``params``/``state`` hold one dict for each).
    """
    unique, slots = stack_slots(layers)
    ref = None if input_shape is None else tuple(input_shape)

    def forward(params, state, x, *, training, key=None, batch_mask=None, input_masks=None):
        x = conform_input(x, ref, input_dtype)
        mask = None if input_masks is None else jax.tree_util.tree_leaves(input_masks)
        return stack_forward(
            unique, params, state, x, training=training, key=key, batch_mask=batch_mask,
            mask=mask[0] if mask else None, slots=slots, chain=chain,
        )  # fmt: skip

    # The slots join the key only when a layer repeats: other stacks keep their cache keys.
    spec = tuple(layer._spec_key() for layer in layers)
    return Network(
        layers=unique,
        forward=forward,
        spec_key=("stack", spec, ref, input_dtype, *(() if slots is None else (slots,))),
    )


def stack_slots(layers) -> tuple[tuple, tuple | None]:
    """``(distinct layers in order of first use, slots)``: ``slots[j]`` is the index of the
    ``j``-th position's layer among them, or ``None`` when no layer repeats.

    >>> from lamina.layers import Dense
    >>> d, e = Dense(2), Dense(1)
    >>> stack_slots((d, d, e))[1], stack_slots((d, e))[1]
    ((0, 0, 1), None)
    """
    index: dict[int, int] = {}
    unique = []
    for layer in layers:
        if id(layer) not in index:
            index[id(layer)] = len(unique)
            unique.append(layer)
    if len(unique) == len(layers):
        return tuple(unique), None
    return tuple(unique), tuple(index[id(layer)] for layer in layers)


def stack_forward(
    layers, params, state, x, *, training: bool, key=None, batch_mask=None, mask=None, slots=None,
    chain=None,
):  # fmt: skip
    """Runs ``layers`` in order; returns ``(outputs, new_state, activity_loss)``.  ``mask``:
    the Keras mask of ``x`` (a ``Sequential`` nested in a model gets its input's).

    ``slots`` (from :func:`stack_slots`): the layer index of each position, when a layer
    repeats or only some layers run; every use of a layer reads its one ``params`` entry (so
    the gradients of the uses add up) and the state the use before it left (a shared
    ``BatchNormalization`` updates its statistics at each use, as Keras's variables do).
    ``new_state`` always has one entry per layer; ``chain`` (see :func:`stack_network`)
    carries state between the entries holding one layer."""
    order = range(len(layers)) if slots is None else slots
    positions = [layers[u] for u in order]
    # ``training`` None (``model(x)`` without it): each layer its own default, as Keras's
    # ``Sequential.call`` passes None on and each layer resolves it.
    modes = [training if training is not None else default_training(la) for la in positions]
    keys = [None] * len(positions)
    if key is not None:
        # In inference only a layer that draws there too gets a key (MC dropout).
        draws = [
            layer.uses_rng and (bool(mode) or layer.rng_in_inference)
            for layer, mode in zip(positions, modes)
        ]
        if any(draws):
            split = iter(jax.random.split(key, sum(draws)))
            keys = [next(split) if d else None for d in draws]
    from lamina.layers.variables import AuxCollector

    aux = jnp.zeros((), jnp.float32)
    new_state = list(state)
    # Keras-style layers report their ``add_loss`` terms to the innermost collector; a layer
    # reading another's variables (tied weights) reads this network's arrays of it.
    with AuxCollector() as added, offering():
        offer_layers(layers, params, state)
        for layer, u, k, mode in zip(positions, order, keys, modes):
            kwargs: dict[str, Any] = {}
            if layer.uses_mask:
                kwargs["mask"] = mask
            if getattr(layer, "uses_batch_mask", False):
                kwargs["batch_mask"] = batch_mask
            if chain:
                chain.pull(new_state, u)
            y, new_state[u], inner = apply_collecting_masks(
                layer, params[u], new_state[u], x, training=mode, key=k, **kwargs
            )
            if chain:
                chain.push(new_state, u)
            mask = layer.compute_mask(x, mask) if inner is None else inner[0]
            if layer.activity_regularizer is not None:
                term = activity_penalty(layer.activity_regularizer, y, batch_mask)
                aux = aux + term
                log_term(layer, term)
            x = y
    if chain:
        chain.settle(new_state)
    report_output_masks(x, (mask,))  # the losses and metrics weigh by it, as Keras's do
    return x, tuple(new_state), aux + added.total


def apply_collecting_masks(layer, params, state, x, **kwargs):
    """``policy_apply(layer, ...)`` plus, for a nested model, the masks its own layers left on
    its outputs (one per output leaf; ``None`` when it reported none): as in Keras, the mask
    computed inside a nested model leaves with its outputs."""
    if not getattr(layer, "_is_model", False):
        return (*policy_apply(layer, params, state, x, **kwargs), None)
    with OutputMasks() as collected:
        y, new_state = policy_apply(layer, params, state, x, **kwargs)
    masks = collected.masks_for(y)
    return y, new_state, masks if any(m is not None for m in masks) else None


def activity_penalty(regularizer, y, batch_mask=None):
    """An activity regularizer's penalty on ``y``, divided by the real batch size (Keras 3)."""
    if batch_mask is None:
        return regularizer(y) / y.shape[0]
    m = jnp.reshape(batch_mask, batch_mask.shape + (1,) * (y.ndim - batch_mask.ndim))
    return regularizer(y * m) / jnp.maximum(jnp.sum(batch_mask), 1.0)


@dataclass
class Binding:
    """What the engine needs from a model object; the model builds it (see the module
    docstring).  Every callable is called by the engine at the time it needs the value, so
    callbacks that change the model between epochs (a new learning rate, restored weights) are
    seen.

    Attributes:
        model: the user-facing model (``callback.model``; ``stop_training``, ``history``).
        program: ``() -> Program``: the compiled program for the current compile settings
            (built on demand; ``lamina.training.step.build_program``).
        get_state: ``() -> TrainState``: the model's latest state.
        set_state: ``(TrainState) -> None``: stores a new state on the model.
        get_rng: ``() -> key``: the key that shuffles the data (advanced every epoch).
        set_rng: ``(key) -> None``: stores the advanced key.
        build: ``(x_shape, x_dtypes) -> None``: builds the weights from the data's shape if
            needed (``x``'s shape, batch dimension first; a list or dict of shapes for
            structured ``x``, as :func:`lamina.data.structures.shape_tree` gives; the dtype
            names alike, :func:`~lamina.data.structures.dtype_tree`).
        check_x: ``(x) -> None``: raises ``ValueError`` for inputs the model cannot take
            (``x`` a host array or pytree of arrays, or the first batch of a stream).
        check_y: ``(y) -> None``: raises ``ValueError`` for targets that do not fit the
            loss and outputs (and records their shapes for metric resolution).
        metrics_names: ``() -> list[str]``: ``evaluate``'s value names in order.
        finalize: ``(epochs) -> None``: end-of-fit work on the weights (``use_ema``).
        compiled: whether ``compile`` was called.
        steps_per_execution: ``compile(steps_per_execution=...)``: steps between batch hooks.
        n_params: the parameter count (sizes the compiled chunks).
        compile_seconds: the measured compile time of the training program, or ``None``;
            the engine stores its measurement here.
        predict_width: ``() -> int``: values per row of the widest activation (sizes the
            tiles of ``predict``).
        needs_y: whether ``fit``/``evaluate`` require targets.
        forward_profile: ``(row) -> Profile`` of the forward pass on one row (``row``:
            ``jax.ShapeDtypeStruct`` leaves, batch 1): whether it convolves, its FLOPs and
            its kind, for the strategy's cost model and the compile options
            (:func:`lamina.training.strategy.forward_profile`).
        note_data: called with what the user passed (custom steps receive exactly that).
        write_metrics: ``(states) -> None``: gives the model's metric objects the state the
            compiled steps reached (:mod:`lamina.training.metric_writeback`; ``None``: reset).
    """

    model: Any
    program: Callable[[], Any]
    get_state: Callable[[], Any]
    set_state: Callable[[Any], None]
    get_rng: Callable[[], Any]
    set_rng: Callable[[Any], None]
    build: Callable[..., None]
    check_x: Callable[[Any], None]
    check_y: Callable[[Any], None]
    metrics_names: Callable[[], list]
    finalize: Callable[[int], None]
    compiled: bool
    steps_per_execution: int = 1
    n_params: Callable[[], int] = lambda: 1
    compile_seconds: float | None = None
    predict_width: Callable[[], int] = lambda: 1
    #: Whether ``fit``/``evaluate`` need targets (a model with a custom ``train_step`` may
    #: train on ``x`` alone, as in Keras).
    needs_y: bool = True
    #: ``(kind, has_y, has_sw) -> None``: the engine tells the model what the user passed
    #: (``kind`` is ``"train"`` or ``"test"``); a custom step's ``data`` has those parts.
    note_data: Callable[[str, bool, bool], None] = lambda kind, has_y, has_sw: None
    #: ``(states) -> None``: the metric states to leave on the model's metric objects, as
    #: Keras's ``jax_state_sync`` does (``None``: reset them, as an epoch's start does).
    write_metrics: Callable[[Any], None] = lambda states: None
    forward_profile: Callable[[Any], tuple] = lambda row: (False, None, None)
