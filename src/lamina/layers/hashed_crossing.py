"""``HashedCrossing``: crosses categorical features with the hashing trick (as Keras).

The bin of a row is TensorFlow's ``tf.sparse.cross_hashed`` (what Keras's layer runs):
starting from the key ``0xDECAFCAFFE``, each feature's hash (FarmHash ``Fingerprint64`` of a
string, the value itself for an integer) is folded in with ``FingerprintCat64``; the result
modulo ``num_bins`` is the bin.  Values equal Keras's (its docstring examples are this file's
doctest).  Like Keras's layer this is preprocessing: it runs on the host (NumPy); integer
features inside a compiled model go through ``jax.pure_callback``.
"""

from __future__ import annotations

import numpy as np

from lamina.layers.base import Layer
from lamina.layers.encoding import _check_mode, as_host_strings, encode_categorical

_M = (1 << 64) - 1
_KMUL = 0xC6A4A7935BD1E995
_HASH_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash_key


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def fingerprint_cat64(fp1: int, fp2: int) -> int:
    """TensorFlow's ``FingerprintCat64``: combines two 64-bit fingerprints."""
    result = fp1 ^ _KMUL
    result ^= (_shift_mix((fp2 * _KMUL) & _M) * _KMUL) & _M
    result = (result * _KMUL) & _M
    result = (_shift_mix(result) * _KMUL) & _M
    return _shift_mix(result)


def _feature_hash(value) -> int:
    from lamina.layers._farmhash import fingerprint64

    if isinstance(value, str):
        return fingerprint64(value.encode("utf-8"))
    return int(value) & _M


def _is_symbolic(x) -> bool:
    return hasattr(x, "aval") or type(x).__name__ == "KerasTensor"


class HashedCrossing(Layer):
    """Crosses scalar categorical features into ``num_bins`` bins: ``hash(features) % num_bins``.

    Args:
        num_bins: the number of hash bins.
        output_mode: ``"int"`` (bin indices) or ``"one_hot"``.
        sparse: Keras's sparse output (TensorFlow only); not supported.

    Each input feature has shape ``()``, ``(batch,)`` or ``(batch, 1)`` and holds strings or
    integers; the layer is called on a list or tuple of two or more of them.

    >>> import numpy as np
    >>> from lamina.layers import HashedCrossing
    >>> feat1 = np.array(["A", "B", "A", "B", "A"])
    >>> feat2 = np.array([101, 101, 101, 102, 102])
    >>> HashedCrossing(num_bins=5)((feat1, feat2)).tolist()
    [1, 4, 1, 1, 3]
    >>> HashedCrossing(num_bins=5, output_mode="one_hot")((feat1, feat2))[1].tolist()
    [0.0, 0.0, 0.0, 0.0, 1.0]
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise ValueError("`sparse=True` can only be used with the TensorFlow backend.")
        _check_mode("HashedCrossing", output_mode, ("int", "one_hot"))
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = False

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, inputs):
        if not isinstance(inputs, list | tuple):
            raise ValueError(
                "`HashedCrossing` should be called on a list or tuple of inputs. "
                f"Received: inputs={inputs}"
            )
        if len(inputs) < 2:
            raise ValueError(
                "`HashedCrossing` should be called on at least two inputs. "
                f"Received: inputs={inputs}"
            )
        first = tuple(np.shape(inputs[0]))
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(
                "All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or "
                f"`(batch_size, 1)`. Received: inputs={inputs}"
            )
        if not all(tuple(np.shape(x)) == first for x in inputs[1:]):
            raise ValueError(
                f"All `HashedCrossing` inputs should have equal shape. Received: inputs={inputs}"
            )

    # ------------------------------------------------------------------ hashing
    def _bins(self, *features) -> np.ndarray:
        """The bin of each row of the host ``features`` (int32, shaped as a feature)."""
        arrays = []
        for f in features:
            arr = np.asarray(f)
            if arr.dtype.kind in "OUS":
                arrays.append(as_host_strings(arr).reshape(-1))
            elif arr.dtype.kind in "iub":
                arrays.append(arr.astype(np.int64).reshape(-1))
            else:
                raise ValueError(
                    "All `HashedCrossing` inputs should have an integer or string dtype. "
                    f"Received: dtype={arr.dtype}"
                )
        out = np.empty(arrays[0].shape[0], np.int32)
        for row in range(out.shape[0]):
            h = _HASH_KEY
            for column in arrays:
                h = fingerprint_cat64(h, _feature_hash(column[row]))
            out[row] = h % self.num_bins
        return out.reshape(np.shape(features[0]))

    def __call__(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("inputs")
        if isinstance(inputs, list | tuple) and not any(_is_symbolic(x) for x in inputs):
            return self.host_apply(inputs)
        return super().__call__(*args, **kwargs)

    def host_apply(self, inputs):
        """Crosses host data (NumPy arrays, lists, strings) eagerly."""
        import jax.numpy as jnp

        self._check_inputs(inputs)
        idx = self._bins(*inputs)
        return jnp.asarray(encode_categorical(idx, self.output_mode, self.num_bins, xp=np))

    def apply(self, params, state, x, *, training=False, key=None):
        import jax
        import jax.numpy as jnp

        self._check_inputs(x)
        for f in x:
            if jnp.issubdtype(jnp.asarray(f).dtype, jnp.floating):
                self._bins(np.zeros(np.shape(f), jnp.asarray(f).dtype))
        shape = jax.ShapeDtypeStruct(jnp.shape(x[0]), jnp.int32)
        idx = jax.pure_callback(self._bins, shape, *x, vmap_method="sequential")
        return encode_categorical(idx, self.output_mode, self.num_bins), state

    def compute_output_shape(self, input_shape):
        if (
            len(input_shape) != 2
            or not isinstance(input_shape[0], tuple | list)
            or not isinstance(input_shape[1], tuple | list)
        ):
            raise ValueError(
                f"Expected as input a list/tuple of 2 tensors. Received input_shape={input_shape}"
            )
        first = tuple(input_shape[0])
        if first[-1:] != tuple(input_shape[1])[-1:]:
            raise ValueError(
                "Expected the two input tensors to have identical shapes. "
                f"Received input_shape={input_shape}"
            )
        if self.output_mode == "int":
            return first
        if first and first[-1] != 1:
            return first + (self.num_bins,)
        return first[:-1] + (self.num_bins,)

    def get_config(self):
        return {
            "num_bins": self.num_bins,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "name": self.name,
            "dtype": "int64" if self.output_mode == "int" else "float32",
        }


__all__ = ["HashedCrossing"]
