"""A functional or subclassed model's outputs and the checks of its data: output shapes (from
an abstract trace of the forward pass), the targets of each output against its loss, the
inputs' shapes, and the widest row ``predict`` handles (its tile size).  Methods of
:class:`lamina.Model`.

>>> import lamina
>>> inp = lamina.Input((3,))
>>> model = lamina.Model(inp, [lamina.layers.Dense(2)(inp), lamina.layers.Dense(1)(inp)])
>>> output_shapes(model)
((None, 2), (None, 1))
"""

from __future__ import annotations

import jax

from lamina.models.sequential import Sequential
from lamina.models.subclass_network import is_shape, zeros_like_inputs
from lamina.models.trainer import TrainerMixin


def output_shape(self):
    """``model.output_shape``: the outputs' shapes, from an abstract trace of the forward pass."""
    self._require_built("output_shape")
    net = self._engine_network()
    spec = jax.eval_shape(
        lambda p, s: net.forward(p, s, zeros_like_inputs(self), training=False)[0],
        self._train_state.params,
        self._train_state.state,
    )
    shapes = jax.tree_util.tree_map(lambda a: (None, *a.shape[1:]), spec)
    return shapes


def output_shape_of(self, input_shape):
    out = self.output_shape
    return [out] if is_shape(out) else list(jax.tree_util.tree_leaves(out, is_leaf=is_shape))


def output_shapes(self):
    """Per output (``jax.tree_util.tree_leaves`` order), the prediction shape."""
    out = self.output_shape
    if isinstance(out, tuple) and (not out or not isinstance(out[0], tuple | list)):
        return (out,)
    return tuple(jax.tree_util.tree_leaves(out, is_leaf=is_shape))


def y_shapes(self):
    if self._y_shapes_multi is not None:
        return self._y_shapes_multi
    return None if self._y_shape is None else (self._y_shape,)


def check_targets(self, y):
    """Checks each output's targets against its loss; records their shapes."""
    from lamina import losses as _losses
    from lamina.training.outputs import resolve_losses

    ys = y if isinstance(y, list | tuple) else jax.tree_util.tree_leaves(y)
    preds = self._output_shapes()
    if len(preds) == 1 and not isinstance(y, list | tuple | dict):
        Sequential._check_targets(self, y)
        self._y_shapes_multi = None
        return
    if len(ys) != len(preds):
        raise ValueError(
            f"The model has {len(preds)} outputs but y holds {len(ys)} target arrays. Pass "
            f"one target array per output (a list in output order, or a dict keyed by "
            f"output name: {self._engine_network().output_names})."
        )
    names = self._engine_network().output_names
    for term in resolve_losses(self._compiled["loss"], self._compiled["loss_weights"], names):
        t = ys[term.index]
        _losses.check_targets(term.loss, t.shape, t.dtype.kind, preds[term.index], y_sample=t)
    self._y_shapes_multi = tuple((None, *t.shape[1:]) for t in ys)


def check_inputs(self, x):
    if isinstance(self._input_shape, tuple):
        TrainerMixin._check_inputs(self, x)


def predict_width(self) -> int:
    import math

    shapes = self._output_shape_of(self._input_shape)
    given = self._input_shape
    shapes += (
        list(given.values())
        if isinstance(given, dict)
        else (given if isinstance(given, list) else [given])
    )
    return max(math.prod(d for d in s[1:] if d) or 1 for s in shapes if s is not None)


def check_input_shape(self, shape):
    if isinstance(self._input_shape, tuple):
        Sequential._check_input_shape(self, shape)
