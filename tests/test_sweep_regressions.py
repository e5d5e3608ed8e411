"""Regressions found by running public Keras scripts (keras.io examples and guides, Keras 2's
``examples/``) on Lamina: each test is the smallest piece of such a script that broke.

References: real Keras 3 where it runs without TensorFlow, NumPy otherwise (Keras's
``timeseries_dataset_from_array`` and directory datasets are ``tf.data`` pipelines).
"""

import os

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

# ------------------------------------------------ keras.saving.(de)serialize_keras_object


def test_saving_exports_serialize_keras_object_like_keras(keras):
    # The serialization guide calls keras.saving.serialize_keras_object in get_config.
    layer = lamina.layers.Dense(3, activation="relu", name="d")
    config = lamina.saving.serialize_keras_object(layer)
    with keras_ref():
        ref = keras.saving.serialize_keras_object(
            keras.layers.Dense(3, activation="relu", name="d")
        )
    assert (config["module"], config["class_name"]) == (ref["module"], ref["class_name"])
    assert config["config"]["units"] == ref["config"]["units"] == 3
    back = lamina.saving.deserialize_keras_object(config)
    assert isinstance(back, lamina.layers.Dense)
    assert (back.units, back.name) == (3, "d")


def test_saving_serialize_keras_object_is_the_utils_function():
    from lamina.utils import deserialize_keras_object, serialize_keras_object

    assert lamina.saving.serialize_keras_object is serialize_keras_object
    assert lamina.saving.deserialize_keras_object is deserialize_keras_object


# ----------------------------------------- timeseries_dataset_from_array as a tf.data user


def _windows_ref(data, targets, length, rate, batch):
    """NumPy reference: window i = data[i + k * rate], target = targets[i]."""
    n = min(len(data) - (length - 1) * rate, len(targets))
    xs = np.stack([data[i + np.arange(length) * rate] for i in range(n)])
    ys = targets[:n]
    return [(xs[b : b + batch], ys[b : b + batch]) for b in range(0, n, batch)]


def test_timeseries_dataset_take_and_numpy_like_weather_forecasting_example():
    # keras.io timeseries_weather_forecasting: `for batch in dataset_train.take(1):
    # inputs, targets = batch; inputs.numpy().shape`.
    data = np.arange(60, dtype="float32").reshape(30, 2)
    targets = np.arange(30, dtype="float32") * 10
    ds = lamina.utils.timeseries_dataset_from_array(
        data, targets, sequence_length=4, sampling_rate=2, batch_size=5
    )
    ref = _windows_ref(data, targets, 4, 2, 5)
    taken = ds.take(2)
    assert len(taken) == 2
    for (x, y), (rx, ry) in zip(taken, ref):
        np.testing.assert_array_equal(x.numpy(), rx)
        np.testing.assert_array_equal(y.numpy(), ry)
        assert type(x.numpy()) is np.ndarray
    assert ds.cardinality() == len(ds) == len(ref)
    assert len(ds.take(100)) == len(ref)


def test_timeseries_dataset_map_cache_prefetch_and_fit():
    data = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    ds = lamina.utils.timeseries_dataset_from_array(data, data[:, 0], sequence_length=5,
                                                    batch_size=8)  # fmt: skip
    mapped = ds.map(lambda x, y: (x * 2.0, y)).cache().prefetch(2)
    assert len(mapped) == len(ds)
    np.testing.assert_allclose(mapped[0][0], ds[0][0] * 2.0)
    np.testing.assert_array_equal(mapped[0][1], ds[0][1])
    model = lamina.Sequential([lamina.Input((5, 3)), lamina.layers.Flatten(),
                               lamina.layers.Dense(1)])  # fmt: skip
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(mapped, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_timeseries_dataset_unbatched_items_have_numpy():
    ds = lamina.utils.timeseries_dataset_from_array(np.arange(10.0), None, sequence_length=3,
                                                    batch_size=None)  # fmt: skip
    np.testing.assert_array_equal(ds.take(1)[0].numpy(), [0.0, 1.0, 2.0])


# --------------------------------------------- directory datasets as a tf.data user


def _text_tree(root):
    for label, word in (("neg", "bad"), ("pos", "good")):
        os.makedirs(os.path.join(root, label))
        for i in range(5):
            with open(os.path.join(root, label, f"{i}.txt"), "w") as f:
                f.write(f"{word} movie {i}")


def test_text_dataset_cardinality_and_batch_numpy_like_text_classification_example(tmp_path):
    # keras.io text_classification_from_scratch: `raw_train_ds.cardinality()` and
    # `text_batch.numpy()[i]`, `label_batch.numpy()[i]`.
    _text_tree(str(tmp_path))
    ds = lamina.utils.text_dataset_from_directory(str(tmp_path), batch_size=4, shuffle=False)
    assert ds.cardinality() == len(ds) == 3
    texts, labels = ds.take(1)[0]
    assert texts.numpy()[0] == "bad movie 0"
    assert labels.numpy().tolist() == [0, 0, 0, 0]
    assert type(labels.numpy()) is np.ndarray


def test_batches_numpy_view_is_transparent_to_numpy_and_jax():
    import jax.numpy as jnp

    from lamina.utils.dataset_utils import Batches

    x = np.arange(12, dtype="float32").reshape(6, 2)
    batch = Batches(x, 4)[0]
    np.testing.assert_array_equal(batch.numpy(), x[:4])
    assert type(np.asarray(batch)) is np.ndarray
    np.testing.assert_array_equal(jnp.asarray(batch) + 1, x[:4] + 1)


# ---------------------------------------------------------- Keras 2 module paths


def test_keras2_convolutional_recurrent_module_path():
    # keras/examples/conv_lstm.py (Keras 2):
    # `from keras.layers.convolutional_recurrent import ConvLSTM2D`.
    from lamina.layers.convolutional_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D

    assert ConvLSTM2D is lamina.layers.ConvLSTM2D
    assert ConvLSTM1D is lamina.layers.ConvLSTM1D
    assert ConvLSTM3D is lamina.layers.ConvLSTM3D


def test_keras2_convolutional_recurrent_layer_shape_matches_keras(keras):
    from lamina.layers.convolutional_recurrent import ConvLSTM2D

    ours = ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    with keras_ref():
        ref = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
        ref_shape = ref.compute_output_shape((None, 3, 6, 6, 1))
    assert tuple(ours.compute_output_shape((None, 3, 6, 6, 1))) == tuple(ref_shape)


def test_unknown_name_in_keras2_module_path_is_an_attribute_error():
    import lamina.layers.convolutional_recurrent as mod

    with pytest.raises(AttributeError, match="ConvRNN2D"):
        mod.ConvRNN2D  # noqa: B018


# ----------------------------------------------- compute_mask(inputs) with no mask argument


def test_embedding_compute_mask_without_mask_argument_like_masking_guide(keras):
    # "Understanding masking & padding": `mask = self.embedding.compute_mask(inputs)`.
    x = np.array([[3, 0, 5], [0, 0, 1]])
    ours = lamina.layers.Embedding(10, 4, mask_zero=True).compute_mask(x)
    with keras_ref():
        ref = keras.layers.Embedding(10, 4, mask_zero=True).compute_mask(x)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    assert lamina.layers.Embedding(10, 4).compute_mask(x) is None


def test_masking_compute_mask_without_mask_argument(keras):
    x = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 2.0], [3.0, 0.0]]], "float32")
    ours = lamina.layers.Masking().compute_mask(x)
    with keras_ref():
        ref = keras.layers.Masking().compute_mask(x)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))


# ------------------------------------------- Keras 2 K.* math on symbolic tensors


def test_keras2_backend_math_on_keras_input_records_graph_nodes():
    # keras/examples/variational_autoencoder.py (Keras 2): the KL term is K.* math on the
    # encoder's symbolic outputs, e.g. K.sum(K.square(z_mean) ..., axis=-1).
    from lamina import backend as K

    inp = lamina.Input((4,))
    out = K.mean(K.concatenate([K.square(inp), K.exp(inp)], axis=-1), axis=-1, keepdims=True)
    assert tuple(out.shape) == (None, 1)
    model = lamina.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    ref = np.mean(np.concatenate([x**2, np.exp(x)], axis=-1), axis=-1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref, rtol=1e-5)


def test_keras2_backend_math_on_arrays_is_unchanged():
    from lamina import backend as K

    x = np.array([[3.0, -4.0]], "float32")
    np.testing.assert_allclose(np.asarray(K.sum(K.square(x), axis=-1)), [25.0])
    assert float(K.sqrt(K.constant(-1.0))) == 0.0  # Keras 2 clips negatives in K.sqrt


# ------------------------------------- dict targets for a model whose outputs are a list


def _two_output_model(lib):
    a = lib.Input((3,), name="a")
    b = lib.Input((4,), name="b")
    x = lib.layers.Concatenate()([a, b])
    score = lib.layers.Dense(1, name="score_output")(x)
    klass = lib.layers.Dense(5, activation="softmax", name="class_output")(x)
    model = lib.Model([a, b], [score, klass])
    model.compile(optimizer="sgd", loss=["mse", "categorical_crossentropy"])
    return model


def test_dict_targets_follow_output_names_not_sorted_keys(keras):
    # "Training & evaluation with the built-in methods": fit({"img_input": ...},
    # {"score_output": ..., "class_output": ...}) on a model with outputs=[score, class].
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(8, 3)), rng.normal(size=(8, 4))
    ys, yc = rng.normal(size=(8, 1)), np.eye(5)[rng.integers(0, 5, 8)]
    y = {"score_output": ys, "class_output": yc}
    ours = _two_output_model(lamina)
    with keras_ref():
        ref = _two_output_model(keras)
        ref.set_weights(ours.get_weights())
        expected = ref.evaluate({"a": xa, "b": xb}, y, verbose=0)
    got = ours.evaluate({"a": xa, "b": xb}, y, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(got, ours.evaluate([xa, xb], [ys, yc], verbose=0), rtol=1e-6)
    history = ours.fit({"a": xa, "b": xb}, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
