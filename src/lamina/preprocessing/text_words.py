"""Keras 2's word functions of ``keras.preprocessing.text``: splitting a text into words
(:func:`text_to_word_sequence`) and hashing its words into indices (:func:`hashing_trick`,
:func:`one_hot`).  ``Tokenizer`` splits texts with them; use all of them through
:mod:`lamina.preprocessing.text`.

>>> from lamina.preprocessing.text import hashing_trick, text_to_word_sequence
>>> text_to_word_sequence("The cat, the hat.")
['the', 'cat', 'the', 'hat']
>>> hashing_trick("the cat the", 100, hash_function="md5")
[51, 3, 51]
"""

from __future__ import annotations

import hashlib

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def base_filter():
    """Keras 1's default ``filters``: ASCII punctuation except the apostrophe, tab and newline.

    >>> "!" in base_filter(), "'" in base_filter()
    (True, False)
    """
    return DEFAULT_FILTERS


def text_to_word_sequence(input_text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Splits a text into words, dropping the ``filters`` characters.

    Args:
        input_text: the text.
        filters: characters replaced by ``split`` before splitting.
        lower: lower-case the text first.
        split: the word separator.

    Returns:
        The list of non-empty words.

    Raises:
        TypeError: if ``input_text`` is not a string.

    >>> text_to_word_sequence("Hello, World!  Again.")
    ['hello', 'world', 'again']
    """
    if not isinstance(input_text, str):
        raise TypeError(
            f"input_text must be a string. Received: {type(input_text).__name__}. Decode bytes "
            f"with .decode() or convert with str(...)."
        )
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in input_text.split(split) if w]


def _md5(word):
    return int(hashlib.md5(word.encode()).hexdigest(), 16)


def hashing_trick(
    text, n, hash_function=None, filters=DEFAULT_FILTERS, lower=True, split=" ", analyzer=None
):
    """Maps each word of a text to ``hash(word) % (n - 1) + 1`` (indices 1..n-1).

    Args:
        text: the text.
        n: the hashing space size (index 0 is never produced).
        hash_function: ``None`` (Python's ``hash``: varies between processes unless
            ``PYTHONHASHSEED`` is set), ``'md5'`` (stable) or a function of a string.
        filters, lower, split: as in ``text_to_word_sequence``.
        analyzer: a function text -> words used instead of ``text_to_word_sequence``.

    Returns:
        A list of integers.

    Raises:
        ValueError: if ``n < 2``.

    >>> hashing_trick("the cat the", 100, hash_function="md5")
    [51, 3, 51]
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (index 0 is reserved). Received: n={n!r}.")
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        hash_function = _md5
    elif not callable(hash_function):
        raise ValueError(
            f"hash_function must be None, 'md5' or a callable. Received: {hash_function!r}."
        )
    if analyzer is None:
        words = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    else:
        words = analyzer(text)
    return [hash_function(w) % (n - 1) + 1 for w in words]


def one_hot(text, n, filters=DEFAULT_FILTERS, lower=True, split=" ", analyzer=None):
    """``hashing_trick`` with Python's ``hash``: word indices in 1..n-1 (not one-hot vectors).

    Args:
        text: the text.
        n: the hashing space size.
        filters, lower, split, analyzer: as in ``hashing_trick``.

    Returns:
        A list of integers.

    >>> len(one_hot("a b c", 10))
    3
    """
    return hashing_trick(
        text, n, hash_function=hash, filters=filters, lower=lower, split=split, analyzer=analyzer
    )
