"""Kill/resume torture test for ``lamina.callbacks.BackupAndRestore``.

Runs one seeded fit (30 epochs, Dropout, ``shuffle=True``) in a subprocess with
``BackupAndRestore``, SIGKILLs it at random moments (at least ``--kills`` times), restarts it
each time until it finishes, and compares the final weights and the last epoch's History bit
for bit with an uninterrupted run.  Writes a Markdown record with ``--record``.

    python tools/kill_resume_cycles.py --kills 10 --record docs/kill_resume_record.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time

EPOCHS = 30


def worker(out, backup, sleep):
    """One (possibly resumed) training run; writes the final weights to ``out``."""
    import numpy as np

    import lamina
    from lamina.callbacks import BackupAndRestore, LambdaCallback
    from lamina.layers import Dense, Dropout, Input
    from lamina.models import Sequential

    lamina.utils.set_random_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(257, 8)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("float32")
    model = Sequential(
        [
            Input((8,)),
            Dense(32, activation="relu"),
            Dropout(0.3),
            Dense(16, activation="relu"),
            Dropout(0.2),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    slow = LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(sleep))
    hist = model.fit(
        x,
        y,
        batch_size=16,
        epochs=EPOCHS,
        shuffle=True,
        verbose=0,
        callbacks=[BackupAndRestore(backup), slow],
    )
    extra = {}
    if hist.history.get("loss"):  # empty when killed after the last epoch's backup
        extra["last"] = np.array([hist.history["loss"][-1], hist.history["accuracy"][-1]])
    np.savez(out, *model.get_weights(), **extra)


def _run(out, backup, sleep, kill_after=None):
    """Starts the worker; kills it after ``kill_after`` s. Returns True if it finished."""
    cmd = [sys.executable, __file__, "--worker", out, backup, str(sleep)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        return False
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"worker failed (rc {proc.returncode}):\n{err[-3000:]}")
    return True


def _backup_epoch(backup):
    import h5py

    for name in os.listdir(backup) if os.path.isdir(backup) else []:
        if name.endswith(".h5"):
            try:
                with h5py.File(os.path.join(backup, name), "r") as f:
                    return int(f.attrs["epoch"])
            except (OSError, KeyError):
                return None
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sleep", type=float, default=0.8, help="seconds per epoch end")
    ap.add_argument("--record", help="write a Markdown record here")
    args = ap.parse_args(argv)
    import numpy as np

    rnd = random.Random(args.seed)
    tmp = tempfile.mkdtemp(prefix="lamina_kill_")
    ref, out = os.path.join(tmp, "ref.npz"), os.path.join(tmp, "out.npz")
    t0 = time.time()
    _run(ref, os.path.join(tmp, "ref_backup"), args.sleep)
    ref_s = time.time() - t0
    print(f"uninterrupted run: {ref_s:.1f} s")
    backup = os.path.join(tmp, "backup")
    kills, starts, log = 0, 0, []
    while True:
        starts += 1
        before = _backup_epoch(backup)
        if kills < args.kills:
            # startup (imports, compile) takes ref_s - EPOCHS * sleep; kill during it or
            # within the next few epochs, so some kills lose no progress and others do.
            startup = max(0.5, ref_s - EPOCHS * args.sleep)
            delay = startup * rnd.uniform(0.6, 1.0) + rnd.uniform(0, 2 * args.sleep)
            done = _run(out, backup, args.sleep, kill_after=delay)
        else:
            delay, done = None, _run(out, backup, args.sleep)
        after = _backup_epoch(backup)
        if not done:
            kills += 1
        line = f"start {starts}: resumed after epoch {before}, " + (
            f"SIGKILL at {delay:.2f} s, backup at epoch {after}" if not done else "ran to the end"
        )
        print(line)
        log.append(line)
        if done:
            break
    a, b = np.load(ref), np.load(out)
    weights = [k for k in a.files if k != "last"]
    common = [k for k in a.files if k in b.files]  # "last" is absent after a final-epoch kill
    same = set(weights) <= set(b.files) and all(
        a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in common
    )
    history_note = "" if "last" in b.files else " (resumed run had no epochs left: weights only)"
    result = ("IDENTICAL (bit for bit)" if same else "DIFFERENT") + history_note
    print(
        f"{kills} kills, {starts} starts; final weights + last History vs uninterrupted: {result}"
    )
    if args.record:
        _write_record(args, kills, starts, log, result, ref_s)
    return 0 if same else 1


def _write_record(args, kills, starts, log, result, ref_s):
    import jax

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Kill/resume record (BackupAndRestore)",
        "",
        "Generated by `python tools/kill_resume_cycles.py "
        f"--kills {args.kills} --seed {args.seed} --record docs/kill_resume_record.md`.",
        "",
        f"- Date: {now}",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, jax {jax.__version__} ({jax.default_backend()})",
        f"- Fit: {EPOCHS} epochs, Dense/Dropout/Dense/Dropout/Dense, shuffle=True, seed 7, "
        f"batch 16, 257 rows; uninterrupted run {ref_s:.1f} s",
        f"- SIGKILLs: {kills}; process starts: {starts}",
        f"- Result: final weights and last-epoch History vs the uninterrupted run: **{result}**",
        "",
        "## Cycles",
        "",
        *[f"{i + 1}. {line}" for i, line in enumerate(log)],
        "",
    ]
    with open(args.record, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(main())
