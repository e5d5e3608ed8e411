"""How the functions of a compiled program are turned into callables: the ``jit`` variants.

:func:`lamina.training.step.build_program` compiles each of its functions with one of these:

* :func:`bounded_jit`: ``jax.jit`` keeping a bounded number of compiled shapes (evaluate and
  predict see many row counts; memory must not grow with them);
* :func:`committed_outputs`: outputs committed to their device, so that the next program
  does not compile a second time for an uncommitted argument;
* :func:`eager`: no ``jit`` at all (``compile(run_eagerly=True)``);
* :func:`jit_deciding_options`: ``jax.jit`` whose XLA options are chosen from its first
  call's arguments (the training programs: see
  :func:`lamina.training.compilation.train_compiler_options`), the whole-epoch one's
  executables kept on disk by :mod:`lamina.training.executable_cache`.

They are separate from the step functions because they know nothing of models or losses:
only of JAX's compile caches and array placement.

>>> import jax.numpy as jnp
>>> double = bounded_jit(lambda x: 2 * x, max_shapes=lambda: 2)
>>> [int(double(jnp.ones(n)).sum()) for n in (1, 2, 3)]
[2, 4, 6]
>>> double.cache_size()
2
"""

from __future__ import annotations

import collections
import functools

import jax

from lamina.distribution.sharding import active as _distribution_active
from lamina.training import executable_cache


def bounded_jit(fn, *, max_shapes, **kwargs):
    """``jax.jit(fn)`` keeping at most ``max_shapes()`` compiled shapes, least recently used
    out first: one ``jax.jit`` per input signature, so dropping one frees its program.

    Args:
        fn: the function to compile.
        max_shapes: a callable returning the bound, read whenever a new shape is compiled
            (so a bound changed later, e.g. by a test, applies from then on).
        **kwargs: passed to ``jax.jit`` (``donate_argnums``, ``static_argnames``...).

    Returns:
        A callable like ``jax.jit(fn)``, with ``lower`` and ``cache_size()``.
    """
    cache: collections.OrderedDict = collections.OrderedDict()

    def signature(args, kw):
        leaves, treedef = jax.tree_util.tree_flatten((args, kw))
        return treedef, tuple(
            (getattr(v, "shape", None), getattr(v, "dtype", type(v))) for v in leaves
        )

    @functools.wraps(fn)
    def call(*args, **kw):
        key = signature(args, kw)
        jitted = cache.get(key)
        if jitted is None:
            # A fresh function object per shape: JAX's trace and compile caches are keyed
            # weakly on the function, so dropping it frees that shape's program too.
            jitted = cache[key] = jax.jit(
                functools.wraps(fn)(lambda *a, **k: fn(*a, **k)), **kwargs
            )
            while len(cache) > max_shapes():
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return jitted(*args, **kw)

    call.lower = lambda *a, **k: jax.jit(fn, **kwargs).lower(*a, **k)
    call.cache_size = lambda: len(cache)
    return call


def committed_outputs(fn):
    """``fn`` whose array outputs are committed to their device (no distribution active).

    ``jit`` of a function without arguments (``init_metrics``) returns uncommitted arrays,
    while the chunk and evaluation programs return committed ones; ``jit`` compiles once per
    argument placement, so each of those programs compiled twice per fit without this.

    Args:
        fn: a function returning a pytree.

    Returns:
        ``fn`` with each uncommitted ``jax.Array`` of its output put on its device.
    """

    @functools.wraps(fn)
    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        if _distribution_active() is not None:
            return out
        return jax.tree_util.tree_map(
            lambda a: (
                a if not isinstance(a, jax.Array) or a.committed else jax.device_put(a, a.sharding)
            ),
            out,
        )

    return call


def jit_deciding_options(fn, decide, *, on_disk=False, **kwargs):
    """``jax.jit(fn, compiler_options=decide(args, kwargs), **kwargs)``, made at the first call.

    The options of a training program depend on what its model computes (convolutions or
    not), which is only known once arguments exist; every later call, whatever its shapes,
    uses the same ``jax.jit`` (and its trace cache).

    Args:
        fn: the function to compile.
        decide: ``(args, kwargs) -> dict | None``: the XLA options, from the first call's
            arguments (abstract or concrete).
        on_disk: take the executables from :mod:`lamina.training.executable_cache` when
            JAX's persistent cache is on (a second process then neither lowers nor compiles
            them).  For a function called about once an epoch: choosing the executable costs
            ~1 microsecond per argument leaf at every call, which a per-batch call would feel.
        **kwargs: passed to ``jax.jit`` (``donate_argnums``, ``static_argnames``...).

    Returns:
        A callable like ``jax.jit(fn)``, with ``lower``, ``_cache_size()`` and
        ``compiler_options()`` (``None`` until the first call or lowering).

    >>> import jax.numpy as jnp
    >>> f = jit_deciding_options(lambda x: x + 1, lambda args, kw: None)
    >>> int(f(jnp.int32(1))), f.compiler_options()
    (2, None)
    """
    made: dict = {}

    def jitted(args, kw):
        if "jit" not in made:
            made["options"] = options = decide(args, kw)
            extra = {"compiler_options": options} if options else {}
            made["jit"] = jax.jit(fn, **kwargs, **extra)
            # The executable cache needs one placement per argument signature, which a
            # distributed fit's resharding does not promise: JAX's own caches only there.
            folder = (
                executable_cache.default_folder()
                if on_disk and _distribution_active() is None
                else None
            )
            made["call"] = executable_cache.cached_jit(
                made["jit"],
                folder=folder,
                compiler_options=options,
                static_argnames=kwargs.get("static_argnames", ()),
            )
        return made["jit"]

    @functools.wraps(fn)
    def call(*args, **kw):
        jitted(args, kw)
        return made["call"](*args, **kw)

    call.lower = lambda *a, **k: jitted(a, k).lower(*a, **k)
    call._cache_size = lambda: (
        0
        if "jit" not in made
        else made["jit"]._cache_size()
        + (made["call"].cache_size() if made["call"] is not made["jit"] else 0)
    )
    call.compiler_options = lambda: made.get("options")
    return call


def eager(fn, **_):
    """``fn`` run without ``jit`` (``compile(run_eagerly=True)``): Python code of a custom
    loss or layer runs at every step, with concrete values where JAX allows.

    Args:
        fn: the function.
        **_: ``jax.jit``'s options, ignored (so this replaces ``jax.jit`` as is).

    Returns:
        ``fn`` run under ``jax.disable_jit()``.
    """

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with jax.disable_jit():
            return fn(*args, **kwargs)

    return call
