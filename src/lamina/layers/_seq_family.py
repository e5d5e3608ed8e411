"""Re-exports of the normalization, embedding and recurrent layers."""

from lamina.layers.embedding import Embedding
from lamina.layers.normalization import BatchNormalization, LayerNormalization
from lamina.layers.recurrent import GRU, LSTM, SimpleRNN
from lamina.layers.wrappers import Bidirectional, TimeDistributed

__all__: list[str] = [
    "BatchNormalization",
    "Bidirectional",
    "Embedding",
    "GRU",
    "LSTM",
    "LayerNormalization",
    "SimpleRNN",
    "TimeDistributed",
]
