"""The initializers of a ``MultiHeadAttention``'s projections, drawn as Keras draws them.

Keras's ``MultiHeadAttention.build`` gives each projection (query, key, [gate], value, then the
output) its own *clone* of the layer's kernel and bias initializers
(``_get_common_kwargs_for_sublayer``): an unseeded clone draws a fresh seed from Python's
``random`` when it is made, and the attention dropout's ``SeedGenerator`` draws one between
the value and the output projections.  Using the layer's one initializer for every projection
would give the query, key and value the same initial kernel after ``set_random_seed`` (and the
layers built after it other seeds than Keras's).  The clones are made once, where Keras builds
the layer: its first symbolic call, or its first ``init``.  Each kernel's Glorot/He fans are
Keras 3's ``EinsumDense`` fans: the contracted axes in, the projected axes out.
"""

from __future__ import annotations

import numpy as np

from lamina import initializers as _initializers
from lamina.initializers.variance_scaling_initializers import VarianceScaling
from lamina.layers.attention_gating import projections
from lamina.layers.seed_state import STATE_KEY
from lamina.utils.random import generator_seed


def _clone(initializer):
    """A fresh copy of ``initializer`` (an unseeded random one draws its own seed), or the
    initializer itself where it cannot be rebuilt from its config (a plain function)."""
    if initializer is None:
        return None
    try:
        return type(initializer).from_config(initializer.get_config())
    except (AttributeError, TypeError, NotImplementedError):
        return initializer


def projection_initializers(layer) -> dict:
    """``{projection: (kernel initializer, bias initializer)}`` for ``layer``, made once.

    Args:
        layer: a ``MultiHeadAttention`` (reads ``kernel_initializer``, ``bias_initializer``,
            ``use_gate``, ``dropout`` and ``seed``).

    Returns:
        The per-projection initializers, in Keras's order.

    >>> import lamina
    >>> mha = lamina.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    >>> inits = projection_initializers(mha)
    >>> list(inits), inits["query"][0] is not inits["key"][0]
    (['query', 'key', 'value', 'attention_output'], True)
    """
    made = layer.__dict__.get("_projection_inits")
    if made is not None:
        return made
    made = {}
    for name in projections(layer):
        if name == "attention_output":
            # Keras's attention Dropout(rate, seed=layer.seed) is built here: its seed
            # generator's seed, which draws Keras's dropout masks (``dropout_state``).
            layer.__dict__["_dropout_seed"] = generator_seed(layer.seed, layer.dropout > 0)
        kernel = _clone(_initializers.or_default(layer.kernel_initializer))
        bias = _clone(_initializers.or_default(layer.bias_initializer))
        made[name] = (kernel, bias)
    layer.__dict__["_projection_inits"] = made
    return made


def kernel_initializer(layer, name: str, shape) -> object:
    """The kernel initializer of projection ``name`` (kernel ``shape``), its fans set as Keras's.

    Keras 3's ``EinsumDense`` gives a ``VarianceScaling`` initializer without axes the kernel's
    contracted (input) and projected (output) axes: the query, key, value and gate contract
    their first axis, the output projection its first two (heads and value size).

    >>> import lamina
    >>> mha = lamina.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    >>> init = kernel_initializer(mha, "attention_output", (2, 4, 8))
    >>> init.input_axes, init.output_axes
    ([0, 1], [2])
    """
    init = projection_initializers(layer)[name][0]
    if isinstance(init, VarianceScaling) and (init.input_axes is None or init.output_axes is None):
        n_in = 2 if name == "attention_output" else 1
        init.input_axes, init.output_axes = list(range(n_in)), list(range(n_in, len(shape)))
    return init


def dropout_state(layer) -> dict:
    """``{STATE_KEY: [seed, 0]}``: the state of the attention dropout's seed generator, as
    Keras's (its masks drawn from the raw key ``[seed, calls]``), or ``{}`` without dropout.

    >>> import lamina
    >>> mha = lamina.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1, seed=3)
    >>> dropout_state(mha)["seed_generator_state"].tolist()
    [3, 0]
    """
    projection_initializers(layer)
    seed = layer.__dict__.get("_dropout_seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        return {}
    return {STATE_KEY: np.asarray([seed & 0xFFFFFFFF, 0], np.uint32)}
