"""Encoding preprocessing layers: CategoryEncoding, Discretization and Hashing.

``CategoryEncoding`` and ``Discretization`` are pure JAX and run inside compiled models.
``Hashing`` hashes integers inside the model only after turning them into decimal strings (as
Keras does through TensorFlow), so it runs on the host (NumPy): a layer given strings runs
eagerly on the host; put such layers first, or preprocess the data with them before ``fit``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from lamina.layers import arg_checks as _checks
from lamina.layers.base import Layer

# Host-side string helpers live in host_strings; ``name as name`` keeps them importable here.
from lamina.layers.host_strings import HostCallMixin as HostCallMixin
from lamina.layers.host_strings import as_host_strings as as_host_strings
from lamina.layers.host_strings import hash_bucket as hash_bucket
from lamina.layers.host_strings import is_host_input as is_host_input
from lamina.layers.host_strings import parse_salt as parse_salt

_MODES = ("int", "one_hot", "multi_hot", "count")


def encode_categorical(idx, output_mode, depth, count_weights=None, xp=jnp):
    """Keras's ``encode_categorical_inputs``: integer ids to int/one_hot/multi_hot/count.

    Rank-0 inputs become rank 1; ``multi_hot``/``count`` reduce axis 1 of rank >= 2 inputs
    (axis 0 of rank-1 inputs); ``one_hot`` drops a trailing axis of size 1.
    """
    if output_mode == "int":
        return idx
    if idx.ndim == 0:
        idx = idx[None]
    if output_mode == "one_hot":
        if idx.ndim > 1 and idx.shape[-1] == 1:
            idx = idx.reshape(idx.shape[:-1])
        return _one_hot(idx, depth, xp)
    hot = _one_hot(idx, depth, xp)
    axis = 1 if idx.ndim > 1 else 0
    if output_mode == "multi_hot":
        return hot.max(axis=axis)
    if count_weights is not None:
        hot = hot * xp.asarray(count_weights, xp.float32)[..., None]
    return hot.sum(axis=axis)


def _one_hot(idx, depth, xp):
    ids = xp.arange(depth).reshape((1,) * idx.ndim + (depth,))  # explicit rank (strict JAX)
    return (idx[..., None] == ids).astype(xp.float32)


def _check_mode(layer, mode, allowed):
    if mode not in allowed:
        raise ValueError(
            f"{layer}: unknown output_mode={mode!r}; expected one of {', '.join(allowed)}."
        )


class CategoryEncoding(Layer):
    """Encodes integer ids in ``[0, num_tokens)`` as one-hot, multi-hot or count vectors.

    Args:
        num_tokens: the number of ids (the output's last dimension).
        output_mode: ``"multi_hot"`` (default), ``"one_hot"`` or ``"count"``.
        sparse: Keras's sparse output; not supported (JAX arrays are dense).

    >>> import numpy as np
    >>> from lamina.layers import CategoryEncoding
    >>> CategoryEncoding(4)(np.array([[0, 1], [2, 2]])).tolist()
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":  # Keras 2 name
            output_mode = "multi_hot"
        _check_mode("CategoryEncoding", output_mode, ("count", "one_hot", "multi_hot"))
        if not _checks.is_int(num_tokens) or int(num_tokens) < 1:
            raise ValueError(
                "CategoryEncoding needs num_tokens >= 1 (the number of distinct ids), an "
                f"integer; received num_tokens={num_tokens!r}."
            )
        if sparse:
            raise ValueError(
                "CategoryEncoding(sparse=True) is not supported: JAX arrays are dense."
            )
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False

    def apply(self, params, state, x, *, training=False, key=None, count_weights=None):
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(
                "`count_weights` is not used when `output_mode` is not `'count'`. "
                f"Received: output_mode={self.output_mode!r}."
            )
        idx = jnp.asarray(x).astype(jnp.int32)
        return encode_categorical(idx, self.output_mode, self.num_tokens, count_weights), state

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self):
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
        }


def _encoded_shape(input_shape, mode, depth):
    shape = tuple(input_shape)
    if mode == "int":
        return shape
    if mode == "one_hot":
        if len(shape) > 1 and shape[-1] == 1:
            return shape[:-1] + (depth,)
        return shape + (depth,)
    if len(shape) >= 2:
        return (shape[0], *shape[2:], depth)
    return (depth,)


# -------------------------------------------------------------------- Discretization
def _summarize(values, epsilon):
    """Keras's quantile summary of one batch (sorted values at steps of n*epsilon)."""
    values = np.sort(np.reshape(values, [-1]))
    step = max(values.size / (1.0 / epsilon), 1)
    bounds = values[int(step - 1) :: int(step)]
    return np.stack([bounds, np.ones_like(bounds) * step])


def _compress(summary, epsilon):
    """Keras's ``compress_summary``: interpolates the summary at ``epsilon`` percent steps."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum = summary[1].cumsum()
    cum_pct = cum / cum[-1]
    bins = np.interp(percents, cum_pct, summary[0])
    cum = np.interp(percents, cum_pct, cum)
    weights = cum - np.concatenate((np.array([0]), cum[:-1]))
    return np.stack((bins, weights)).astype("float32")


class Discretization(Layer):
    """Buckets continuous values into bin ids (``np.digitize`` semantics: ``b[i-1] <= x < b[i]``).

    Args:
        bin_boundaries: sorted boundaries; ``len + 1`` bins.
        num_bins: the number of bins to learn with :meth:`adapt` (Keras's approximate
            quantiles, same numbers as Keras 3).
        epsilon: the quantile summary's error tolerance.
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"`` or ``"count"``.

    >>> import numpy as np
    >>> from lamina.layers import Discretization
    >>> Discretization(bin_boundaries=[0.0, 1.0])(np.array([[-1.0, 0.5, 2.0]])).tolist()
    [[0, 1, 2]]
    """

    def __init__(
        self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
        sparse=False, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        _check_mode("Discretization", output_mode, _MODES)
        if sparse:
            raise ValueError("Discretization(sparse=True) is not supported: JAX arrays are dense.")
        if num_bins is not None:
            _checks.check_int(num_bins, "num_bins", "Discretization")
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"`num_bins` must be >= 0. Received: `num_bins={num_bins}`")
        if bin_boundaries is not None:
            _boundaries(bin_boundaries)
        _checks.check_number(epsilon, "epsilon", "Discretization")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                "Both `num_bins` and `bin_boundaries` should not be set. Received: "
                f"`num_bins={num_bins}` and `bin_boundaries={bin_boundaries}`"
            )
        if num_bins is None and bin_boundaries is None:
            raise ValueError("You need to set either `num_bins` or `bin_boundaries`.")
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        self.num_bins = num_bins
        self.epsilon = float(epsilon)
        self.output_mode = output_mode
        self.sparse = False
        self._summary = np.array([[], []], "float32")

    def adapt(self, data, steps=None):
        """Learns ``num_bins - 1`` boundaries from ``data`` (an array, or an iterable of batches).

        Raises:
            ValueError: when the layer was built with ``bin_boundaries``.
        """
        if self.num_bins is None:
            raise ValueError(
                "Cannot adapt a Discretization layer that has been initialized with "
                "`bin_boundaries`, use `num_bins` instead."
            )
        self._summary = np.array([[], []], "float32")
        if hasattr(data, "__iter__") and not hasattr(data, "shape"):
            batches = data
        else:
            batches = [data]
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            if isinstance(batch, tuple):
                batch = batch[0]
            summary = _summarize(np.array(batch).astype("float32"), self.epsilon)
            merged = np.concatenate((self._summary, summary), axis=1)
            merged = np.take(merged, np.argsort(merged[0]), axis=1)
            self._summary = _compress(merged, self.epsilon)
        self.bin_boundaries = _compress(self._summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def _depth(self):
        if self.bin_boundaries is not None:
            return len(self.bin_boundaries) + 1
        return self.num_bins

    def apply(self, params, state, x, *, training=False, key=None):
        if self.bin_boundaries is None:
            raise ValueError(
                "Discretization(num_bins=...) has no bin boundaries yet: call adapt(data) first."
            )
        bounds = jnp.asarray(self.bin_boundaries, jnp.float32)
        idx = jnp.searchsorted(bounds, jnp.asarray(x, jnp.float32), side="right")
        return encode_categorical(idx.astype(jnp.int32), self.output_mode, self._depth()), state

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self._depth())

    def get_config(self):
        base = super().get_config()
        base.pop("trainable", None)  # Keras's Discretization takes no trainable argument
        return {
            **base,
            "bin_boundaries": self.bin_boundaries,
            "num_bins": self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)
        bounds = config.pop("bin_boundaries", None)
        if config.get("num_bins") is None:  # boundaries given by the user
            return cls(bin_boundaries=bounds, **config)
        layer = cls(**config)
        if bounds is not None:  # adapted boundaries travel in the config
            bounds = _boundaries(bounds).tolist()
        layer.bin_boundaries = bounds
        return layer


def _boundaries(value) -> np.ndarray:
    """Discretization's ``bin_boundaries``: a flat, sorted list of numbers, or ValueError."""
    arr = _checks.numeric_array(value, "bin_boundaries", "Discretization")
    if arr.ndim != 1:
        raise ValueError(
            "Discretization(bin_boundaries=...) must be a flat list of numbers. Received a "
            f"value of shape {arr.shape}."
        )
    if np.isnan(arr).any() or (np.diff(arr) < 0).any():
        raise ValueError(
            "Discretization(bin_boundaries=...) must be sorted in increasing order (and hold "
            f"no NaN). Received: {_checks.shown(value)}."
        )
    return arr


# -------------------------------------------------------------------- Hashing
class Hashing(HostCallMixin, Layer):
    """Hashes strings or integers into ``num_bins`` bins with FarmHash ``Fingerprint64``.

    The bins equal Keras's (TensorFlow's ``to_hash_bucket_fast``): integers are hashed as their
    decimal strings. Strings are hashed on the host (NumPy); integer inputs inside a compiled
    model go through ``jax.pure_callback``. With ``salt=`` the hash is SipHash-2-4 keyed by the
    salt (TensorFlow's ``to_hash_bucket_strong``), as in Keras.

    Args:
        num_bins: the number of bins, including the mask bin when ``mask_value`` is set.
        mask_value: a value that maps to bin 0 (other values go to ``1..num_bins-1``).
        salt: an int (used as ``[salt, salt]``) or two ints: the SipHash key.
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"`` or ``"count"``.

    >>> import numpy as np
    >>> from lamina.layers import Hashing
    >>> Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"], ["D"], ["E"]])).tolist()
    [[1], [0], [1], [1], [2]]
    """

    def __init__(
        self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs
    ):
        super().__init__(**kwargs)
        if not _checks.is_int(num_bins) or int(num_bins) <= 0:
            raise ValueError(
                f"The `num_bins` for `Hashing` cannot be `None` or non-positive values: it "
                f"must be a positive integer. Received: num_bins={num_bins!r}."
            )
        _check_mode("Hashing", output_mode, _MODES)
        self.salt = parse_salt(salt, "Hashing")
        if sparse:
            raise ValueError("Hashing(sparse=True) is not supported: JAX arrays are dense.")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.output_mode = output_mode
        self.sparse = False

    def _bins(self, x) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind == "f":
            raise ValueError(
                f"Hashing expects string or integer inputs; received dtype {arr.dtype}. "
                "Cast floats to strings or integers first."
            )
        mask_str = None if self.mask_value is None else str(self.mask_value)
        bins = self.num_bins - (self.mask_value is not None)
        flat = (
            as_host_strings(arr).reshape(-1)
            if arr.dtype.kind in "OUS"
            else [str(int(v)) for v in arr.reshape(-1)]
        )
        out = np.empty(len(flat), np.int32)
        for i, s in enumerate(flat):
            if mask_str is not None and s == mask_str:
                out[i] = 0
            else:
                h = hash_bucket(s.encode("utf-8"), bins, self.salt)
                out[i] = h + (self.mask_value is not None)
        return out.reshape(arr.shape)

    def host_apply(self, x):
        """Hashes host data (strings, lists, NumPy integers) eagerly."""
        idx = self._bins(x)
        return jnp.asarray(encode_categorical(idx, self.output_mode, self.num_bins, xp=np))

    def apply(self, params, state, x, *, training=False, key=None):
        import jax

        if is_host_input(x):
            return self.host_apply(x), state
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.floating):  # checked here: errors in callbacks are opaque
            try:
                self._bins(np.zeros(0, x.dtype))
            except ValueError as e:
                # Strings given to a subclassed model reach its ``call`` as float placeholders.
                from lamina.layers.string_ops import traced_strings_error

                hint = traced_strings_error(self, f"{x.dtype} values")
                raise ValueError(f"{e} If the model was given strings: {hint}") from None
        idx = jax.pure_callback(
            self._bins, jax.ShapeDtypeStruct(x.shape, jnp.int32), x, vmap_method="sequential"
        )
        return encode_categorical(idx, self.output_mode, self.num_bins), state

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self.num_bins)

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "salt": self.salt,
            "mask_value": self.mask_value,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }
