"""BatchNormalization and LayerNormalization against real Keras 3.

Inference forward with Keras's weights, output shapes, configs, and a short fit whose last batch
is partial (so batch statistics must ignore the padding rows) matching Keras's History,
trainable weights and moving statistics.
"""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL = 1e-5
ATOL = 1e-6


def _models(keras, make, input_shape):
    """The same stack in Keras and Lamina; ``make(module)`` lists the layers."""
    with keras_ref():
        km = keras.Sequential([keras.Input(input_shape), *make(keras)])
    lm = lamina.models.Sequential([lamina.layers.Input(input_shape), *make(lamina)])
    return km, lm


def _predict(lm, x):
    """Lamina's inference forward (``predict`` wants a compiled model at present)."""
    if lm._compiled is None:
        lm.compile(optimizer="sgd", loss="mse")
    return lm.predict(x, verbose=0)


def _randomize(km, rng):
    """Non-trivial weights (including moving statistics) in Keras, returned as a list."""
    weights = []
    for w in km.get_weights():
        if w.ndim == 1:  # gamma, beta, moving_mean, moving_variance: keep variances positive
            weights.append(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        else:
            weights.append(rng.normal(size=w.shape).astype("float32"))
    with keras_ref():
        km.set_weights(weights)
    return weights


NORM_CASES = {
    "bn": (lambda m: [m.layers.BatchNormalization()], (5,)),
    "bn_no_center_scale": (
        lambda m: [m.layers.BatchNormalization(center=False, scale=False, epsilon=0.1)],
        (4,),
    ),
    "bn_axis1_rank3": (lambda m: [m.layers.BatchNormalization(axis=1)], (3, 4)),
    "bn_rank4": (lambda m: [m.layers.BatchNormalization(momentum=0.9)], (2, 3, 4)),
    "ln": (lambda m: [m.layers.LayerNormalization()], (6,)),
    "ln_rank3": (lambda m: [m.layers.LayerNormalization(epsilon=1e-5)], (3, 4)),
    "ln_axes": (lambda m: [m.layers.LayerNormalization(axis=[1, 2])], (3, 4)),
    "ln_no_scale": (lambda m: [m.layers.LayerNormalization(scale=False)], (4,)),
}


@pytest.mark.parametrize("case", sorted(NORM_CASES))
def test_inference_forward_matches_keras(keras, rng, case):
    make, shape = NORM_CASES[case]
    km, lm = _models(keras, make, shape)
    weights = _randomize(km, rng)
    lm.set_weights(weights)
    x = (3.0 * rng.normal(size=(7, *shape)) + 1.0).astype("float32")
    with keras_ref():
        want = km.predict(x, verbose=0)
    got = _predict(lm, x)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", sorted(NORM_CASES))
def test_output_shape_matches_keras(keras, case):
    make, shape = NORM_CASES[case]
    for batch in (None, 3):
        full = (batch, *shape)
        with keras_ref():
            want = make(keras)[0].compute_output_shape(full)
        assert tuple(make(lamina)[0].compute_output_shape(full)) == tuple(want)


def test_training_call_matches_keras_and_updates_moving_stats(keras, rng):
    x = rng.normal(size=(6, 3, 4)).astype("float32")
    with keras_ref():
        kl = keras.layers.BatchNormalization(momentum=0.8)
        kl.build((None, 3, 4))
        want = np.asarray(kl(x, training=True))
        k_state = [np.asarray(v) for v in (kl.moving_mean, kl.moving_variance)]
    ll = lamina.layers.BatchNormalization(momentum=0.8)
    params, state = ll.init(_key(), (None, 3, 4))
    got, new_state = ll.apply(params, state, x, training=True)
    np.testing.assert_allclose(np.asarray(got), want, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        np.asarray(new_state["moving_mean"]), k_state[0], rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(
        np.asarray(new_state["moving_variance"]), k_state[1], rtol=RTOL, atol=ATOL
    )


def test_batch_mask_equals_the_short_batch(rng):
    """Padding rows (batch_mask 0) leave the statistics of the real rows unchanged."""
    ll = lamina.layers.BatchNormalization()
    params, state = ll.init(_key(), (None, 3))
    x = rng.normal(size=(5, 3)).astype("float32")
    padded = np.concatenate([x, 100 * np.ones((3, 3), "float32")])
    bmask = np.array([1] * 5 + [0] * 3, "float32")
    y_short, s_short = ll.apply(params, state, x, training=True)
    y_pad, s_pad = ll.apply(params, state, padded, training=True, batch_mask=bmask)
    np.testing.assert_allclose(np.asarray(y_pad)[:5], np.asarray(y_short), rtol=1e-6, atol=1e-6)
    for k in s_short:
        np.testing.assert_allclose(np.asarray(s_pad[k]), np.asarray(s_short[k]), rtol=1e-6)


def _key():
    import jax

    return jax.random.key(0)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_with_batchnorm_matches_keras(keras, optimizer):
    """Dense+BN+Dense, 53 rows in batches of 16: the last batch has 5 real rows."""
    rng = np.random.default_rng(1)
    x = (2.0 * rng.normal(size=(53, 6)) + 0.5).astype("float32")
    y = (x[:, 0] - x[:, 1] + 0.3 * x[:, 2] > 0).astype("float32")

    def make(m):
        return [
            m.layers.Dense(8, activation="relu"),
            m.layers.BatchNormalization(momentum=0.9),
            m.layers.Dense(1, activation="sigmoid"),
        ]

    km, lm = _models(keras, make, (6,))
    lm.set_weights(km.get_weights())

    def opt(m):
        return m.optimizers.SGD(0.1) if optimizer == "sgd" else m.optimizers.Adam(0.01)

    with keras_ref():
        km.compile(optimizer=opt(keras), loss="binary_crossentropy", metrics=["accuracy"])
        kh = km.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        k_weights = km.get_weights()
        k_pred = km.predict(x, verbose=0)
    lm.compile(optimizer=opt(lamina), loss="binary_crossentropy", metrics=["accuracy"])
    lh = lm.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert list(lh.history) == list(kh.history)
    for k in kh.history:
        np.testing.assert_allclose(lh.history[k], kh.history[k], rtol=1e-4, atol=1e-5)
    l_weights = lm.get_weights()
    assert len(l_weights) == len(k_weights) == 8
    for lw, kw in zip(l_weights, k_weights):  # includes moving_mean / moving_variance
        np.testing.assert_allclose(lw, kw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lm.predict(x, verbose=0), k_pred, rtol=1e-4, atol=1e-5)


def test_frozen_batchnorm_runs_in_inference_mode(rng):
    ll = lamina.layers.BatchNormalization(trainable=False)
    params, state = ll.init(_key(), (None, 3))
    x = rng.normal(size=(4, 3)).astype("float32")
    y, new_state = ll.apply(params, state, x, training=True)
    assert new_state is state
    np.testing.assert_allclose(np.asarray(y), x / np.sqrt(1 + 1e-3), rtol=1e-6)


CONFIG_CASES = {
    "BatchNormalization": dict(axis=1, momentum=0.9, epsilon=0.01, center=False),
    "LayerNormalization": dict(axis=-1, epsilon=1e-4, scale=False),
}


@pytest.mark.parametrize("cls", sorted(CONFIG_CASES))
def test_config_round_trip_and_keras_keys(keras, cls):
    kwargs = CONFIG_CASES[cls]
    layer = getattr(lamina.layers, cls)(**kwargs)
    config = layer.get_config()
    again = getattr(lamina.layers, cls).from_config(config)
    assert again.get_config() == config
    with keras_ref():
        k_config = getattr(keras.layers, cls)(**kwargs).get_config()
    assert set(config) == set(k_config)
    for k in kwargs:
        assert config[k] == k_config[k]
    # Keras's own config (dtype policy dict included) builds the same Lamina layer
    from_keras = getattr(lamina.layers, cls).from_config(k_config)
    assert {k: from_keras.get_config()[k] for k in kwargs} == kwargs


def test_invalid_axis_is_a_clear_error():
    with pytest.raises(ValueError, match="out of bounds"):
        lamina.layers.BatchNormalization(axis=3).compute_output_shape((None, 4))
    with pytest.raises(ValueError, match="renorm"):
        lamina.layers.BatchNormalization(renorm=True)
