"""``bias_initializer=None`` (and every other ``*_initializer=None``): Keras keeps None in the
config and draws the weight with ``add_weight``'s default, ``glorot_uniform``.

TensorFlow's "Classification on imbalanced data" tutorial builds its output layer with
``bias_initializer=output_bias`` where ``output_bias`` is None until it computes one.
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

CASES = {
    "dense": (lambda L: L.Dense(3, kernel_initializer=None, bias_initializer=None), (4,)),
    "conv2d": (lambda L: L.Conv2D(2, 3, bias_initializer=None), (5, 5, 2)),
    "conv1d_transpose": (lambda L: L.Conv1DTranspose(2, 3, kernel_initializer=None), (5, 2)),
    "separable": (
        lambda L: L.SeparableConv2D(2, 3, depthwise_initializer=None, bias_initializer=None),
        (5, 5, 2),
    ),
    "embedding": (lambda L: L.Embedding(6, 2, embeddings_initializer=None), (3,)),
    "gru": (lambda L: L.GRU(2, bias_initializer=None, recurrent_initializer=None), (3, 2)),
    "simple_rnn": (lambda L: L.SimpleRNN(2, bias_initializer=None), (3, 2)),
    "lstm_no_forget_bias": (
        lambda L: L.LSTM(2, bias_initializer=None, unit_forget_bias=False),
        (3, 2),
    ),
    "batch_norm": (
        lambda L: L.BatchNormalization(gamma_initializer=None, beta_initializer=None),
        (4,),
    ),
    "layer_norm": (lambda L: L.LayerNormalization(beta_initializer=None), (4,)),
    "einsum_dense": (
        lambda L: L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c", bias_initializer=None),
        (4,),
    ),
    "prelu": (lambda L: L.PReLU(alpha_initializer=None), (4,)),
}


def _weights(lib, name):
    make, shape = CASES[name]
    lib.utils.set_random_seed(7)
    dtype = "int32" if name == "embedding" else "float32"
    layer = make(lib.layers)
    model = lib.Sequential([lib.Input(shape, dtype=dtype), layer])
    config = {k: v for k, v in layer.get_config().items() if k.endswith("initializer")}
    return [np.asarray(w) for w in model.get_weights()], config


@pytest.mark.parametrize("name", sorted(CASES))
def test_none_initializers_draw_keras_default_and_keep_none_in_the_config(name, keras):
    mine, config = _weights(lamina, name)
    with keras_ref():
        ref, ref_config = _weights(keras, name)
    assert {k for k, v in config.items() if v is None} == {
        k for k, v in ref_config.items() if v is None
    }
    assert any(v is None for v in config.values())
    assert len(mine) == len(ref)
    for a, b in zip(mine, ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_none_bias_model_saves_and_loads_both_ways(tmp_path, keras):
    lamina.utils.set_random_seed(1)
    model = lamina.Sequential(
        [lamina.Input((4,)), lamina.layers.Dense(1, activation="sigmoid", bias_initializer=None)]
    )
    model.save(str(tmp_path / "m.keras"))
    again = lamina.models.load_model(str(tmp_path / "m.keras"))
    assert again.layers[0].get_config()["bias_initializer"] is None
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with keras_ref():
        ref = keras.models.load_model(str(tmp_path / "m.keras"))
        got = np.asarray(ref.predict(x, verbose=0))
        assert ref.layers[0].get_config()["bias_initializer"] is None
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-6)


def test_or_default_follows_add_weight():
    from lamina.initializers import GlorotUniform, Ones, Zeros, or_default

    assert isinstance(or_default(None), GlorotUniform)
    assert isinstance(or_default(None, "bfloat16"), GlorotUniform)
    assert isinstance(or_default(None, "int32"), Zeros)
    one = Ones()
    assert or_default(one) is one
    assert lamina.initializers.serialize(None) is None
