"""Keras 2's remaining ``keras.backend`` functions: ``K.map_fn``, ``K.foldl``, ``K.foldr``,
``K.reverse``, ``K.name_scope``, ``K.random_normal_variable``, ``K.random_uniform_variable``,
``K.is_sparse``, ``K.to_dense``, the focal crossentropies and ``K.ctc_label_dense_to_sparse``.

``K.map_fn``/``K.foldl``/``K.foldr`` run ``fn`` over the first axis of ``elems`` (a tensor or
a nested structure of tensors) as TensorFlow's did, compiled with ``jax.lax.map``/``scan`` so
they also work inside a traced layer ``call``.

>>> import numpy as np
>>> from lamina import backend as K
>>> K.foldl(lambda acc, x: acc + x, np.array([1.0, 2.0, 3.0])).tolist()
6.0
>>> K.reverse(np.arange(3), 0).tolist()
[2, 1, 0]
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

from lamina._unsupported import UnsupportedKerasAPIError
from lamina.backend import config as _config
from lamina.backend.keras2_session import random_normal, random_uniform
from lamina.backend.keras2_state import variable
from lamina.backend.keras2_tensors import binary_crossentropy
from lamina.ops import _symbolic as _symbolic_ops

__all__ = [
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "ctc_label_dense_to_sparse",
    "foldl", "foldr", "is_sparse", "map_fn", "name_scope", "random_normal_variable",
    "random_uniform_variable", "reverse", "to_dense",
]  # fmt: skip

#: The functions wrapped for symbolic tensors (the others make variables or scopes, or answer
#: from the Python object).
_TENSOR_FUNCTIONS = [
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "foldl", "foldr", "map_fn",
    "reverse",
]  # fmt: skip


def _arrays(tree):
    return jax.tree_util.tree_map(jnp.asarray, tree)


def map_fn(fn, elems, name=None, dtype=None):
    """``fn`` applied to each slice of ``elems`` along its first axis, stacked (``K.map_fn``).

    Args:
        fn: a function of one slice (a nested structure when ``elems`` is one).
        elems: a tensor or a nested structure of tensors sharing their first dimension.
        name: unused (TensorFlow's op name).
        dtype: the output dtype (TensorFlow needed it when it differs from ``elems``'s).

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.map_fn(lambda row: row.sum(), np.ones((3, 2))).tolist()
    [2.0, 2.0, 2.0]
    """
    del name
    out = jax.lax.map(fn, _arrays(elems))
    if dtype is not None:
        out = jax.tree_util.tree_map(lambda v: v.astype(_config_dtype(dtype)), out)
    return out


def _config_dtype(dtype):
    from lamina.ops._tensor import standardize_dtype

    return standardize_dtype(dtype)


def _fold(fn, elems, initializer, reverse):
    elems = _arrays(elems)
    if initializer is None:  # TensorFlow's rule: the first element starts the fold
        index = -1 if reverse else 0
        initializer = jax.tree_util.tree_map(lambda v: v[index], elems)
        elems = jax.tree_util.tree_map(lambda v: v[:-1] if reverse else v[1:], elems)
    init = _arrays(initializer)

    def step(acc, x):
        new = fn(acc, x)
        # The carry keeps the initializer's dtypes (``acc + x`` of a Python float is weak).
        new = jax.tree_util.tree_map(lambda n, a: jnp.asarray(n).astype(a.dtype), new, acc)
        return new, None

    out, _ = jax.lax.scan(step, init, elems, reverse=reverse)
    return out


def foldl(fn, elems, initializer=None, name=None):
    """Reduces ``elems`` along its first axis from the left: ``fn(fn(init, e0), e1)...``
    (``K.foldl``; TensorFlow's ``foldl``).

    Args:
        fn: ``fn(accumulator, element) -> accumulator`` (same structure and shapes).
        elems: a tensor or a nested structure of tensors.
        initializer: the first accumulator; None: ``elems[0]``, folding over the rest.
        name: unused (TensorFlow's op name).

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.foldl(lambda acc, x: acc * 10 + x, np.array([1, 2, 3])).tolist()
    123
    """
    del name
    return _fold(fn, elems, initializer, reverse=False)


def foldr(fn, elems, initializer=None, name=None):
    """Reduces ``elems`` along its first axis from the right: ``fn(fn(init, e_last), ...)``
    (``K.foldr``; TensorFlow's ``foldr``); ``initializer`` None starts from ``elems[-1]``.

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.foldr(lambda acc, x: acc * 10 + x, np.array([1, 2, 3])).tolist()
    321
    """
    del name
    return _fold(fn, elems, initializer, reverse=True)


def reverse(x, axes):
    """``x`` reversed along ``axes`` (an int or a list of ints) (``K.reverse``).

    >>> import numpy as np
    >>> from lamina import backend as K
    >>> K.reverse(np.array([[1, 2], [3, 4]]), [0, 1]).tolist()
    [[4, 3], [2, 1]]
    """
    if isinstance(axes, int):
        axes = [axes]
    return jnp.flip(jnp.asarray(x), axis=tuple(int(a) for a in axes))


class name_scope:  # noqa: N801 - Keras 2's name
    """TensorFlow's op name scope (``K.name_scope``): a context manager that changes nothing.

    JAX has no graph op names, and TensorFlow's scope did not name Keras weights either, so
    weights made inside keep their usual names (and their Keras paths when saved).

    Raises:
        ValueError: ``name`` is not a string.

    >>> from lamina import backend as K
    >>> with K.name_scope("block1") as scope:
    ...     scope
    'block1/'
    """

    def __init__(self, name):
        if not isinstance(name, str):
            raise ValueError(f"name for name_scope must be a string. Received: name={name!r}")
        self.name = name

    def __enter__(self):
        return self.name + "/" if self.name else ""

    def __exit__(self, *exc):
        return False


def _numpy_seed(seed):
    # Keras 2: an unseeded draw is conditioned by NumPy's global generator.
    return int(np.random.randint(10e8)) if seed is None else seed


def random_normal_variable(shape, mean, scale, dtype=None, name=None, seed=None):
    """A variable of normal samples (``K.random_normal_variable``); ``scale`` is the
    standard deviation. Returns what ``K.variable`` returns.

    >>> from lamina import backend as K
    >>> K.int_shape(K.random_normal_variable((2, 3), 0.0, 1.0, seed=1))
    (2, 3)
    """
    value = random_normal(shape, mean, scale, dtype=dtype, seed=_numpy_seed(seed))
    return variable(value, dtype=dtype, name=name)


def random_uniform_variable(shape, low, high, dtype=None, name=None, seed=None):
    """A variable of uniform samples in ``[low, high)`` (``K.random_uniform_variable``).
    Returns what ``K.variable`` returns.

    >>> from lamina import backend as K
    >>> K.int_shape(K.random_uniform_variable((2,), 0.0, 1.0, seed=1))
    (2,)
    """
    value = random_uniform(shape, low, high, dtype=dtype, seed=_numpy_seed(seed))
    return variable(value, dtype=dtype, name=name)


def is_sparse(tensor):
    """Whether ``tensor`` is sparse (``K.is_sparse``): a ``jax.experimental.sparse`` array,
    Lamina's sparse form; NumPy and JAX arrays are dense.

    >>> from lamina import backend as K
    >>> K.is_sparse(K.ones((2,)))
    False
    """
    from jax.experimental import sparse

    return isinstance(tensor, sparse.JAXSparse)


def to_dense(tensor):
    """``tensor`` as a dense array when it is sparse, else ``tensor`` itself (``K.to_dense``).

    >>> from lamina import backend as K
    >>> K.to_dense(K.ones((2,))).tolist()
    [1.0, 1.0]
    """
    return tensor.todense() if is_sparse(tensor) else tensor


def binary_focal_crossentropy(target, output, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False):  # fmt: skip
    """Elementwise binary focal crossentropy (``K.binary_focal_crossentropy``): the binary
    crossentropy times ``(1 - p_t) ** gamma``, and times ``alpha``/``1 - alpha`` for the
    positive/negative targets with ``apply_class_balancing``.

    >>> from lamina import backend as K
    >>> K.binary_focal_crossentropy(K.constant([1.0]), K.constant([0.5])).shape
    (1,)
    """
    target, output = jnp.asarray(target), jnp.asarray(output)
    probs = jax.nn.sigmoid(output) if from_logits else output
    p_t = target * probs + (1 - target) * (1 - probs)
    focal = jnp.power(1.0 - p_t, gamma) * binary_crossentropy(target, output, from_logits)
    if apply_class_balancing:
        focal = (target * alpha + (1 - target) * (1 - alpha)) * focal
    return focal


def categorical_focal_crossentropy(target, output, alpha=0.25, gamma=2.0, from_logits=False,
                                   axis=-1):  # fmt: skip
    """Categorical focal crossentropy summed over ``axis``
    (``K.categorical_focal_crossentropy``): ``-sum(alpha * (1 - p) ** gamma * t * log(p))``
    with ``output`` renormalized and clipped to ``[epsilon, 1 - epsilon]``.

    Raises:
        ValueError: ``target`` and ``output`` have different shapes.

    >>> from lamina import backend as K
    >>> K.categorical_focal_crossentropy(K.constant([[0.0, 1.0]]), K.constant([[0.5, 0.5]])).shape
    (1,)
    """
    target, output = jnp.asarray(target), jnp.asarray(output)
    if target.shape != output.shape:
        raise ValueError(
            "categorical_focal_crossentropy: target and output must have the same shape. "
            f"Received: target.shape={target.shape}, output.shape={output.shape}"
        )
    if from_logits:
        output = jax.nn.softmax(output, axis=axis)
    output = output / jnp.sum(output, axis=axis, keepdims=True)
    eps = _config.epsilon()
    output = jnp.clip(output, eps, 1.0 - eps)
    focal = alpha * jnp.power(1.0 - output, gamma) * (-target * jnp.log(output))
    return jnp.sum(focal, axis=axis)


def ctc_label_dense_to_sparse(labels, label_lengths):
    """Keras 2's conversion of padded labels to a ``tf.SparseTensor``, which Lamina does not
    offer: nothing here consumes TensorFlow's sparse tensors.

    Raises:
        UnsupportedKerasAPIError: always; ``K.ctc_batch_cost(y_true, y_pred, input_length,
            label_length)`` and ``lamina.ops.ctc_loss`` take the dense labels and lengths.
    """
    raise UnsupportedKerasAPIError(
        "keras.backend.ctc_label_dense_to_sparse is not supported by Lamina: it builds a "
        "TensorFlow SparseTensor, which nothing in Lamina consumes. Pass the dense, padded "
        "labels and their lengths to K.ctc_batch_cost(y_true, y_pred, input_length, "
        "label_length) or lamina.ops.ctc_loss(target, output, target_length, output_length) "
        "instead."
    )


# Keras 2 code may call them on the symbolic tensors of keras.Input: a graph node there.
_symbolic_ops.wrap_module(sys.modules[__name__], _TENSOR_FUNCTIONS)
