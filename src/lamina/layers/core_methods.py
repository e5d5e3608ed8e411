"""A layer's pure ``init``, reached even where a Keras 1 layer gave ``self.init`` a meaning.

Keras 1 layers kept their initializer as ``self.init`` (``Dense(init='uniform')``), and the
custom layers of that time copied it: the attention layer of many Kaggle notebooks sets
``self.init = initializers.get('glorot_uniform')`` and builds ``self.add_weight(...,
initializer=self.init)``.  That instance attribute hides Lamina's ``Layer.init(key,
input_shape)``; the engine therefore calls the class's method through :func:`layer_init`, and
the user's ``self.init`` stays what the user set.

>>> import jax
>>> from lamina import initializers
>>> from lamina.layers import Dense
>>> layer = Dense(2)
>>> layer.init = initializers.get("ones")  # a Keras 1 attribute
>>> params, _ = layer_init(layer)(jax.random.key(0), (None, 3))
>>> sorted(params), type(layer.init).__name__
(['bias', 'kernel'], 'Ones')
"""

from __future__ import annotations


def layer_init(layer):
    """``layer.init`` as a bound method of its class: Lamina's ``init(key, input_shape)``."""
    if "init" in vars(layer):
        return type(layer).init.__get__(layer, type(layer))
    return layer.init
