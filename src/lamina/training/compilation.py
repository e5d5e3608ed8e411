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
#: The LLVM optimization level of compile-bound fits' training programs
#: (``DebugOptions.xla_backend_optimization_level``; XLA's default is 3, see
#: :func:`train_compiler_options`).
_OPT_LEVEL = "xla_backend_optimization_level"
_LIGHT_LEVEL = 2
#: The operations of a forward pass without convolutions that may train at ``_LIGHT_LEVEL``:
#: matrix products and elementwise maths.  Anything else keeps XLA's defaults (attention's
#: batched matrix products compiled no faster; an embedding's step, bound by its gather and
#: its optimizer update, measured 0.74-0.89x Keras-JAX's at level 2 against 0.92x at 3).
_DENSE_OPS = frozenset(
    """abs add and broadcast_in_dim clamp concatenate convert_element_type cos custom_jvp_call
    custom_vjp_call div dot_general eq erf erf_inv exp exp2 expand_dims expm1 floor ge gt
    integer_pow is_finite jit le log log1p logistic lt max min mul ne neg not or pjit pow
    reduce_max reduce_min reduce_precision reduce_sum reshape round rsqrt select_n sign sin
    slice sqrt square squeeze stop_gradient sub tan tanh transpose xor""".split()
)


def program_compiler_options(n_weights: int) -> dict | None:
    """XLA compiler options for the programs of a model with ``n_weights`` weights.

    A small model's fit is compile-bound: the Pima MLP of the seed trains 150 epochs in about
    0.1 s after a 0.7 s compile.  On XLA's CPU backend the classic loop emitters compile such
    programs about 0.3 s (35-40%) faster than the MLIR fusion emitters, with the same results
    to float32 rounding (mostly bit for bit; a reduction may round its last bit differently)
    and the same step time (measured on MLPs, BatchNormalization/Dropout, LSTM(8);
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


def _light_options_allowed(option: str = _FUSION_EMITTERS) -> bool:
    """Whether Lamina may choose XLA's ``option``: on CPU, unless ``XLA_FLAGS`` names it."""
    import jax

    if option in os.environ.get("XLA_FLAGS", ""):
        return False
    try:
        return jax.default_backend() == "cpu"
    except RuntimeError:  # no backend could start: let jit report it
        return False


def train_compiler_options(forward, params, state, row, kind=None) -> dict | None:
    """XLA options for the training programs of a compile-bound fit of a model of any size,
    from its forward pass.

    XLA's CPU fusion emitters compile a convolution's gradient slowly, so a forward pass with
    a convolution and no loop trains with the classic emitters, at LLVM optimization level 2
    (XLA's default is 3): in one process, alternating, ``mnist_cnn``'s epoch program compiled
    in 1.4-2.4 s against 2.7-3.4 s with XLA's defaults, ``imdb_cnn``'s in 1.0-1.4 s against
    2.1 s, the keras.io Conv1D autoencoder's in 2.2-3.0 s against 4.0-4.2 s, with steps
    within their noise (±10%).  Level 2 matters: with the classic emitters at level 3 the
    autoencoder's program took 26 s.  A model of matrix products and elementwise maths
    (``_DENSE_OPS``) keeps the fusion emitters (the classic ones stepped such models 35-50%
    slower) at level 2: 15-30% faster to compile (an 85k-weight MLP 2.0-2.2 s -> 1.5-1.6 s),
    the same step times.  Either only for fits the engine estimates compile-bound
    (:attr:`lamina.training.strategy.Plan.compile_bound`).  Other models keep XLA's
    defaults: recurrent loops (an LSTM epoch 5-30% slower with either), attention (compiles
    no faster), embeddings (steps up to 20% slower).  Evaluation and prediction keep
    :func:`program_compiler_options`.  Nothing changes off CPU, and an option named in
    ``XLA_FLAGS`` is the user's.

    Args:
        forward: ``(params, state, x) -> y``: the model's forward pass.
        params, state: the model's weights and layer state (arrays or
            ``jax.ShapeDtypeStruct``).
        row: one input row (batch 1), as arrays or ``jax.ShapeDtypeStruct``.
        kind: the forward pass's :func:`forward_kind` when already known (the engine
            profiled it: :func:`lamina.training.strategy.forward_profile`); ``None`` traces
            ``forward`` to find it.

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
    >>> jax.default_backend() != "cpu" or train_compiler_options(
    ...     lambda p, s, x: jnp.tanh(x[0] @ p), w, None, x) == {_OPT_LEVEL: 2}
    True
    >>> batched = lambda p, s, x: jnp.einsum("bij,bjk->bik", x, x.swapaxes(1, 2))
    >>> train_compiler_options(batched, w, None, x) is None
    True
    >>> def loop(p, s, x):
    ...     return jax.lax.scan(lambda c, r: (c + r, None), x[0], x)[0]
    >>> train_compiler_options(loop, None, None, x) is None
    True
    """
    emitters, level = _light_options_allowed(), _light_options_allowed(_OPT_LEVEL)
    if not (emitters or level):
        return None  # off CPU, or the user chose both in XLA_FLAGS: nothing to trace
    if kind is None:
        import jax

        try:
            kind = forward_kind(jax.make_jaxpr(forward)(params, state, row))
        except Exception:  # only a choice of options: the program reports real problems itself
            return None
    light = {_OPT_LEVEL: _LIGHT_LEVEL} if level else {}
    if kind == "conv":
        return {_FUSION_EMITTERS: False, **light} if emitters else None
    return (light or None) if kind == "dense" else None


def forward_kind(closed) -> str:
    """What a forward pass computes, as :func:`train_compiler_options` tells programs apart:
    ``"loop"`` (a ``scan`` or ``while``), else ``"conv"`` (a convolution), else ``"dense"``
    (only ``_DENSE_OPS``, matrix products without batch dimensions), else ``"other"``.

    Args:
        closed: the forward pass's ``jax.make_jaxpr`` (nested jaxprs count too).

    Returns:
        One of ``"loop"``, ``"conv"``, ``"dense"``, ``"other"``.

    >>> import jax, jax.numpy as jnp
    >>> forward_kind(jax.make_jaxpr(lambda x: jnp.tanh(x @ x.T))(jnp.ones((2, 3))))
    'dense'
    >>> forward_kind(jax.make_jaxpr(lambda x: jnp.cumsum(x))(jnp.ones(3)))
    'other'
    """
    from lamina.training.strategy import _equations

    eqns = list(_equations(closed.jaxpr))
    names = {eqn.primitive.name for eqn in eqns}
    if "scan" in names or "while" in names:
        return "loop"
    if "conv_general_dilated" in names:
        return "conv"
    dense = names <= _DENSE_OPS and not any(
        eqn.params["dimension_numbers"][1][0] for eqn in eqns if eqn.primitive.name == "dot_general"
    )  # matrix products without batch dimensions (attention's compile no faster)
    return "dense" if dense else "other"


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
        hints: :attr:`lamina.training.step.Program.hints`: ``{"compile_bound": bool,
            "forward_kind": str or None}`` (:attr:`lamina.training.strategy.Plan`'s fields;
            a known kind spares a trace of the forward pass).

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
    return train_compiler_options(forward, params, state, x, kind=hints.get("forward_kind"))


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
