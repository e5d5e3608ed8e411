"""``lamina.data.from_csv`` / ``from_parquet``: streamed tables train like NumPy arrays."""

import numpy as np
import pandas as pd
import pytest

import lamina
from lamina.data import from_csv, from_parquet

pytest.importorskip("pyarrow")


def _model(features, lr=0.01):
    lamina.utils.set_random_seed(5)
    m = lamina.models.Sequential(
        [
            lamina.layers.Input((features,)),
            lamina.layers.Dense(8, activation="relu"),
            lamina.layers.Dense(1, activation="sigmoid"),
        ]
    )
    m.compile(
        optimizer=lamina.optimizers.Adam(lr), loss="binary_crossentropy", metrics=["accuracy"]
    )
    m.build((None, features))
    return m


def _same(m1, m2):
    for a, b in zip(m1.get_weights(), m2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _fit_pair(x, y, ds, batch_size, epochs=2, **kw):
    ref = _model(x.shape[1])
    h_ref = ref.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, **kw)
    m = _model(x.shape[1])
    h = m.fit(ds, epochs=epochs, shuffle=False, verbose=0)
    _same(ref, m)
    np.testing.assert_allclose(h.history["loss"], h_ref.history["loss"], rtol=1e-5)
    return m


@pytest.mark.slow
def test_pima_csv_with_header_matches_numpy():
    x, y = lamina.datasets.load_pima()
    ds = from_csv(lamina.datasets.path("pima"), target="Outcome", batch_size=50)
    assert ds.feature_names[0] == "Pregnancies" and len(ds.feature_names) == 8
    assert ds.label_map is None
    _fit_pair(x, y, ds, batch_size=50)


def test_sonar_csv_without_header_maps_labels(capsys):
    x, y = lamina.datasets.load_sonar()  # M = 1, R = 0
    ds = from_csv(
        lamina.datasets.path("sonar"), target=60, header=None, label_map="auto", batch_size=32
    )
    assert ds.label_map == {"M": 0, "R": 1}
    assert "{'M': 0, 'R': 1}" in capsys.readouterr().out
    _fit_pair(x, 1 - y, ds, batch_size=32)
    mine = from_csv(
        lamina.datasets.path("sonar"),
        target=-1,
        header=None,
        label_map={"R": 0, "M": 1},
        batch_size=32,
    )
    assert np.array_equal(np.concatenate([b[1] for b in mine]), y)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(301, 4)).astype("float32")
    y = (x[:, 0] - x[:, 2] > 0).astype("float32")
    df = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    df["label"] = np.where(y > 0, "pos", "neg")
    df["w"] = rng.uniform(0.5, 2.0, size=301).astype("float32")
    return x, y, df


def test_parquet_matches_numpy(tmp_path, table):
    x, y, df = table
    df.to_parquet(tmp_path / "t.parquet", row_group_size=64)
    ds = from_parquet(
        tmp_path / "t.parquet",
        target="label",
        label_map="auto",
        batch_size=20,
        columns=["a", "b", "c", "d"],
        verbose=False,
    )
    assert ds.label_map == {"neg": 0, "pos": 1}
    assert ds.num_batches == 16
    m = _fit_pair(x, y, ds, batch_size=20)
    np.testing.assert_allclose(m.predict(ds, verbose=0), m.predict(x, verbose=0), rtol=1e-6)


def test_sample_weight_column_and_csv_glob(tmp_path, table):
    x, y, df = table
    for i, part in enumerate(np.array_split(np.arange(301), 3)):
        df.iloc[part].to_csv(tmp_path / f"part-{i}.csv", index=False)
    ds = from_csv(
        tmp_path / "part-*.csv",
        target="label",
        label_map={"neg": 0, "pos": 1},
        sample_weight="w",
        batch_size=25,
    )
    assert ds.feature_names == ["a", "b", "c", "d"]
    sw = df["w"].to_numpy()
    _fit_pair(x, y, ds, batch_size=25, sample_weight=sw)


def test_shuffle_buffer_mixes_rows_in_bounded_memory(tmp_path, table):
    x, y, df = table
    df.to_csv(tmp_path / "t.csv", index=False)
    ds = from_csv(
        tmp_path / "t.csv",
        target="label",
        label_map="auto",
        batch_size=10,
        columns=["a", "b", "c", "d"],
        shuffle_buffer=50,
        seed=1,
        verbose=False,
    )
    rows = np.concatenate([b[0] for b in ds])
    assert rows.shape == x.shape and not np.allclose(rows, x)
    np.testing.assert_allclose(np.sort(rows[:, 0]), np.sort(x[:, 0]), rtol=1e-6)
    m = _model(4)
    h = m.fit(ds, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2


def test_missing_target_column(tmp_path, table):
    _, _, df = table
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match="target column 'outcome' not found"):
        from_csv(tmp_path / "t.csv", target="outcome")
    df.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(ValueError, match="target column 'outcome' not found"):
        from_parquet(tmp_path / "t.parquet", target="outcome")


def test_non_numeric_columns(tmp_path, table):
    _, _, df = table
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(TypeError, match="column\\(s\\) 'label' are not numeric"):
        from_csv(tmp_path / "t.csv", target="a")
    with pytest.raises(TypeError, match="target column 'label' holds strings.*label_map"):
        from_csv(tmp_path / "t.csv", target="label")
    ds = from_csv(tmp_path / "t.csv", target="label", label_map={"pos": 1})
    with pytest.raises(ValueError, match="label\\(s\\) \\['neg'\\] missing from label_map"):
        list(ds)
    bad = df.copy()
    bad["b"] = bad["b"].astype(object)
    bad.loc[250, "b"] = "oops"
    bad.to_csv(tmp_path / "late.csv", index=False)
    # A bad value after the first block: found while streaming, named by column.
    late = from_csv(tmp_path / "t.csv", target="label", label_map="auto", verbose=False)
    late.paths = [str(tmp_path / "late.csv")]
    with pytest.raises(TypeError, match="column #1 holds a non-numeric value"):
        _model(5).fit(late, epochs=1, verbose=0)


def test_predict_without_target_and_fit_needs_one(tmp_path, table):
    x, _, df = table
    df[["a", "b", "c", "d"]].to_csv(tmp_path / "x.csv", index=False)
    ds = from_csv(tmp_path / "x.csv", batch_size=64)
    m = _model(4)
    np.testing.assert_allclose(m.predict(ds, verbose=0), m.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="gives no targets"):
        m.fit(ds, epochs=1, verbose=0)
