"""Two processes on 127.0.0.1, one CPU device each, joined by ``lamina.distribution``.

The scripts ``tests/mp_fit.py`` and ``tests/mp_fail.py`` run as subprocesses; ``mp_fit.py``
prints (or writes) its final weights, History, evaluate and predict results as JSON.
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
