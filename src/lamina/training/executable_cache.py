"""Compiled whole-epoch training programs kept on disk, keyed by the traced program.

JAX's persistent compilation cache spares a second process XLA's compile, but not lowering the
traced program to StableHLO, which that cache needs for its key: for a small model lowering
and the cache lookup are 0.15-0.2 s of a second process's ~0.45 s compile time.  This cache
keys a program by its *jaxpr* instead (the printed program and its constants, the
compiler options, donation, each argument's shape, dtype and placement, the JAX version, the
devices, JAX's settings and ``XLA_FLAGS``) and keeps the compiled executable, so a second
process traces, hashes and loads, and neither lowers nor compiles.

The key is the program itself, never a model's configuration: a changed layer, loss,
optimizer or Lamina version traces to a different jaxpr and misses.  A program whose printed
jaxpr names a Python object by its address (a host callback, an opaque parameter) has no key
that holds across processes: it compiles as usual and is not stored.  Any failure to read or
write the folder falls back to compiling.

The folder is ``lamina-executables`` inside JAX's persistent cache folder, so it is on and off
with it (``LAMINA_COMPILATION_CACHE=0`` turns both off).  Like JAX's own cache it holds native
code that will run, and :mod:`jax.experimental.serialize_executable` stores it with
:mod:`pickle`: the folder is used only when it belongs to the current user and no one else may
write to it.

>>> import jax, jax.numpy as jnp
>>> plus_one = cached_jit(jax.jit(lambda x: x + 1), folder=None)  # no folder: jit as is
>>> float(plus_one(jnp.float32(1)))
2.0
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import threading

import jax
import numpy as np

from lamina._log import logger

#: A printed jaxpr naming an object by its address has no key that holds across processes.
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
#: Primitives embedding a pointer to Python code in their executable.
_HOST_CALLS = ("callback", "debug_print", "outside_call")
#: The first bytes of every file, naming its layout (a file without them is never loaded).
_FORMAT = b"lamina-executable-1\n"
_MISSING = object()


def default_folder() -> str | None:
    """The cache folder: ``lamina-executables`` inside JAX's persistent cache folder.

    Returns:
        The path, or ``None`` when JAX's persistent cache is off or the folder is not safe
        (another user owns it, or others may write to it).
    """
    base = jax.config.jax_compilation_cache_dir
    if not base or not jax.config.jax_enable_compilation_cache:
        return None
    folder = os.path.join(base, "lamina-executables")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError as e:
        logger.info("no executable cache (%s): %s", folder, e)
        return None
    if (hasattr(os, "getuid") and info.st_uid != os.getuid()) or info.st_mode & (
        stat.S_IWGRP | stat.S_IWOTH
    ):
        logger.info("no executable cache: %s belongs to or is writable by another user", folder)
        return None
    return folder


def _signature(args, kw):
    """What selects one executable: the pytree, and each leaf's shape, dtype, weak type and
    placement (an array) or its value (a static argument, a Python scalar)."""
    leaves, treedef = jax.tree_util.tree_flatten((args, kw))
    return treedef, tuple(
        (v.shape, v.dtype, getattr(v, "weak_type", False), getattr(v, "sharding", None))
        if hasattr(v, "dtype")
        else (type(v), v)
        for v in leaves
    )


def _const_bytes(c) -> bytes:
    """A constant of the program, whole: its type, shape and every byte of its value (a
    ``repr`` would elide the middle of a large array)."""
    dtype = getattr(c, "dtype", None)
    if dtype is None:  # a Python scalar
        return f"{type(c).__name__}:{c!r};".encode()
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        c = jax.random.key_data(c)
    value = np.asarray(jax.device_get(c))
    return f"{dtype}{value.shape};".encode() + value.tobytes()


def program_key(traced, compiler_options, signature=()) -> str | None:
    """The hex digest keying ``traced``'s executable, or ``None`` when it has none.

    Args:
        traced: ``jax.jit(f).trace(*args)``.
        compiler_options: the XLA options the program compiles with.
        signature: the arguments' :func:`_signature` (their placement is part of the key).

    Returns:
        A sha256 hex digest, or ``None`` (a host callback, an address in the printed jaxpr).

    >>> import jax, jax.numpy as jnp
    >>> trace = lambda f: jax.jit(f).trace(jnp.ones(3))
    >>> program_key(trace(jnp.sin), None) == program_key(trace(jnp.sin), None)
    True
    >>> program_key(trace(jnp.sin), None) == program_key(trace(jnp.cos), None)
    False
    """
    text = str(traced.jaxpr)
    if _ADDRESS.search(text) or any(p in text for p in _HOST_CALLS):
        return None
    h = hashlib.sha256(_FORMAT)
    h.update(text.encode())
    for c in traced.jaxpr.consts:
        h.update(_const_bytes(c))
    devices = jax.devices()
    h.update(
        repr(
            (
                jax.__version__,
                devices[0].client.platform,
                devices[0].client.platform_version,
                [(d.id, d.device_kind) for d in devices],
                sorted(compiler_options.items()) if compiler_options else None,
                traced.donate_argnums,
                str(traced.in_tree),
                str(traced.out_tree),
                [str(a._aval) for a in jax.tree_util.tree_leaves(traced.args_info)],
                [str(s) for s in signature[1:]],
                sorted((k, repr(v)) for k, v in jax.config.values.items()),
                os.environ.get("XLA_FLAGS", ""),
            )
        ).encode()
    )
    return h.hexdigest()


def _load(path, traced):
    """The executable stored at ``path``: the format line, the ids of the devices it runs on
    (one line, comma-separated), then :func:`jax.experimental.serialize_executable.serialize`'s
    bytes.  ``None`` for a file of another format or naming devices this process lacks."""
    from jax.experimental import serialize_executable

    with open(path, "rb") as f:
        blob = f.read()
    if not blob.startswith(_FORMAT):
        return None
    ids, _, body = blob[len(_FORMAT) :].partition(b"\n")
    by_id = {d.id: d for d in jax.devices()}
    try:
        devices = [by_id[int(i)] for i in ids.split(b",")]
    except (KeyError, ValueError):
        return None
    in_tree = jax.tree_util.tree_structure(traced.args_info)
    return serialize_executable.deserialize_and_load(
        body, in_tree, traced.out_tree, execution_devices=devices
    )


def _store(path, compiled):
    from jax.experimental import serialize_executable

    blob, _, _ = serialize_executable.serialize(compiled)
    ids = ",".join(str(d.id) for d in compiled.runtime_executable().local_devices())
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_FORMAT + ids.encode() + b"\n" + blob)
        os.replace(tmp, path)  # atomic: a concurrent reader sees all of the file or none
    except BaseException:
        os.unlink(tmp)
        raise


_REQUEST = "/jax/compilation_cache/compile_requests_use_cache"
_HIT = "/jax/compilation_cache/cache_hits"
_LOCAL = threading.local()
_LISTENING: list = []


def _count_cache_events(event, **_):
    counts = getattr(_LOCAL, "counts", None)
    if counts is not None and event in (_REQUEST, _HIT):
        counts[event] = counts.get(event, 0) + 1


def _compile(traced):
    """``traced`` compiled, and whether XLA compiled it here and now.

    An executable JAX loaded from its own persistent cache (or reused from an earlier
    compile in this process) serializes without its machine code on XLA's CPU backend
    (loading that file fails at the first call with "Function ... not found"), so only a
    fresh compile may be stored: one that asked JAX's cache (the event JAX records for
    each compile through its cache, in this thread) and found nothing there.
    """
    if not _LISTENING:
        jax.monitoring.register_event_listener(_count_cache_events)
        _LISTENING.append(True)
    _LOCAL.counts = counts = {}
    try:
        compiled = traced.lower().compile()
    finally:
        _LOCAL.counts = None
    return compiled, counts.get(_REQUEST, 0) >= 1 and not counts.get(_HIT, 0)


def compile_cached(jitted, args, kw, compiler_options, folder, static=frozenset()):
    """``jitted``'s executable for ``args``: loaded from ``folder``, or compiled and stored.

    Args:
        jitted: a ``jax.jit``-wrapped function.
        args: its positional arguments.
        kw: its keyword arguments, static ones (named in ``static``) included.
        compiler_options: the options ``jitted`` compiles with.
        folder: the cache folder.
        static: the names of ``jitted``'s static arguments.

    Returns:
        A ``jax.stages.Compiled`` taking ``args`` and ``kw`` without the static ones, or
        ``None`` when its call would not take them so (a static argument passed by position):
        the caller then calls ``jitted``.
    """
    traced = jitted.trace(*args, **kw)
    dynamic = (args, {k: v for k, v in kw.items() if k not in static})
    if jax.tree_util.tree_structure(traced.args_info) != jax.tree_util.tree_structure(dynamic):
        return None
    try:
        key = program_key(traced, compiler_options, _signature(*dynamic))
    except Exception as e:  # an unprintable parameter: no key, compile as usual
        logger.info("executable cache: no key for %s: %s", traced.fun_name, e)
        key = None
    path = None if key is None else os.path.join(folder, key[:2], key + ".bin")
    if path is not None and os.path.exists(path):
        try:
            compiled = _load(path, traced)
            if compiled is not None:
                logger.debug("executable cache: loaded %s from %s", traced.fun_name, path)
                return compiled
        except Exception as e:  # a truncated or foreign file: compile again, replace it
            logger.info("executable cache: could not load %s: %s", path, e)
    compiled, fresh = _compile(traced)
    if path is not None and not fresh:
        logger.debug("executable cache: %s came from JAX's cache, not stored", traced.fun_name)
    elif path is not None:
        try:
            _store(path, compiled)
            logger.debug("executable cache: stored %s in %s", traced.fun_name, path)
        except Exception as e:  # not serializable, or the folder is not writable
            logger.info("executable cache: could not store %s: %s", path, e)
    return compiled


def cached_jit(jitted, *, folder, compiler_options=None, static_argnames=()):
    """``jitted`` whose executables come from :func:`compile_cached`, one per argument
    signature (pytree, shapes, dtypes, placements and static values).

    Args:
        jitted: a ``jax.jit``-wrapped function.
        folder: the cache folder, or ``None`` to return ``jitted`` itself.
        compiler_options: the options ``jitted`` compiles with (part of the key).
        static_argnames: ``jitted``'s static arguments; they must come by keyword (a call
            passing one by position runs ``jitted`` as usual).

    Returns:
        A callable like ``jitted``, with ``cache_size()`` (executables held).
    """
    if folder is None:
        return jitted
    static = frozenset(static_argnames)
    executables: dict = {}

    def call(*args, **kw):
        try:
            sig = _signature(args, kw)
            hash(sig)
        except TypeError:  # an unhashable static value: jit says what is wrong
            return jitted(*args, **kw)
        compiled = executables.get(sig, _MISSING)
        if compiled is _MISSING:
            compiled = executables[sig] = compile_cached(
                jitted, args, kw, compiler_options, folder, static
            )
        if compiled is None:
            return jitted(*args, **kw)
        return compiled(*args, **{k: v for k, v in kw.items() if k not in static})

    call.cache_size = lambda: sum(e is not None for e in executables.values())
    return call
