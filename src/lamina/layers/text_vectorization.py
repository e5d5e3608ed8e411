"""TextVectorization: strings to token ids or bag-of-words vectors (Keras 3's rules, on the host).

Strings cannot enter a jitted program, so this layer always runs on the host (NumPy): call it
on the text before ``fit`` (``ids = vectorizer(np.array(texts))``) and feed the ids to the
model, or put it first in a pipeline that runs eagerly. The vocabulary (and ``idf_weights``)
travel in ``get_config()``.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np

from lamina.layers.base import Layer
from lamina.layers.encoding import as_host_strings, encode_categorical, is_host_input
from lamina.layers.lookup import StringLookup, iter_batches
from lamina.layers.string_ops import is_traced, traced_strings_error

# Keras's punctuation class (tf_utils): ASCII punctuation, removed by "strip_punctuation".
_PUNCT = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_WS = re.compile(r"[ \t\n\r\v\f]+")  # TF splits on ASCII whitespace
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_MODES = ("int", "multi_hot", "count", "tf_idf")


class TextVectorization(Layer):
    """Standardizes, splits and n-grams strings, then maps tokens to ids (a ``StringLookup``
    with ``mask_token=""``: in ``"int"`` mode index 0 is padding and 1 is OOV; the encoded
    modes start at OOV, as Keras's).

    Args:
        max_tokens: the vocabulary's maximum size, padding and OOV tokens included.
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``,
            ``"strip_punctuation"``, ``None`` or a callable on a NumPy array of strings
            (``tf.strings.lower`` lowercases ASCII only; so does this layer).
        split: ``"whitespace"`` (default), ``"character"``, ``None`` or a callable mapping one
            string to a list of tokens.
        ngrams: ``None``, an int ``n`` (1..n-grams) or a tuple of widths.
        output_mode: ``"int"`` (default), ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        output_sequence_length: in ``"int"`` mode, pad/truncate every row to this length
            (otherwise to the longest row of the batch).
        pad_to_max_tokens: encode to ``max_tokens`` columns.
        vocabulary, idf_weights: a fixed vocabulary (and weights for ``"tf_idf"``).

    >>> import numpy as np
    >>> from lamina.layers import TextVectorization
    >>> tv = TextVectorization(output_sequence_length=4)
    >>> tv.adapt(np.array(["The cat sat.", "The dog!"]))
    >>> tv.get_vocabulary()
    ['', '[UNK]', 'the', 'sat', 'dog', 'cat']
    >>> tv(np.array(["the cat ate"])).tolist()
    [[2, 5, 1, 0]]
    """

    def __init__(
        self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace",
        ngrams=None, output_mode="int", output_sequence_length=None, pad_to_max_tokens=False,
        vocabulary=None, idf_weights=None, sparse=False, ragged=False, encoding="utf-8",
        **kwargs,
    ):  # fmt: skip
        kwargs.pop("vocabulary_size", None)  # Keras writes it into configs; derived here
        kwargs.pop("has_input_vocabulary", None)
        super().__init__(**kwargs)
        if output_mode not in _MODES:
            raise ValueError(
                f"TextVectorization: unknown output_mode={output_mode!r}; expected one of "
                f"{', '.join(_MODES)}."
            )
        if not (standardize is None or callable(standardize) or standardize in _STANDARDIZE):
            raise ValueError(
                f"TextVectorization: standardize must be one of {_STANDARDIZE}, None or a "
                f"callable. Received: standardize={standardize!r}"
            )
        if not (split is None or callable(split) or split in ("whitespace", "character")):
            raise ValueError(
                "TextVectorization: split must be 'whitespace', 'character', None or a "
                f"callable. Received: split={split!r}"
            )
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (
            ngrams is None
            or isinstance(ngrams, int)
            or isinstance(ngrams, tuple)
            and all(isinstance(n, int) for n in ngrams)
        ):
            raise ValueError(
                f"`ngrams` must be None, an integer, or a tuple of integers. Received: ngrams={ngrams}"
            )
        if output_sequence_length is not None and not isinstance(output_sequence_length, int):
            raise ValueError(
                "`output_sequence_length` must be either None or an integer. Received: "
                f"output_sequence_length={output_sequence_length}"
            )
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(
                "`output_sequence_length` must not be set if `output_mode` is not 'int'. "
                f"Received output_sequence_length={output_sequence_length}."
            )
        if ragged:
            raise ValueError(
                "TextVectorization(ragged=True) is not supported: JAX has no ragged arrays."
            )
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.encoding = encoding
        self._lookup = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            sparse=sparse, encoding=encoding, name=f"{self.name}_lookup",
        )  # fmt: skip

    # ------------------------------------------------------------------ text -> tokens
    def _standardize(self, arr: np.ndarray) -> np.ndarray:
        if callable(self.standardize):
            return as_host_strings(self.standardize(arr.astype(str)))
        out = arr.reshape(-1).tolist()
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            out = [s.translate(_LOWER) for s in out]
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            out = [_PUNCT.sub("", s) for s in out]
        return np.array(out, dtype=object).reshape(arr.shape)

    def _tokens(self, text: str) -> list[str]:
        if self.split == "whitespace":
            toks = [t for t in _WS.split(text) if t]
        elif self.split == "character":
            toks = list(text)
        elif callable(self.split):
            toks = [str(t) for t in self.split(text)]
        else:
            toks = [text]
        if self._widths is None:
            return toks
        grams = []
        for w in self._widths:  # tf.strings.ngrams: all width-w grams, widths in order
            grams += [" ".join(toks[i : i + w]) for i in range(len(toks) - w + 1)]
        return grams

    def _documents(self, x) -> list[list[str]]:
        arr = self._standardize(as_host_strings(x))
        if arr.ndim > 1:
            if arr.shape[-1] != 1:
                raise ValueError(
                    "When using `TextVectorization` to tokenize strings, the input rank must be "
                    f"1 or the last shape dimension must be 1. Received: inputs.shape={arr.shape}"
                )
            arr = arr.reshape(arr.shape[:-1])
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if self.split is None:
            return [[s] for s in arr.reshape(-1).tolist()]
        return [self._tokens(s) for s in arr.reshape(-1).tolist()]

    # ------------------------------------------------------------------ vocabulary
    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learns the vocabulary (tokens by descending count, ties by descending token).

        Args:
            data: an array or list of strings, or an iterable of batches of strings.
            batch_size: accepted for Keras compatibility (the result does not depend on it).
            steps: the number of batches to read from an iterable.
        """
        if isinstance(data, list) and all(isinstance(s, str | bytes) for s in data):
            data = np.array(data, dtype=object)
        docs = []
        for batch in iter_batches(data, steps):
            docs.extend(self._documents(batch))
        self._lookup.learn_documents(docs)

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The tokens by id: ``""`` (padding), ``"[UNK]"``, then the vocabulary."""
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The number of ids, padding and OOV included."""
        return self._lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Sets a fixed vocabulary (leading ``""``/``"[UNK]"`` are accepted)."""
        self._lookup.set_vocabulary(vocabulary, idf_weights)

    def save_assets(self, dir_path) -> None:
        """Writes Keras's ``vocabulary.txt`` asset."""
        self._lookup.save_assets(dir_path)

    def load_assets(self, dir_path, idf_weights=None) -> None:
        """Reads Keras's ``vocabulary.txt`` asset."""
        self._lookup.load_assets(dir_path, idf_weights)

    # ------------------------------------------------------------------ calls
    def __call__(self, *args, **kwargs):
        x = args[0] if args else kwargs.get("inputs")
        if type(x).__name__ == "KerasTensor":
            return super().__call__(*args, **kwargs)
        if is_traced(x):  # a traced ``call``: its input is an array, never the text
            raise traced_strings_error(self)
        return self.host_apply(x)

    def host_apply(self, x):
        """Vectorizes strings eagerly on the host."""
        lookup = self._lookup
        start, oov = lookup._token_start(), lookup._mask_slot()  # "int": 0 pads, 1 is OOV
        table = {t: i for i, t in enumerate(lookup.get_vocabulary()) if i >= start}
        rows = [[table.get(t, oov) for t in doc] for doc in self._documents(x)]
        if self.output_mode == "int":
            length = self.output_sequence_length
            if length is None:
                length = max((len(r) for r in rows), default=0)
            out = np.zeros((len(rows), length), np.int32)
            for i, r in enumerate(rows):
                out[i, : min(len(r), length)] = r[:length]
            return jnp.asarray(out)
        depth = lookup._depth()
        out = np.zeros((len(rows), depth), np.float32)
        for i, r in enumerate(rows):
            if r:
                mode = "count" if self.output_mode == "tf_idf" else self.output_mode
                out[i] = encode_categorical(np.asarray(r), mode, depth, xp=np)
        if self.output_mode == "tf_idf":
            out = out * np.asarray(lookup._full_idf(np))
        return jnp.asarray(out)

    def apply(self, params, state, x, *, training=False, key=None):
        if is_host_input(x):
            return self.host_apply(x), state
        if is_traced(x):
            raise traced_strings_error(self)
        raise TypeError(
            f"TextVectorization {self.name!r} received a numeric array inside a compiled model; "
            "strings cannot enter a jitted program. Vectorize the text before fit "
            "(ids = vectorizer(np.array(texts))) and feed the ids to the model."
        )

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self._lookup._depth())

    @classmethod
    def from_config(cls, config):
        """Rebuilds the layer; a ``standardize``/``split`` saved as a function entry (a user
        function, as Keras writes it) is found by name in ``custom_objects``, as Keras's."""
        from lamina.object_registry import get_registered_object

        config = dict(config)
        for key in ("standardize", "split"):
            entry = config.get(key)
            if isinstance(entry, dict) and entry.get("class_name") == "function":
                name = entry.get("config")
                found = get_registered_object(name) if isinstance(name, str) else None
                if not callable(found):
                    raise ValueError(
                        f"TextVectorization: the {key} function {name!r} the file names was "
                        f"not given. Expected it in custom_objects; fix: load_model(path, "
                        f"custom_objects={{{name!r}: {name}}})."
                    )
                config[key] = found
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return super().from_config(config)

    def get_config(self):
        lookup = self._lookup.get_config()
        return {
            **super().get_config(),
            "max_tokens": lookup["max_tokens"],
            "standardize": self.standardize,
            "split": self.split,
            "ngrams": self.ngrams,
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": lookup["pad_to_max_tokens"],
            "sparse": False,
            "ragged": False,
            "vocabulary": lookup["vocabulary"],
            "idf_weights": lookup["idf_weights"],
            "encoding": self.encoding,
            "vocabulary_size": self.vocabulary_size(),
        }
