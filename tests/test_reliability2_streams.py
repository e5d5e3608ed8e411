"""Streamed files get the checks in-memory data gets (issue 14, item 4).

Non-finite targets, sample weights and features in CSV/Parquet streams raise an error naming the
file and the row (in memory: "y contains 1 non-finite value(s) (inf), first in row 500"); a
Parquet column whose type changes in a later file raises an error naming that file and the
column; after such an error, interpreter exit prints no ``ImportError ... need pyarrow``.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import lamina  # noqa: E402
from lamina.layers import Dense, Input  # noqa: E402
from lamina.models import Sequential  # noqa: E402


def _model():
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "w": np.ones(n), "y": rng.normal(size=n)}
    )


def _write(frame, path):
    if str(path).endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def _open(path, **kwargs):
    reader = lamina.data.from_csv if str(path).endswith(".csv") else lamina.data.from_parquet
    kwargs.setdefault("columns", ["a", "b"])
    return reader(path, target="y", batch_size=64, verbose=False, **kwargs)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("column,value", [("y", np.inf), ("y", np.nan), ("a", -np.inf)])
def test_non_finite_values_name_file_and_row(tmp_path, ext, column, value):
    frame = _frame()
    frame.loc[500, column] = value
    path = _write(frame, tmp_path / f"data.{ext}")
    what = "target column 'y'" if column == "y" else "column 'a'"
    pattern = rf"data\.{ext}: {what} (holds NaN or inf values: 1 row|has 1 missing).* row 500 "
    for run in (lambda m, d: m.evaluate(d, verbose=0), lambda m, d: m.fit(d, verbose=0)):
        with pytest.raises(ValueError, match=pattern):
            run(_model(), _open(path))
    # The same data in memory is refused as well, naming the same row.
    with pytest.raises(ValueError, match="row 500"):
        _model().evaluate(frame[["a", "b"]].to_numpy(), frame["y"].to_numpy(), verbose=0)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_non_finite_sample_weight_names_file_and_row(tmp_path, ext):
    frame = _frame()
    frame.loc[321, "w"] = np.inf
    path = _write(frame, tmp_path / f"weights.{ext}")
    with pytest.raises(ValueError, match=r"sample_weight column 'w' holds NaN or inf .*row 321"):
        _model().evaluate(_open(path, sample_weight="w"), verbose=0)


@pytest.mark.parametrize(
    "kind,make,type_name",
    [
        ("timestamp", lambda n: pd.date_range("2020-01-01", periods=n), "timestamp"),
        ("text", lambda n: ["x"] * n, "string"),
        ("list", lambda n: [[1.0, 2.0]] * n, "list"),
    ],
)
def test_parquet_column_changing_type_in_a_later_file(tmp_path, kind, make, type_name):
    _write(_frame(seed=1), tmp_path / "part-0.parquet")
    later = _frame(seed=2)
    later["a"] = make(len(later))
    _write(later, tmp_path / "part-1.parquet")
    ds = _open(tmp_path / "part-*.parquet")
    pattern = rf"part-1\.parquet: column 'a' has type \w*{type_name}.* numbers in the first file"
    for run in (lambda m: m.fit(ds, verbose=0), lambda m: m.predict(ds, verbose=0)):
        with pytest.raises(TypeError, match=pattern):
            run(_model())


def test_no_misleading_import_error_at_exit(tmp_path):
    _write(_frame(seed=1), tmp_path / "part-0.parquet")
    later = _frame(seed=2)
    later["a"] = ["x"] * len(later)
    _write(later, tmp_path / "part-1.parquet")
    script = textwrap.dedent(f"""
        import lamina
        from lamina.layers import Dense, Input
        model = lamina.models.Sequential([Input((2,)), Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        ds = lamina.data.from_parquet({str(tmp_path / "part-*.parquet")!r}, target="y",
                                      columns=["a", "b"], batch_size=64, verbose=False)
        try:
            model.fit(ds, verbose=0)
        except TypeError as e:
            print("refused:", e)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert "refused:" in out.stdout, out.stderr
    assert "need pyarrow" not in out.stderr and "ImportError" not in out.stderr, out.stderr
