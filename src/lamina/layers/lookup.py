"""Vocabulary lookup layers: IntegerLookup and StringLookup (Keras 3's ``IndexLookup`` rules).

Index layout (Keras's): ``[mask_token] + [oov_token] * num_oov_indices + vocabulary``; the
mask token (when set) is index 0, out-of-vocabulary values go to the OOV indices (by
``value % num_oov_indices`` for integers, FarmHash ``Fingerprint64`` for strings).

**Where it runs.** Integer inputs are mapped inside the compiled program (a searchsorted lookup
in a sorted copy of the vocabulary, pure JAX). Strings cannot enter a jitted program: a layer
given strings runs on the host (NumPy), eagerly. Put such layers first and call them on the
data before ``fit`` (``ids = lookup(np.array(strings))``), then feed ``ids`` to the model.

The vocabulary (learned tokens, without the special tokens) and ``idf_weights`` travel in
``get_config()``, so a config or a Lamina-saved model keeps them. Keras keeps an adapted
vocabulary as a ``vocabulary.txt`` file asset instead: :meth:`IndexLookup.save_assets` and
:meth:`IndexLookup.load_assets` write and read that format.
"""

from __future__ import annotations

import numpy as np

from lamina.layers._index_lookup import IndexLookup, _fits_int32, iter_batches
from lamina.layers.encoding import hash_bucket, is_host_input
from lamina.layers.string_ops import is_traced, traced_strings_error

__all__ = ["IndexLookup", "IntegerLookup", "StringLookup", "iter_batches"]


class IntegerLookup(IndexLookup):
    """Maps integers to contiguous indices (Keras 3's ``IntegerLookup``).

    Args:
        max_tokens: the most indices (special tokens included); ``None`` for no limit.
        num_oov_indices: OOV indices (values hash to them by ``value % num_oov_indices``).
        mask_token: an integer mapped to index 0 (``None``: no mask index).
        oov_token: the token returned for OOV indices when ``invert=True`` (default -1).
        vocabulary: a list/array of integers (or call :meth:`adapt`).
        idf_weights: per-token weights for ``output_mode="tf_idf"``.
        invert: map indices back to integers.
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        pad_to_max_tokens: encode to ``max_tokens`` columns.
        oov_method: with ``num_oov_indices > 1``, ``"floormod"`` (default) or ``"farmhash"``
            (the value's decimal string hashed, as Keras; inside jit via ``pure_callback``).
        salt: with ``"farmhash"``, an int or two ints keying SipHash instead of FarmHash.

    >>> import numpy as np
    >>> from lamina.layers import IntegerLookup
    >>> layer = IntegerLookup(vocabulary=[12, 36, 1138, 42])
    >>> layer(np.array([[12, 1138, 42], [42, 1000, 36]])).tolist()
    [[1, 3, 4], [4, 0, 2]]
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, oov_method="floormod",
                 salt=None, **kwargs):  # fmt: skip
        super().__init__(
            oov_method=oov_method, salt=salt,
            max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
            oov_token=oov_token, vocabulary=vocabulary, vocabulary_dtype=vocabulary_dtype,
            idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens, **kwargs,
        )  # fmt: skip

    def __call__(self, *args, **kwargs):
        x = args[0] if args else kwargs.get("inputs")
        if isinstance(x, np.ndarray | list | tuple) and not is_host_input(x):
            arr = np.asarray(x)
            if arr.size and arr.dtype.kind in "iu" and not _fits_int32(arr, self._vocab):
                return self.host_apply(arr)  # 64-bit ids: exact on the host (JAX uses int32)
        return super().__call__(*args, **kwargs)


class StringLookup(IndexLookup):
    """Maps strings to contiguous indices (Keras 3's ``StringLookup``); runs on the host.

    Args: as :class:`IntegerLookup` (without ``oov_method``: OOV strings always hash, with
    SipHash when ``salt`` is given), plus ``encoding="utf-8"``; ``oov_token="[UNK]"``.

    >>> import numpy as np
    >>> from lamina.layers import StringLookup
    >>> layer = StringLookup(vocabulary=["a", "b", "c", "d"])
    >>> layer(np.array([["a", "c", "d"], ["d", "z", "b"]])).tolist()
    [[1, 3, 4], [4, 0, 2]]
    """

    _strings = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", salt=None,
                 **kwargs):  # fmt: skip
        kwargs.pop("vocabulary_dtype", None)
        kwargs.pop("oov_method", None)  # strings always hash (Keras writes it in configs)
        self.encoding = encoding
        super().__init__(
            salt=salt,
            max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
            oov_token=oov_token, vocabulary=vocabulary, vocabulary_dtype="string",
            idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens, **kwargs,
        )  # fmt: skip

    def __call__(self, *args, **kwargs):
        x = args[0] if args else kwargs.get("inputs")
        if type(x).__name__ == "KerasTensor":
            return super().__call__(*args, **kwargs)
        if is_traced(x):  # a traced ``call``: its input is an array, never the text
            raise traced_strings_error(self)
        return self.host_apply(x)  # strings (and inverted ids to strings) live on the host

    def _oov_bucket(self, t) -> int:
        return hash_bucket(t.encode(self.encoding), self.num_oov_indices, self.salt)

    def apply(self, params, state, x, *, training=False, key=None):
        if is_traced(x):
            raise traced_strings_error(self)
        if is_host_input(x) or self.invert:
            return self.host_apply(np.asarray(x)), state
        raise TypeError(
            f"StringLookup {self.name!r} received a numeric array inside a compiled model; "
            "strings cannot enter a jitted program. Map the strings before fit "
            "(ids = lookup(np.array(strings))) and feed the ids to the model."
        )

    def get_config(self):
        config = super().get_config()
        config.pop("vocabulary_dtype")
        config["encoding"] = self.encoding
        return config
