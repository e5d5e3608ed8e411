"""Per-output losses and metrics: ``compile``'s ``loss``/``loss_weights``/``metrics`` matched
to a model's outputs as Keras 3 matches them, with Keras 3's log names.

For one output every loss and metric applies to it and logs are named ``loss``, ``<metric>``.
For several outputs (``Network.output_names``), ``loss`` is one loss for every output, a list
with one entry per output, or a dict keyed by output name (``None`` or a missing key: no loss
for that output); ``loss_weights`` a list or dict alike; ``metrics`` a list with one entry
(a metric, a list of metrics or ``None``) per output, or a dict.  Each output's loss is logged
unweighted as ``<output>_loss`` and each metric as ``<output>_<metric>``; the total ``loss``
is the weighted sum.

>>> from lamina import losses
>>> terms = resolve_losses(["mse", "mae"], [1.0, 0.5], ("a", "b"))
>>> [(t.index, t.weight, t.log_name) for t in terms]
[(0, 1.0, 'a_loss'), (1, 0.5, 'b_loss')]
"""

from __future__ import annotations

import copy

from lamina import losses as _losses
from lamina import metrics as _metrics
from lamina.training.step import OutputLoss, OutputMetric


def _per_output(value, names, argument):
    """``value`` as a list with one entry per output name (``None`` where it gives none)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"compile({argument}=...) has keys {unknown} that are not outputs of the model. "
                f"Expected keys among the output names {list(names)}."
            )
        return [value.get(name) for name in names]
    if isinstance(value, list | tuple):
        if len(value) != len(names):
            raise ValueError(
                f"compile({argument}=...) must have one entry per output: the model has "
                f"{len(names)} outputs {list(names)}, but {len(value)} entries were given. "
                f"Pass a list of {len(names)} or a dict keyed by output name."
            )
        return list(value)
    return [value] * len(names)


def resolve_losses(loss, loss_weights, output_names) -> tuple:
    """The compiled loss terms, one :class:`OutputLoss` per output that has a loss.

    Args:
        loss: the ``loss`` given to ``compile``.
        loss_weights: the ``loss_weights`` given to ``compile`` (``None``: all 1).
        output_names: ``None`` for a single output, else one name per output.

    Returns:
        A tuple of :class:`~lamina.training.step.OutputLoss`.

    Raises:
        ValueError: a list/dict that does not match the outputs, or no loss at all.
    """
    if loss is None:  # compile() without a loss: the model's add_loss terms are the loss
        return ()
    if output_names is None:
        weight = 1.0 if loss_weights is None else float(_single_weight(loss_weights))
        if isinstance(loss, dict | list | tuple):
            if len(loss) != 1:
                raise ValueError(
                    f"The model has a single output, but compile(loss=...) gives {len(loss)} "
                    f"losses. Pass one loss, e.g. loss='mse'."
                )
            loss = next(iter(loss.values())) if isinstance(loss, dict) else loss[0]
        return (OutputLoss(0, _losses.resolve(loss), weight, None),)
    names = tuple(output_names)
    per_loss = _per_output(loss, names, "loss")
    if loss_weights is None:
        weights = [1.0] * len(names)
    else:
        weights = _per_output(loss_weights, names, "loss_weights")
    terms = []
    for i, (name, lo, w) in enumerate(zip(names, per_loss, weights)):
        if lo is None:
            continue
        weight = 1.0 if w is None else float(w)
        terms.append(OutputLoss(i, _losses.resolve(lo), weight, f"{name}_loss"))
    if not terms:
        raise ValueError(f"compile(loss=...) gives no loss for any output of {list(names)}.")
    return tuple(terms)


def _single_weight(loss_weights):
    if isinstance(loss_weights, list | tuple) and len(loss_weights) == 1:
        return loss_weights[0]
    if isinstance(loss_weights, dict) and len(loss_weights) == 1:
        return next(iter(loss_weights.values()))
    if isinstance(loss_weights, int | float) and not isinstance(loss_weights, bool):
        return loss_weights
    raise ValueError(
        f"loss_weights must be one number for a model with a single output. Received: "
        f"loss_weights={loss_weights!r}."
    )


def resolve_metrics(metrics, weighted_metrics, output_names, y_shapes, pred_shapes) -> tuple:
    """The compiled metrics with Keras 3's log names.

    Args:
        metrics: the ``metrics`` given to ``compile``.
        weighted_metrics: the ``weighted_metrics`` given to ``compile``.
        output_names: ``None`` for a single output, else one name per output.
        y_shapes: per output, the target shape (batch dimension first).
        pred_shapes: per output, the prediction shape (batch dimension first).

    Returns:
        A tuple of :class:`~lamina.training.step.OutputMetric`: the ``metrics`` of every
        output in output order, then the ``weighted_metrics``.
    """
    single = output_names is None
    names = (None,) if single else tuple(output_names)
    out, seen = [], {}

    def entries(value, argument):
        if not value:
            return [[] for _ in names]
        if single:
            return [_flat(value)]
        flat = isinstance(value, list | tuple) and not any(
            isinstance(v, list | tuple | dict) for v in value
        )
        if flat and len(value) != len(names):
            # Keras 2 applied a flat list of metrics to every output; Keras 3 refuses a list
            # whose length is not the number of outputs (one the same length is per output).
            return [_flat(value) for _ in names]
        return [_flat(v) for v in _per_output(value, names, argument)]

    for weighted, value, argument in (
        (False, metrics, "metrics"),
        (True, weighted_metrics, "weighted_metrics"),
    ):
        for i, (name, ids) in enumerate(zip(names, entries(value, argument))):
            for ident in ids:
                m = _metrics.resolve(ident, y_true_shape=y_shapes[i], y_pred_shape=pred_shapes[i])
                log = m.name if name is None else f"{name}_{m.name}"
                if log in seen:
                    m = copy.copy(m)
                    if weighted:
                        base = f"weighted_{m.name}"
                        log = base if name is None else f"{name}_{base}"
                    if log in seen:
                        seen[log] += 1
                        log = f"{log}_{seen[log] - 1}"
                    m.name = log if name is None else log[len(name) + 1 :]
                seen.setdefault(log, 1)
                out.append(OutputMetric(i, m, weighted, log))
    return tuple(out)


def count_metric_names(metrics, weighted_metrics) -> None:
    """Advances the automatic name of each metric class a string names, once per string (the
    ``AUC()`` Keras makes for ``metrics=["auc"]``); ``'accuracy'`` and function names are
    named by the string and count nothing.

    >>> import re
    >>> from lamina.metrics import Recall
    >>> def number(name):
    ...     return int(re.sub(r"^recall_?", "", name) or 0)
    >>> before = number(Recall().name)
    >>> count_metric_names(["Recall", "mse", "accuracy"], None)
    >>> number(Recall().name) - before  # one Recall made for the string, then this one
    2
    """
    from lamina._naming import snake_case, unique_name
    from lamina.metrics import REGISTRY
    from lamina.metrics.lookup import FUNCTIONS

    for value in (metrics, weighted_metrics):
        values = value.values() if isinstance(value, dict) else value or []
        for item in values:
            for ident in item if isinstance(item, list | tuple) else (item,):
                if not isinstance(ident, str) or ident.lower() in ("accuracy", "acc"):
                    continue
                if ident not in REGISTRY and ident in FUNCTIONS:
                    continue
                try:
                    cls = REGISTRY.lookup(ident, extra=[*FUNCTIONS, "accuracy", "acc"])
                except ValueError:
                    continue
                if isinstance(cls, type):
                    unique_name(snake_case(cls.__name__))


def _flat(value):
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return [value]
