"""Re-exports of the normalization, embedding and recurrent layers."""

from lamina.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from lamina.layers.embedding import Embedding
from lamina.layers.normalization import BatchNormalization, LayerNormalization
from lamina.layers.recurrent import GRU, LSTM, SimpleRNN
from lamina.layers.rnn_api import StackedRNNCells
from lamina.layers.rnn_cell_layers import GRUCell, LSTMCell, SimpleRNNCell
from lamina.layers.rnn_layer import RNN
from lamina.layers.wrappers import Bidirectional, TimeDistributed

__all__: list[str] = [
    "BatchNormalization",
    "Bidirectional",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "Embedding",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "LayerNormalization",
    "RNN",
    "SimpleRNN",
    "SimpleRNNCell",
    "StackedRNNCells",
    "TimeDistributed",
]
