"""Keras's read-only properties of ``LSTM``/``GRU``/``SimpleRNN`` that read the layer's cell.

Keras 3 exposes a recurrent layer's cell options on the layer (``lstm.recurrent_activation``,
``gru.reset_after``, ``rnn.kernel_initializer``); Lamina keeps them on the cell, as Keras does,
and :class:`CellProperty` reads them from there.

>>> import lamina
>>> lstm = lamina.layers.LSTM(3, recurrent_activation="hard_sigmoid")
>>> lstm.recurrent_activation is lstm.cell.recurrent_activation
True
"""

from __future__ import annotations

__all__ = ["CellProperty", "cell_properties"]


class CellProperty:
    """``layer.<name>`` reads ``layer.cell.<name>`` (a non-data descriptor: an attribute set
    on the layer itself wins, as it would on any Python object)."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, layer, owner=None):
        if layer is None:
            return self
        return getattr(layer.cell, self.name)


def cell_properties(*names: str):
    """A class decorator adding a :class:`CellProperty` for each of ``names``."""

    def decorate(cls):
        for name in names:
            prop = CellProperty()
            prop.__set_name__(cls, name)
            setattr(cls, name, prop)
        return cls

    return decorate
