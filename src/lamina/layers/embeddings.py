"""Keras 2's module path ``keras.layers.embeddings`` (``from keras.layers.embeddings import
Embedding``); the layer lives in :mod:`lamina.layers.embedding`.

>>> from lamina.layers.embeddings import Embedding
>>> Embedding.__name__
'Embedding'
"""

from lamina.layers.embedding import Embedding

__all__ = ["Embedding"]
