"""Runs one benchmark measurement in a fresh process and reads back its JSON result line.

Every benchmark script measures each implementation in its own process (no shared JIT or
import state); the worker prints one line ``MARK + json`` and this reads the last such line.
"""

from __future__ import annotations

import json
import shutil
import subprocess


def run_json_worker(cmd, env, timeout, mark, cleanup_dir=None) -> dict:
    """Runs ``cmd`` with ``env``; returns the worker's result dict, or ``{"error": ...}``
    (a timeout, or the last lines of its output when no result line came).  ``cleanup_dir``
    (a temporary compilation cache) is removed afterwards."""
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    finally:
        if cleanup_dir:
            shutil.rmtree(cleanup_dir, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(mark):
            return json.loads(line[len(mark) :])
    return {"error": " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])}
