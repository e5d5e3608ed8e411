"""A model's calls: ``model(x)`` on symbolic tensors (a graph node), inside a traced ``call``
(the scope's arrays) or on arrays (:func:`eager`: the forward pass with the current weights,
compiled once per input shape).  The methods of
:class:`lamina.models.nesting.NestedModelMixin` delegate here.

>>> import numpy as np
>>> import lamina
>>> inp = lamina.Input((2,))
>>> model = lamina.Model(inp, lamina.layers.Dense(1, kernel_initializer="ones")(inp))
>>> flags = np.array([[1.5, True]], dtype=object)  # pandas' mixed bool/float df.values
>>> np.asarray(model(flags)).tolist()
[[2.5]]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lamina.data.arrays import to_numpy
from lamina.layers import call_losses as _call_losses
from lamina.layers import symbolic as _symbolic
from lamina.layers import tracing as _tracing
from lamina.layers.box_data import data_dict_build_shape as _data_dict_shape
from lamina.layers.trace_inputs import called_on as _called_on
from lamina.scopes import note_built_stack
from lamina.training.inference_state import state_changed


def call(self, args, kwargs):
    """``model(*args, **kwargs)``: a graph node on symbolic tensors, the bound arrays inside
    a traced ``call``, else :func:`eager`."""
    if not args and "inputs" in kwargs:
        args = (kwargs.pop("inputs"),)
    if _symbolic.has_symbolic((args, kwargs)):
        _build_on_symbolic_call(self, args[0] if args else None)
        return _symbolic.symbolic_call(self, args, kwargs)
    if getattr(self, "_stack", None) is not None:
        note_built_stack(self)  # Keras builds it on its first call, in the scopes open now
    x = args[0]
    out = _tracing.sub_call(self, x, dict(kwargs))
    if out is not None:
        return out
    training = kwargs.get("training")
    if training is not None:
        training = bool(training)
    elif not _graph_resolves_training(self):
        training = self._eager_training_default()
    return self._eager(x, training=training)


def _graph_resolves_training(model) -> bool:
    """Whether ``model(x)`` without ``training`` leaves the flag to each of its layers (a
    functional model whose ``call`` is the graph's, a ``Sequential``'s stack): as Keras runs
    each layer with its own default there (``graph._node_training``, ``stack_forward``)."""
    from lamina.layers.call_args import call_training_default

    runs_layers = getattr(model, "_nodes", None) is not None or _is_stack(model)
    return runs_layers and call_training_default(model) is None


def eager(self, x, training=False):
    """``model(x)`` on arrays: the forward pass with the current weights (compiled once
    per input shape)."""
    from lamina.models.host_prefix import adopt_string_input

    adopt_string_input(self, x)  # a string layer first, no Input, given text
    find = getattr(self, "_host_prefix", None)
    prefix = find() if find is not None else None
    if prefix is not None:  # string inputs: their layers run on the host first
        x = prefix.run(x)
    x = jax.tree_util.tree_map(lambda v: _to_array(v, self.name), x)
    leaves = jax.tree_util.tree_leaves(x)
    # Keras's data dict of images (and boxes, masks...) given to a stack of image layers:
    # built from its images, which may be one image (Keras runs the layers in turn).
    data_shape = _data_dict_shape(x) if getattr(self, "_stack", None) is not None else None
    one_input = isinstance(getattr(self, "_input_shape", None), tuple)
    if prefix is None and len(leaves) == 1 and one_input and data_shape is None:
        self._check_input_shape(leaves[0].shape)  # a clear error before tracing
    if isinstance(x, dict) and all(hasattr(v, "shape") for v in x.values()):
        shapes = {k: tuple(v.shape) for k, v in x.items()}  # call() indexes it by name
    else:
        shapes = leaves[0].shape if len(leaves) == 1 else [a.shape for a in leaves]
    shapes = data_shape or shapes
    with _called_on(self, x):  # a subclassed model's call builds on zeros of x's dtypes
        self._ensure_built(shapes)
    net = self._engine_network()
    from lamina.distribution.model_parallel import traced_layouts

    # A ModelParallel's output layouts are traced in: one function per distribution.
    fn_key = (net.spec_key, training, traced_layouts())
    fn = self.__dict__.setdefault("_eager_fns", {}).get(fn_key)
    if fn is None:
        made_by: list = []  # the layer of each loss term, found when ``run`` is traced

        def run(params, state, x, key):
            with _call_losses.TermLog() as log:
                y, new_state, _ = net.forward(
                    params, state, x, training=training, key=key if net.needs_key else None
                )
            made_by[:] = [layer for layer, _ in log.terms]
            # In inference only a state the call wrote comes back (a user layer's
            # ``assign`` in ``call``, as Keras's eager call keeps it): nothing otherwise.
            if not training and not state_changed(state, new_state):
                new_state = None
            return y, new_state, [term for _, term in log.terms]

        fn = self._eager_fns[fn_key] = (jax.jit(run), made_by)
    from lamina.utils import random as _random

    ts = self._train_state
    y, new_state, terms = fn[0](ts.params, ts.state, x, _random.next_key())
    if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
        # Inside the user's own transformation: the weights are constants of it, and
        # nothing traced may outlive it (a moving statistic, an add_loss term).
        return y
    # ``model.losses`` lists the call's add_loss and activity terms, each under its layer.
    if terms or _may_add_loss(self):
        _call_losses.record(self, fn[1], terms)
    else:
        self.__dict__["_eager_losses"] = []
    if new_state is not None:
        self._train_state = ts._replace(state=new_state)
    return y


def _build_on_symbolic_call(model, inputs) -> None:
    """Builds a ``Sequential`` on its first call on a tensor, as Keras does: one declared
    without an input shape takes the tensor's, so its weights exist (and are the ones the
    calling model trains), its output shape is known and its config has its ``InputLayer``."""
    if model._train_state is not None:
        return
    if not _is_stack(model):
        # A subclassed model first called on a tensor of a graph builds on its shapes, as
        # Keras builds it there (its weights must exist before the graph traces its shapes).
        if getattr(model, "_nodes", None) is None and isinstance(inputs, _symbolic.KerasTensor):
            model._ensure_built(tuple(inputs.shape))
        return
    if not model._layers or not isinstance(inputs, _symbolic.KerasTensor):
        return  # several inputs: a Sequential takes one tensor, its call reports the error
    adopt_input_shape(model, inputs.shape)
    model.build(model._input_shape)


def adopt_input_shape(model, input_shape) -> None:
    """A ``Sequential`` nested without an input shape takes the one it is first built for (by
    a symbolic call or by the model holding it), as Keras's nested ``Sequential`` does."""
    if not _is_stack(model) or model._input_shape is not None:
        return
    if isinstance(input_shape, list | tuple) and all(
        d is None or isinstance(d, int) for d in input_shape
    ):
        model._input_shape = (None, *input_shape[1:])


def _is_stack(model) -> bool:
    from lamina.models.sequential import Sequential

    return isinstance(model, Sequential)


def _may_add_loss(layer) -> bool:
    """Whether ``layer``'s forward can produce loss terms (activity regularizers, add_loss)."""
    if layer.activity_regularizer is not None or layer._traced:
        return True
    if getattr(layer, "_is_model", False):
        return type(layer).__name__ not in ("Sequential", "Functional") or any(
            _may_add_loss(sub) for sub in layer._layers
        )
    return False


def _to_array(v, model_name="model"):
    if isinstance(v, jax.core.Tracer):  # model(x) inside the user's jax.grad / jax.jit
        return v.astype(jnp.float32) if v.dtype == jnp.float64 else v
    arr = np.asarray(v)
    if arr.dtype == object:  # pandas' mixed bool/float ``df.values``: converted as fit does
        arr = to_numpy(arr, f"The input of model {model_name!r}")
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr
