"""Joining several processes (one per machine, or several per machine) into one JAX job.

``initialize()`` finds the coordinator address, the number of processes and this process's id,
from its arguments or from the environment, in this order:

1. arguments: ``initialize("10.0.0.1:1234", 4, 0)``;
2. ``LAMINA_COORDINATOR_ADDRESS`` / ``LAMINA_NUM_PROCESSES`` / ``LAMINA_PROCESS_ID``, as
   ``lamina launch`` sets them;
3. ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` / ``KERAS_DISTRIBUTION_NUM_PROCESSES`` /
   ``KERAS_DISTRIBUTION_PROCESS_ID``, as Keras 3 reads them (the first job address is the
   coordinator);
4. SLURM's ``SLURM_NTASKS`` / ``SLURM_PROCID`` / ``SLURM_STEP_NODELIST`` (coordinator: the
   first node, port ``LAMINA_COORDINATOR_PORT`` or one derived from ``SLURM_JOB_ID``).

With none of them (or one process) it does nothing, so the same script runs alone too.
``LAMINA_HEARTBEAT_TIMEOUT``, ``LAMINA_INIT_TIMEOUT`` and ``LAMINA_SHUTDOWN_TIMEOUT`` (seconds)
bound how long a process
waits for a lost peer or a slow start before it exits with an error instead of hanging.

>>> from lamina.distribution.cluster import resolve_settings
>>> resolve_settings(env={"SLURM_NTASKS": "2", "SLURM_PROCID": "1",
...                       "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_JOB_ID": "42"})
('gpu07:61482', 2, 1)
"""

from __future__ import annotations

import os
import re
import sys

import jax

#: Defaults for jax.distributed's failure detection (seconds), shorter than JAX's own.
DEFAULT_HEARTBEAT_TIMEOUT = 30
DEFAULT_INIT_TIMEOUT = 300
DEFAULT_SHUTDOWN_TIMEOUT = 300


def first_slurm_host(nodelist: str) -> str:
    """The first host of a SLURM node list: ``"node[03-05,9],gpu1"`` -> ``"node03"``.

    >>> first_slurm_host("node[03-05,9],gpu1")
    'node03'
    >>> first_slurm_host("a1,b2")
    'a1'
    """
    match = re.match(r"([^,\[]+)(\[([^\]]+)\])?", nodelist.strip())
    if not match:
        raise ValueError(f"Cannot read the SLURM node list {nodelist!r}.")
    prefix, _, ranges = match.groups()
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def _int(value, name):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer. Received: {value!r}.") from None


def resolve_settings(job_addresses=None, num_processes=None, process_id=None, env=None):
    """``(coordinator_address, num_processes, process_id)`` from arguments, else the
    environment (see the module docstring); ``None`` entries where nothing says."""
    env = os.environ if env is None else env
    if isinstance(job_addresses, list | tuple):
        job_addresses = ",".join(job_addresses)
    sources = [
        (job_addresses, num_processes, process_id),
        (
            env.get("LAMINA_COORDINATOR_ADDRESS"),
            env.get("LAMINA_NUM_PROCESSES"),
            env.get("LAMINA_PROCESS_ID"),
        ),
        (
            env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES"),
            env.get("KERAS_DISTRIBUTION_NUM_PROCESSES"),
            env.get("KERAS_DISTRIBUTION_PROCESS_ID"),
        ),
    ]
    if env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST"):
        host = first_slurm_host(env.get("SLURM_STEP_NODELIST") or env["SLURM_JOB_NODELIST"])
        port = env.get("LAMINA_COORDINATOR_PORT")
        if port is None:  # the same rule as jax's own SLURM detection
            port = _int(env.get("SLURM_JOB_ID", "0"), "SLURM_JOB_ID") % 2**12 + (65535 - 2**12 + 1)
        sources.append((f"{host}:{port}", env.get("SLURM_NTASKS"), env.get("SLURM_PROCID")))
    address = n = pid = None
    for a, p, i in sources:
        address = address if address is not None else a
        n = n if n is not None else p
        pid = pid if pid is not None else i
    if address is not None:
        address = str(address).split(",")[0].strip()
    n = None if n is None else _int(n, "num_processes")
    pid = None if pid is None else _int(pid, "process_id")
    if n is not None and pid is not None and not 0 <= pid < n:
        raise ValueError(f"process_id must be in [0, {n}). Received: process_id={pid}.")
    return address, n, pid


def initialize(job_addresses=None, num_processes=None, process_id=None, **kwargs) -> bool:
    """Joins this process to a multi-process job (Keras 3's ``keras.distribution.initialize``).

    Call it first, before any other JAX or Lamina work.  ``lamina launch`` calls it for the
    scripts it starts.  Returns ``True`` when this process joined a job of two or more, ``False``
    when it runs alone (nothing configured, or one process).

    Args:
        job_addresses: ``"host:port"`` of the coordinator (process 0), or Keras's
            comma-separated list of job addresses (the first is the coordinator).
        num_processes: how many processes the job has.
        process_id: this process's index in ``[0, num_processes)``.
        **kwargs: passed to ``jax.distributed.initialize`` (e.g. ``local_device_ids``).

    >>> from lamina import distribution
    >>> distribution.initialize()  # nothing configured: runs as one process
    False
    """
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    address, n, pid = resolve_settings(job_addresses, num_processes, process_id)
    if n is None or n <= 1:
        return False
    if address is None or pid is None:
        raise ValueError(
            f"initialize() for {n} processes needs the coordinator address and this process's id "
            f"too: pass initialize('host:port', {n}, process_id) or set LAMINA_COORDINATOR_ADDRESS "
            f"and LAMINA_PROCESS_ID (or use `lamina launch`)."
        )
    # Collectives between processes on CPUs go through gloo (harmless where GPUs do the work).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs.setdefault(
        "heartbeat_timeout_seconds",
        _int(
            os.environ.get("LAMINA_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT_TIMEOUT),
            "LAMINA_HEARTBEAT_TIMEOUT",
        ),
    )
    kwargs.setdefault(
        "initialization_timeout",
        _int(os.environ.get("LAMINA_INIT_TIMEOUT", DEFAULT_INIT_TIMEOUT), "LAMINA_INIT_TIMEOUT"),
    )
    kwargs.setdefault(
        "shutdown_timeout_seconds",
        _int(
            os.environ.get("LAMINA_SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT),
            "LAMINA_SHUTDOWN_TIMEOUT",
        ),
    )
    jax.distributed.initialize(
        coordinator_address=address, num_processes=n, process_id=pid, **kwargs
    )
    _exit_promptly_on_error()
    return True


def _exit_promptly_on_error():
    """An uncaught exception ends this process at once (status 1) instead of waiting for the
    other processes at jax.distributed's shutdown barrier; they then see it gone and stop."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    sys.excepthook = hook
