"""Keras's variable methods on the state arrays that ``metric.variables`` and
``optimizer.variables`` list.

Keras returns ``Variable`` objects there; the JAX training-loop guide writes the final state
back with ``for variable, value in zip(metric.variables, metric_variables):
variable.assign(value)`` and reads ``[v.value for v in optimizer.variables]``.  Lamina keeps
these states as plain JAX arrays (so they pass into ``jax.jit`` as they are); each concrete
array listed gets ``assign(value)`` (writes that slot of its owner's state), ``value`` (the
array itself) and ``numpy()``.

>>> from lamina import metrics
>>> m = metrics.Mean()
>>> total, count = m.variables
>>> total.assign(6.0); count.assign(3.0)
>>> float(m.result()), float(m.variables[0].value), m.variables[1].numpy().tolist()
(2.0, 6.0, 3.0)
"""

from __future__ import annotations

import functools

import jax
import numpy as np


def _numpy(array):
    return np.asarray(array)


def assignable(leaves: list, write) -> list:
    """``leaves``, each concrete JAX array given ``assign``/``value``/``numpy`` (in place);
    ``write(i, value)`` stores a new value for slot ``i``.  Tracers are left as they are."""
    for i, a in enumerate(leaves):
        if isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer):
            try:
                a.assign = functools.partial(write, i)
                a.value = a
                a.numpy = functools.partial(_numpy, a)
            except AttributeError:  # an array type that takes no attributes
                pass
    return leaves
