"""Keras 3's recurrent layers expose their cell's options as read-only properties
(``lstm.recurrent_activation``, ``gru.reset_after``, ...): the same names, the same values."""

import pytest

import lamina


def _value(v):
    if callable(v) and hasattr(v, "__name__"):
        return v.__name__
    if hasattr(v, "get_config") and not isinstance(v, (bool, int, float, str)):
        return type(v).__name__
    return v


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("LSTM", {"recurrent_activation": "hard_sigmoid", "unit_forget_bias": False,
                  "use_bias": False, "kernel_initializer": "he_normal",
                  "kernel_regularizer": "l2"}),
        ("GRU", {"reset_after": False, "activation": "relu", "bias_initializer": "ones"}),
        ("SimpleRNN", {"activation": "relu", "recurrent_initializer": "glorot_uniform"}),
        ("LSTM", {}),
        ("GRU", {}),
    ],
)
def test_recurrent_layers_read_their_cells_options_as_keras(keras, name, kwargs):
    ours = getattr(lamina.layers, name)(3, **kwargs)
    theirs = getattr(keras.layers, name)(3, **kwargs)
    names = [n for n, v in vars(type(theirs)).items() if isinstance(v, property)]
    names = [n for n in names if n not in ("dropout", "recurrent_dropout", "units")]
    assert {"activation", "use_bias", "kernel_initializer"} <= set(names)
    for attr in names:
        assert _value(getattr(ours, attr)) == _value(getattr(theirs, attr)), attr
