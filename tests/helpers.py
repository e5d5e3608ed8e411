"""Small helpers shared by tests."""

import contextlib

import jax


@contextlib.contextmanager
def keras_ref():
    """Runs real Keras code (the reference) with the rank-promotion rules it was written for."""
    with jax.numpy_rank_promotion("allow"):
        yield
