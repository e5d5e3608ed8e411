"""How the engine applies dtype policies (``lamina.dtype_policies``) where layers run.

``policy_apply(layer, params, state, x, ...)`` replaces ``layer.apply(...)`` in the forward
passes (``Sequential`` stacks, functional graphs, layers called inside a custom layer's
``call`` and standalone eager calls), as Keras's ``Layer.__call__`` autocasts:

* floating inputs and weights are cast to the layer's compute dtype (index inputs of
  ``Embedding`` and the lookup layers are left alone: Lamina feeds them as float32);
* normalization layers compute in float32 with float32 weights, as Keras's do;
* floating outputs come out in the compute dtype, the new non-trainable state in the dtypes of
  the old one (float32 statistics stay float32).

Casting is decided in Python from the dtypes, so float32 layers on float32 data trace exactly
the operations they traced before policies existed.  Losses and metrics read the outputs in
float32 (:func:`cast_outputs_float32`), as Keras computes losses in float32.

>>> import jax, jax.numpy as jnp
>>> from lamina.layers import Dense
>>> layer = Dense(2, dtype="mixed_bfloat16")
>>> params, state = layer.init(jax.random.key(0), (None, 3))
>>> y, _ = policy_apply(layer, params, state, jnp.ones((4, 3)))
>>> y.dtype, params["kernel"].dtype
(dtype(bfloat16), dtype('float32'))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from lamina.dtype_policies import DTypePolicy

_FLOATS = ("float16", "bfloat16", "float32", "float64")


def cast_floats(tree, dtype: str):
    """``tree`` with every floating array whose dtype is not ``dtype`` cast to it.  Arrays
    already in ``dtype`` and non-float arrays pass unchanged (no operation is traced)."""
    target = jnp.dtype(dtype)

    def one(a):
        dt = getattr(a, "dtype", None)
        if dt is None or dt == target or not jnp.issubdtype(dt, jnp.floating):
            return a
        return a.astype(target)

    return jax.tree_util.tree_map(one, tree)


def layer_policy(layer) -> DTypePolicy | None:
    """The policy :func:`policy_apply` follows for ``layer``: ``None`` for models (their own
    layers apply their policies) and layers that do not autocast."""
    if getattr(layer, "_is_model", False) or not getattr(layer, "autocast", True):
        return None
    return layer.__dict__.get("_dtype_policy")


#: Layers whose inputs are indices or raw values (Keras turns their input conversion off; Lamina
#: feeds index data as float32, so casting it to 16 bits would corrupt large ids).
_KEEP_INPUTS = frozenset(
    """Embedding CategoryEncoding StringLookup IntegerLookup Hashing HashedCrossing
    TextVectorization""".split()
)
#: Layers that normalize in float32 with float32 weights and return the compute dtype.
_FLOAT32_INSIDE = frozenset("BatchNormalization LayerNormalization GroupNormalization".split())


def _kind(layer, names) -> bool:
    return any(c.__name__ in names for c in type(layer).__mro__)


def _restore_dtypes(new, old):
    if not isinstance(new, dict) or not isinstance(old, dict):
        return new
    out = dict(new)
    for k, v in new.items():
        ref = old.get(k)
        dt = getattr(ref, "dtype", None)
        if dt is not None and getattr(v, "dtype", dt) != dt and jnp.issubdtype(dt, jnp.floating):
            out[k] = v.astype(dt)
    return out


def policy_apply(layer, params, state, x, **kwargs):
    """``layer.apply(params, state, x, **kwargs)`` under the layer's policy: floating inputs
    and weights cast to the compute dtype, floating outputs returned in it, the new state in
    the dtypes of the old one.  Layers in float32 on float32 data run exactly as before.  A
    layer made in a ``lamina.RematScope`` runs rematerialized (``jax.checkpoint``) here, the
    one place every forward pass applies a layer; an output that a ``ModelParallel``'s
    layout map names (``"d2/output"``) takes its layout here too."""
    from lamina.distribution.model_parallel import relayout_outputs
    from lamina.rematerialization import remat_apply

    # Under ModelParallel, a layer output the layout map names ("d2/output") is re-laid.
    apply = relayout_outputs(layer, remat_apply(layer, layer.apply))
    policy = layer_policy(layer)
    if policy is None:
        return apply(params, state, x, **kwargs)
    compute = policy.compute_dtype
    if compute not in _FLOATS:
        return apply(params, state, x, **kwargs)
    if _kind(layer, _FLOAT32_INSIDE):
        x = cast_floats(cast_floats(x, compute), "float32")
    elif not _kind(layer, _KEEP_INPUTS):
        x = cast_floats(x, compute)
        params = cast_floats(params, compute)
    else:
        params = cast_floats(params, compute)
    y, new_state = apply(params, state, x, **kwargs)
    return cast_floats(y, compute), _restore_dtypes(new_state, state)


def output_dtype(layer) -> str:
    """The dtype of a symbolic output of ``layer``: its compute dtype under a 16-bit policy,
    else float32 (Lamina's default for every output)."""
    policy = layer_policy(layer)
    if policy is None or policy.compute_dtype not in ("float16", "bfloat16"):
        return "float32"
    return policy.compute_dtype


def cast_outputs_float32(y_pred):
    """Model outputs as the losses and metrics read them: float32 (Keras computes losses in
    float32 whatever the layers' policies).  A no-op on float32 outputs."""
    return cast_floats(y_pred, "float32")
