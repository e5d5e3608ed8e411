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


def _write_parquet(path, groups, rows_per_group, features, seed=0):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(features)] + ["y"]
    parts = []
    # Plain pages: a dictionary page (up to 1 MB a column) would dominate this small test.
    schema = pa.schema([(n, pa.float32()) for n in names])
    with pq.ParquetWriter(path, schema, data_page_size=1 << 16, use_dictionary=False) as writer:
        for _ in range(groups):
            a = rng.normal(size=(rows_per_group, features + 1)).astype(np.float32)
            writer.write_table(pa.table({n: a[:, i] for i, n in enumerate(names)}))
            parts.append(a)
    return np.concatenate(parts)


def test_parquet_reader_memory_does_not_grow_with_the_file(tmp_path, monkeypatch):
    """Big row groups are read page by page, not whole: the pyarrow pool's peak stays a few
    read batches, the same for a 1- and a 4-row-group file, and the values come through."""
    import pyarrow as pa

    from lamina.data import parquet_reader

    batch_rows, features = 4096, 8
    monkeypatch.setattr(parquet_reader, "PARQUET_BATCH_ROWS", batch_rows)
    batch_bytes = batch_rows * (features + 1) * 4  # 144 KB; one row group is 4.5 MB
    peaks = []
    for groups in (1, 4):
        path = tmp_path / f"g{groups}.parquet"
        table = _write_parquet(path, groups, 1 << 17, features)
        ds = from_parquet(path, target="y", batch_size=1000)
        pool = pa.proxy_memory_pool(pa.default_memory_pool())  # its own peak counter
        old = pa.default_memory_pool()
        pa.set_memory_pool(pool)
        try:
            got = list(ds)
        finally:
            pa.set_memory_pool(old)
        peaks.append(pool.max_memory())
        assert len(got) == ds.num_batches == -(-table.shape[0] // 1000)
        np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), table[:, :features])
        np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), table[:, features])
    assert 0 < peaks[0] < 8 * batch_bytes, peaks
    assert peaks[1] < 1.5 * peaks[0], peaks


def test_parquet_nan_feature_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = np.ones((50, 3), np.float32)
    x[40, 2] = np.nan
    pq.write_table(
        pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x[:, 0]}), tmp_path / "n.parquet"
    )
    with pytest.raises(ValueError, match="column 'c' holds NaN or inf"):
        list(from_parquet(tmp_path / "n.parquet", target="y", batch_size=16))


def test_prefetcher_holds_at_most_depth_items_ahead():
    import time

    from lamina.data.prefetch import Prefetcher, trim_heap

    pulled = []

    def source():
        for i in range(20):
            pulled.append(i)
            yield i

    with Prefetcher(source(), transform=lambda v: v, depth=2) as pf:
        assert next(pf) == 0
        time.sleep(0.3)  # the thread has all the time it needs to run ahead
        assert len(pulled) == 3  # the item in use and 2 prepared, no third waiting
        assert list(pf) == list(range(1, 20))
    trim_heap()  # glibc's malloc_trim, or nothing: never raises
