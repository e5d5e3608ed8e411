"""Keras 1's multi-input ``Sequential``: ``model.add(Merge([left, right], mode="concat"))``.

In Keras 1 a ``Merge`` of branch models, added first to a ``Sequential``, made that model's
inputs the branches' inputs (in order, a branch that is itself such a model giving all of its
own), so ``fit([X1, X2], y)`` trains the branches and the layers added after the merge
together.  Keras 2 removed it for the functional API.

Here ``Merge(layers=[...])`` returns a :class:`BranchMerge`; a ``Sequential`` whose first layer
is one becomes a :class:`MergedSequential`: a functional model with one ``Input`` per branch
input, each branch called as a nested model, the Keras 2 merge layer of the mode, then the
layers added after it.  So

* ``fit``/``evaluate``/``predict``/``predict_classes``/``train_on_batch`` take a list of
  arrays, one per input;
* ``get_weights``/``set_weights`` use Keras 1's order: each branch's weights, branch by branch
  (a branch given twice counted once), then the following layers';
* ``save`` writes the equivalent functional model (Keras 3 loads it as ``Functional``, and so
  does ``lamina.models.load_model``); ``summary()`` shows that model, the branches as nested
  models; ``layers`` lists the ``Input`` layers, the branches, the merge layer and the rest
  (Keras 1 listed the ``Merge`` first, holding the branches);
* Keras 1's ``cos`` mode is ``Dot(normalize=True)``: shape ``(batch, 1)``, as Keras 1 declared
  it.

Branches may be ``Sequential`` or functional models (with a known input shape) or symbolic
tensors already computed from ``Input``\\ s (those ``Input``\\ s become the model's inputs).
``isinstance(model, Sequential)`` is then false: the object is a functional model, as the
model Keras 1's ``Sequential`` wrapped internally was.

>>> import numpy as np
>>> from lamina.layers import Dense, Merge
>>> from lamina.models import Sequential
>>> left, right = Sequential(), Sequential()
>>> left.add(Dense(4, input_dim=3)); right.add(Dense(4, input_dim=2))
>>> model = Sequential()
>>> model.add(Merge([left, right], mode="concat"))
>>> model.add(Dense(1))
>>> model.compile("sgd", "mse")
>>> model.predict([np.ones((5, 3)), np.ones((5, 2))], verbose=0).shape
(5, 1)
"""

from __future__ import annotations

from lamina.layers.symbolic import KerasTensor
from lamina.models.functional import Functional


class BranchMerge:
    """Keras 1's ``Merge([branch, ...], mode=...)`` before it is added to a ``Sequential``.

    Args:
        branches: the models (or symbolic tensors) to merge, at least two.
        layer: the Keras 2 merge layer of the mode (``Concatenate``, ``Add``, ``Lambda``, ...).

    Raises:
        TypeError: fewer than two branches, or a branch that is neither a model nor a tensor.
        ValueError: a branch model without a known input shape.
    """

    _keras1_branch_merge = True  # what ``Sequential.add`` looks for

    def __init__(self, branches, layer):
        if not isinstance(branches, list | tuple) or len(branches) < 2:
            raise TypeError(
                f"Merge(layers=[...]) takes a list of at least two branch models (or tensors) "
                f"to merge. Received: {branches!r}."
            )
        self.branches = list(branches)
        self.layer = layer
        self.inputs, tensors, seen = [], [], {}
        for branch in self.branches:
            if id(branch) not in seen:  # a branch given twice: one input, as in Keras 1
                seen[id(branch)] = _branch_output(branch, self.inputs)
            tensors.append(seen[id(branch)])
        self.output = layer(tensors)

    @property
    def name(self):
        return self.layer.name

    def __repr__(self):
        return f"<Merge of {len(self.branches)} branches: {type(self.layer).__name__}>"


def _branch_output(branch, inputs):
    """The branch's output on new ``Input``\\ s (appended to ``inputs``), or the tensor."""
    from lamina.layers.symbolic import Input
    from lamina.utils.general import get_source_inputs

    if isinstance(branch, KerasTensor):
        for t in get_source_inputs(branch):
            if all(t is not s for s in inputs):
                inputs.append(t)
        return branch
    if not getattr(branch, "_is_model", False):
        raise TypeError(
            f"Merge(layers=[...]) merges models (Sequential or functional) or symbolic tensors; "
            f"received {branch!r} (type {type(branch).__name__}). Call a layer on a tensor "
            f"first, or wrap it in a Sequential with an input shape."
        )
    try:
        own = list(branch.inputs)
    except (AttributeError, ValueError) as e:
        raise ValueError(
            f"Merge(layers=[...]): branch {branch.name!r} has no input shape yet; give its "
            f"first layer input_dim=/input_shape= (Keras 1 required it too). ({e})"
        ) from None
    fresh = [Input(batch_shape=tuple(t.shape), dtype=t.dtype) for t in own]
    inputs.extend(fresh)
    return branch(fresh if len(fresh) > 1 else fresh[0])


def is_branch_merge(layer) -> bool:
    return isinstance(layer, BranchMerge)


def start(model, merge: BranchMerge) -> None:
    """Turns the empty ``Sequential`` ``model`` into a :class:`MergedSequential` starting at
    ``merge`` (Keras 1's ``Sequential.add`` of a ``Merge`` of branches)."""
    if model._stack or model.__dict__.get("_input_layer") is not None:
        raise ValueError(
            "A Merge of branch models must be the first layer of a Sequential model (Keras 1 "
            "took the model's inputs from it); this model has layers or an Input already."
        )
    name, trainable = model.name, model.__dict__.get("_trainable", True)
    for key in ("_stack", "_built_key", "_stack_key", "_stack_shape", "_stack_names"):
        model.__dict__.pop(key, None)
    model.__class__ = MergedSequential
    model._merge = merge
    model._following, model._tails = [], []  # the layers after the merge and their outputs
    model._rebuild(name, trainable)


class MergedSequential(Functional):
    """A ``Sequential`` whose first layer merged branch models (see the module docstring)."""

    # Bookkeeping of ``add``/``pop``: the layers are the graph's, tracked (and saved) there.
    _untracked_attributes = (*Functional._untracked_attributes, "_merge", "_following", "_tails")

    def _rebuild(self, name=None, trainable=None):
        compiled = self.__dict__.get("_compiled")
        Functional.__init__(
            self,
            list(self._merge.inputs),
            self._tails[-1] if self._tails else self._merge.output,
            name=name or self.name,
            trainable=self.trainable if trainable is None else trainable,
        )
        if compiled is not None:  # Keras 1 asks to compile again; keep the settings meanwhile
            self._compiled = compiled

    def add(self, layer, rebuild=True) -> None:
        """Appends ``layer`` after the merge (and the layers added since)."""
        if is_branch_merge(layer):
            raise ValueError(
                "A Merge of branch models must be the first layer of a Sequential model; to "
                "merge further, merge this model with another: Merge([this, other])."
            )
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        tail = self._tails[-1] if self._tails else self._merge.output
        self._tails.append(layer(tail))  # each layer called once: pop keeps the others' nodes
        self._following.append(layer)
        self._rebuild()

    def pop(self, rebuild=True):
        """Removes and returns the last layer added after the merge."""
        if not self._following:
            raise IndexError("There are no layers after the Merge to pop.")
        self._tails.pop()
        layer = self._following.pop()
        self._rebuild()
        return layer

    def _keras_rebuild(self, added=None) -> None:
        """Nothing to do: the graph is rebuilt at each ``add`` (``Sequential.__init__`` calls it)."""
