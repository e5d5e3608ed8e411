"""Data parallelism over the 2 host CPU devices of one process (see conftest.py), for in-memory
and streamed inputs, the split of files between processes, the distribution API,
initialize()'s settings and the launcher's command line."""

import jax
import numpy as np
import pandas as pd
import pytest
from jax.sharding import PartitionSpec as P

import lamina
from lamina import distribution
from lamina.cli import launch as _launch
from lamina.data import adapters, shards
from lamina.distribution import cluster, sharding
from lamina.layers import Dense, Dropout
from lamina.models import Sequential
from lamina.training import streaming_dist


def _model():
    lamina.utils.set_random_seed(0)
    model = Sequential(
        [
            Dense(16, activation="relu", input_shape=(8,)),
            Dropout(0.2),
            Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(101, 8)).astype("float32")  # 101 rows: a partial last batch
    y = rng.integers(0, 3, size=101)
    sw = rng.uniform(0.5, 1.5, size=101).astype("float32")
    return x, y, sw


@pytest.fixture(autouse=True)
def _no_distribution():
    distribution.set_distribution(None)
    yield
    distribution.set_distribution(None)


def test_list_devices_and_mesh():
    assert distribution.list_devices("cpu") == ["cpu:0", "cpu:1"]
    mesh = distribution.DeviceMesh((2,), ["batch"], ["cpu:1", "cpu:0"])
    assert [d.id for d in mesh.devices] == [1, 0]
    with pytest.raises(ValueError, match="holds 4 devices, but 2"):
        distribution.DeviceMesh((4,), ["batch"])
    with pytest.raises(ValueError, match="one axis name per mesh axis"):
        distribution.DeviceMesh((2,), ["batch", "model"])
    with pytest.raises(ValueError, match="Unknown device 'cpu:7'"):
        distribution.DeviceMesh((1,), ["batch"], ["cpu:7"])
    dp = distribution.DataParallel(mesh=distribution.DeviceMesh((1, 2), ["data", "model"]))
    assert dp.batch_dim_name == "data" and dp.num_data_shards == 1


def test_set_distribution_and_scope():
    assert distribution.distribution() is None
    outer, inner = distribution.DataParallel(), distribution.DataParallel(devices=["cpu:0"])
    distribution.set_distribution(outer)
    assert distribution.distribution() is outer
    with inner.scope() as d:
        assert d is inner and distribution.distribution() is inner
    assert distribution.distribution() is outer
    with pytest.raises(TypeError, match="DataParallel"):
        distribution.set_distribution("data_parallel")


@pytest.mark.slow
@pytest.mark.parametrize("shuffle", [True, False])
def test_data_parallel_fit_matches_single_device(data, shuffle):
    x, y, sw = data
    kwargs = dict(batch_size=10, epochs=3, verbose=0, validation_split=0.2, shuffle=shuffle)
    if not shuffle:
        kwargs["sample_weight"] = sw
    single = _model()
    h1 = single.fit(x, y, **kwargs)
    parallel = _model()
    with distribution.DataParallel().scope():
        h2 = parallel.fit(x, y, **kwargs)
        ev2 = parallel.evaluate(x[:50], y[:50], batch_size=8, verbose=0)
        pred2 = parallel.predict(x, batch_size=8, verbose=0)
        kernel = parallel._train_state.params[0]["kernel"]
        assert kernel.sharding.spec == jax.sharding.PartitionSpec()
        assert len(kernel.sharding.device_set) == 2
    for a, b in zip(single.get_weights(), parallel.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert h1.history.keys() == h2.history.keys()
    for key in h1.history:
        np.testing.assert_allclose(h2.history[key], h1.history[key], rtol=1e-5)
    np.testing.assert_allclose(
        ev2, single.evaluate(x[:50], y[:50], batch_size=8, verbose=0), rtol=1e-5
    )
    np.testing.assert_allclose(
        pred2, single.predict(x, batch_size=8, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_batch_size_must_split_over_devices(data):
    x, y, _ = data
    model = _model()
    distribution.set_distribution(distribution.DataParallel())
    with pytest.raises(ValueError, match=r"batch_size=7 .* 2 devices.*batch_size=6 or 8"):
        model.fit(x, y, batch_size=7, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size=2\.$"):
        sharding.global_batch_check(1)
    assert sharding.global_batch_check(4) == 4


def test_batch_gather_is_local():
    """Each step moves one batch between devices (a reduce-scatter), never the dataset."""
    from lamina.data import epochs

    model = _model()
    model.build((None, 8))
    distribution.set_distribution(distribution.DataParallel())
    program = model._get_program()
    n = 1000
    rows = sharding.put_rows(
        (np.zeros((n, 8), np.float32), np.zeros((n, 1), np.float32), np.ones(n, np.float32))
    )
    assert rows.arrays[0].sharding.spec == jax.sharding.PartitionSpec("batch", None)
    _, idx, mask = sharding.replicate(epochs.host_epoch_index(model._rng, n, 10, 100, True))
    ts = sharding.replicate(model._train_state)
    hlo = program.train_chunk.lower(ts, program.init_metrics(), rows, idx, mask).compile().as_text()
    assert "all-gather" not in hlo
    assert "reduce-scatter" in hlo


def test_helpers_without_distribution():
    assert sharding.active() is None
    assert sharding.is_main_process()
    assert sharding.process_shard(10) == slice(0, 10)
    tree = {"a": np.ones(3)}
    assert sharding.replicate(tree) is tree
    assert sharding.global_batch_check(7) == 7
    assert isinstance(sharding.put_rows((np.ones((4, 2)),)), tuple)


def test_helpers_with_distribution():
    with distribution.DataParallel().scope():
        assert sharding.process_shard(11) == slice(0, 11)  # one process feeds every row
        rows = sharding.put_rows((np.arange(11, dtype=np.float32),))
        assert rows.arrays[0].shape == (12,)  # padded to a multiple of the 2 shards
        b = sharding.shard_batches(np.zeros((3, 4, 5), np.float32))
        assert b.sharding.spec == jax.sharding.PartitionSpec(None, "batch", None)
        odd = sharding.shard_batches(np.zeros((3, 5), np.float32))
        assert odd.sharding.is_fully_replicated
        key = sharding.replicate(jax.random.key(0))
        assert key.sharding.is_fully_replicated


class _Batches(lamina.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[rows], self.y[rows]


def _stream(kind, x, y, tmp_path, batch_size=10, epochs=1):
    """A streamed input of ``kind`` over (x, y) and the fit arguments it needs."""
    if kind == "generator":
        gen = (
            (x[i : i + batch_size], y[i : i + batch_size])
            for _ in range(epochs)
            for i in range(0, len(x), batch_size)
        )
        return gen, {"steps_per_epoch": -(-len(x) // batch_size)}
    if kind == "pydataset":
        return _Batches(x, y, batch_size), {}
    path = tmp_path / f"d{batch_size}.parquet"
    if not path.exists():
        df = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
        df["t"] = y
        df.to_parquet(path, row_group_size=32)
    ds = lamina.data.from_parquet(path, target="t", batch_size=batch_size, verbose=False)
    return ds, {}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["generator", "pydataset", "parquet"])
def test_streamed_fit_matches_single_device(data, tmp_path, kind):
    """Streamed chunks split over the 2 devices train like one device and like NumPy arrays."""
    x, y, _ = data
    kw = dict(epochs=2, verbose=0, shuffle=False)
    numpy_model = _model()
    h_numpy = numpy_model.fit(x, y, batch_size=10, **kw)
    single = _model()
    stream, extra = _stream(kind, x, y, tmp_path, epochs=2)
    h1 = single.fit(stream, **extra, **kw)
    parallel = _model()
    with distribution.DataParallel().scope():
        stream, extra = _stream(kind, x, y, tmp_path, epochs=2)
        h2 = parallel.fit(stream, **extra, **kw)
        ev2 = parallel.evaluate(_stream(kind, x, y, tmp_path)[0], verbose=0)
        pred2 = parallel.predict(_stream(kind, x, y, tmp_path)[0], verbose=0)
        kernel = parallel._train_state.params[0]["kernel"]
        assert kernel.sharding.is_fully_replicated and len(kernel.sharding.device_set) == 2
    for ref in (numpy_model, single):
        for a, b in zip(ref.get_weights(), parallel.get_weights()):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for h in (h_numpy, h1):
        assert h.history.keys() == h2.history.keys()
        for key in h.history:
            np.testing.assert_allclose(h2.history[key], h.history[key], rtol=1e-5)
    np.testing.assert_allclose(ev2, single.evaluate(x, y, batch_size=10, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(pred2, single.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_streamed_chunks_are_split_over_devices():
    batches = [(np.ones((4, 3)), np.zeros(4))] * 2 + [(np.ones((2, 3)), np.zeros(2))]
    ad = adapters.get(iter(batches), None, None, batch_size=None)
    with distribution.DataParallel().scope():
        feed = streaming_dist.feed(ad, ad.peek())
        (bx, by, bsw), mask, real = feed.put(next(iter(feed.chunks(4))))
    assert bx.shape == (4, 4, 3) and real == 3
    assert bx.sharding.spec == P(None, "batch", None) and mask.sharding.spec == P(None, "batch")
    assert np.asarray(mask).sum() == 10


def test_streamed_batch_size_must_split_over_devices(data, tmp_path):
    x, y, _ = data
    model = _model()
    distribution.set_distribution(distribution.DataParallel())
    gen = ((x[i : i + 7], y[i : i + 7]) for i in range(0, len(x), 7))
    with pytest.raises(ValueError, match=r"first batch\)=7 does not split .* 2 devices.*6 or 8"):
        model.fit(gen, epochs=1, verbose=0)
    ds, _ = _stream("parquet", x, y, tmp_path, batch_size=7)
    with pytest.raises(ValueError, match=r"batch_size=7 does not split .*batch_size=6 or 8"):
        model.fit(ds, epochs=1, verbose=0)


# ----------------------------------------------------- files split between processes


def _table(n, offset=0):
    """Rows whose first feature is the row's number, to see who reads what."""
    df = pd.DataFrame({"id": np.arange(offset, offset + n, dtype="float32")})
    df["t"] = np.float32(0)
    return df


def _ids(ds):
    """The row numbers of one pass, batch by batch."""
    return [b[0][:, 0].astype(int).tolist() for b in ds]


def _share(pattern, index, count=2, kind="parquet", **kw):
    reader = lamina.data.from_parquet if kind == "parquet" else lamina.data.from_csv
    ds = reader(pattern, target="t", batch_size=10, verbose=False, **kw)
    ds.shard(index, count)
    return ds


def test_parquet_row_groups_are_dealt_round_robin(tmp_path):
    _table(45).to_parquet(tmp_path / "a.parquet", row_group_size=10)  # groups 10,10,10,10,5
    p0, p1 = (_share(tmp_path / "a.parquet", i) for i in (0, 1))
    assert p0._share.row_groups_of(str(tmp_path / "a.parquet")) == [0, 2, 4]
    assert _ids(p0) == [[*range(0, 5)], [*range(5, 10)], [*range(20, 25)], [*range(25, 30)]] + [
        [*range(40, 45)]
    ]
    assert _ids(p1) == [[*range(10, 15)], [*range(15, 20)], [*range(30, 35)], [*range(35, 40)]]
    assert p0.num_batches == p1.num_batches == 5  # process 1 pads its last step
    assert (p0._share.rows, p1._share.rows) == (25, 20)
    with pytest.raises(ValueError, match="batch_size=10 does not split over 3 processes"):
        _share(tmp_path / "a.parquet", 0, count=3)


def test_files_are_dealt_round_robin_and_shorter_shares_pad(tmp_path):
    for i, n in enumerate((10, 30, 10)):
        _table(n, offset=100 * i).to_parquet(tmp_path / f"part-{i}.parquet")
    p0, p1 = (_share(tmp_path / "part-*.parquet", i) for i in (0, 1))
    # Files 0 and 2 (4 batches of 5 rows) go to process 0, file 1 (6 batches) to process 1;
    # both run 6 steps, process 0's last two being padding.
    assert [s.rsplit("/", 1)[1] for s in p0._share.paths] == ["part-0.parquet", "part-2.parquet"]
    assert [s.rsplit("/", 1)[1] for s in p1._share.paths] == ["part-1.parquet"]
    assert p0.num_batches == p1.num_batches == 6 and len(_ids(p0)) == 4
    assert shards.deal([10, 10, 10, 4], 2, 5) == ([[0, 2], [1, 3]], 4)


def test_single_csv_is_split_in_blocks_of_rows(tmp_path):
    _table(23).to_csv(tmp_path / "a.csv", index=False)
    p0, p1 = (_share(tmp_path / "a.csv", i, kind="csv") for i in (0, 1))
    assert _ids(p0) == [[*range(0, 5)], [*range(10, 15)], [20, 21, 22]]
    assert _ids(p1) == [[*range(5, 10)], [*range(15, 20)]]
    assert p0.num_batches == p1.num_batches == 3
    assert (p0._share.rows, p1._share.rows) == (13, 10)
    # Each global batch (process 0's rows, then process 1's) is the file's batch of 10 rows.
    merged = [a + b for a, b in zip(_ids(p0), _ids(p1) + [[]])]
    assert merged == _ids(lamina.data.from_csv(tmp_path / "a.csv", target="t", batch_size=10))


def test_each_process_shuffles_its_share_reproducibly(tmp_path):
    for i in range(2):  # the same rows in both files: only the shuffle tells them apart
        _table(40).to_parquet(tmp_path / f"p{i}.parquet")
    kw = dict(shuffle_buffer=16, seed=3)
    p0, p1, again = (_share(tmp_path / "p*.parquet", i, **kw) for i in (0, 1, 0))
    first = _ids(p0)
    assert sorted(sum(first, [])) == sorted(sum(_ids(p1), [])) == list(range(40))
    assert first != _ids(p1)
    assert first == _ids(again)


def test_resolve_settings():
    resolve = cluster.resolve_settings
    assert resolve(env={}) == (None, None, None)
    lamina_env = {
        "LAMINA_COORDINATOR_ADDRESS": "127.0.0.1:9",
        "LAMINA_NUM_PROCESSES": "2",
        "LAMINA_PROCESS_ID": "1",
    }
    assert resolve(env=lamina_env) == ("127.0.0.1:9", 2, 1)
    keras_env = {
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:1234",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
        "KERAS_DISTRIBUTION_PROCESS_ID": "0",
    }
    assert resolve(env=keras_env) == ("10.0.0.1:1234", 2, 0)
    slurm = {
        "SLURM_NTASKS": "4",
        "SLURM_PROCID": "3",
        "SLURM_STEP_NODELIST": "n[1-4]",
        "LAMINA_COORDINATOR_PORT": "7000",
    }
    assert resolve(env=slurm) == ("n1:7000", 4, 3)
    assert resolve(["h:1", "h:2"], 2, 1, env=slurm) == ("h:1", 2, 1)  # arguments first
    with pytest.raises(ValueError, match=r"process_id must be in \[0, 2\)"):
        resolve("h:1", 2, 5, env={})
    with pytest.raises(ValueError, match="integer"):
        resolve("h:1", "two", 0, env={})
    assert cluster.first_slurm_host("gpu-a[010-012],gpu-b7") == "gpu-a010"


def test_initialize_alone_is_a_no_op(monkeypatch):
    for var in (
        "LAMINA_NUM_PROCESSES",
        "KERAS_DISTRIBUTION_NUM_PROCESSES",
        "SLURM_NTASKS",
        "SLURM_STEP_NODELIST",
        "SLURM_JOB_NODELIST",
    ):
        monkeypatch.delenv(var, raising=False)
    assert distribution.initialize() is False
    assert distribution.initialize(num_processes=1) is False
    with pytest.raises(ValueError, match="coordinator address"):
        distribution.initialize(num_processes=2)


def test_launcher_command_line(tmp_path):
    parsed = _launch.build_parser().parse_args(["-n", "3", "train.py", "--epochs", "2", "-v"])
    assert (parsed.nproc, parsed.script, parsed.args) == (3, "train.py", ["--epochs", "2", "-v"])
    with pytest.raises(ValueError, match="positive number"):
        _launch.launch(0, "train.py")
    assert _launch.main(["-n", "2", str(tmp_path / "missing.py")]) == 2
    assert 1024 < _launch.free_port() < 65536


def test_processes_that_feed_differently_get_a_clear_error(monkeypatch):
    # Two processes' (batch size, steps, batches per epoch), as the all-gather returns them.
    table = np.array([[20, -1, 5], [20, -1, 4]], np.int32)
    monkeypatch.setattr(streaming_dist, "_allgather", lambda values: table)
    with pytest.raises(
        ValueError, match=r"feed this input differently.*batches per epoch: \[5, 4\]"
    ):
        streaming_dist._agree({"batch size": 20, "steps_per_epoch": -1, "batches per epoch": 5})


def test_memory_mapped_batches_must_split_over_processes():
    ad = adapters.get(np.zeros((12, 2), "float32"), np.zeros(12, "float32"), None, batch_size=5)
    with pytest.raises(ValueError, match="batch_size=5 does not split over 2 processes"):
        ad.shard(0, 2)
