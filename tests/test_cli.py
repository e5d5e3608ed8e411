"""The ``lamina`` command line, run as a subprocess on the shipped CSV files."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from lamina.datasets import path as data_path

LAMINA = (
    [shutil.which("lamina")]
    if shutil.which("lamina")
    else [sys.executable, "-m", "lamina.cli.main"]
)


def lamina(*args, cwd=None):
    env = {**os.environ, "LAMINA_PROGRESS": "plain"}
    return subprocess.run(
        [*LAMINA, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def _saving_available():
    try:
        import lamina.saving  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def pima_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("pima") / "model.keras"
    r = lamina(
        "fit",
        data_path("pima"),
        "--target",
        "Outcome",
        "--epochs",
        "5",
        "--seed",
        "1",
        "--validation-split",
        "0.2",
        "--out",
        out if _saving_available() else "",
    )
    return r, out


@pytest.mark.slow
def test_demo_runs_the_five_steps():
    r = lamina("demo")
    assert r.returncode == 0, r.stderr
    for step in (
        "Step 1. Define Network",
        "Step 2. Compile Network",
        "Step 3. Fit Network",
        "Step 4. Evaluate Network",
        "Step 5. Make Predictions",
    ):
        assert step in r.stdout
    accuracy = float(r.stdout.split("Held-out accuracy: ")[1].split()[0])
    assert 0.65 < accuracy <= 1.0


def test_fit_pima_with_header(pima_model):
    r, out = pima_model
    assert r.returncode == 0, r.stderr
    assert "task: binary (768 rows, 8 inputs, target 'Outcome')" in r.stdout
    assert "\r" not in r.stdout and r.stdout.count("Epoch ") == 5
    assert "val_accuracy" in r.stdout
    if _saving_available():
        assert out.exists()
        meta = json.loads(open(f"{out}.meta.json").read())
        assert meta["task"] == "binary" and meta["classes"] == [0, 1]


@pytest.mark.slow
def test_predict_evaluate_summary_convert(pima_model, tmp_path):
    r, model = pima_model
    if not model.exists():
        pytest.skip("saving is not available")
    preds = tmp_path / "p.csv"
    r = lamina("predict", model, data_path("pima"), "--out", preds)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(open(preds)))
    assert rows[0] == ["prediction"] and len(rows) == 769
    assert all(0.0 <= float(v[0]) <= 1.0 for v in rows[1:])
    r = lamina("predict", model, data_path("pima"), "--classes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "class" and set(lines[1:]) <= {"0", "1"} and len(lines) == 769
    r = lamina("evaluate", model, data_path("pima"), "--target", "Outcome")
    assert r.returncode == 0, r.stderr
    assert "accuracy: " in r.stdout and "loss: " in r.stdout
    r = lamina("summary", model)
    assert r.returncode == 0 and "Total params" in r.stdout
    h5 = tmp_path / "model.h5"
    r = lamina("convert", model, h5)
    assert r.returncode == 0, r.stderr
    assert h5.exists()


def test_fit_sonar_without_header(tmp_path):
    r = lamina(
        "fit",
        data_path("sonar"),
        "--target",
        "60",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--layers",
        "8",
    )
    assert r.returncode == 0, r.stderr
    assert "task: binary (208 rows, 60 inputs, target '60')" in r.stdout
    assert "'M' -> 0, 'R' -> 1" in r.stdout


@pytest.mark.slow
def test_iris_string_labels_round_trip(tmp_path):
    out = tmp_path / "iris.keras"
    args = ["--out", out] if _saving_available() else []
    r = lamina(
        "fit", data_path("iris"), "--target", "variety", "--epochs", "3", "--verbose", "0", *args
    )
    assert r.returncode == 0, r.stderr
    assert "task: multiclass" in r.stdout
    assert "'Setosa' -> 0, 'Versicolor' -> 1, 'Virginica' -> 2" in r.stdout
    if not args:
        return
    r = lamina("predict", out, data_path("iris"), "--classes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 151 and set(lines[1:]) <= {"Setosa", "Versicolor", "Virginica"}
    r = lamina("predict", out, data_path("iris"))
    assert r.stdout.splitlines()[0] == "p_Setosa,p_Versicolor,p_Virginica"


@pytest.mark.slow
def test_wine_regression_with_plot(tmp_path):
    png = tmp_path / "curves.png"
    plot = ["--plot", png] if _has_matplotlib() else []
    r = lamina(
        "fit",
        data_path("wine"),
        "--target",
        "quality",
        "--task",
        "regression",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--validation-split",
        "0.1",
        *plot,
    )
    assert r.returncode == 0, r.stderr
    assert "task: regression (1599 rows, 11 inputs" in r.stdout and "mae" in r.stdout
    assert "look like class labels" not in r.stderr  # regression was asked for explicitly
    if plot:
        assert png.read_bytes()[:4] == b"\x89PNG"


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["fit", "data.csv"],  # --target missing
        ["fit", "data.csv", "--target", "y", "--epochs", "0"],
        ["fit", "data.csv", "--target", "y", "--task", "clustering"],
        ["fit", "data.csv", "--target", "y", "--validation-split", "1.5"],
    ],
)
def test_usage_errors_exit_2(args):
    r = lamina(*args)
    assert r.returncode == 2
    assert "usage: lamina" in r.stderr


def test_missing_file_exits_1_in_one_line(tmp_path):
    r = lamina("fit", tmp_path / "nope.csv", "--target", "y")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_target_column_exits_1_in_one_line():
    r = lamina("fit", data_path("pima"), "--target", "Diagnosis")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "target column 'Diagnosis' not found" in r.stderr and "Outcome" in r.stderr


def test_debug_shows_the_traceback(tmp_path):
    r = lamina("--debug", "predict", tmp_path / "missing.keras", data_path("pima"))
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_bad_model_file_exits_1(tmp_path):
    bogus = tmp_path / "model.keras"
    bogus.write_text("not a model")
    r = lamina("summary", bogus)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0


def test_fold_standardization_keeps_predictions():
    import numpy as np

    from lamina.cli.commands import build_model, fold_standardization

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(50, 4)) * [1, 10, 100, 0.1] + [0, 5, -50, 2]).astype("float32")
    model = build_model(4, [6], "binary", 2)  # no X: no Normalization layer
    mean, std = X.mean(0), X.std(0)
    before = model.predict((X - mean) / std, verbose=0)
    fold_standardization(model, mean, std)
    np.testing.assert_allclose(model.predict(X, verbose=0), before, rtol=1e-4, atol=1e-5)
