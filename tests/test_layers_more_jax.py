"""JaxLayer and FlaxLayer (issue #19).

Keras's own JaxLayer needs TensorFlow even on the JAX backend (not installed here), so the
references are the same functions run directly and the equivalent Dense model (itself checked
against Keras in the dense tests)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina

L = lamina.layers


def mlp_init(rng, inputs):
    k1, k2 = jax.random.split(rng)
    return {
        "dense1": {"w": jax.random.normal(k1, (inputs.shape[-1], 5)) * 0.3, "b": jnp.zeros(5)},
        "dense2": {"w": jax.random.normal(k2, (5, 2)) * 0.3, "b": jnp.zeros(2)},
    }


def mlp_call(params, inputs):
    h = jnp.tanh(inputs @ params["dense1"]["w"] + params["dense1"]["b"])
    return h @ params["dense2"]["w"] + params["dense2"]["b"]


def counting_init(rng, inputs, training):
    assert training is True
    return {"w": jnp.ones((inputs.shape[-1], 3))}, {"calls": jnp.zeros(())}


def counting_call(params, state, rng, inputs, training):
    y = inputs @ params["w"]
    if training:
        y = y * jax.random.bernoulli(rng, 0.5, y.shape)
    return y, {"calls": state["calls"] + 1.0}


def _dense_model():
    return lamina.models.Sequential([L.Input((3,)), L.Dense(5, activation="tanh"), L.Dense(2)])


def _dense_weights_from_tree(weights):
    """JaxLayer weights (tree_util order: dense1/b, dense1/w, dense2/b, dense2/w) -> Dense."""
    b1, w1, b2, w2 = weights
    return [w1, b1, w2, b2]


def test_jax_layer_weights_and_outputs():
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    layer = L.JaxLayer(mlp_call, mlp_init)
    lm = lamina.models.Sequential([L.Input((3,)), layer])
    weights = lm.get_weights()
    assert [w.shape for w in weights] == [(5,), (3, 5), (2,), (5, 2)]  # tree_util order
    tree = jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(mlp_init(jax.random.PRNGKey(0), x)), weights
    )
    with jax.numpy_rank_promotion("allow"):
        want = mlp_call(tree, x)
    np.testing.assert_allclose(lm.predict(x, verbose=0), want, rtol=1e-5)
    assert layer.compute_output_shape((None, 3)) == (None, 2)
    config = layer.get_config()
    assert config["call_fn"]["config"] == "mlp_call" and config["init_fn"]["config"] == "mlp_init"
    lamina.utils.get_custom_objects().update(mlp_call=mlp_call, mlp_init=mlp_init)
    try:
        clone = L.JaxLayer.from_config(config)
    finally:
        for name in ("mlp_call", "mlp_init"):
            lamina.utils.get_custom_objects().pop(name)
    assert clone.call_fn is mlp_call and clone.init_fn is mlp_init


def test_jax_layer_state_rng_and_given_params():
    layer = L.JaxLayer(counting_call, counting_init)
    assert layer.uses_rng
    params, state = layer.init(jax.random.key(0), (None, 2))
    assert list(params) == ["params_0"] and list(state) == ["state_0"]
    x = np.ones((6, 2), "float32")
    y, state = layer.apply(params, state, x, training=False)
    np.testing.assert_allclose(y, 2.0)
    y, state = layer.apply(params, state, x, training=True, key=jax.random.key(1))
    assert float(state["state_0"]) == 2.0 and 0 < (np.asarray(y) == 0).mean() < 1
    # Weights given directly: no init_fn needed.
    fixed = L.JaxLayer(mlp_call, params=mlp_init(jax.random.PRNGKey(3), np.ones((1, 3))))
    p, s = fixed.init(jax.random.key(0), (None, 3))
    with jax.numpy_rank_promotion("allow"):
        want = mlp_call(mlp_init(jax.random.PRNGKey(3), np.ones((1, 3))), np.ones((2, 3)))
    np.testing.assert_allclose(fixed.apply(p, s, np.ones((2, 3), "float32"))[0], want)


def test_jax_layer_argument_errors():
    with pytest.raises(ValueError, match="Missing required argument in `call_fn`: `inputs`"):
        L.JaxLayer(lambda params: params)
    with pytest.raises(ValueError, match="Unsupported argument in `call_fn`: `x`"):
        L.JaxLayer(lambda params, inputs, x: x)
    with pytest.raises(ValueError, match="`init_fn`, `params` and `state` cannot all be"):
        L.JaxLayer(mlp_call)
    bad = L.JaxLayer(lambda params, state, inputs: (inputs, {"other": 1.0}), counting_init)
    with pytest.raises(ValueError, match="Structure mismatch"):
        p, s = bad.init(jax.random.key(0), (None, 2))
        bad.apply(p, s, np.ones((1, 2), "float32"))


@pytest.mark.slow
def test_jax_layer_fit_matches_dense_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    lm = lamina.models.Sequential([L.Input((3,)), L.JaxLayer(mlp_call, mlp_init)])
    ref = _dense_model()
    ref.set_weights(_dense_weights_from_tree(lm.get_weights()))
    histories = []
    for model in (lm, ref):
        model.compile(lamina.optimizers.Adam(0.01), "mse")
        histories.append(model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0))
    np.testing.assert_allclose(
        histories[0].history["loss"], histories[1].history["loss"], rtol=1e-5, atol=1e-7
    )
    for a, b in zip(_dense_weights_from_tree(lm.get_weights()), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class FakeLinen:
    """A Flax-Linen-like module (Flax is not installed here): Dense + a call counter."""

    def __call__(self, x, training=False):
        raise NotImplementedError

    def init(self, rng, x, method=None, training=False):
        keys = rng["params"]
        w = jax.random.normal(jax.random.wrap_key_data(keys), (x.shape[-1], 2))
        return {"params": {"w": w}, "counts": {"n": jnp.zeros(())}}

    def apply(self, variables, x, rngs=None, method=None, mutable=(), training=False):
        assert set(mutable) == {"counts"}
        y = x @ variables["params"]["w"]
        if training:
            assert "dropout" in rngs
            y = 2.0 * y
        return y, {"counts": {"n": variables["counts"]["n"] + 1.0}}


def test_flax_layer_splits_params_and_state():
    layer = L.FlaxLayer(FakeLinen())
    params, state = layer.init(jax.random.key(0), (None, 3))
    assert list(params) == ["params_0"] and list(state) == ["state_0"]
    x = np.ones((2, 3), "float32")
    y, state = layer.apply(params, state, x)
    np.testing.assert_allclose(y, x @ np.asarray(params["params_0"]), rtol=1e-6)
    y2, state = layer.apply(params, state, x, training=True, key=jax.random.key(1))
    np.testing.assert_allclose(y2, 2.0 * y, rtol=1e-6)
    assert float(state["state_0"]) == 2.0
