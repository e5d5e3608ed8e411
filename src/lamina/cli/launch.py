"""``lamina launch -n N script.py [args]``: run a training script as N processes on this machine.

Each process gets the environment :func:`lamina.distribution.initialize` reads
(``LAMINA_COORDINATOR_ADDRESS`` on a free 127.0.0.1 port, ``LAMINA_NUM_PROCESSES``,
``LAMINA_PROCESS_ID``) and joins the job before the script runs, so an unchanged script trains one
model over every process's devices.  Process 0 prints progress and writes files.  When one
process fails the others are stopped, and the launcher exits with the failing process's status.

    python -m lamina.cli.launch -n 2 train.py --epochs 5

>>> from lamina.cli.launch import free_port
>>> 1024 < free_port() < 65536
True
"""

from __future__ import annotations

import argparse
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import traceback

#: Seconds a process gets to exit after SIGTERM before it is killed.
TERMINATE_GRACE = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _say(text):
    print(f"lamina launch: {text}", file=sys.stderr, flush=True)


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + TERMINATE_GRACE
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _status(code: int) -> int:
    return code if code >= 0 else 128 - code  # killed by signal s: 128 + s, as shells report


def launch(n: int, script: str, args=(), *, env=None, poll_interval=0.05) -> int:
    """Runs ``script`` with ``args`` as ``n`` processes joined into one job; returns the exit
    status: 0 when all succeed, else the first failing process's (the rest are stopped).

    Args:
        n: number of processes (each uses the devices JAX gives it; on CPUs, one).
        script: path of the Python script.
        args: its command-line arguments.
        env: base environment (default ``os.environ``).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"launch needs a positive number of processes. Received: n={n!r}.")
    if not os.path.isfile(script):
        raise FileNotFoundError(f"No such script: {script!r}.")
    port = free_port()
    base = dict(os.environ if env is None else env)
    procs = []
    for i in range(n):
        penv = dict(
            base,
            LAMINA_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
            LAMINA_NUM_PROCESSES=str(n),
            LAMINA_PROCESS_ID=str(i),
        )
        cmd = [
            sys.executable,
            "-c",
            "from lamina.cli.launch import _worker; _worker()",
            script,
            *args,
        ]
        procs.append(subprocess.Popen(cmd, env=penv))
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                i, code = failed[0]
                others = sum(c is None for c in codes)
                _say(
                    f"process {i} of {n} exited with status {_status(code)}"
                    + (f"; stopping the other {others}." if others else ".")
                )
                _stop(procs)
                return _status(code)
            if all(c == 0 for c in codes):
                return 0
            time.sleep(poll_interval)
    except KeyboardInterrupt:
        _say("interrupted; stopping all processes.")
        _stop(procs)
        return 130


def _worker():
    """Entry point of each launched process: join the job, then run the script as __main__."""
    script, *args = sys.argv[1:]
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    from lamina.distribution import initialize

    initialize()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if code:  # leave now: a normal exit would wait for the other processes at shutdown
            if not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
            _exit_now(code)
        raise
    except BaseException:
        traceback.print_exc()
        _exit_now(1)


def _exit_now(code):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def build_parser(parser=None) -> argparse.ArgumentParser:
    """The ``launch`` arguments, on ``parser`` (e.g. a ``lamina`` subcommand) or a new one."""
    parser = parser or argparse.ArgumentParser(
        prog="lamina launch", description="Run a training script as N processes on this machine."
    )
    parser.add_argument("-n", "--nproc", type=int, required=True, help="number of processes")
    parser.add_argument("script", help="the training script")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    parser.set_defaults(func=lambda a: launch(a.nproc, a.script, a.args))
    return parser


def main(argv=None) -> int:
    """``python -m lamina.cli.launch -n N script.py [args]``; returns the exit status."""
    parsed = build_parser().parse_args(argv)
    try:
        return launch(parsed.nproc, parsed.script, parsed.args)
    except (ValueError, FileNotFoundError) as err:
        _say(str(err))
        return 2


if __name__ == "__main__":
    sys.exit(main())
