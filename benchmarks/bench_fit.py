"""Lamina vs Keras 3 (JAX and TensorFlow backends) vs a hand-written JAX+optax ``lax.scan`` loop.

Every measurement runs in a fresh process (this script re-run with ``--worker``, printing one
JSON line), implementations alternate within each repeat, and the table reports medians and
ratios.  See benchmarks/README.md.

    python benchmarks/bench_fit.py                       # everything, 3 repeats, writes RESULTS.md
    python benchmarks/bench_fit.py --quick               # smoke run: fewer epochs/rows, 1 repeat
    python benchmarks/bench_fit.py --workloads tiny,mlp --repeats 5
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MARK = "BENCH_RESULT "
ALL_WORKLOADS = ("tiny", "mlp", "predict", "compile", "conv", "lstm", "import")
FIT_IMPLS = ("lamina", "keras-jax", "keras-jax-spe", "keras-tf", "scan")
IMPLS = {
    "tiny": FIT_IMPLS,
    "mlp": FIT_IMPLS,
    "conv": FIT_IMPLS,
    "lstm": FIT_IMPLS,
    # Keras's predict with steps_per_execution = all steps would unroll thousands of steps.
    "predict": ("lamina", "keras-jax", "keras-tf", "scan"),
    "compile": ("lamina",),
    "import": ("lamina", "jax", "keras"),
}
METRICS = {
    "tiny": ("fit_s", "epoch_s", "compile_time"),
    "mlp": ("fit_s", "epoch_s", "compile_time"),
    "conv": ("fit_s", "epoch_s", "compile_time"),
    "lstm": ("fit_s", "epoch_s", "compile_time"),
    "predict": ("pred32_s", "pred1024_s"),
    "compile": ("compile_time_first", "compile_time_second", "fit_s_first", "fit_s_second"),
    "import": ("import_s", "import_api_s"),
}
LABELS = {
    "fit_s": "whole fit (s, incl. compile)",
    "epoch_s": "epoch after the first (s)",
    "compile_time": 'History.params["compile_time"] (s)',
    "pred32_s": "2nd predict, batch 32 (s)",
    "pred1024_s": "2nd predict, batch 1024 (s)",
    "compile_time_first": "compile_time, 1st process, empty cache (s)",
    "compile_time_second": "compile_time, 2nd process, same cache (s)",
    "fit_s_first": "whole fit, 1st process (s)",
    "fit_s_second": "whole fit, 2nd process (s)",
    "import_s": "import (s)",
    "import_api_s": "import + models + layers (s)",
}


# ============================================================================ worker side


def _stamp_callback(base):
    class Stamp(base):
        def __init__(self):
            super().__init__()
            self.stamps = []

        def on_epoch_end(self, epoch, logs=None):
            self.stamps.append(time.perf_counter())

    return Stamp()


def _epoch_stats(t_start, stamps):
    out = {"first_epoch_s": stamps[0] - t_start if stamps else None}
    diffs = [b - a for a, b in zip(stamps, stamps[1:])]
    out["epoch_s"] = statistics.median(diffs) if diffs else None
    return out


def _framework(impl):
    t0 = time.perf_counter()
    if impl == "lamina":
        import lamina.callbacks as callbacks
        import lamina.layers as layers
        import lamina.models as models
    else:
        import keras

        keras.utils.set_random_seed(0)
        callbacks, layers, models = keras.callbacks, keras.layers, keras.models
    return models, layers, callbacks, time.perf_counter() - t0


def _worker_fit(impl, cfg):
    import _workloads as W

    x, y = W.data(cfg)
    steps = math.ceil(x.shape[0] / cfg["batch"])
    if impl == "scan":
        import reference_scan as R

        stamps = []
        t1 = time.perf_counter()
        R.fit(
            cfg["spec"],
            x,
            y,
            loss=cfg["loss"],
            batch_size=cfg["batch"],
            epochs=cfg["epochs"],
            on_epoch_end=lambda e: stamps.append(time.perf_counter()),
        )
        t2 = time.perf_counter()
        return {"fit_s": t2 - t1, "steps": steps, **_epoch_stats(t1, stamps)}
    models, layers, callbacks, import_s = _framework(impl)
    t0 = time.perf_counter()
    model = W.build(models, layers, cfg)
    kw = {"steps_per_execution": steps} if impl == "keras-jax-spe" else {}
    model.compile(optimizer="adam", loss=cfg["loss"], metrics=["accuracy"], **kw)
    stamp = _stamp_callback(callbacks.Callback)
    t1 = time.perf_counter()
    hist = model.fit(
        x,
        y,
        batch_size=cfg["batch"],
        epochs=cfg["epochs"],
        shuffle=True,
        verbose=0,
        callbacks=[stamp],
    )
    t2 = time.perf_counter()
    # Whole fit = build + compile + fit: Keras builds its weights in the constructor (Input
    # given), Lamina on the first fit, the reference in its fit; all three count them.
    out = {
        "fit_s": t2 - t0,
        "fit_call_s": t2 - t1,
        "setup_s": t1 - t0,
        "import_s": import_s,
        "steps": steps,
        **_epoch_stats(t1, stamp.stamps),
    }
    if impl == "lamina":
        out["compile_time"] = hist.params.get("compile_time")
    return out


def _worker_predict(impl, cfg):
    import _workloads as W

    x, _ = W.data(cfg)
    out = {}
    if impl == "scan":
        import reference_scan as R

        params = R.init_params(cfg["spec"], x.shape[1:])
        run = lambda bs: R.predict(cfg["spec"], params, x, bs)  # noqa: E731
    else:
        models, layers, _, _ = _framework(impl)
        model = W.build(models, layers, cfg)
        model.compile(optimizer="adam", loss=cfg["loss"])
        run = lambda bs: model.predict(x, batch_size=bs, verbose=0)  # noqa: E731
    for bs in cfg["batches"]:
        t0 = time.perf_counter()
        run(bs)
        t1 = time.perf_counter()
        y = run(bs)
        t2 = time.perf_counter()
        assert y.shape[0] == x.shape[0], y.shape
        out[f"pred{bs}_first_s"] = t1 - t0
        out[f"pred{bs}_s"] = t2 - t1
    return out


def _worker_import(impl):
    t0 = time.perf_counter()
    if impl == "lamina":
        import lamina  # noqa: F401

        t1 = time.perf_counter()
        from lamina.layers import Dense  # noqa: F401
        from lamina.models import Sequential  # noqa: F401
    elif impl == "jax":
        import jax  # noqa: F401

        t1 = time.perf_counter()
        import jax.numpy  # noqa: F401
    else:
        import keras  # noqa: F401

        t1 = time.perf_counter()
        from keras import layers, models  # noqa: F401
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "import_api_s": t2 - t0}


def worker(workload, impl, quick):
    if workload == "import":
        return _worker_import(impl)
    sys.path.insert(0, HERE)
    import _workloads as W

    cfg = W.config(workload, quick)
    if workload == "predict":
        return _worker_predict(impl, cfg)
    out = _worker_fit(impl, cfg)
    if workload == "compile":
        cache = os.environ.get("LAMINA_CACHE_DIR", "")
        out["cache_files"] = sum(len(f) for _, _, f in os.walk(cache)) if cache else None
    return out


# ============================================================================ parent side


def _env(impl, cache_dir=None):
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if impl.startswith("keras-jax") or impl == "keras":
        env["KERAS_BACKEND"] = "jax"
    elif impl == "keras-tf":
        env["KERAS_BACKEND"] = "tensorflow"
    if cache_dir is not None:
        env["LAMINA_CACHE_DIR"] = cache_dir
    return env


def run_worker(workload, impl, quick, timeout, cache_dir=None):
    """One measurement in a fresh process; returns its JSON dict or {"error": ...}."""
    own_cache = None
    if impl == "lamina" and cache_dir is None:
        # Whole-fit times are first-run times: an empty persistent cache (the `compile`
        # workload measures the second process).
        own_cache = cache_dir = tempfile.mkdtemp(prefix="lamina-bench-cache-")
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--workloads",
        workload,
        "--impls",
        impl,
    ] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=_env(impl, cache_dir), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    finally:
        if own_cache:
            shutil.rmtree(own_cache, ignore_errors=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            res = json.loads(line[len(MARK) :])
            res["process_s"] = time.perf_counter() - t0
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"rc={proc.returncode}: " + " | ".join(tail)}


def run_compile_pair(quick, timeout):
    cache = tempfile.mkdtemp(prefix="lamina-bench-cache-")
    try:
        first = run_worker("compile", "lamina", quick, timeout, cache_dir=cache)
        second = run_worker("compile", "lamina", quick, timeout, cache_dir=cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if "error" in first or "error" in second:
        return {"error": first.get("error") or second.get("error")}
    return {
        "compile_time_first": first.get("compile_time"),
        "compile_time_second": second.get("compile_time"),
        "fit_s_first": first["fit_s"],
        "fit_s_second": second["fit_s"],
        "cache_files": second.get("cache_files"),
    }


def median(values):
    vals = [v for v in values if isinstance(v, int | float)]
    return statistics.median(vals) if vals else None


def _versions():
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in (
        "jax",
        "jaxlib",
        "optax",
        "numpy",
        "keras",
        "tensorflow",
        "tensorflow-cpu",
        "lamina",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if "tensorflow-cpu" in out:
        out.setdefault("tensorflow", out.pop("tensorflow-cpu"))
    out.setdefault("tensorflow", "not installed")
    return out


def _machine():
    cpu, mem = platform.processor() or "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        with open("/proc/meminfo") as f:
            kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
            mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram": mem, "os": platform.platform()}


def _fmt(v):
    if v is None:
        return "—"
    return f"{v:.4f}" if v < 1 else f"{v:.3f}" if v < 100 else f"{v:.1f}"


def targets(med):
    """(description, ratio, required, pass) for the issue's targets; ratio > 1 = Lamina faster."""

    def get(w, i, m):
        return med.get((w, i), {}).get(m)

    def speedup(w, peer, m):
        a, b = get(w, "lamina", m), get(w, peer, m)
        return b / a if a and b else None

    rows = []

    def add(desc, ratio, need):
        rows.append((desc, ratio, need, None if ratio is None else ratio >= need))

    kj = [
        r
        for r in (speedup("tiny", "keras-jax", "fit_s"), speedup("tiny", "keras-jax-spe", "fit_s"))
        if r
    ]
    add(
        "tiny fit: Keras-JAX (best of default / steps_per_execution) ÷ Lamina",
        min(kj) if kj else None,
        2.5,
    )
    add(
        "tiny fit: Keras-TF (Keras's default backend) ÷ Lamina",
        speedup("tiny", "keras-tf", "fit_s"),
        15,
    )
    add(
        "tiny fit: scan reference ÷ Lamina (within 1.2x)", speedup("tiny", "scan", "fit_s"), 1 / 1.2
    )
    add("MLP fit: Keras-JAX default ÷ Lamina", speedup("mlp", "keras-jax", "fit_s"), 1.3)
    add("MLP fit: scan reference ÷ Lamina (within 1.1x)", speedup("mlp", "scan", "fit_s"), 1 / 1.1)
    add("predict batch 32: Keras-JAX ÷ Lamina", speedup("predict", "keras-jax", "pred32_s"), 1.0)
    add(
        "predict batch 1024: Keras-JAX ÷ Lamina", speedup("predict", "keras-jax", "pred1024_s"), 1.0
    )
    c1, c2 = (
        get("compile", "lamina", "compile_time_first"),
        get("compile", "lamina", "compile_time_second"),
    )
    add(
        "compile: 1st-process ÷ 2nd-process compile_time (2nd under a third)",
        c1 / c2 if c1 and c2 else None,
        3.0,
    )
    return rows


def report(results, med, workloads):
    lines = [
        "| workload | measurement | implementation | median | runs | Lamina speedup (peer ÷ Lamina) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for w in workloads:
        for m in METRICS[w]:
            base = med.get((w, "lamina"), {}).get(m)
            for impl in IMPLS[w]:
                runs = results.get((w, impl))
                if runs is None:
                    continue
                errs = [r["error"] for r in runs if "error" in r]
                v = med.get((w, impl), {}).get(m)
                if v is None and not errs:
                    continue
                ratio = "" if impl == "lamina" or not (v and base) else f"{v / base:.2f}x"
                shown = _fmt(v) if v is not None else "error: " + errs[0][:80].replace("|", "/")
                n_ok = len(runs) - len(errs)
                lines.append(f"| {w} | {LABELS[m]} | {impl} | {shown} | {n_ok} | {ratio} |")
    return "\n".join(lines)


def target_table(med):
    lines = ["| target | ratio | required | result |", "|---|---:|---:|---|"]
    for desc, ratio, need, ok in targets(med):
        res = "not measured" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(
            f"| {desc} | {'—' if ratio is None else f'{ratio:.2f}'} | ≥ {need:.2f} | {res} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Lamina fit/predict/compile benchmark.")
    ap.add_argument(
        "--workloads",
        default=",".join(ALL_WORKLOADS),
        help=f"comma-separated subset of {','.join(ALL_WORKLOADS)}",
    )
    ap.add_argument(
        "--impls",
        default=None,
        help=f"comma-separated subset of {','.join(FIT_IMPLS)}"
        " (and jax,keras for the import workload)",
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="fresh-process runs per cell (default 3; 1 with --quick)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer epochs/rows, 1 repeat")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per worker process")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    ap.add_argument("--note", default="", help="free text for RESULTS.md (e.g. machine load)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    workloads = [w.strip() for w in a.workloads.split(",") if w.strip()]
    bad = [w for w in workloads if w not in ALL_WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; choose from {ALL_WORKLOADS}")

    if a.worker:
        res = worker(workloads[0], a.impls, a.quick)
        print(MARK + json.dumps(res), flush=True)
        return 0

    repeats = a.repeats or (1 if a.quick else 3)
    wanted = None if a.impls is None else {i.strip() for i in a.impls.split(",")}
    have_keras = importlib.util.find_spec("keras") is not None
    have_tf = importlib.util.find_spec("tensorflow") is not None
    sys.path.insert(0, HERE)
    import _workloads as W

    skipped = []
    plan = []
    for w in workloads:
        if w not in ("import", "compile", "predict", "tiny", "mlp") and not W.available(w):
            skipped.append(f"{w}: lamina.layers has no {W.CONFIGS[w]['needs']} yet")
            continue
        impls = []
        for i in IMPLS[w]:
            if (
                wanted is not None
                and i not in wanted
                and not (w == "import" and i in ("jax", "keras"))
            ):
                continue
            if i.startswith("keras") and not have_keras:
                skipped.append(f"{w}/{i}: keras not installed")
                continue
            if i == "keras-tf" and not have_tf:
                skipped.append(f"{w}/{i}: tensorflow not installed")
                continue
            impls.append(i)
        plan.append((w, impls))

    load_before = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    results = {}
    for w, impls in plan:
        for rep in range(repeats):
            order = impls[rep % len(impls) :] + impls[: rep % len(impls)]  # alternate the order
            for impl in order:
                t0 = time.perf_counter()
                res = (
                    run_compile_pair(a.quick, a.timeout)
                    if w == "compile"
                    else run_worker(w, impl, a.quick, a.timeout)
                )
                results.setdefault((w, impl), []).append(res)
                brief = res.get("error") or ", ".join(
                    f"{m}={_fmt(res.get(m))}" for m in METRICS[w] if res.get(m) is not None
                )
                print(
                    f"[{w} #{rep + 1}/{repeats}] {impl:14s} {brief}  ({time.perf_counter() - t0:.1f} s)",
                    flush=True,
                )
    load_after = os.getloadavg()

    med = {}
    for key, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        med[key] = (
            {m: median([r.get(m) for r in ok]) for m in set().union(*ok) if m != "error"}
            if ok
            else {}
        )

    table = report(results, med, [w for w, _ in plan])
    ttable = target_table(med)
    print()
    print(table)
    print()
    print(ttable)
    for s in skipped:
        print("skipped:", s)

    if not a.no_write:
        write_results(
            a, results, med, table, ttable, skipped, repeats, started, load_before, load_after
        )
        print(f"\nwrote {a.output}")
    return 0


def write_results(
    a, results, med, table, ttable, skipped, repeats, started, load_before, load_after
):
    mach, vers = _machine(), _versions()
    cmd = "python benchmarks/bench_fit.py " + shlex.join(sys.argv[1:])
    out = ["# Lamina benchmark results", ""]
    if a.quick:
        out += [
            "> **SMOKE RUN (`--quick`)**: fewer epochs and rows and 1 repeat, to show the script "
            "works end to end. Absolute numbers and ratios are NOT the issue's workloads and "
            "NOT representative; rerun the full benchmark on a quiet machine.",
            "",
        ]
    if a.note:
        out += [f"> Note: {a.note}", ""]
    out += [
        f"- Date: {started.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Command: `{cmd.strip()}`",
        f"- Machine: {mach['cpu']}, {mach['cores']} cores, {mach['ram']} RAM ({mach['os']})",
        f"- Load average (1/5/15 min) before: {'/'.join(f'{v:.2f}' for v in load_before)}, "
        f"after: {'/'.join(f'{v:.2f}' for v in load_after)}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in vars_sorted(vers)),
        f"- Repeats: {repeats} fresh processes per cell, implementations alternating; medians shown.",
        "- Lamina's fit/predict workers start with an empty persistent compilation cache "
        "(first-run times); the `compile` rows are a first and a second process sharing one cache.",
        "",
        "## Medians",
        "",
        table,
        "",
        "## Targets (ratio > 1 means Lamina is faster)",
        "",
        ttable,
        "",
    ]
    if skipped:
        out += ["## Skipped", ""] + [f"- {s}" for s in skipped] + [""]
    out += ["## Raw runs", "", "<details><summary>every worker's JSON</summary>", "", "```"]
    for (w, impl), runs in results.items():
        for r in runs:
            out.append(
                f"{w} {impl}: "
                + json.dumps(
                    {k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
                )
            )
    out += ["```", "", "</details>", ""]
    with open(a.output, "w") as f:
        f.write("\n".join(out))


def vars_sorted(vers):
    order = ["python", "jax", "jaxlib", "optax", "numpy", "keras", "tensorflow", "lamina"]
    return [(k, vers[k]) for k in order if k in vers]


if __name__ == "__main__":
    sys.exit(main())
