"""``lamina.ops.linalg``: Keras's linear algebra ops (``keras.ops.linalg``) on ``jnp.linalg``.

>>> from lamina.ops import linalg
>>> linalg.det(linalg.inv([[2.0, 0.0], [0.0, 4.0]])).tolist()
0.125
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy as jsp

from lamina.ops._tensor import float_tensor, tensor

__all__ = [
    "cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "jvp", "lstsq", "lu_factor",
    "matrix_rank", "norm", "pinv", "qr", "solve", "solve_triangular", "svd",
]  # fmt: skip


def _m(x, name):
    """A float tensor of rank >= 2 (a stack of matrices)."""
    x = float_tensor(x)
    if x.ndim < 2:
        raise ValueError(
            f"{name} expects a matrix or a stack of matrices (rank >= 2). Received shape {x.shape}."
        )
    return x


def _square(x, name):
    x = _m(x, name)
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{name} expects square matrices. Received shape {x.shape}.")
    return x


def cholesky(x, upper=False):
    """The Cholesky factor of symmetric positive-definite matrices (``keras.ops.cholesky``).

    Args:
        x: ``(..., n, n)`` matrices.
        upper: return the upper factor ``U`` (``x = U^T U``) instead of the lower ``L``.

    Raises:
        ValueError: outside ``jit``, when the input is not positive definite.

    >>> from lamina.ops import linalg
    >>> linalg.cholesky([[4.0, 0.0], [0.0, 9.0]]).tolist()
    [[2.0, 0.0], [0.0, 3.0]]
    """
    out = jnp.linalg.cholesky(_square(x, "cholesky"), upper=upper)
    if not isinstance(out, jax.core.Tracer) and bool(jnp.any(jnp.isnan(out))):
        raise ValueError(
            "Cholesky decomposition failed. The input might not be a valid positive definite "
            "matrix."
        )
    return out


def cholesky_inverse(x, upper=False):
    """The inverse of ``A`` from its Cholesky factor ``x`` (``keras.ops.cholesky_inverse``).

    >>> from lamina.ops import linalg
    >>> linalg.cholesky_inverse([[2.0, 0.0], [0.0, 4.0]]).tolist()
    [[0.25, 0.0], [0.0, 0.0625]]
    """
    x = _square(x, "cholesky_inverse")
    eye = jnp.eye(x.shape[-1], dtype=x.dtype)
    inv_chol = jsp.linalg.solve_triangular(x, eye, lower=not upper)
    t = jnp.swapaxes(inv_chol, -1, -2)
    return jnp.matmul(inv_chol, t) if upper else jnp.matmul(t, inv_chol)


def det(x):
    """Determinants (``keras.ops.det``).

    >>> from lamina import ops
    >>> float(ops.det(ops.eye(3)))
    1.0
    """
    return jnp.linalg.det(_square(x, "det"))


def eig(x):
    """Eigenvalues and eigenvectors of general square matrices (``keras.ops.eig``); complex.

    >>> from lamina import ops
    >>> ops.eig(ops.eye(2))[0].shape
    (2,)
    """
    return jnp.linalg.eig(_square(x, "eig"))


def eigh(x):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (``keras.ops.eigh``).

    >>> from lamina import ops
    >>> ops.eigh(ops.eye(2))[0].tolist()
    [1.0, 1.0]
    """
    return jnp.linalg.eigh(_square(x, "eigh"))


def inv(x):
    """Matrix inverses (``keras.ops.inv``).

    >>> from lamina import ops
    >>> ops.inv(2 * ops.eye(2)).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    return jnp.linalg.inv(_square(x, "inv"))


def lu_factor(x):
    """The pivoted LU factorization ``(lu, pivots)`` (``keras.ops.lu_factor``).

    >>> from lamina import ops
    >>> ops.lu_factor(ops.eye(2))[0].shape
    (2, 2)
    """
    x = _m(x, "lu_factor")
    fn = jsp.linalg.lu_factor
    for _ in range(x.ndim - 2):
        fn = jax.vmap(fn)
    return fn(x)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's name
    """Vector or matrix norms (``keras.ops.norm``, ``np.linalg.norm``'s ``ord`` values).

    >>> from lamina import ops
    >>> float(ops.norm(ops.convert_to_tensor([3.0, 4.0])))
    5.0
    """
    if isinstance(axis, list):
        axis = tuple(axis)
    return jnp.linalg.norm(float_tensor(x), ord=ord, axis=axis, keepdims=keepdims)


def qr(x, mode="reduced"):
    """The QR decomposition ``(q, r)`` (``keras.ops.qr``).

    Raises:
        ValueError: when ``mode`` is not ``'reduced'`` or ``'complete'``.

    >>> from lamina import ops
    >>> [t.shape for t in ops.qr(ops.ones((3, 2)))]
    [(3, 2), (2, 2)]
    """
    if mode not in ("reduced", "complete"):
        raise ValueError(
            "`mode` argument value not supported. Expected one of {'reduced', 'complete'}. "
            f"Received: mode={mode!r}."
        )
    return jnp.linalg.qr(_m(x, "qr"), mode=mode)


def solve(a, b):
    """Solves ``a @ x = b`` for ``x`` (``keras.ops.solve``).

    >>> from lamina import ops
    >>> ops.solve(2 * ops.eye(2), ops.ones((2, 1))).tolist()
    [[0.5], [0.5]]
    """
    return jnp.linalg.solve(_square(a, "solve"), float_tensor(b))


def solve_triangular(a, b, lower=False):
    """Solves ``a @ x = b`` for triangular ``a`` (``keras.ops.solve_triangular``).

    >>> from lamina import ops
    >>> ops.solve_triangular(2 * ops.eye(2), ops.ones((2,))).tolist()
    [0.5, 0.5]
    """
    return jsp.linalg.solve_triangular(_square(a, "solve_triangular"), float_tensor(b), lower=lower)


def svd(x, full_matrices=True, compute_uv=True):
    """Singular value decomposition ``(u, s, vh)``, or ``s`` alone (``keras.ops.svd``).

    >>> from lamina import ops
    >>> [t.shape for t in ops.svd(ops.ones((3, 2)))]
    [(3, 3), (2,), (2, 2)]
    """
    return jnp.linalg.svd(_m(x, "svd"), full_matrices=full_matrices, compute_uv=compute_uv)


def lstsq(a, b, rcond=None):
    """The least-squares solution of ``a @ x = b`` (``keras.ops.lstsq``).

    >>> from lamina import ops
    >>> ops.lstsq(ops.eye(2), ops.ones((2,))).tolist()
    [1.0, 1.0]
    """
    return jnp.linalg.lstsq(_m(a, "lstsq"), float_tensor(b), rcond=rcond)[0]


def matrix_rank(x, tol=None):
    """The rank of matrices, as int32 (``keras.ops.matrix_rank``).

    >>> from lamina import ops
    >>> int(ops.matrix_rank(ops.ones((3, 3))))
    1
    """
    return jnp.linalg.matrix_rank(_m(x, "matrix_rank"), tol=tol).astype(jnp.int32)


def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse (``keras.ops.pinv``).

    >>> from lamina import ops
    >>> ops.pinv(ops.ones((3, 2))).shape
    (2, 3)
    """
    return jnp.linalg.pinv(_m(x, "pinv"), rtol=rcond)


def jvp(fun, primals, tangents, has_aux=False):
    """Forward-mode Jacobian-vector product ``(fun(*primals), J @ tangents)`` (``keras.ops.jvp``).

    >>> from lamina import ops
    >>> out, tangent = ops.jvp(lambda x: x * x, (3.0,), (1.0,))
    >>> float(out), float(tangent)
    (9.0, 6.0)
    """
    primals = tuple(tensor(p) for p in primals)
    tangents = tuple(tensor(t) for t in tangents)
    return jax.jvp(fun, primals, tangents, has_aux=has_aux)
