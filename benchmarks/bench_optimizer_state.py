"""Host cost of passing an optimizer state to a jitted function (issue #13's "step" strategy).

Under the per-step strategy every batch calls a jitted step with the whole ``TrainState``,
and JAX flattens the optimizer state's pytree on the host at each call.  Lamina's
``OptimizerState`` lists its leaves in Keras's ``optimizer.variables`` order (Adam: ``m0, v0,
m1, v1, ...``), so its flatten interleaves the slot groups.  This script times, for a
20-``Dense``-layer model under Adam (82 state leaves): ``tree_flatten`` and ``tree_unflatten``
of the state (the params' flatten as the control), and one call of a jitted update step.

Implementations, each in a fresh process, alternating per repeat:

* ``lamina``: the package on ``sys.path``;
* ``lamina-baseline`` (with ``--baseline-src DIR``): the package found in ``DIR`` (an older
  checkout's ``src``), for before/after comparisons.

Keras-JAX has no counterpart (its optimizer state is a flat list of variables), so no
Keras column.  Cells are medians over the repeats of each process's best of 5 timing runs.

    python benchmarks/bench_optimizer_state.py --repeats 5
    python benchmarks/bench_optimizer_state.py --repeats 5 --baseline-src /tmp/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = r"""
import json, timeit
import jax, jax.numpy as jnp, numpy as np
import lamina as keras

model = keras.Sequential([keras.Input((8,))] + [keras.layers.Dense(8) for _ in range(20)])
model.compile(optimizer="adam", loss="mse")
model.fit(np.ones((8, 8), "float32"), np.ones((8, 8), "float32"), verbose=0)
ts = model.train_state
state = ts.opt_state

def best(f, n):
    return min(timeit.repeat(f, number=n, repeat=5)) / n * 1e6

leaves, treedef = jax.tree_util.tree_flatten(state)
tx = model.optimizer.to_optax()

@jax.jit
def step(params, st):
    g = jax.tree_util.tree_map(jnp.ones_like, params)
    u, st = tx.update(g, st, params)
    return jax.tree_util.tree_map(lambda a, b: a + b, params, u), st

held = list(step(ts.params, state))
jax.block_until_ready(held)

def call():
    held[:] = step(*held)

out = {
    "flatten": best(lambda: jax.tree_util.tree_flatten(state), 2000),
    "unflatten": best(lambda: jax.tree_util.tree_unflatten(treedef, leaves), 2000),
    "params flatten": best(lambda: jax.tree_util.tree_flatten(ts.params), 2000),
    "jitted step call": best(call, 300),
    "leaves": len(leaves),
}
jax.block_until_ready(held)
print(json.dumps(out))
"""


def _run(src: str | None) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    """Runs the measurements and prints a Markdown table (microseconds)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline-src", default=None)
    args = ap.parse_args(argv)
    impls = {"lamina": None}
    if args.baseline_src:
        impls["lamina-baseline"] = args.baseline_src
    results: dict = {name: [] for name in impls}
    for r in range(args.repeats):
        order = list(impls) if r % 2 == 0 else list(reversed(impls))
        for name in order:
            results[name].append(_run(impls[name]))
    cols = ["flatten", "unflatten", "params flatten", "jitted step call"]
    print(f"load average: {os.getloadavg()[0]:.2f}; state leaves: {results['lamina'][0]['leaves']}")
    print("| impl | " + " | ".join(f"{c} µs" for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, runs in results.items():
        cells = [f"{statistics.median(r[c] for r in runs):.1f}" for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
