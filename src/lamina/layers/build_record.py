"""A Keras-style layer's ``build`` runs once; later ``init`` calls replay what it made.

Keras calls ``build(input_shape)`` once per layer instance, at its first call, and never again.
Lamina's ``init(key, input_shape)`` is pure and runs more than once for one layer (the
symbolic call's shape trace, the model's build, a fit's build, a clone of the state), so
running ``build`` each time would repeat its side effects: printed messages, counters,
initializers made from names (each draws a seed, so the weights would differ from Keras's
after ``set_random_seed``), sub-layers made anew, and ``self.kernel`` a different variable
object after every build.

So the first traced ``init`` runs ``build`` and records what it made (:class:`BuildRecord`):
the layer's variables and the sub-layers its ``build`` built by hand (``self.block.build(
shape)``).  A later ``init`` keeps the layer's attributes as the first ``build`` left them and
only draws the recorded variables' values again from their own initializers (the same objects,
so the same seeds) and builds those sub-layers again in its scope.

>>> import jax
>>> from lamina.layers import Layer
>>> class Scale(Layer):
...     builds = 0
...     def build(self, input_shape):
...         Scale.builds += 1
...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")
...     def call(self, x):
...         return x * self.w
>>> layer = Scale()
>>> _ = layer.init(jax.random.key(0), (None, 3))
>>> w = layer.w
>>> params, _ = layer.init(jax.random.key(1), (None, 3))
>>> Scale.builds, layer.w is w, params["w"].tolist()
(1, True, [1.0, 1.0, 1.0])
"""

from __future__ import annotations

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class BuildRecord:
    """What a layer's one ``build`` made: its variables (those of ``__init__`` too, in
    creation order) and ``(sub-layer, input shape)`` for each sub-layer it built by hand."""

    variables: tuple
    sub_builds: tuple


def recorded(layer) -> BuildRecord | None:
    """The record of ``layer``'s ``build``, or None while it has not run."""
    return layer.__dict__.get("_build_record")


def run_build(layer, scope, input_shape) -> None:
    """Runs ``layer.build(input_shape)`` once, inside its traced ``init`` (``scope``), and
    records what it made.  Constant arrays ``build`` computes (``ops.arange(n)`` kept as an
    attribute) are computed at once, not traced: the layer keeps them after this ``init``,
    which may run under ``jax.eval_shape``."""
    scope.sub_builds = []
    with jax.ensure_compile_time_eval():
        layer.build(input_shape)
    layer.__dict__["_build_record"] = BuildRecord(tuple(layer._variables), tuple(scope.sub_builds))


def note_sub_build(scope, layer, input_shape) -> None:
    """Notes that ``layer`` was built by hand (``self.block.build(shape)``) in the ``build``
    ``scope`` runs, for :func:`replay` to build it again."""
    notes = getattr(scope, "sub_builds", None)
    if notes is not None:
        notes.append((layer, input_shape))


def replay(layer, scope, record: BuildRecord, skip=()) -> None:
    """Instead of ``build`` in a later ``init``: draws each recorded variable's value (those
    in ``skip``, drawn already, aside) and builds the sub-layers ``build`` built by hand."""
    from lamina.layers.trace_inputs import build_in_scope

    store = layer._init_store
    drawn = {id(v) for v in skip}
    made = [v for v in record.variables if id(v) not in drawn]
    layer._variables = [*skip, *made]  # ``add_weight`` outside ``build`` since: kept too
    for var in made:
        value = var.initializer(var._shape, dtype=var.dtype, key=scope.next_init_key())
        store[0 if var._trainable else 1][var._key] = value
    for sub, shape in record.sub_builds:
        build_in_scope(sub, scope, shape)
