"""``IndexLookup``: the shared vocabulary machinery of IntegerLookup and StringLookup.

See :mod:`lamina.layers.lookup` for the index layout and where lookups run.
"""

from __future__ import annotations

import math
from collections import Counter

import jax.numpy as jnp
import numpy as np

from lamina.layers import arg_checks as _checks
from lamina.layers.base import Layer
from lamina.layers.encoding import (
    HostCallMixin,
    _encoded_shape,
    as_host_strings,
    encode_categorical,
    hash_bucket,
    is_host_input,
    parse_salt,
)

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


class IndexLookup(HostCallMixin, Layer):
    """Shared base of :class:`IntegerLookup` and :class:`StringLookup` (not a Keras public name).

    >>> from lamina.layers import IntegerLookup
    >>> IntegerLookup(vocabulary=[12, 36]).get_vocabulary()
    [-1, 12, 36]
    """

    _strings = False

    def __init__(
        self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None,
        vocabulary=None, vocabulary_dtype=None, idf_weights=None, invert=False,
        output_mode="int", sparse=False, pad_to_max_tokens=False, oov_method="floormod",
        salt=None, **kwargs,
    ):  # fmt: skip
        kwargs.pop("vocabulary_size", None)  # Keras writes it into configs; derived here
        super().__init__(**kwargs)
        cls = type(self).__name__
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(
                f"{cls}: oov_method must be 'floormod' or 'farmhash'. Received: "
                f"oov_method={oov_method!r}"
            )
        if salt is not None and not self._strings and oov_method != "farmhash":
            raise ValueError(
                f"`salt` can only be used when `oov_method='farmhash'`. Received: "
                f"oov_method={oov_method}"
            )
        self.oov_method = oov_method
        self.salt = parse_salt(salt, "IndexLookup")
        if output_mode not in _MODES:
            raise ValueError(
                f"{cls}: unknown output_mode={output_mode!r}; expected one of {', '.join(_MODES)}."
            )
        if max_tokens is not None:
            _checks.check_int(max_tokens, "max_tokens", cls)
        if num_oov_indices is not None:
            _checks.check_int(num_oov_indices, "num_oov_indices", cls)
        for arg, token in (("mask_token", mask_token), ("oov_token", oov_token)):
            if token is not None and not self._is_token(token):
                raise ValueError(
                    f"{cls}({arg}=...) must be {self._token_kind()} or None. "
                    f"Received: {arg}={token!r} (of type {type(token).__name__})."
                )
        if vocabulary is not None and not isinstance(vocabulary, str):
            self._check_tokens(vocabulary)
        if idf_weights is not None:
            _checks.numeric_array(idf_weights, "idf_weights", cls)
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(
                f"If set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}"
            )
        if num_oov_indices is None or num_oov_indices < 0:
            raise ValueError(
                f"`num_oov_indices` must be greater than or equal to 0. Received: "
                f"num_oov_indices={num_oov_indices}"
            )
        if invert and output_mode != "int":
            raise ValueError(
                f"`output_mode` must be `'int'` when `invert` is true. Received: "
                f"output_mode={output_mode}"
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                "If pad_to_max_tokens is True, must set `max_tokens`. Received: max_tokens=None"
            )
        if sparse:
            raise ValueError(f"{cls}(sparse=True) is not supported: JAX arrays are dense.")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                "`idf_weights` should only be set if `output_mode` is `'tf_idf'`. Received: "
                f"output_mode={output_mode}"
            )
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.vocabulary_dtype = vocabulary_dtype
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._vocab: list = []
        self._idf = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ------------------------------------------------------------------ vocabulary
    def _is_token(self, token) -> bool:
        if self._strings:
            return isinstance(token, str | bytes)
        return _checks.is_int(token)

    def _token_kind(self) -> str:
        return "a string" if self._strings else "an integer"

    def _check_tokens(self, vocabulary) -> None:
        """Refuses a vocabulary argument (from a config, say) that is not a flat list of
        tokens of this layer's kind: ``5``, ``{"a": 1}``, nested lists, ``None`` entries."""
        cls = type(self).__name__
        kind = "strings" if self._strings else "integers"
        expected = f"{cls}(vocabulary=...) must be a list of {kind}"
        if isinstance(vocabulary, bytes | dict | set) or not hasattr(vocabulary, "__len__"):
            raise ValueError(f"{expected}. Received: {_checks.shown(vocabulary)}.")
        if hasattr(vocabulary, "dtype") and not isinstance(vocabulary, np.ndarray):
            vocabulary = np.asarray(vocabulary)  # a JAX array
        if getattr(vocabulary, "ndim", 1) != 1:
            raise ValueError(
                f"{expected} (one dimension). Received a value of shape {np.shape(vocabulary)}."
            )
        if isinstance(vocabulary, np.ndarray) and vocabulary.dtype.kind != "O":
            if vocabulary.dtype.kind not in ("US" if self._strings else "iu"):
                raise ValueError(f"{expected}. Received an array of dtype {vocabulary.dtype}.")
            return
        bad = [t for t in vocabulary if not self._is_token(t)][:1]
        if bad:
            raise ValueError(f"{expected}; received an entry {_checks.shown(bad[0])}.")

    def _mask_slot(self) -> int:
        """1 when the mask token holds index 0: in ``"int"`` mode only, as in Keras (the
        encoded modes drop mask tokens and start at the OOV indices)."""
        return int(self.mask_token is not None and self.output_mode == "int")

    def _token_start(self) -> int:
        return self._mask_slot() + self.num_oov_indices

    def _norm(self, token):
        return str(token) if self._strings else int(token)

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The tokens by index: mask, OOV tokens, then the vocabulary (Keras's order)."""
        if not include_special_tokens:
            return list(self._vocab)
        head = [self.mask_token] if self._mask_slot() else []
        return head + [self.oov_token] * self.num_oov_indices + list(self._vocab)

    def vocabulary_size(self) -> int:
        """The number of indices, special tokens included."""
        return self._token_start() + len(self._vocab)

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Sets the vocabulary (a list or array; leading special tokens are accepted).

        Raises:
            ValueError: repeated tokens, a misplaced special token, too many tokens, or
                ``tf_idf`` mode without ``idf_weights``.
        """
        if isinstance(vocabulary, str):
            raise ValueError(
                "A vocabulary file path is not supported by Lamina; pass a list of tokens "
                f"(e.g. open(path).read().splitlines()). Received: {vocabulary!r}."
            )
        tokens = [self._norm(t) for t in np.asarray(vocabulary, dtype=object).reshape(-1)]
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        had_special = False
        if self.mask_token is not None and tokens[:1] == [self._norm(self.mask_token)]:
            tokens, had_special = tokens[1:], True
        oov = self._norm(self.oov_token) if self.oov_token is not None else None
        n = self.num_oov_indices
        if n and tokens[:n] == [oov] * n:
            tokens, had_special = tokens[n:], True
        if len(set(tokens)) != len(tokens):
            repeated = sorted({t for t in tokens if tokens.count(t) > 1}, key=str)
            raise ValueError(f"The passed vocabulary has at least one repeated term: {repeated}.")
        special = [self._norm(t) for t in (self.mask_token, self.oov_token) if t is not None]
        bad = [t for t in special if t in tokens]
        if bad:
            raise ValueError(
                f"Found reserved token {bad[0]!r} in the vocabulary after its place at the "
                "front; the mask token may only be index 0 and the OOV tokens follow it."
            )
        if self.max_tokens is not None and len(tokens) + self._token_start() > self.max_tokens:
            raise ValueError(
                f"Attempted to set a vocabulary larger than the maximum vocab size. Received "
                f"vocabulary size is {len(tokens) + self._token_start()}; "
                f"`max_tokens` is {self.max_tokens}."
            )
        self._vocab = tokens
        self._idf = None
        if idf_weights is not None:
            idf = np.asarray(idf_weights, np.float32).reshape(-1)
            if had_special and len(idf) == len(tokens) + self._token_start():
                idf = idf[self._token_start() :]
            if len(idf) != len(tokens):
                raise ValueError(
                    f"`idf_weights` must be the same length as vocabulary. len(idf_weights) is "
                    f"{len(idf)}; len(vocabulary) is {len(tokens)}"
                )
            self._idf = idf

    def save_assets(self, dir_path) -> None:
        """Writes ``vocabulary.txt`` (special tokens included, one per line), as Keras does."""
        import os

        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(str(t) for t in self.get_vocabulary()))

    def load_assets(self, dir_path, idf_weights=None) -> None:
        """Reads a Keras ``vocabulary.txt`` asset (from a ``.keras`` file's ``assets/``)."""
        import os

        with open(os.path.join(dir_path, "vocabulary.txt"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        if idf_weights is None and self._idf is not None:
            idf_weights = self._idf
        self.set_vocabulary(lines, idf_weights)

    # ------------------------------------------------------------------ adapt
    def adapt(self, data, steps=None) -> None:
        """Learns the vocabulary: tokens by descending count, ties by descending token.

        Args:
            data: an array (one batch), or an iterable of batches (lists, ``PyDataset``,
                generators; ``(x, y)`` tuples use ``x``).
            steps: the number of batches to read from an iterable.
        """
        docs = []
        for batch in iter_batches(data, steps):
            arr = self._host_array(batch)
            docs.extend((arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)).tolist())
        self.learn_documents(docs)

    def learn_documents(self, docs) -> None:
        """Sets the vocabulary (and idf weights) from an iterable of token lists, one per
        document, with Keras's order: descending count, ties by descending token."""
        counts: Counter = Counter()
        doc_counts: Counter = Counter()
        n_docs = 0
        for doc in docs:
            counts.update(doc)
            doc_counts.update(set(doc))
            n_docs += 1
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(self._norm(special), None)
        toks = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens:
            toks = toks[: max(self.max_tokens - self._token_start(), 0)]
        self._vocab = toks
        if self.output_mode == "tf_idf":
            self._idf = np.array(
                [math.log(1 + n_docs / (1 + doc_counts[t])) for t in toks], np.float32
            )

    def _host_array(self, x) -> np.ndarray:
        if self._strings:
            return as_host_strings(x)
        return np.asarray(x).astype(np.int64)

    # ------------------------------------------------------------------ calls
    def _depth(self) -> int:
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def _full_idf(self, xp):
        idf = self._idf if self._idf is not None else np.zeros(0, np.float32)
        mean = float(idf.mean()) if len(idf) else 0.0
        full = np.concatenate([np.full(self._token_start(), mean, np.float32), idf])
        return xp.asarray(np.pad(full, (0, self._depth() - len(full))))

    def _encode(self, idx, xp):
        if self.output_mode == "int":
            return idx
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = encode_categorical(idx, mode, self._depth(), xp=xp)
        if self.output_mode == "tf_idf":
            out = out * self._full_idf(xp)
        return out

    def host_apply(self, x):
        """Maps host data (strings, or anything for ``invert``) eagerly with NumPy."""
        arr = np.asarray(x) if self.invert else self._host_array(x)
        if self.invert:
            return self._host_invert(arr.astype(np.int64))
        table = {t: i + self._token_start() for i, t in enumerate(self._vocab)}
        mask = None if self.mask_token is None else self._norm(self.mask_token)
        out = np.empty(arr.size, np.int32)
        missing = []
        for i, t in enumerate(arr.reshape(-1).tolist()):
            if mask is not None and t == mask:
                out[i] = 0 if self._mask_slot() else -1  # -1: no column counts it
            elif t in table:
                out[i] = table[t]
            elif self.num_oov_indices == 0:
                missing.append(t)
            else:
                out[i] = self._mask_slot() + self._oov_bucket(t)
        if missing:
            raise ValueError(
                "When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
                f"{missing[:10]}, consider setting `num_oov_indices=1`."
            )
        return jnp.asarray(self._encode(out.reshape(arr.shape), np))

    def _oov_bucket(self, t) -> int:
        if self._hashes_oov():
            return hash_bucket(str(t).encode("utf-8"), self.num_oov_indices, self.salt)
        return int(t) % self.num_oov_indices

    def _hashes_oov(self) -> bool:
        """Keras hashes OOV strings, and integers (as decimal strings) with ``"farmhash"``."""
        return self._strings or self.oov_method == "farmhash"

    def _host_oov(self, x) -> np.ndarray:
        flat = [self._oov_bucket(int(v)) for v in np.asarray(x).reshape(-1)]
        return np.asarray(flat, np.int32).reshape(np.shape(x))

    def _host_invert(self, idx):
        vocab = self.get_vocabulary()
        flat = [vocab[i] if 0 <= i < len(vocab) else self.oov_token for i in idx.reshape(-1)]
        return np.array(flat, dtype=object if self._strings else np.int64).reshape(idx.shape)

    def apply(self, params, state, x, *, training=False, key=None):
        if is_host_input(x):
            return self.host_apply(x), state
        if self._vocab and not _fits_int32(np.zeros(1, np.int64), self._vocab):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: the vocabulary holds integers beyond "
                "int32, which JAX (32-bit by default) cannot map inside a compiled model. Map "
                "the data before fit (ids = lookup(np.asarray(data))) or remap the ids."
            )
        x = jnp.asarray(x).astype(jnp.int32)
        vocab = jnp.asarray(np.asarray(self._vocab, np.int32).reshape(-1))
        if self.invert:
            full = jnp.asarray(np.asarray(self.get_vocabulary(), np.int32))
            ok = (x >= 0) & (x < len(full))
            return jnp.where(ok, full[jnp.clip(x, 0, len(full) - 1)], self.oov_token), state
        order = np.argsort(np.asarray(self._vocab, np.int64), kind="stable")
        keys = vocab[order]
        pos = jnp.clip(jnp.searchsorted(keys, x), 0, max(len(keys) - 1, 0))
        found = (keys[pos] == x) if len(keys) else jnp.zeros(x.shape, bool)
        ids = jnp.asarray(order, jnp.int32)[pos] + self._token_start() if len(keys) else x * 0
        oov_start = self._mask_slot()
        if self.num_oov_indices > 1 and self._hashes_oov():
            import jax

            oov = jax.pure_callback(
                self._host_oov, jax.ShapeDtypeStruct(x.shape, jnp.int32), x,
                vmap_method="sequential",
            )  # fmt: skip
            oov = oov + oov_start
        elif self.num_oov_indices:
            oov = (x % self.num_oov_indices) + oov_start
        else:
            oov = -1
        idx = jnp.where(found, ids, oov)
        if self.mask_token is not None:
            idx = jnp.where(x == int(self.mask_token), 0 if self._mask_slot() else -1, idx)
        return self._encode(idx.astype(jnp.int32), jnp), state

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self._depth())

    def get_config(self):
        return {
            **super().get_config(),
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "mask_token": self.mask_token,
            "oov_token": self.oov_token,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary": list(self._vocab) if self._vocab else None,
            "idf_weights": None if self._idf is None else self._idf.tolist(),
            "invert": self.invert,
            "vocabulary_dtype": self.vocabulary_dtype,
            "vocabulary_size": self.vocabulary_size(),
            "oov_method": self.oov_method,
            "salt": self.salt,
        }


def iter_batches(data, steps=None):
    """The batches of ``adapt`` data: an array is one batch; a ``PyDataset`` or any iterable
    yields batches (``(x, y)`` tuples give ``x``); at most ``steps`` of them."""
    if hasattr(data, "shape") or isinstance(data, str | bytes):
        batches = iter([data])
    elif hasattr(data, "on_epoch_end") and hasattr(data, "__getitem__"):
        batches = (data[i] for i in range(len(data)))  # a PyDataset
    else:
        batches = iter(data)
    for i, batch in enumerate(batches):
        if steps is not None and i >= steps:
            return
        yield batch[0] if isinstance(batch, tuple) else batch


def _fits_int32(arr, vocab) -> bool:
    lo, hi = -(2**31), 2**31 - 1
    values = [int(arr.min()), int(arr.max()), *(vocab[:1] and [min(vocab), max(vocab)])]
    return all(lo <= v <= hi for v in values)
