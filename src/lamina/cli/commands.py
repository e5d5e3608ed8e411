"""The ``fit``, ``evaluate``, ``predict``, ``summary`` and ``convert`` subcommands.

Each takes the parsed ``argparse`` namespace, prints its results and returns an exit status;
data and model problems raise :class:`~lamina.cli.data.DataError` (one line, status 1).

``fit`` saves the model (``--out``) and, next to it, ``<out>.meta.json`` with the task, the
target and input columns and the class names, so ``evaluate`` and ``predict`` read CSV files
the same way and print labels as they were in the data.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings

import numpy as np

from lamina.cli.data import MAX_CLASSES, DataError, infer_task, read_table, target_values

TASKS = ("auto", "binary", "multiclass", "regression")


def _parse_layers(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()] if text else []
    except ValueError:
        raise DataError(
            f"--layers takes comma-separated unit counts like 12,8; got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise DataError(f"--layers sizes must be positive; got {text!r}")
    return sizes


def build_model(n_inputs: int, hidden: list[int], task: str, n_classes: int, X=None):
    """A compiled MLP for ``task``; inputs are standardized inside the model.

    With a ``Normalization`` layer (``lamina.layers.Normalization``) the statistics of ``X``
    are adapted into it.  Without one the model trains on standardized data and
    :func:`fold_standardization` moves the scaling into the first ``Dense`` layer afterwards.
    """
    from lamina import layers
    from lamina.models import Sequential

    model = Sequential([layers.Input((n_inputs,))])
    if X is not None and hasattr(layers, "Normalization"):
        norm = layers.Normalization()
        norm.adapt(X)
        model.add(norm)
    for units in hidden:
        model.add(layers.Dense(units, activation="relu"))
    if task == "binary":
        model.add(layers.Dense(1, activation="sigmoid"))
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    elif task == "multiclass":
        model.add(layers.Dense(n_classes, activation="softmax"))
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
    else:
        model.add(layers.Dense(1))
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def fold_standardization(model, mean, std) -> None:
    """Rewrites the first Dense layer so the model takes raw inputs: ``W/std``, ``b - m/s·W``."""
    weights = model.get_weights()
    kernel, bias = weights[0], weights[1]
    weights[0] = kernel / std[:, None]
    weights[1] = bias - (mean / std) @ kernel
    model.set_weights(weights)


def _save(model, path) -> None:
    save = getattr(model, "save", None)
    if save is None:
        try:
            from lamina.saving import save_model
        except ImportError:
            raise DataError(
                "saving models is not available in this lamina build (no Sequential.save); "
                "rerun without --out"
            ) from None
        save = lambda p: save_model(model, p)  # noqa: E731
    try:
        save(path)
    except (OSError, ValueError) as e:
        raise DataError(f"could not save the model to {path}: {e}") from e


def load_model(path):
    """Loads a model file, turning every failure into a one-line :class:`DataError`."""
    if not os.path.isfile(path):
        raise DataError(f"no such model file: {path}")
    try:
        from lamina.saving import load_model as _load
    except ImportError:
        raise DataError("loading models is not available in this lamina build") from None
    try:
        return _load(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"could not load model {path}: {str(e).splitlines()[0]}") from e


def _meta_path(model_path: str) -> str:
    return model_path + ".meta.json"


def _read_meta(model_path: str) -> dict:
    try:
        with open(_meta_path(model_path)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise DataError(f"could not read {_meta_path(model_path)}: {e}") from e


def cmd_fit(args) -> int:
    hidden = _parse_layers(args.layers)
    table = read_table(args.data, args.header)
    t = table.index(args.target)
    y_raw = table.columns[t]
    task, classes = (
        infer_task(y_raw) if args.task in ("auto", "binary", "multiclass") else ("regression", None)
    )
    if args.task in ("binary", "multiclass") and task == "regression":
        raise DataError(f"--task {args.task}: the target {table.names[t]!r} is not class labels")
    if args.task == "binary" and task == "multiclass":
        raise DataError(f"--task binary: the target has {len(classes or [])} classes; use multiclass")
    if args.task == "multiclass":
        task = "multiclass"
    X = table.features(exclude=[t])
    y = target_values(y_raw, task, classes)
    print(f"task: {task} ({len(X)} rows, {X.shape[1]} inputs, target {table.names[t]!r})")
    print(f"  {explain_task(y_raw, task, classes, args.task)}")
    if classes is not None and classes != list(range(len(classes))):
        mapping = ", ".join(f"{c!r} -> {i}" for i, c in enumerate(classes))
        print(f"classes: {mapping}")
    if args.seed is not None:
        from lamina.utils import set_random_seed

        set_random_seed(args.seed)
    model = build_model(X.shape[1], hidden, task, len(classes or []), X)
    folded = not any(type(la).__name__ == "Normalization" for la in model.layers)
    mean, std = X.mean(0), X.std(0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    X_fit = (X - mean) / std if folded else X
    if args.validation_split:  # Keras validates on the last rows: shuffle so they are typical
        order = np.random.default_rng(args.seed).permutation(len(X))
        X_fit, y = X_fit[order], y[order]
    with warnings.catch_warnings():
        if args.task == "regression":  # asked for explicitly: no 'labels look like classes'
            warnings.filterwarnings("ignore", message="The targets look like class labels")
        history = model.fit(
            X_fit,
            y,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_split=args.validation_split,
            verbose=args.verbose,
        )
    if folded and model.layers and hasattr(model.layers[0], "units"):
        fold_standardization(model, mean, std)
    final = {k: v[-1] for k, v in history.history.items()}
    print("final: " + " - ".join(f"{k}: {v:.4f}" for k, v in sorted(final.items())))
    if args.out:  # save first: a failing plot must not lose the trained model
        _save(model, args.out)
        meta = {
            "task": task,
            "target": table.names[t],
            "features": [table.names[i] for i in range(len(table.names)) if i != t],
            "classes": classes,
            "header": table.header,
        }
        with open(_meta_path(args.out), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"saved: {args.out}")
    if args.plot:
        _plot(history, args.plot)
    return 0


def _plot(history, path) -> None:
    """Saves the learning curves; a missing matplotlib is a warning, not a failed run."""
    try:
        fig = history.plot()
    except ImportError as e:
        print(f"lamina fit: warning: no plot written: {e}", file=sys.stderr)
        return
    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        raise DataError(f"could not save the plot to {path}: {e}") from e
    print(f"plot: {path}")


def explain_task(y_raw, task: str, classes, requested: str = "auto") -> str:
    """One line saying why ``task`` was chosen for the target, and how to override it.

    >>> import numpy as np
    >>> explain_task(np.array([3.0, 5.0, 8.0, 6.0]), "multiclass", [3, 5, 6, 8])
    'inferred: 4 distinct integer values (3 to 8) are read as classes; if they are scores or counts, rerun with --task regression'
    """
    if requested != "auto":
        return f"as given by --task {requested}"
    if task == "regression":
        if y_raw.dtype.kind != "O":
            levels = len(np.unique(y_raw[~np.isnan(y_raw)]))
            why = (
                "non-integer numbers"
                if not np.all(y_raw[~np.isnan(y_raw)] == np.round(y_raw[~np.isnan(y_raw)]))
                else f"{levels} distinct integers (more than {MAX_CLASSES})"
            )
        else:
            why = "numbers"
        return f"inferred: the target holds {why}; use --task binary or multiclass for classes"
    if y_raw.dtype.kind == "O":
        return f"inferred: {len(classes)} distinct text labels are read as classes"
    if task == "binary":
        return f"inferred: 2 distinct values ({classes[0]}, {classes[1]}) are read as classes"
    return (
        f"inferred: {len(classes)} distinct integer values ({classes[0]} to {classes[-1]}) are "
        f"read as classes; if they are scores or counts, rerun with --task regression"
    )


def _check_classes_wanted(model, meta, path) -> None:
    """``--classes`` needs a classifier: the saved task, else the model's loss, tells."""
    task = meta.get("task")
    if task is None:
        from lamina.training.guardrails import REGRESSION_LOSSES, output_head

        compiled = getattr(model, "_compiled", None) or {}
        loss = str(getattr(compiled.get("loss"), "name", compiled.get("loss"))).lower()
        act = output_head(model)[0] if hasattr(model, "layers") else None
        if loss in REGRESSION_LOSSES and act not in ("sigmoid", "softmax"):
            task = "regression"
    if task == "regression":
        raise DataError(
            f"--classes: {path} is a regression model (it predicts numbers, not classes); "
            f"drop --classes to print its predictions"
        )


def _inputs(table, meta, target=None):
    """The input matrix of ``table`` as the model was trained on it."""
    if meta.get("features") and table.header == meta.get("header", table.header):
        names = [n for n in meta["features"] if n in table.names]
        if len(names) == len(meta["features"]):
            return table.features(names=names)
    exclude = [table.index(target)] if target is not None else []
    if target is None and meta.get("target") in table.names:
        exclude = [table.index(meta["target"])]
    return table.features(exclude=exclude)


def cmd_evaluate(args) -> int:
    model = load_model(args.model)
    meta = _read_meta(args.model)
    table = read_table(args.data, args.header)
    t = table.index(args.target)
    X = _inputs(table, meta, args.target)
    task = meta.get("task")
    classes = meta.get("classes")
    if task is None:
        task, classes = infer_task(table.columns[t])
        if table.columns[t].dtype.kind != "O":
            classes = None  # numbers already are the class indices
    y = (
        target_values(table.columns[t], task, classes)
        if classes
        else table.columns[t].astype(np.float32)
    )
    if getattr(model, "_compiled", None) is None:
        raise DataError(f"{args.model} holds no training configuration (loss); cannot evaluate")
    logs = _run(
        lambda: model.evaluate(X, y, batch_size=args.batch_size, verbose=0, return_dict=True)
    )
    print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
    return 0


def _run(fn):
    try:
        return fn()
    except ValueError as e:
        raise DataError(str(e).splitlines()[0]) from e


def cmd_predict(args) -> int:
    model = load_model(args.model)
    meta = _read_meta(args.model)
    if args.classes:
        _check_classes_wanted(model, meta, args.model)
    table = read_table(args.data, args.header)
    X = _inputs(table, meta)
    proba = _run(lambda: model.predict(X, batch_size=args.batch_size, verbose=0))
    proba = proba.reshape(len(X), -1)
    classes = meta.get("classes")
    if args.classes:
        idx = proba.argmax(-1) if proba.shape[1] > 1 else (proba[:, 0] > 0.5).astype(int)
        rows = [[classes[i] if classes else int(i)] for i in idx]
        header = ["class"]
    else:
        rows = proba.tolist()
        if proba.shape[1] == 1:
            header = ["prediction"]
        else:
            header = [f"p_{c}" for c in (classes or range(proba.shape[1]))]
    with open(args.out, "w", newline="") if args.out else contextlib.nullcontext(sys.stdout) as f:
        import csv

        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows([[_cell(v) for v in r] for r in rows])
    if args.out:
        print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    return 0


def _cell(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def cmd_summary(args) -> int:
    model = load_model(args.model)
    model.summary()
    meta = _read_meta(args.model)
    if meta:
        print(
            f"task: {meta.get('task')} - target: {meta.get('target')}"
            + (f" - classes: {meta['classes']}" if meta.get("classes") else "")
        )
    return 0


def cmd_convert(args) -> int:
    model = load_model(args.input)
    _save(model, args.output)
    print(f"converted {args.input} -> {args.output}")
    return 0
