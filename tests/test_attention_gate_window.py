"""Keras 3.15's ``use_gate`` and ``sliding_window`` of ``MultiHeadAttention`` and
``GroupQueryAttention``, against real Keras with copied weights."""

import os
import tempfile

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 6, 8)).astype("float32")
Y = RNG.normal(size=(2, 6, 8)).astype("float32")


def _mha(lib, **kw):
    return lib.layers.MultiHeadAttention(num_heads=2, key_dim=4, **kw)


def _gqa(lib, **kw):
    return lib.layers.GroupQueryAttention(
        head_dim=4, num_query_heads=4, num_key_value_heads=2, **kw
    )


def _pair(keras, make, **kw):
    """(keras layer, lamina layer) built on X, with Keras's weights copied into Lamina's."""
    with keras_ref():
        ref = make(keras, **kw)
        ref(X, X)
    ours = make(lamina, **kw)
    ours(X, X)
    ours.set_weights([np.asarray(w) for w in ref.get_weights()])
    return ref, ours


CASES = [
    (_mha, {"use_gate": True}),
    (_mha, {"sliding_window": 2}),
    (_mha, {"use_gate": True, "sliding_window": 3}),
    (_gqa, {"use_gate": True}),
    (_gqa, {"sliding_window": 2}),
]


@pytest.mark.parametrize("make,kw", CASES)
def test_weights_match_keras_order_and_shapes(keras, make, kw):
    ref, ours = _pair(keras, make, **kw)
    assert [w.path.split("/", 1)[1] for w in ours.weights] == [
        w.path.split("/", 1)[1] for w in ref.weights
    ]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in ref.weights]


@pytest.mark.parametrize("make,kw", CASES)
@pytest.mark.parametrize("causal", [False, True])
def test_outputs_match_keras(keras, make, kw, causal):
    ref, ours = _pair(keras, make, **kw)
    with keras_ref():
        expected = np.asarray(ref(X, Y, use_causal_mask=causal))
    got = np.asarray(ours(X, Y, use_causal_mask=causal))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_sliding_window_scores_match_keras(keras):
    ref, ours = _pair(keras, _mha, sliding_window=2)
    with keras_ref():
        _, expected = ref(X, Y, return_attention_scores=True)
    _, got = ours(X, Y, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)
    # the band: |i - j| >= 2 gets no attention
    assert float(np.abs(np.asarray(got)[..., 0, 2:]).max()) == 0.0


def _model(lib, make, **kw):
    inp = lib.Input((6, 8))
    out = make(lib, **kw)(inp, inp)
    model = lib.Model(inp, lib.layers.GlobalAveragePooling1D()(out))
    model.compile(lib.optimizers.SGD(0.1), "mse")
    return model


@pytest.mark.parametrize("make,kw", [CASES[2], CASES[3]])
def test_fit_step_matches_keras(keras, make, kw):
    target = RNG.normal(size=(2, 8)).astype("float32")
    with keras_ref():
        ref = _model(keras, make, **kw)
        ours = _model(lamina, make, **kw)
        ours.set_weights([np.asarray(w) for w in ref.get_weights()])
        ref_loss = ref.fit(X, target, epochs=2, batch_size=2, verbose=0).history["loss"]
        ref_weights = ref.get_weights()
    loss = ours.fit(X, target, epochs=2, batch_size=2, verbose=0).history["loss"]
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    for a, b in zip(ours.get_weights(), ref_weights):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make,kw", [CASES[2], CASES[3]])
def test_config_round_trip_and_keras_file(keras, make, kw):
    ref, ours = _pair(keras, make, **kw)
    config = ours.get_config()
    with keras_ref():
        ref_config = ref.get_config()
    for key in ("use_gate", "sliding_window"):
        assert config[key] == ref_config[key]
    assert type(ours).from_config(config).get_config() == config
    # a Keras weights file of a model holding the gated layer loads into Lamina's
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "m.weights.h5")
    with keras_ref():
        ref_model = _model(keras, make, **kw)
        ref_model.save_weights(path)
        expected = np.asarray(ref_model.predict(X, verbose=0))
    model = _model(lamina, make, **kw)
    model.load_weights(path)
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # and Lamina's file loads into Keras
    model.save_weights(path)
    with keras_ref():
        ref_model.load_weights(path)
        again = np.asarray(ref_model.predict(X, verbose=0))
    np.testing.assert_allclose(again, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 2.0, "2"])
def test_bad_sliding_window_raises_keras_error(bad):
    with pytest.raises(ValueError, match="`sliding_window` must be `None` or a positive integer"):
        lamina.layers.MultiHeadAttention(2, 4, sliding_window=bad)


def test_flash_attention_true_still_named():
    with pytest.raises(ValueError, match="flash_attention=True"):
        lamina.layers.MultiHeadAttention(2, 4, flash_attention=True)
