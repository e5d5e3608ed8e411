"""The Keras masks carried by a model's outputs, as the losses and metrics of ``fit`` see them.

Keras 3 attaches a mask to a tensor (``Embedding(mask_zero=True)``, then every layer that
propagates it) and ``compile``'s losses and mean metrics weigh by the mask of ``y_pred``.  The
forward functions (a layer stack's and a functional graph's) report their outputs' masks
with :func:`report`; the compiled step collects them with :class:`OutputMasks`:

>>> import jax.numpy as jnp
>>> y = jnp.ones((2, 3))
>>> with OutputMasks() as om:
...     report(y, (jnp.array([[True, True, False], [True, False, False]]),))
>>> om.masks_for(y)[0].shape
(2, 3)
>>> om.masks_for(jnp.ones((2, 3)))  # another output: no mask is known for it
(None,)

The collector also keeps the values of the graph tensors the forward pass computed
(:func:`report_values`): Keras 2 ran a loss function once on the graph's tensors, so a loss
closing over ``z_mean`` (the Keras blog's variational autoencoder) read that tensor of the same
batch.  Inside :meth:`OutputMasks.live`, ops on such a tensor run on its value.
"""

from __future__ import annotations

import contextlib
import threading

import jax

_local = threading.local()


def _stack() -> list:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


class OutputMasks:
    """Collects the output masks reported while the ``with`` block runs (the innermost
    collector gets them).

    Args:
        passes_values: whether, on exit, the graph values collected go on to the enclosing
            collector (a nested model's tensors read by the outer model's losses).
    """

    def __init__(self, passes_values: bool = True):
        self._reports: list = []
        self._values: list = []
        self._gradients: list = []
        self._passes_values = passes_values

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        stack = _stack()
        stack.pop()
        if stack and self._passes_values:  # a nested model's graph tensors stay readable
            stack[-1]._values.extend(self._values)
            stack[-1]._gradients.extend(self._gradients)
        return False

    def resolve(self, tensor):
        """The value the forward pass computed for the graph tensor ``tensor``, or None."""
        for values in reversed(self._values):
            value = values.get(id(tensor))
            if value is not None:
                return value
        return None

    @contextlib.contextmanager
    def live(self):
        """A context in which ops on the graph tensors the forward pass computed run on their
        values (a loss or metric function closing over them, as Keras 2 allowed), and
        ``K.gradients(y_pred, tensor)`` differentiates through the graph (:func:`gradients`)."""
        from lamina.ops._symbolic import live_values

        live = _live_stack()
        live.append(self)
        try:
            with live_values(self.resolve):
                yield
        finally:
            live.pop()

    def gradients(self, value, wrts):
        """``d sum(value) / d wrt`` for each graph tensor of ``wrts``, where ``value`` is the
        forward pass's value of one of its graph's tensors; None when no graph computed it."""
        for provider in reversed(self._gradients):  # the outermost graph reported last
            found = provider(value, wrts)
            if found is not None:
                return found
        return None

    def masks_for(self, outputs) -> tuple:
        """The masks of ``outputs``' leaves (flattened order), ``None`` where none is known.

        Only a report about these very arrays counts (a nested model's inner report does not
        describe the outer model's outputs).
        """
        leaves = jax.tree_util.tree_leaves(outputs)
        for reported, masks in reversed(self._reports):
            if len(reported) == len(leaves) and all(a is b for a, b in zip(reported, leaves)):
                return tuple(masks)
        return (None,) * len(leaves)


def report(outputs, masks) -> None:
    """Tells the active collector (if any) that ``outputs`` carry ``masks``.

    Args:
        outputs: the forward function's outputs (an array or a pytree of arrays).
        masks: one mask (or ``None``) per leaf of ``outputs``, in flattened order.
    """
    stack = _stack()
    if stack:
        stack[-1]._reports.append((jax.tree_util.tree_leaves(outputs), tuple(masks)))


def _live_stack() -> list:
    stack = getattr(_local, "live", None)
    if stack is None:
        stack = _local.live = []
    return stack


def report_gradients(provider) -> None:
    """Tells the active collector (if any) how to differentiate its graph's tensors:
    ``provider(value, wrts)`` returns one gradient per graph tensor of ``wrts`` when ``value``
    is the value of one of the graph's tensors, else None."""
    stack = _stack()
    if stack:
        stack[-1]._gradients.append(provider)


def gradients(value, wrts):
    """Inside a loss or metric function run by ``fit``/``evaluate`` (:meth:`OutputMasks.live`):
    ``d sum(value) / d wrt`` for each graph tensor of ``wrts``, ``value`` being a model
    output's value (``y_pred``); None elsewhere, or when no graph computed ``value``."""
    live = _live_stack()
    return live[-1].gradients(value, wrts) if live else None


def report_values(values: dict) -> None:
    """Tells the active collector (if any) the values of a graph's tensors, ``{id(tensor):
    value}``, for loss functions that read graph tensors (:meth:`OutputMasks.live`)."""
    stack = _stack()
    if stack:
        stack[-1]._values.append(values)
