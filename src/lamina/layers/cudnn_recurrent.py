"""Keras 2.1-2.3's ``keras.layers.cudnn_recurrent``: ``CuDNNLSTM`` and ``CuDNNGRU`` (the same
maths as ``LSTM``/``GRU``; see :mod:`lamina.layers.legacy_names`).

>>> from lamina.layers.cudnn_recurrent import CuDNNLSTM
>>> type(CuDNNLSTM(4)).__name__
'LSTM'
"""

from lamina.layers.legacy_names import CuDNNGRU, CuDNNLSTM

__all__ = ["CuDNNGRU", "CuDNNLSTM"]
