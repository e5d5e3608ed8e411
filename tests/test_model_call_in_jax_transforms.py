"""``model(x)`` inside the user's own ``jax.grad`` / ``jax.jit`` / ``jax.vmap`` (input
gradients for saliency maps, adversarial examples): Keras's JAX backend takes tracers, the
weights being constants of the transformation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina


def _sequential():
    return lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(3, activation="tanh")])


def _functional():
    inputs = lamina.Input((4,))
    return lamina.Model(inputs, lamina.layers.Dense(3, activation="tanh")(inputs))


def _subclassed():
    class Net(lamina.Model):
        def __init__(self):
            super().__init__()
            self.dense = lamina.layers.Dense(3, activation="tanh")

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 4), "float32"))
    return net


@pytest.mark.parametrize("build", [_sequential, _functional, _subclassed])
def test_input_gradient_jit_and_vmap_of_a_model_call(build):
    model = build()
    kernel, bias = model.get_weights()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 4)), jnp.float32)

    def reference(v):
        return jnp.tanh(v @ kernel + bias[None])

    got = jax.grad(lambda v: jnp.sum(model(v) ** 2))(x)
    want = jax.grad(lambda v: jnp.sum(reference(v) ** 2))(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda v: model(v))(x), reference(x), rtol=1e-5)
    np.testing.assert_allclose(jax.vmap(lambda v: model(v[None])[0])(x), reference(x), rtol=1e-5)
    # Nothing traced stayed behind: the model still predicts and saves its weights.
    np.testing.assert_allclose(model.predict(np.asarray(x), verbose=0), reference(x), rtol=1e-5)
    assert all(isinstance(w, np.ndarray) for w in model.get_weights())
