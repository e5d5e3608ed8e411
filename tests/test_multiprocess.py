"""Two processes on 127.0.0.1, one CPU device each, joined by ``lamina.distribution``.

The scripts ``tests/mp_fit.py``, ``tests/mp_stream.py`` and ``tests/mp_fail.py`` run as
subprocesses; ``mp_fit.py`` and ``mp_stream.py`` print (or write) their final weights, History,
evaluate and predict results as JSON.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lamina.cli.launch import free_port
from tests import mp_stream

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

HERE = Path(__file__).parent
TIMEOUT = 300


def _env(**extra):
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    env.update(
        {"JAX_PLATFORMS": "cpu", "LAMINA_HEARTBEAT_TIMEOUT": "5", "PYTHONUNBUFFERED": "1", **extra}
    )
    return env


def _start(script, n, *args):
    port = free_port()
    return [
        subprocess.Popen(
            [sys.executable, str(HERE / script), *args],
            env=_env(
                LAMINA_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                LAMINA_NUM_PROCESSES=str(n),
                LAMINA_PROCESS_ID=str(i),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]


def _finish(procs, timeout=TIMEOUT):
    out = []
    try:
        for p in procs:
            out.append(p.communicate(timeout=timeout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def _result(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, stdout
    return json.loads(lines[0][len("RESULT ") :])


def _assert_matches(got, ref):
    assert len(got["weights"]) == len(ref["weights"])
    for a, b in zip(got["weights"], ref["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=1e-6)
    assert got["history"].keys() == ref["history"].keys()
    for key in ref["history"]:
        np.testing.assert_allclose(got["history"][key], ref["history"][key], rtol=1e-5)
    np.testing.assert_allclose(got["evaluate"], ref["evaluate"], rtol=1e-5)
    np.testing.assert_allclose(
        np.array(got["predict"]), np.array(ref["predict"]), rtol=1e-5, atol=1e-6
    )


@pytest.fixture(scope="module")
def reference():
    """The same script as one process on one device."""
    proc = subprocess.run(
        [sys.executable, str(HERE / "mp_fit.py")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    result = _result(proc.stdout)
    assert result["process_count"] == 1 and result["devices"] == 1
    return result


def test_two_processes_match_one(reference):
    (out0, err0), (out1, err1) = _finish(_start("mp_fit.py", 2))
    r0, r1 = _result(out0), _result(out1)
    assert (r0["process"], r1["process"]) == (0, 1)
    assert r0["process_count"] == 2 and r0["devices"] == 2
    _assert_matches(r0, reference)
    for key in ("weights", "history", "evaluate", "predict"):
        assert r1[key] == r0[key], key  # every process holds the same global values
    assert "Epoch 1/3" in out0 and "Epoch" not in out1  # only process 0 reports progress


def test_launcher_runs_the_script(tmp_path, reference):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamina.cli.launch",
            "-n",
            "2",
            str(HERE / "mp_fit.py"),
            "--out",
            str(tmp_path),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    r0 = json.loads((tmp_path / "result-0.json").read_text())
    r1 = json.loads((tmp_path / "result-1.json").read_text())
    _assert_matches(r0, reference)
    assert r1["weights"] == r0["weights"] and r1["history"] == r0["history"]


class _Fixed:
    """Given batches by index: the single-process reference input."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches[i]


def _global_batches(x, y, rows0, rows1, local=8):
    """The global batches when process 0 feeds ``rows0`` and process 1 ``rows1``, ``local``
    rows per batch each: process 0's rows first (padding of a short share is masked)."""
    steps = max(-(-len(rows0) // local), -(-len(rows1) // local))
    out = []
    for s in range(steps):
        rows = np.concatenate(
            [rows0[s * local : (s + 1) * local], rows1[s * local : (s + 1) * local]]
        )
        out.append((x[rows], y[rows]))
    return _Fixed(out)


def _ranges(*spans):
    return np.concatenate([np.arange(a, b) for a, b in spans])


def _check_stream_case(results, name, fit_args, data, predict_rows, **fit_kw):
    """Process 0's results of case ``name`` equal one process fitting ``fit_args``; process
    1 holds the same global values; evaluate covers the rows ``data`` and each process
    predicted ``predict_rows[process]`` of them."""
    x, y = data
    ref = mp_stream.model()
    h = ref.fit(*fit_args, epochs=mp_stream.EPOCHS, verbose=0, **fit_kw)
    got = results[0][name]
    for a, b in zip(got["weights"], ref.get_weights(), strict=True):
        np.testing.assert_allclose(np.array(a), b, rtol=1e-5, atol=1e-6, err_msg=name)
    assert got["history"].keys() == h.history.keys()
    for key in h.history:
        np.testing.assert_allclose(got["history"][key], h.history[key], rtol=1e-5, err_msg=name)
    ev = ref.evaluate(x, y, batch_size=mp_stream.GLOBAL_BATCH, verbose=0)
    np.testing.assert_allclose(got["evaluate"], ev, rtol=1e-5, err_msg=name)
    for r, rows in zip(results, predict_rows, strict=True):
        np.testing.assert_allclose(
            np.array(r[name]["predict"]), ref.predict(x[rows], verbose=0), rtol=1e-5, atol=1e-6
        )
    for key in ("weights", "history", "evaluate"):
        assert results[1][name][key] == got[key], (name, key)


@pytest.mark.filterwarnings("ignore:evaluate\\(\\) received the same data")
def test_streamed_inputs_two_processes(tmp_path):
    """Each process feeds its share of a streamed input (Parquet row groups dealt round robin,
    two Parquet files split by file, a PyDataset per process, memory maps sliced per batch);
    the training equals one process fitting the same global batches."""
    x, y = mp_stream.write_data(tmp_path)
    outs = _finish(_start("mp_stream.py", 2, "--data", str(tmp_path)))
    for out, err in outs:
        assert "RESULT " in out, err[-3000:]
    results = [_result(out) for out, _ in outs]
    assert [r["process"] for r in results] == [0, 1] and results[0]["process_count"] == 2
    # one.parquet: row groups of 16 rows; process 0 reads groups 0, 2, 4, process 1 groups
    # 1, 3, 5 (7 rows): local batches of 8, the last global ones 15 and 8 rows.
    rows0, rows1 = _ranges((0, 16), (32, 48), (64, 80)), _ranges((16, 32), (48, 64), (80, 87))
    batches = _global_batches(x, y, rows0, rows1)
    _check_stream_case(results, "row_groups", [batches], (x, y), [rows0, rows1], shuffle=False)
    rows0, rows1 = np.arange(48), np.arange(48, 87)  # part-0.parquet, part-1.parquet
    batches = _global_batches(x, y, rows0, rows1)
    _check_stream_case(results, "files", [batches], (x, y), [rows0, rows1], shuffle=False)
    # Each process's PyDataset holds its half of every global batch of the first 80 rows, so
    # the global batches are NumPy's.
    rows0 = _ranges(*[(b, b + 8) for b in range(0, 80, 16)])
    _check_stream_case(
        results,
        "pydataset",
        (x[:80], y[:80]),
        (x[:80], y[:80]),
        [rows0, rows0 + 8],
        batch_size=mp_stream.GLOBAL_BATCH,
        shuffle=False,
    )
    # Memory maps: the same arrays everywhere, the same shuffle; predict returns every row.
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    ym = np.load(tmp_path / "y.npy", mmap_mode="r")
    every = np.arange(len(x))
    _check_stream_case(
        results,
        "mmap",
        (xm, ym),
        (x, y),
        [every, every],
        batch_size=mp_stream.GLOBAL_BATCH,
        shuffle=True,
    )
    for r in results:
        assert (
            "number of batches per epoch" in r["no_length"] and "steps_per_epoch" in r["no_length"]
        )


def test_launcher_stops_the_others_when_one_fails():
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "lamina.cli.launch", "-n", "2", str(HERE / "mp_fail.py")],
        env=_env(LAMINA_HEARTBEAT_TIMEOUT="100"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 3, proc.stderr
    assert "process 1 of 2 exited with status 3; stopping the other 1" in proc.stderr
    assert time.monotonic() - start < 60


def test_lost_process_ends_the_job_without_launcher():
    """No launcher to stop it: jax.distributed's heartbeat (5 s here) ends process 0."""
    start = time.monotonic()
    (out0, err0), (_, err1) = _finish(_start("mp_fail.py", 2), timeout=120)
    procs_elapsed = time.monotonic() - start
    assert "failing on purpose" in err1
    assert "should not have" not in out0
    assert "stopped sending heartbeats" in err0 or "another task died" in err0, err0[-2000:]
    assert procs_elapsed < 90
