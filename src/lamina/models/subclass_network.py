"""A subclassed model (``class MyModel(lamina.Model)`` with ``call``) as the engine sees it.

:func:`subclass_network` turns the model into a :class:`~lamina.training.network.Network`
whose forward pass runs ``call`` with each layer bound to its arrays (Keras-JAX's stateless
scope), and names the outputs ``call`` returns (:func:`call_output_names`) so that each gets
its loss and ``loss_weights``.  The shape helpers normalise what a subclassed model is built
from: one shape, or a list or dict of shapes for several inputs.

>>> norm_shape([[None, 5], [None, 6]]), batchless({"a": (32, 3)})
([(None, 5), (None, 6)], {'a': (None, 3)})
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lamina.layers import tracing as _tracing
from lamina.layers.borrowed import offer_layers, offering
from lamina.layers.variables import AuxCollector, Scope
from lamina.models.shared_copies import copies, tie_network
from lamina.models.state_chain import ScopeChain, StateChain
from lamina.training.network import Network


def subclass_network(model) -> Network:
    """The :class:`Network` of a built subclassed ``model``: its ``call`` over its layers."""
    layers = tuple(model._layers)
    chain = StateChain(copies(model))  # a layer at several places: updates in call order

    def forward(params, state, x, *, training, key=None, batch_mask=None):
        scope = Scope(training=training, key=key, batch_mask=batch_mask)
        collector = AuxCollector()
        # Keras code broadcasts; a layer reading another's variables (tied weights, in a
        # model nested here too) reads this model's arrays of it.
        with scope, collector, jax.numpy_rank_promotion("allow"), offering():
            for layer, p, s in zip(layers, params, state):
                scope.bind(layer, p, s)
            offer_layers(layers, params, state)
            if chain:
                scope.state_chain = ScopeChain(chain, scope, layers)
            kwargs = _tracing.call_kwargs(model.call, training, None, {})
            y = model.call(x, **kwargs)
            if chain:
                scope.state_chain.settle()
        new_state = tuple({k: scope.lookup(la)[2][k] for k in s} for la, s in zip(layers, state))
        return y, new_state, jnp.asarray(scope.aux + collector.total, jnp.float32)

    net = Network(
        layers=layers,
        forward=forward,
        spec_key=("subclassed", id(model), tuple(la._spec_key() for la in layers)),
        uses_rng=any(la.uses_rng for la in layers),
        runs_user_code=True,
        passes_training=takes_training(model.call),
    )
    names = call_output_names(model, net)
    return tie_network(model, net if names is None else net._replace(output_names=names))


def takes_training(call) -> bool:
    """Whether ``call`` names a ``training`` parameter (Keras's ``_call_has_training_arg``:
    ``**kwargs`` does not count)."""
    import inspect

    try:
        return "training" in inspect.signature(call).parameters
    except (TypeError, ValueError):
        return True


def warn_training_arg(model) -> None:
    """Warns once per model when ``fit`` will run its Dropout/BatchNormalization-like layers
    in inference mode because its ``call`` takes no ``training`` argument (Keras 3 does so
    silently; TensorFlow's Keras 2 trained them)."""
    import warnings

    if model.__dict__.get("_warned_training_arg") or takes_training(model.call):
        return
    modal = sorted(la.name for la in _tracing_layers(model) if _trains_differently(la))
    if not modal:
        return
    model.__dict__["_warned_training_arg"] = True
    warnings.warn(
        f"{type(model).__name__}.call() takes no `training` argument, so fit() runs its "
        f"layers {modal} in inference mode (no dropout, BatchNormalization's moving "
        "statistics), as Keras 3 does. To train them, define call(self, inputs, "
        "training=None) and pass training=training to those layers.",
        UserWarning,
        stacklevel=4,
    )


def _tracing_layers(model) -> list:
    """The layers ``model`` holds, those of the models and layers it holds too."""
    found, stack, seen = [], list(getattr(model, "_layers", None) or ()), set()
    while stack:
        layer = stack.pop()
        if id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
            stack.extend(getattr(layer, "_layers", None) or ())
    return found


def _trains_differently(layer) -> bool:
    """Whether ``layer`` computes differently in training: it draws random numbers (dropout,
    noise) or is a batch normalization (batch statistics, moving averages), and its ``call``
    takes ``training`` (a custom layer drawing in a ``call`` without it draws in both modes)."""
    call = getattr(type(layer), "call", None)
    own = not getattr(call, "__module__", "lamina").startswith("lamina")
    if own and not takes_training(getattr(layer, "call", None)):
        return False
    if getattr(layer, "uses_rng", False):
        return True
    return any(cls.__name__ == "BatchNormalization" for cls in type(layer).__mro__)


def call_output_names(model, net) -> tuple | None:
    """Names of the outputs ``call`` returns, once built: ``None`` for one array, the keys of
    a dict, else ``output_1``, ``output_2``, ... (Keras 2's names for a subclassed model's
    outputs).  Found by tracing ``call`` abstractly once per input shape."""
    if model._train_state is None or model._input_shape is None:
        return None
    key = repr(model._input_shape)
    cached = model.__dict__.get("_output_names_cache")
    if cached is not None and cached[0] == key:
        return cached[1]
    spec = jax.eval_shape(
        lambda p, s: net.forward(p, s, zeros_like_inputs(model), training=False)[0],
        model._train_state.params,
        model._train_state.state,
    )
    leaves = jax.tree_util.tree_leaves(spec)
    if isinstance(spec, dict) and len(leaves) == len(spec):
        names = tuple(sorted(spec))
    elif len(leaves) > 1:
        names = tuple(f"output_{i + 1}" for i in range(len(leaves)))
    else:
        names = None
    model.__dict__["_output_names_cache"] = (key, names)
    return names


def zeros_like_inputs(model):
    """Zeros of the model's input shape and of the dtypes it was built on (integer ids); the
    batch is the size a stateful RNN takes, else 1."""
    shape = model._input_shape
    from lamina.layers.stateful import fixed_batch

    # A stateful RNN takes batches of its fixed size only (the other layers take any).
    batch = fixed_batch(model) if model.__dict__.get("_layers") else None
    if batch is not None:
        shape = _with_batch(shape, batch) if is_shape(shape) else _map_shapes(shape, batch)
    return _tracing._zeros(shape, model.__dict__.get("_input_dtypes"))


def _with_batch(shape, batch):
    return (batch, *shape[1:])


def _map_shapes(shapes, batch):
    if isinstance(shapes, dict):
        return {k: _with_batch(v, batch) for k, v in shapes.items()}
    return [_with_batch(v, batch) for v in shapes]


def is_shape(v) -> bool:
    """A shape (a tuple of dims), not a tuple of shapes (several outputs)."""
    return isinstance(v, tuple) and all(d is None or isinstance(d, int) for d in v)


def norm_shape(shape):
    """``shape`` as a tuple, or a list or dict of tuples (several inputs)."""
    if isinstance(shape, dict):
        return {k: tuple(v) for k, v in shape.items()}
    if isinstance(shape, list) and shape and isinstance(shape[0], list | tuple):
        return [tuple(s) for s in shape]
    return tuple(shape)


def batchless(shape):
    """``shape`` (or each of several) with its batch dimension unknown."""
    if isinstance(shape, dict):
        return {k: (None, *tuple(s)[1:]) for k, s in shape.items()}
    if isinstance(shape, list):
        return [(None, *s[1:]) for s in shape]
    return (None, *tuple(shape)[1:])
