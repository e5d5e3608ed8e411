"""How Lamina asks XLA to compile: JAX's persistent compilation cache, and the compiler options
of small models' programs and of convolutional models' training programs.

The persistent cache is on by default so a second process skips most of XLA's compile time (opt
out with ``LAMINA_COMPILATION_CACHE=0``; choose the folder with ``LAMINA_CACHE_DIR``).
"""

from __future__ import annotations

import os

from lamina._log import logger
from lamina.training.state import TrainState

_DONE = {"enabled": None}

#: Models with at most this many weights compile with XLA's classic CPU loop emitters.
SMALL_MODEL_WEIGHTS = 4096
#: The XLA option for it (``DebugOptions.xla_cpu_use_fusion_emitters``).
_FUSION_EMITTERS = "xla_cpu_use_fusion_emitters"


def program_compiler_options(n_weights: int) -> dict | None:
    """XLA compiler options for the programs of a model with ``n_weights`` weights.

    A small model's fit is compile-bound: the Pima MLP of the seed trains 150 epochs in about
    0.1 s after a 0.7 s compile.  On XLA's CPU backend the classic loop emitters compile such
    programs about 0.3 s (35-40%) faster than the MLIR fusion emitters, with the same results
    bit for bit and the same step time (measured on MLPs, BatchNormalization/Dropout, LSTM(8);
    a 410-weight convolution ran its epoch ~7% slower, still far less than the compile time
    saved).  Larger models keep XLA's defaults, where run time dominates.  Nothing changes off
    CPU, or when the user chose the emitters in ``XLA_FLAGS``.

    Args:
        n_weights: the model's weight count (trainable and not).

    Returns:
        A dict for ``jax.jit(..., compiler_options=...)``, or ``None`` for XLA's defaults.

    >>> import jax
    >>> program_compiler_options(10**6) is None
    True
    >>> jax.default_backend() != "cpu" or program_compiler_options(221) is not None
    True
    """
    if n_weights > SMALL_MODEL_WEIGHTS or not _light_options_allowed():
        return None
    return {_FUSION_EMITTERS: False}


def _light_options_allowed() -> bool:
    """Whether Lamina may choose the emitters: on CPU, unless ``XLA_FLAGS`` names them."""
    import jax

    if _FUSION_EMITTERS in os.environ.get("XLA_FLAGS", ""):
        return False
    try:
        return jax.default_backend() == "cpu"
    except RuntimeError:  # no backend could start: let jit report it
        return False


def train_compiler_options(forward, params, state, row) -> dict | None:
    """XLA options for the training programs of a compile-bound fit of a model of any size,
    from its forward pass.

    XLA's CPU fusion emitters compile a convolution's gradient slowly: with the classic
    emitters the training program of the keras.io Conv1D autoencoder compiled in 1.1-2.0 s
    against 1.8-3.7 s, ``mnist_cnn``'s and ``imdb_cnn``'s about 1 s faster.  Their steps run
    within -10%..+5% of the defaults' (measured in one process, alternating: the autoencoder
    10% faster, Conv1D layers 4-7% slower), so the engine asks for them only for fits it
    estimates compile-bound (:attr:`lamina.training.strategy.Plan.compile_bound`).  Recurrent
    loops and matrix-product models lose more (an LSTM or GRU epoch 15-30% slower, a
    256-wide MLP's 50% slower): only a forward pass with a convolution and without a loop
    gets them.  Evaluation and prediction keep :func:`program_compiler_options`.  Nothing
    changes off CPU or when ``XLA_FLAGS`` names the emitters
    (``--xla_cpu_use_fusion_emitters=true`` keeps XLA's).

    Args:
        forward: ``(params, state, x) -> y``: the model's forward pass.
        params, state: the model's weights and layer state (arrays or
            ``jax.ShapeDtypeStruct``).
        row: one input row (batch 1), as arrays or ``jax.ShapeDtypeStruct``.

    Returns:
        A dict for ``jax.jit(..., compiler_options=...)``, or ``None`` for XLA's defaults.

    >>> import jax, jax.numpy as jnp
    >>> def conv(p, s, x):
    ...     return jax.lax.conv_general_dilated(x, p, (1,), "SAME")
    >>> x = jax.ShapeDtypeStruct((1, 1, 8), jnp.float32)
    >>> k = jax.ShapeDtypeStruct((4, 1, 3), jnp.float32)
    >>> jax.default_backend() != "cpu" or train_compiler_options(conv, k, None, x) is not None
    True
    >>> w = jax.ShapeDtypeStruct((8, 2), jnp.float32)
    >>> train_compiler_options(lambda p, s, x: x @ p, w, None, x) is None
    True
    """
    import jax

    from lamina.training.strategy import _uses

    if not _light_options_allowed():
        return None
    try:
        closed = jax.make_jaxpr(forward)(params, state, row)
    except Exception:  # only a choice of options: the program reports real problems itself
        return None
    jaxpr = closed.jaxpr
    if not _uses(jaxpr, "conv_general_dilated") or _uses(jaxpr, "scan") or _uses(jaxpr, "while"):
        return None
    return {_FUSION_EMITTERS: False}


def train_program_options(network, args, batched, hints) -> dict | None:
    """:func:`train_compiler_options` for one training program of ``network``, decided at its
    first call.

    Only fits the engine found compile-bound ask for lighter options: in long fits XLA's
    defaults run some convolutions' steps a few percent faster.

    Args:
        network: the :class:`~lamina.training.network.Network` the program trains.
        args: the program's first call arguments, ``(ts, rng or metric state, data, ...)``;
            ``data`` holds every row ``(n, ...)`` or, with ``batched``, pre-batched
            ``(steps, batch, ...)`` leaves.
        batched: whether ``data`` is pre-batched.
        hints: :attr:`lamina.training.step.Program.hints` (``{"compile_bound": bool}``).

    Returns:
        A dict for ``jax.jit(..., compiler_options=...)``, or ``None`` for XLA's defaults
        (also when the rows are spread over devices).

    >>> train_program_options(None, (None, None, None), False, {}) is None
    True
    """
    import jax

    ts, data = args[0], args[2]
    if not hints.get("compile_bound"):
        return None
    if not isinstance(data, tuple) or not isinstance(ts, TrainState):
        return None  # rows spread over devices: XLA's defaults
    skip = 2 if batched else 1

    def row(a):
        return jax.ShapeDtypeStruct((1, *a.shape[skip:]), a.dtype)

    def spec(a):
        return jax.ShapeDtypeStruct(a.shape, a.dtype)

    def forward(params, state, x):
        return network.forward(params, state, x, training=False)[0]

    params, state = jax.tree_util.tree_map(spec, (ts.params, ts.state))
    x = jax.tree_util.tree_map(row, data[0])
    return train_compiler_options(forward, params, state, x)


def enable_persistent_cache() -> bool:
    """Points JAX's compilation cache at Lamina's cache folder, once per process.

    Does nothing when the user already configured a cache directory for JAX, or opted out.
    Returns whether the cache is in use.
    """
    if _DONE["enabled"] is not None:
        return _DONE["enabled"]
    import jax

    enabled = os.environ.get("LAMINA_COMPILATION_CACHE", "1").lower() not in ("0", "false", "no")
    if enabled and not jax.config.jax_compilation_cache_dir:
        cache_dir = os.environ.get("LAMINA_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "lamina", "jax"
        )
        try:
            os.makedirs(cache_dir, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", cache_dir)
            # Small models compile in well under JAX's default 1 s threshold; cache them too.
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
            logger.info("JAX's persistent compilation cache: %s", cache_dir)
        except OSError as e:
            logger.info("no persistent compilation cache (%s): %s", cache_dir, e)
            enabled = False
    _DONE["enabled"] = enabled
    return enabled
