"""LoRA (low-rank adaptation), as Keras 3's ``layer.enable_lora(rank)``.

A layer with LoRA enabled freezes its kernel (``embeddings`` for ``Embedding``) and trains two
small matrices instead: ``lora_kernel_a`` of shape ``kernel.shape[:-1] + (rank,)`` and
``lora_kernel_b`` of shape ``(rank, kernel.shape[-1])``. The layer computes with the effective
kernel ``kernel + (lora_alpha / rank) * a @ b``.

In Lamina's layout the frozen kernel moves from the layer's ``params`` (trainable) to its
``state`` (non-trainable), and ``a`` and ``b`` join its ``params``; the views list them in
Keras's order (``kernel, bias, lora_kernel_a, lora_kernel_b``). Files hold what Keras's
``save_own_variables`` writes: the merged kernel and the other weights, no ``a`` nor ``b``;
loading one into a LoRA layer sets the kernel and zeroes ``a`` and ``b``, as Keras does.
``enable_lora`` on a layer of a built (or fitted) model keeps its trained kernel and changes
the model's state in place (:mod:`lamina.models.layer_relayout`); the optimizer's slots start
again at the next ``fit``, as after the re-``compile`` Keras's usual flow has.

>>> import numpy as np
>>> from lamina.layers import Dense
>>> layer = Dense(3)
>>> layer.build((None, 4))
>>> layer.enable_lora(2)
>>> [(w.name, w.shape, w.trainable) for w in layer.weights]  # doctest: +NORMALIZE_WHITESPACE
[('kernel', (4, 3), False), ('bias', (3,), True),
 ('lora_kernel_a', (4, 2), True), ('lora_kernel_b', (2, 3), True)]
>>> layer.get_config()["lora_rank"], layer.get_config()["lora_alpha"]
(2, 2)
"""

from __future__ import annotations

import jax.numpy as jnp

from lamina import initializers as _initializers
from lamina.layers import arg_checks as _checks

#: The kind :mod:`lamina.saving.weights_h5` files a LoRA layer's merged kernel under.
MERGED = "lora-merged"


class LoraMixin:
    """Keras 3's LoRA on a layer with one main weight (``Dense``, ``EinsumDense``,
    ``Embedding``, ``Conv1D/2D/3D``): ``enable_lora``, the ``lora_rank``/``lora_alpha``
    arguments and config keys, and the weight layout they imply."""

    #: (main weight, LoRA ``a``, LoRA ``b``) names, as Keras names them.
    _lora_names = ("kernel", "lora_kernel_a", "lora_kernel_b")
    #: Keras's ``Dense``/``Embedding.build`` call ``enable_lora(rank)`` without the config's
    #: ``lora_alpha``, so a layer made from a config ends up with ``lora_alpha == rank``.
    _lora_build_resets_alpha = False
    lora_rank = None
    lora_alpha = None

    def _lora_setup(self, lora_rank, lora_alpha) -> None:
        """Keeps the constructor's ``lora_rank``/``lora_alpha`` (checked)."""
        owner = type(self).__name__
        if lora_rank is not None:
            lora_rank = _checks.check_int(lora_rank, "lora_rank", owner, minimum=1)
        if lora_alpha is not None and (
            isinstance(lora_alpha, bool) or not isinstance(lora_alpha, int | float)
        ):
            raise ValueError(
                f"{owner}(lora_alpha=...) must be a number (the LoRA scale is lora_alpha / "
                f"lora_rank). Received: lora_alpha={lora_alpha!r}."
            )
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank

    @property
    def lora_enabled(self) -> bool:
        """Whether the layer computes with LoRA (``lora_rank`` set and the layer built)."""
        return bool(self.lora_rank) and bool(self.built)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freezes the kernel and trains a rank-``rank`` update ``a @ b`` of it (Keras 3's LoRA).

        The layer then computes with ``kernel + (lora_alpha / rank) * a @ b``; ``a`` starts
        from ``a_initializer``, ``b`` from ``b_initializer`` (zeros: the output is unchanged
        at first). In a model, re-``compile`` and ``fit``: only ``a``, ``b`` and the other
        trainable weights (a bias) are trained.

        Args:
            rank: the rank of the update, a positive integer.
            lora_alpha: the update's scale numerator; ``rank`` when None.
            a_initializer, b_initializer: initializers of ``a`` and ``b``.

        Raises:
            ValueError: the layer has a kernel constraint, is not built, or has LoRA already.

        >>> from lamina.layers import Embedding
        >>> emb = Embedding(10, 4)
        >>> emb.build()
        >>> emb.enable_lora(2, lora_alpha=4)
        >>> [w.name for w in emb.trainable_weights]
        ['lora_embeddings_a', 'lora_embeddings_b']
        """
        main, a_name, b_name = self._lora_names
        what = "embeddings" if main == "embeddings" else "kernel"
        if getattr(self, f"{what}_constraint", None):
            raise ValueError(
                f"Lora is incompatible with {'embedding' if what == 'embeddings' else what} "
                "constraints. In order to enable lora on this layer, remove the "
                f"`{what}_constraint` argument."
            )
        if not self.built:
            raise ValueError(
                "Cannot enable lora on a layer that isn't yet built. Build it first "
                "(layer.build(input_shape), or build the model holding it)."
            )
        if self.lora_enabled:
            raise ValueError("lora is already enabled. This can only be done once per layer.")
        rank = _checks.check_int(rank, "rank", f"{type(self).__name__}.enable_lora", minimum=1)
        params, state, _ = self._weights_source()
        kernel = params[main]
        a_init = _initializers.get(a_initializer)
        b_init = _initializers.get(b_initializer)
        a = jnp.asarray(a_init((*kernel.shape[:-1], rank), "float32"), jnp.float32)
        b = jnp.asarray(b_init((rank, kernel.shape[-1]), "float32"), jnp.float32)
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank
        _relayout(self, a, b)

    # ----------------------------------------------------------------- hooks
    def _lora_layout(self, params: dict, state: dict) -> tuple[dict, dict]:
        """A freshly built layer's weights in the LoRA layout (``lora_rank`` given to the
        constructor): Keras's ``build`` ends with ``enable_lora``."""
        if not self.lora_rank:
            return params, state
        main, a_name, b_name = self._lora_names
        inits = self.__dict__.get("_lora_inits")
        if inits is None:  # drawn once, when first built, as Keras's build makes them
            inits = (_initializers.get("he_uniform"), _initializers.get("zeros"))
            self.__dict__["_lora_inits"] = inits
            if self._lora_build_resets_alpha:
                self.lora_alpha = self.lora_rank
        kernel = params[main]
        shape_a, shape_b = (*kernel.shape[:-1], self.lora_rank), (self.lora_rank, kernel.shape[-1])
        params = {k: v for k, v in params.items() if k != main}
        params[a_name] = jnp.asarray(inits[0](shape_a, "float32"), jnp.float32)
        params[b_name] = jnp.asarray(inits[1](shape_b, "float32"), jnp.float32)
        return params, {main: kernel, **state}

    def _weight_regularizers(self) -> dict:
        found = super()._weight_regularizers()
        return lora_options(self, found)

    @property
    def _keras_weight_list(self):
        if not self.lora_rank:
            return None
        return self._lora_weight_list

    def _lora_weight_list(self, items, key_of):
        """Keras's ``weights`` order of a LoRA layer: the frozen kernel first (it was made
        first), then the other own weights, then any sub-layer's (its activation layer)."""
        main = self._lora_names[0]
        head = [i for i in items if key_of(i) == main]
        own = [i for i in items if key_of(i) != main and "/" not in key_of(i)]
        return head + own + [i for i in items if "/" in key_of(i)]

    def _keras_file_keys(self, keys: list) -> list:
        """The ``(kind, key)`` entries of the layer's file group, as Keras's
        ``save_own_variables`` writes them: the merged kernel first, no ``a`` nor ``b``."""
        main, a_name, b_name = self._lora_names
        if not self.lora_rank or ("s", main) not in keys:
            return keys
        kind = (MERGED, main, a_name, b_name, self.lora_alpha / self.lora_rank)
        rest = [kk for kk in keys if kk[1] not in (main, a_name, b_name)]
        return [(kind, main), *rest]

    def __getattr__(self, name):
        # Keras's ``layer.kernel`` of a LoRA layer is the effective (merged) kernel.
        if name == self._lora_names[0] and self.__dict__.get("lora_rank") and self.built:
            params, state, _ = self._weights_source()
            return merged(self, params, state)[name]
        return super().__getattr__(name)


def lora_options(layer, found: dict) -> dict:
    """``a`` and ``b`` take the kernel's regularizer (Keras's ``enable_lora``)."""
    if layer.lora_rank:
        main, a_name, b_name = layer._lora_names
        found = {**found, a_name: found.get(main), b_name: found.get(main)}
    return found


def merged(layer, params: dict, state: dict) -> dict:
    """``params`` with the layer's effective kernel under its name, when LoRA is on (the
    layer's ``apply`` computes with it, as Keras's ``kernel`` property returns it)."""
    main, a_name, b_name = layer._lora_names
    if a_name not in params:
        return params
    a = params[a_name]
    delta = (layer.lora_alpha / layer.lora_rank) * jnp.matmul(a, params[b_name])
    return {**params, main: (state[main] + delta).astype(a.dtype)}


def lora_config(layer, config: dict) -> dict:
    """``config`` with Keras's ``lora_rank``/``lora_alpha`` entries (only when LoRA is set)."""
    if layer.lora_rank:
        config["lora_rank"] = layer.lora_rank
        config["lora_alpha"] = layer.lora_alpha
    return config


# ---------------------------------------------------------------- files
def saved_value(kind, key: str, params: dict, state: dict):
    """The array a file holds for ``(kind, key)`` of a LoRA layer: the merged kernel."""
    _, main, a_name, b_name, scale = kind
    prefix = key[: len(key) - len(main)]
    a, b = params[prefix + a_name], params[prefix + b_name]
    return state[key] + scale * jnp.matmul(a, b)


def from_saved(found: dict, params: dict) -> dict:
    """The arrays read from a file (``{(kind, key): array}``) in the layer's layout: the
    merged kernel becomes the frozen kernel and ``a``/``b`` are zeroed, as Keras's
    ``load_own_variables`` does."""
    out = {}
    for (kind, key), value in found.items():
        if isinstance(kind, tuple) and kind[0] == MERGED:
            _, main, a_name, b_name, _ = kind
            prefix = key[: len(key) - len(main)]
            out[("s", key)] = value
            for name in (a_name, b_name):
                out[("p", prefix + name)] = jnp.zeros(params[prefix + name].shape, jnp.float32)
        else:
            out[(kind, key)] = value
    return out


# ------------------------------------------------------- built layers
def _relayout(layer, a, b) -> None:
    """Moves a built layer's kernel to its non-trainable state and adds ``a`` and ``b`` to its
    trainable params, where its arrays live (the model holding it, or the layer itself)."""
    from lamina.models.layer_relayout import relayout

    relayout(
        layer,
        lambda p, s, prefix: _arrays(layer, p, s, prefix, a, b),
        lambda names, prefix: _names(layer, names, prefix),
    )


def _arrays(layer, p: dict, s: dict, prefix: str, a, b) -> tuple[dict, dict]:
    main, a_name, b_name = layer._lora_names
    p = dict(p)
    kernel = p.pop(prefix + main)
    p[prefix + a_name], p[prefix + b_name] = a, b
    return p, {prefix + main: kernel, **s}


def _names(layer, names: tuple, prefix: str) -> tuple:
    """``(param names, state names)`` with the kernel moved to the state and ``a``, ``b``
    after the layer's other params."""
    main, a_name, b_name = layer._lora_names
    p_names, s_names = list(names[0]), list(names[1])
    at = p_names.index(prefix + main)
    p_names.pop(at)
    own = [i for i, k in enumerate(p_names) if k.startswith(prefix) and "/" not in k[len(prefix) :]]
    end = own[-1] + 1 if own else at
    p_names[end:end] = [prefix + a_name, prefix + b_name]
    return tuple(p_names), (prefix + main, *s_names)
