"""Keras 2's ``predict_classes`` and ``predict_proba``, as a mixin of ``Sequential``.

Keras 3 removed them; the seed text's Step 5 does by hand what they did: round a single sigmoid
output at 0.5, or take the argmax of a softmax.

>>> import numpy as np
>>> from lamina.models import Sequential
>>> from lamina.layers import Dense
>>> model = Sequential([Dense(3, input_dim=2, activation="softmax")])
>>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
>>> model.predict_classes(np.zeros((4, 2))).shape
(4,)
"""

from __future__ import annotations

import numpy as np


class ClassPredictionsMixin:
    """Adds ``predict_classes`` and ``predict_proba`` to a model that has ``predict``."""

    def predict_proba(self, x, batch_size=32, verbose=0):
        """The output layer's values for ``x``, read as class probabilities.

        Args:
            x: input rows, shape ``(n, n_features)``.
            batch_size: rows per compiled step.
            verbose: progress output, as for ``predict``.

        Returns:
            ``(n, units)`` array: the sigmoid probability of class 1 for a 1-unit output, or
            one probability per class for a softmax output.

        Example:

        >>> from lamina.layers import Dense
        >>> from lamina.models import Sequential
        >>> m = Sequential([Dense(1, input_dim=2, activation="sigmoid")])
        >>> m.compile(optimizer="sgd", loss="binary_crossentropy")
        >>> p = m.predict_proba(np.ones((3, 2)))
        >>> bool(((p >= 0) & (p <= 1)).all())
        True
        """
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Class indices for ``x``: a single output rounded at 0.5, else the argmax.

        Args:
            x: input rows, shape ``(n, n_features)``.
            batch_size: rows per compiled step.
            verbose: progress output, as for ``predict``.

        Returns:
            int32 array: ``(n, 1)`` of 0/1 for a 1-unit output (Keras 2's shape), ``(n,)`` of
            class indices for a multi-unit output.

        Example:

        >>> from lamina.layers import Dense
        >>> from lamina.models import Sequential
        >>> m = Sequential([Dense(1, input_dim=2, activation="sigmoid")])
        >>> m.compile(optimizer="sgd", loss="binary_crossentropy")
        >>> m.predict_classes(np.ones((3, 2))).shape
        (3, 1)
        """
        proba = np.asarray(self.predict(x, batch_size=batch_size, verbose=verbose))
        if proba.ndim > 1 and proba.shape[-1] > 1:
            return proba.argmax(axis=-1).astype(np.int32)
        return (proba > 0.5).astype(np.int32)
