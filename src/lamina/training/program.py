"""The interface of a compiled model's program: :class:`Program`, the bundle of jitted
functions :func:`~lamina.training.step.build_program` (or, for a model with its own steps,
:mod:`lamina.training.custom_step`) makes once per ``compile()``, and what the host loop reads
from it (see :mod:`lamina.training.step` for each function's arguments).

These names stay importable from :mod:`lamina.training.step`.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Program(NamedTuple):
    train_epoch: Any
    train_chunk: Any
    train_batches: Any
    eval_chunk: Any
    predict_chunk: Any
    results: Any
    init_metrics: Any
    #: Whether a loss may reduce the whole batch itself: the host then passes the partial
    #: batches' row counts (``partial=``) to ``train_chunk``, ``train_batches`` and
    #: ``eval_chunk`` (see :mod:`lamina.training.whole_batch`).
    needs_partial_rows: bool = False
    #: What the engine knows of the fits to come, read when a training function is first
    #: called: ``{"compile_bound": True}`` lets a convolutional or dense model's training
    #: programs compile with lighter options, and ``"forward_kind"`` (the plan's profile)
    #: spares tracing the forward pass to choose them
    #: (:func:`~lamina.training.compilation.train_program_options`).  ``None``: nothing to tell.
    hints: dict | None = None
    #: Whether the network holds ``stateful=True`` recurrent layers: ``eval_chunk`` then
    #: carries their states from batch to batch and returns an ``inference_state.Carried``.
    carries_state: bool = False
    #: Whether a layer draws random numbers in inference (``Network.inference_rng``):
    #: ``eval_chunk`` and ``predict_chunk`` then draw from ``ts.rng``, which the host
    #: replaces by a fresh key for every call (:func:`with_fresh_key`).
    inference_rng: bool = False
    #: ``(ts, x) -> bool``: whether the forward pass writes ``ts.state`` in inference for
    #: inputs like ``x`` (a user layer assigning in ``call``): ``predict`` then runs Keras's
    #: batches in order with ``predict_chunk(..., carry=True)``, which returns
    #: ``(outputs, state)``, and ``eval_chunk`` returns an ``inference_state.Carried``
    #: (:mod:`lamina.training.inference_state`).  ``None``: never.
    writes_state: Any = None
    #: Whether the network runs user code (a custom layer's or subclassed model's ``call``),
    #: which may mix the rows of a batch: ``predict`` then checks before running its tiles
    #: (:mod:`lamina.training.row_mixing`).
    user_code: bool = False


def with_fresh_key(program, ts):
    """``ts`` with a fresh ``rng`` when ``program`` draws random numbers in inference (each
    evaluation or prediction call then draws anew, as Keras's seed generators advance)."""
    if not program.inference_rng:
        return ts
    from lamina.utils import random as _random

    return ts._replace(rng=_random.next_key())
