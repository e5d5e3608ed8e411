"""Keras's ``Input``/``InputLayer`` arguments Lamina cannot honour (``sparse``, ``ragged``,
``optional``): accepted at Keras's defaults, refused with a clear error otherwise."""

from __future__ import annotations


def check_dense_input(sparse=None, ragged=None, optional=False) -> None:
    """Raises for Keras's ``Input``/``InputLayer`` arguments Lamina cannot honour: its inputs
    are dense arrays, always given (``False``/``None`` are accepted, as Keras's defaults).

    >>> check_dense_input(sparse=False, ragged=False, optional=False)
    >>> check_dense_input(ragged=True)
    Traceback (most recent call last):
    ...
    ValueError: Input(ragged=True) is not supported by Lamina: it has no ragged tensors (JAX arrays are rectangular). Pad the sequences to one length (keras.utils.pad_sequences) and use ragged=False, with a Masking layer or mask_zero=True if the padding must be ignored.
    """
    if ragged:
        raise ValueError(
            "Input(ragged=True) is not supported by Lamina: it has no ragged tensors (JAX "
            "arrays are rectangular). Pad the sequences to one length "
            "(keras.utils.pad_sequences) and use ragged=False, with a Masking layer or "
            "mask_zero=True if the padding must be ignored."
        )
    if sparse:
        raise ValueError(
            "Input(sparse=True) is not supported by Lamina: it has no sparse tensors. Pass "
            "dense arrays (e.g. scipy_matrix.toarray()) and use sparse=False."
        )
    if optional:
        raise ValueError(
            "Input(optional=True) is not supported by Lamina: every model input must receive "
            "an array (Keras lets an optional input receive None). Pass zeros (with a mask) "
            "for the missing input, or build a model without it, and use optional=False."
        )
