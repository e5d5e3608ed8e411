"""What a new user meets with the ``lamina`` command: saved models survive a missing plot
dependency, the task inference is explained, ``--classes`` refuses regression models."""

import json
import sys

import numpy as np
import pytest

from lamina.cli.main import main
from lamina.datasets import path as data_path


def _csv(path, X, y, names=None):
    names = names or [f"x{i}" for i in range(X.shape[1])] + ["y"]
    rows = [",".join(names)] + [
        ",".join(f"{v:g}" for v in row) + f",{t:g}" for row, t in zip(X, y)
    ]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture
def regression_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    return _csv(tmp_path / "reg.csv", X, X @ np.array([1.5, -2.0, 0.3]) + 0.25)


@pytest.fixture
def binary_csv(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    return _csv(tmp_path / "bin.csv", X, (X[:, 0] > 0).astype(int))


def _fit(*extra):
    return main(["fit", *map(str, extra), "--epochs", "1", "--verbose", "0", "--seed", "0"])


def test_fit_saves_the_model_when_matplotlib_is_missing(
    regression_csv, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    out, png = tmp_path / "m.keras", tmp_path / "curves.png"
    status = _fit(regression_csv, "--target", "y", "--out", out, "--plot", png)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert out.is_file() and not png.exists()
    assert 'pip install "lamina[plot]"' in captured.err
    assert "warning" in captured.err


def test_fit_plots_after_saving_when_matplotlib_is_present(regression_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, png = tmp_path / "m.keras", tmp_path / "curves.png"
    assert _fit(regression_csv, "--target", "y", "--out", out, "--plot", png) == 0
    text = capsys.readouterr().out
    assert out.is_file() and png.stat().st_size > 0
    assert text.index("saved:") < text.index("plot:")


def test_predict_classes_on_a_regression_model_is_an_error(regression_csv, tmp_path, capsys):
    out = tmp_path / "m.keras"
    assert _fit(regression_csv, "--target", "y", "--out", out) == 0
    capsys.readouterr()
    assert main(["predict", str(out), regression_csv, "--classes"]) == 1
    err = capsys.readouterr().err
    assert "regression model" in err and "drop --classes" in err
    # Without the .meta.json written by `lamina fit`, the model's loss tells the same.
    (tmp_path / "m.keras.meta.json").unlink()
    assert main(["predict", str(out), regression_csv, "--classes"]) == 1
    assert "regression model" in capsys.readouterr().err


def test_fit_explains_an_ambiguous_integer_score():
    """winequality's 'quality' (6 levels of a 0-10 score): the choice and the override shown."""
    from lamina.cli.commands import explain_task
    from lamina.cli.data import infer_task, read_table

    column = read_table(data_path("wine")).column("quality")
    task, classes = infer_task(column)
    line = explain_task(column, task, classes)
    levels = len(np.unique(column))
    assert task == "multiclass" and f"{levels} distinct integer values" in line
    assert "--task regression" in line


def test_fit_prints_the_inference_and_no_identity_class_mapping(binary_csv, capsys):
    assert _fit(binary_csv, "--target", "y") == 0
    text = capsys.readouterr().out
    assert "task: binary" in text and "inferred: 2 distinct values (0, 1)" in text
    assert "classes:" not in text  # 0 -> 0, 1 -> 1 says nothing


def test_fit_prints_the_mapping_of_text_labels(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 2))
    labels = np.where(X[:, 0] > 0, "yes", "no")
    lines = ["a,b,label"] + [f"{a:g},{b:g},{c}" for (a, b), c in zip(X, labels)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    assert _fit(tmp_path / "t.csv", "--target", "label") == 0
    text = capsys.readouterr().out
    assert "classes: 'no' -> 0, 'yes' -> 1" in text and "text labels" in text


def test_task_given_explicitly_is_reported_as_given(binary_csv, tmp_path, capsys):
    out = tmp_path / "m.keras"
    assert _fit(binary_csv, "--target", "y", "--task", "regression", "--out", out) == 0
    assert "as given by --task regression" in capsys.readouterr().out
    assert json.loads((tmp_path / "m.keras.meta.json").read_text())["task"] == "regression"
