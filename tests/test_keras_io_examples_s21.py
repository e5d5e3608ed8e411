"""keras.io code examples (Keras 3, backend-agnostic) run under ``import lamina as keras``:
the constructs that failed, each against real Keras or Keras's documented behaviour.

* "Collaborative filtering for movie recommendations": ``RecommenderNet`` scores a batch with
  ``ops.tensordot(user_vector, movie_vector, 2)``, one sum over the whole batch, so its
  ``predict`` outputs depend on Keras's batches (``batch_size`` rows, the last one short);
* a custom layer mixing the rows of its batch in inference, the same question for a
  functional model;
* "OCR model for reading captchas": its ``CTCLayer`` builds ``ops.ones((batch_len, 1))`` from
  ``ops.cast(ops.shape(y_true)[0], "int64")``, a traced array on JAX (Keras's JAX backend
  refuses it too): the error JAX raises must reach the user, naming the layer.
"""

import jax
import numpy as np
import pytest

import lamina
from lamina import layers, ops
from tests.helpers import keras_ref


def _recommender(module, num_users=5, num_movies=7, embedding_size=4):
    class RecommenderNet(module.Model):
        def __init__(self, num_users, num_movies, embedding_size, **kwargs):
            super().__init__(**kwargs)
            self.user_embedding = module.layers.Embedding(
                num_users,
                embedding_size,
                embeddings_initializer="he_normal",
                embeddings_regularizer=module.regularizers.l2(1e-6),
            )
            self.user_bias = module.layers.Embedding(num_users, 1)
            self.movie_embedding = module.layers.Embedding(
                num_movies,
                embedding_size,
                embeddings_initializer="he_normal",
                embeddings_regularizer=module.regularizers.l2(1e-6),
            )
            self.movie_bias = module.layers.Embedding(num_movies, 1)

        def call(self, inputs):
            user_vector = self.user_embedding(inputs[:, 0])
            user_bias = self.user_bias(inputs[:, 0])
            movie_vector = self.movie_embedding(inputs[:, 1])
            movie_bias = self.movie_bias(inputs[:, 1])
            dot_user_movie = module.ops.tensordot(user_vector, movie_vector, 2)
            x = dot_user_movie + user_bias + movie_bias
            return module.ops.nn.sigmoid(x)

    model = RecommenderNet(num_users, num_movies, embedding_size)
    model(np.zeros((1, 2), "int64"))
    return model


def _pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 5, n), rng.integers(0, 7, n)], axis=1)


@pytest.mark.parametrize(("n", "batch_size"), [(10, 32), (40, 16)])
def test_recommender_net_predict_runs_keras_batches(keras, n, batch_size):
    x = _pairs(n)
    with keras_ref():
        ref = _recommender(keras)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected = ref.predict(x, batch_size=batch_size, verbose=0)
    model = _recommender(lamina)
    model.set_weights(weights)
    got = model.predict(x, batch_size=batch_size, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


class _Centered(layers.Layer):
    """Subtracts the batch mean in inference too: each row's output depends on its batch."""

    def call(self, x):
        return x - ops.mean(x, axis=0, keepdims=True)


def test_functional_model_with_row_mixing_layer_predicts_keras_batches(keras):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(13, 3)).astype("float32")
    inputs = lamina.Input((3,))
    model = lamina.Model(inputs, _Centered()(layers.Dense(2)(inputs)))
    kernel, bias = (np.asarray(w) for w in model.get_weights())
    got = model.predict(x, batch_size=8, verbose=0)
    h = x @ kernel + bias  # Keras's batches: rows 0-7, then the short batch of rows 8-12
    expected = np.concatenate([h[:8] - h[:8].mean(0), h[8:] - h[8:].mean(0)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_ctc_layer_casting_the_batch_size_raises_jax_error_naming_the_layer():
    class CTCLayer(layers.Layer):
        def call(self, y_true, y_pred):
            batch_len = ops.cast(ops.shape(y_true)[0], dtype="int32")
            input_length = ops.cast(ops.shape(y_pred)[1], dtype="int32")
            input_length = input_length * ops.ones(shape=(batch_len, 1), dtype="int32")
            self.add_loss(ops.mean(input_length * 0.0))
            return y_pred

    labels = layers.Input((None,), name="label")
    y_pred = layers.Input((10, 7))
    with pytest.raises(jax.errors.ConcretizationTypeError, match="Abstract tracer") as info:
        CTCLayer(name="ctc_loss")(labels, y_pred)
    assert any("Calling layer 'ctc_loss' (CTCLayer)" in note for note in info.value.__notes__)


def test_streamed_predict_runs_short_last_batch_at_real_size():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(13, 3)).astype("float32")
    inputs = lamina.Input((3,))
    model = lamina.Model(inputs, _Centered()(layers.Dense(2)(inputs)))
    kernel, bias = (np.asarray(w) for w in model.get_weights())

    class Rows(lamina.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return x[i * 8 : (i + 1) * 8]

    h = x @ kernel + bias
    expected = np.concatenate([h[:8] - h[:8].mean(0), h[8:] - h[8:].mean(0)])
    np.testing.assert_allclose(model.predict(Rows(), verbose=0), expected, rtol=1e-5, atol=1e-6)
