"""Keras 2's improved-WGAN gradient penalty: a loss function given to ``compile`` computes
``K.gradients(y_pred, averaged_samples)``, ``averaged_samples`` being a graph tensor the loss
closes over (``functools.partial``).  Keras 2 ran the loss on the graph's tensors; Keras 3
refuses it.  The reference is the same maths written in JAX (the gradient of the critic with
respect to its input, then one SGD step through that gradient: a second-order derivative)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import backend as K
from lamina.layers.merge import _Merge

ALPHA = 0.3


class WeightedAverage(_Merge):
    def _merge_function(self, inputs):
        return ALPHA * inputs[0] + (1 - ALPHA) * inputs[1]


def wasserstein_loss(y_true, y_pred):
    return K.mean(y_true * y_pred)


def gradient_penalty_loss(y_true, y_pred, averaged_samples):
    gradients = K.gradients(y_pred, averaged_samples)[0]
    gradients_sqr = K.square(gradients)
    gradients_sqr_sum = K.sum(gradients_sqr, axis=np.arange(1, len(gradients_sqr.shape)))
    gradient_l2_norm = K.sqrt(gradients_sqr_sum)
    return K.mean(K.square(1 - gradient_l2_norm))


def _models():
    lamina.utils.set_random_seed(0)
    body = lamina.Sequential(
        [lamina.Input((3,)), lamina.layers.Dense(4, activation="tanh"), lamina.layers.Dense(1)]
    )
    img = lamina.Input((3,))
    critic = lamina.Model(img, body(img))
    real, fake = lamina.Input((3,)), lamina.Input((3,))
    averaged = WeightedAverage()([real, fake])
    gp = partial(gradient_penalty_loss, averaged_samples=averaged)
    gp.__name__ = "gradient_penalty"  # Keras 2 required function names
    model = lamina.Model([real, fake], [critic(real), critic(averaged)])
    model.compile(
        optimizer=lamina.optimizers.SGD(0.1),
        loss=[wasserstein_loss, gp],
        loss_weights=[1, 10],
    )
    return model, critic


def _reference(weights, real, fake, valid):
    """Total loss and its gradient with respect to the critic's weights, in JAX."""

    def critic(params, x):
        w1, b1, w2, b2 = params
        return jnp.tanh(x @ w1 + b1) @ w2 + b2

    def total(params):
        averaged = ALPHA * real + (1 - ALPHA) * fake
        grads = jax.grad(lambda x: jnp.sum(critic(params, x)))(averaged)
        norm = jnp.sqrt(jnp.sum(grads**2, axis=1))
        penalty = jnp.mean((1 - norm) ** 2)
        return jnp.mean(valid * critic(params, real)) + 10 * penalty, penalty

    with jax.numpy_rank_promotion("allow"):
        (loss, penalty), grad = jax.value_and_grad(total, has_aux=True)(
            [jnp.asarray(w) for w in weights]
        )
    return float(loss), float(penalty), [np.asarray(g) for g in grad]


def test_gradient_penalty_loss_trains_as_its_maths():
    model, critic = _models()
    rng = np.random.default_rng(1)
    real = rng.normal(size=(8, 3)).astype("float32")
    fake = rng.normal(size=(8, 3)).astype("float32")
    valid = -np.ones((8, 1), "float32")
    dummy = np.zeros((8, 1), "float32")
    weights = critic.get_weights()
    want_loss, want_penalty, grads = _reference(weights, real, fake, valid)

    got = model.evaluate([real, fake], [valid, dummy], batch_size=8, verbose=0)
    np.testing.assert_allclose(got[0], want_loss, rtol=1e-5)
    np.testing.assert_allclose(got[2], want_penalty, rtol=1e-5)

    losses = model.train_on_batch([real, fake], [valid, dummy])
    np.testing.assert_allclose(losses[0], want_loss, rtol=1e-5)
    for new, old, g in zip(critic.get_weights(), weights, grads):
        np.testing.assert_allclose(new, old - 0.1 * g, rtol=1e-5, atol=1e-6)


def test_gradient_of_a_tensor_the_graph_did_not_compute_is_refused():
    model, _ = _models()
    outside = lamina.Input((3,))

    def bad(y_true, y_pred):
        return K.mean(K.gradients(y_pred, outside)[0])

    inputs = model.inputs
    other = lamina.Model(inputs, model.outputs[0])
    other.compile(optimizer="sgd", loss=bad)
    x = np.ones((4, 3), "float32")
    with pytest.raises(TypeError, match="differentiates a symbolic tensor of a functional graph"):
        other.fit([x, x], np.ones((4, 1)), verbose=0)
