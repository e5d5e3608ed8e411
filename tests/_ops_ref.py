"""Shared helper of the ``tests/test_ops_*.py`` files: run an op in Lamina and in real Keras."""

import jax
import numpy as np

from tests.helpers import keras_ref


def leaves(value):
    """Flattens nested tuples/lists of results into a list of NumPy arrays."""
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(value)]


def compare(lamina_fn, keras_fn, *args, rtol=1e-5, atol=1e-6, check_dtype=True, **kwargs):
    """Calls both and checks that values, shapes and dtypes match.

    Where Keras's JAX backend raises (e.g. ``sigmoid`` of int32: JAX refuses integers), Lamina
    may be more lenient; the comparison then only requires Lamina not to crash differently
    from a clean error or a result. Returns False in that case, True when compared.
    """
    try:
        with keras_ref():
            expected = keras_fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - nothing to compare against
        return False
    got = lamina_fn(*args, **kwargs)
    exp_leaves, got_leaves = leaves(expected), leaves(got)
    assert len(exp_leaves) == len(got_leaves), (exp_leaves, got_leaves)
    for e, g in zip(exp_leaves, got_leaves):
        assert e.shape == g.shape, (e.shape, g.shape)
        if check_dtype:
            assert e.dtype == g.dtype, (e.dtype, g.dtype)
        if e.dtype.kind in "fc":
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, e)
    return True
