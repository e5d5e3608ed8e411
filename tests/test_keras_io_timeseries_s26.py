"""keras.io's timeseries and structured-data examples (Keras 3 versions) under
``import lamina as keras``, on small synthetic stand-in data (no network).

Scripts covered (model and training code nearly verbatim; only the data loading replaced, and
``tf.data`` pipelines by the ``keras.utils`` / NumPy equivalents a Keras 3 JAX user writes):

* ``timeseries/timeseries_classification_from_scratch``: the Conv1D/BatchNormalization/ReLU
  network, ``ModelCheckpoint`` + ``ReduceLROnPlateau`` + ``EarlyStopping``, ``load_model`` of
  the best checkpoint, ``history.history["sparse_categorical_accuracy"]``;
* ``timeseries/timeseries_classification_transformer``: ``transformer_encoder`` (residual
  ``x + inputs`` ops, ``MultiHeadAttention(x, x)``), ``GlobalAveragePooling1D(
  data_format="channels_first")``; its ``summary()`` names the ops ``Add`` and lists the
  attention's two inputs, as Keras prints them, and ``plot_model`` draws the ops as boxes;
* ``timeseries/timeseries_anomaly_detection``: the Conv1D/Conv1DTranspose autoencoder and its
  MAE reconstruction threshold;
* ``timeseries/timeseries_weather_forecasting``: ``timeseries_dataset_from_array`` with
  ``sampling_rate`` (and ``sequence_stride``), ``for batch in dataset.take(1)``, the LSTM,
  ``ModelCheckpoint(save_weights_only=True)``;
* ``structured_data/structured_data_classification_with_feature_space``: ``FeatureSpace`` with
  crosses, ``adapt``, the training model built on ``get_encoded_features()`` (an inner tensor
  as the model's input, which Keras clones from a new ``InputLayer``) and the end-to-end
  inference model;
* ``structured_data/imbalanced_classification``: ``class_weight`` and the confusion metrics;
* ``structured_data/collaborative_filtering_movielens``: ``RecommenderNet`` trained;
* ``structured_data/structured_data_classification_from_scratch``: Normalization,
  StringLookup and IntegerLookup in the model, dict inputs, ``.keras`` round trip.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import lamina
from tests.helpers import keras_ref

# ----------------------------------------------------------------------------- helpers


def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    return "\n".join(lines)


def _copy_weights(ref, model):
    model.set_weights([np.asarray(w) for w in ref.get_weights()])


def _ford_a(n=24, steps=16, seed=0):
    """FordA-shaped stand-in: univariate series, labels 0/1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.linspace(0, 4 * np.pi, steps)
    x = np.sin(t[None, :] * (1 + y[:, None])) + 0.3 * rng.normal(size=(n, steps))
    return x.reshape((n, steps, 1)).astype("float32"), y


# ------------------------------------------------------- timeseries classification (FCN)


def _fcn(keras, input_shape, num_classes):
    input_layer = keras.layers.Input(input_shape)
    conv1 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)
    conv2 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)
    conv3 = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)
    gap = keras.layers.GlobalAveragePooling1D()(conv3)
    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


@pytest.mark.slow
def test_timeseries_classification_from_scratch(keras, tmp_path):
    x_train, y_train = _ford_a(40)
    x_test, y_test = _ford_a(10, seed=1)
    num_classes = len(np.unique(y_train))
    model = _fcn(lamina, x_train.shape[1:], num_classes)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])  # fmt: skip
    # the script's training, with its callbacks
    best = str(tmp_path / "best_model.keras")
    callbacks = [
        lamina.callbacks.ModelCheckpoint(best, save_best_only=True, monitor="val_loss"),
        lamina.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=1, min_lr=0.0001
        ),
        lamina.callbacks.EarlyStopping(monitor="val_loss", patience=3, verbose=0),
    ]
    history = model.fit(x_train, y_train, batch_size=8, epochs=2, callbacks=callbacks,
                        validation_split=0.2, verbose=0)  # fmt: skip
    # Keras 3 logs the learning rate ReduceLROnPlateau watches
    assert sorted(history.history) == [
        "learning_rate", "loss", "sparse_categorical_accuracy", "val_loss",
        "val_sparse_categorical_accuracy",
    ]  # fmt: skip
    assert len(history.history["sparse_categorical_accuracy"]) == 2
    model = lamina.models.load_model(best)
    # the best checkpoint: its loss on the validation split (the last 20%) is the lowest
    val_loss = model.evaluate(x_train[32:], y_train[32:], verbose=0)[0]
    np.testing.assert_allclose(val_loss, min(history.history["val_loss"]), rtol=1e-5)
    test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
    assert 0.0 <= test_acc <= 1.0 and np.isfinite(test_loss)
    # the reloaded best model predicts as Keras does on the same weights
    with keras_ref():
        ref = _fcn(keras, x_train.shape[1:], num_classes)
        ref.set_weights(model.get_weights())
        expected = ref.predict(x_test, verbose=0)
    np.testing.assert_allclose(model.predict(x_test, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_fcn_training_matches_keras(keras):
    x_train, y_train = _ford_a(16)
    with keras_ref():
        ref = _fcn(keras, x_train.shape[1:], 2)
        weights = [np.asarray(w) for w in ref.get_weights()]
        ref.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                    metrics=["sparse_categorical_accuracy"])  # fmt: skip
        expected = ref.fit(x_train, y_train, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = _fcn(lamina, x_train.shape[1:], 2)
    model.set_weights(weights)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])  # fmt: skip
    got = model.fit(x_train, y_train, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for key in ("loss", "sparse_categorical_accuracy"):
        np.testing.assert_allclose(got.history[key], expected.history[key], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------- timeseries classification (Transformer)


def _transformer(keras, input_shape, n_classes):
    layers = keras.layers

    def transformer_encoder(inputs, head_size, num_heads, ff_dim, dropout=0):
        # Attention and Normalization
        x = layers.MultiHeadAttention(key_dim=head_size, num_heads=num_heads, dropout=dropout)(
            inputs, inputs
        )
        x = layers.Dropout(dropout)(x)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
        res = x + inputs
        # Feed Forward Part
        x = layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
        x = layers.Dropout(dropout)(x)
        x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
        return x + res

    def build_model(input_shape, head_size, num_heads, ff_dim, num_transformer_blocks,
                    mlp_units, dropout=0, mlp_dropout=0):  # fmt: skip
        inputs = keras.Input(shape=input_shape)
        x = inputs
        for _ in range(num_transformer_blocks):
            x = transformer_encoder(x, head_size, num_heads, ff_dim, dropout)
        x = layers.GlobalAveragePooling1D(data_format="channels_first")(x)
        for dim in mlp_units:
            x = layers.Dense(dim, activation="relu")(x)
            x = layers.Dropout(mlp_dropout)(x)
        outputs = layers.Dense(n_classes, activation="softmax")(x)
        return keras.Model(inputs, outputs, name="ts_transformer")

    return build_model(input_shape, head_size=8, num_heads=2, ff_dim=4,
                       num_transformer_blocks=2, mlp_units=[16], mlp_dropout=0.4,
                       dropout=0.25)  # fmt: skip


def _summary_rows(text):
    """(type, connection count) per row of a summary table, names of auto-named ops dropped."""
    rows, current = [], None
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) != 4:
            continue
        if cells[1]:  # a new row (its output shape cell is filled)
            current = [cells[0], int(cells[3] not in ("", "-"))]
            rows.append(current)
        else:
            current[0] += cells[0]
            current[1] += int(cells[3] != "")
    return [(re.search(r"\((\w+)", name).group(1) if "(" in name else name, n) for name, n in rows]


def test_transformer_summary_names_ops_and_attention_inputs_as_keras(keras):
    x, _ = _ford_a(4)
    with keras_ref():
        expected = _summary_rows(_summary(_transformer(keras, x.shape[1:], 2)))
    got = _summary_rows(_summary(_transformer(lamina, x.shape[1:], 2)))
    assert got == expected
    assert ("Add", 2) in got and ("MultiHeadAttentio", 2) in got


@pytest.mark.slow
def test_plot_model_draws_residual_ops_as_keras(keras, tmp_path):
    """The FCN script calls ``plot_model``; a graph with ``x + inputs`` (the transformer's
    residuals) draws the op as a box (``add (Add)``), as Keras's ``model_to_dot`` does."""
    pytest.importorskip("pydot")

    def build(k):
        i = k.Input((4, 2), name="x")
        h = k.layers.Dense(2, name="d")(i)
        return k.Model(i, h + i, name="m")

    def drawn(dot):
        labels = sorted(re.sub(r"<b>add(_\d+)?</b>", "<b>add</b>", n.get_label())
                        for n in dot.get_nodes() if n.get_label())  # fmt: skip
        return labels, len(dot.get_edges())

    with keras_ref():
        expected = drawn(keras.utils.model_to_dot(build(keras), show_shapes=True))
    assert drawn(lamina.utils.model_to_dot(build(lamina), show_shapes=True)) == expected
    pytest.importorskip("matplotlib")
    to_file = tmp_path / "residual.png"
    lamina.utils.plot_model(build(lamina), to_file=str(to_file), show_shapes=True, dpi=50)
    assert to_file.stat().st_size > 0


@pytest.mark.slow
def test_transformer_classification_predicts_and_reloads_as_keras(keras, tmp_path):
    x_train, y_train = _ford_a(16)
    with keras_ref():
        ref = _transformer(keras, x_train.shape[1:], 2)
        expected = ref.predict(x_train, verbose=0)
    model = _transformer(lamina, x_train.shape[1:], 2)
    _copy_weights(ref, model)
    np.testing.assert_allclose(model.predict(x_train, verbose=0), expected, rtol=1e-5, atol=1e-6)
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=lamina.optimizers.Adam(learning_rate=1e-4),
                  metrics=["sparse_categorical_accuracy"])  # fmt: skip
    callbacks = [lamina.callbacks.EarlyStopping(patience=10, restore_best_weights=True)]
    model.fit(x_train, y_train, validation_split=0.25, epochs=1, batch_size=8,
              callbacks=callbacks, verbose=0)  # fmt: skip
    path = str(tmp_path / "transformer.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x_train, verbose=0), model.predict(x_train, verbose=0), rtol=1e-6
    )


# ----------------------------------------------------------------- anomaly detection


def _autoencoder(keras, time_steps):
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Input(shape=(time_steps, 1)),
            layers.Conv1D(filters=8, kernel_size=7, padding="same", strides=2,
                          activation="relu"),  # fmt: skip
            layers.Dropout(rate=0.2),
            layers.Conv1D(filters=4, kernel_size=7, padding="same", strides=2,
                          activation="relu"),  # fmt: skip
            layers.Conv1DTranspose(filters=4, kernel_size=7, padding="same", strides=2,
                                   activation="relu"),  # fmt: skip
            layers.Dropout(rate=0.2),
            layers.Conv1DTranspose(filters=8, kernel_size=7, padding="same", strides=2,
                                   activation="relu"),  # fmt: skip
            layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
        ]
    )


@pytest.mark.slow
def test_timeseries_anomaly_detection(keras, tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(200)
    df_small_noise = pd.DataFrame(
        {"value": np.sin(t / 10) * 20 + rng.normal(size=200)},
        index=pd.date_range("2014-04-01", periods=200, freq="5min"),
    )
    training_mean = df_small_noise.mean()
    training_std = df_small_noise.std()
    df_training_value = (df_small_noise - training_mean) / training_std
    time_steps = 24

    def create_sequences(values, time_steps=time_steps):
        output = []
        for i in range(len(values) - time_steps + 1):
            output.append(values[i : (i + time_steps)])
        return np.stack(output)

    x_train = create_sequences(df_training_value.values)
    with keras_ref():
        ref = _autoencoder(keras, time_steps)
        ref_pred = ref.predict(x_train, verbose=0)
    model = _autoencoder(lamina, time_steps)
    _copy_weights(ref, model)
    x_train_pred = model.predict(x_train, verbose=0)
    np.testing.assert_allclose(x_train_pred, ref_pred, rtol=1e-5, atol=1e-6)
    train_mae_loss = np.mean(np.abs(x_train_pred - x_train), axis=1)
    threshold = np.max(train_mae_loss)
    np.testing.assert_allclose(threshold, np.max(np.mean(np.abs(ref_pred - x_train), axis=1)),
                               rtol=1e-5)  # fmt: skip
    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=0.001), loss="mse")
    history = model.fit(
        x_train, x_train, epochs=1, batch_size=128, validation_split=0.1, verbose=0,
        callbacks=[lamina.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")],
    )  # fmt: skip
    assert sorted(history.history) == ["loss", "val_loss"]
    path = str(tmp_path / "autoencoder.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    x_test = create_sequences(df_training_value.values + (t[:, None] > 150) * 3.0)
    test_mae_loss = np.mean(np.abs(loaded.predict(x_test, verbose=0) - x_test), axis=1)
    want = np.mean(np.abs(model.predict(x_test, verbose=0) - x_test), axis=1)
    np.testing.assert_allclose(test_mae_loss, want, rtol=1e-6)
    anomalies = test_mae_loss.reshape(-1) > threshold
    assert anomalies.shape == (len(x_test),)


# ----------------------------------------------------------------- weather forecasting


def _windows(data, targets, sequence_length, sampling_rate, sequence_stride, batch_size):
    """Keras's documented windows: start i*stride, every ``sampling_rate``-th row."""
    span = (sequence_length - 1) * sampling_rate + 1
    starts = list(range(0, len(data) - span + 1, sequence_stride))
    if targets is not None:
        starts = [s for s in starts if s < len(targets)]
    xs = np.stack([data[s : s + span : sampling_rate] for s in starts])
    ys = None if targets is None else np.stack([targets[s] for s in starts])
    cuts = range(0, len(starts), batch_size)
    return [(xs[c : c + batch_size], None if ys is None else ys[c : c + batch_size]) for c in cuts]


@pytest.mark.parametrize("sequence_stride", [1, 3])
def test_timeseries_dataset_windows_match_keras_rules(sequence_stride):
    data = np.arange(300, dtype="float32").reshape(100, 3)
    targets = np.arange(100, dtype="float32")[:, None] * 10
    dataset = lamina.utils.timeseries_dataset_from_array(
        data, targets, sequence_length=5, sampling_rate=4, sequence_stride=sequence_stride,
        batch_size=16,
    )  # fmt: skip
    want = _windows(data, targets, 5, 4, sequence_stride, 16)
    got = [(np.asarray(x), np.asarray(y)) for x, y in dataset]
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


def _lstm_model(keras, shape):
    inputs = keras.layers.Input(shape=shape)
    lstm_out = keras.layers.LSTM(8)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)
    return keras.Model(inputs=inputs, outputs=outputs)


def test_timeseries_weather_forecasting(keras, tmp_path):
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(600, 7)).astype("float32"))
    split_fraction, step, past, future, batch_size = 0.715, 6, 60, 12, 16
    train_split = int(split_fraction * int(features.shape[0]))
    train_data = features.loc[0 : train_split - 1]
    val_data = features.loc[train_split:]
    start = past + future
    end = start + train_split
    x_train = train_data[[i for i in range(7)]].values
    y_train = features.iloc[start:end][[1]]
    sequence_length = int(past / step)
    dataset_train = lamina.utils.timeseries_dataset_from_array(
        x_train, y_train, sequence_length=sequence_length, sampling_rate=step,
        batch_size=batch_size,
    )  # fmt: skip
    x_end = len(val_data) - past - future
    label_start = train_split + past + future
    x_val = val_data.iloc[:x_end][[i for i in range(7)]].values
    y_val = features.iloc[label_start:][[1]]
    dataset_val = lamina.utils.timeseries_dataset_from_array(
        x_val, y_val, sequence_length=sequence_length, sampling_rate=step,
        batch_size=batch_size,
    )  # fmt: skip
    for batch in dataset_train.take(1):
        inputs, targets = batch
    assert inputs.numpy().shape == (batch_size, sequence_length, 7)
    assert targets.numpy().shape == (batch_size, 1)
    first = _windows(x_train, np.asarray(y_train), sequence_length, step, 1, batch_size)[0]
    np.testing.assert_array_equal(inputs.numpy(), first[0])
    np.testing.assert_array_equal(targets.numpy(), first[1])

    model = _lstm_model(lamina, (inputs.shape[1], inputs.shape[2]))
    with keras_ref():
        ref = _lstm_model(keras, (inputs.shape[1], inputs.shape[2]))
        expected = ref.predict(inputs.numpy(), verbose=0)
    _copy_weights(ref, model)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, rtol=1e-5, atol=1e-6)

    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=0.001), loss="mse")
    path_checkpoint = str(tmp_path / "model_checkpoint.weights.h5")
    es_callback = lamina.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
    modelckpt_callback = lamina.callbacks.ModelCheckpoint(
        monitor="val_loss", filepath=path_checkpoint, verbose=0, save_weights_only=True,
        save_best_only=True,
    )  # fmt: skip
    history = model.fit(dataset_train, epochs=2, validation_data=dataset_val,
                        callbacks=[es_callback, modelckpt_callback], verbose=0)  # fmt: skip
    assert len(history.history["loss"]) == len(history.history["val_loss"]) == 2
    for x, y in dataset_val.take(5):
        prediction = model.predict(x, verbose=0)[0]
        assert x[0][:, 1].numpy().shape == (sequence_length,) and y[0].numpy().shape == (1,)
        assert prediction.shape == (1,)
    model.load_weights(path_checkpoint)
    path = str(tmp_path / "weather.keras")
    model.save(path)
    np.testing.assert_allclose(
        lamina.models.load_model(path).predict(inputs, verbose=0),
        model.predict(inputs, verbose=0), rtol=1e-6,
    )  # fmt: skip


@pytest.mark.slow
def test_lstm_fit_on_timeseries_dataset_matches_keras_on_its_windows(keras):
    """``model.fit(dataset_train, validation_data=dataset_val)`` trains as Keras trains on
    the same windows (the dataset is not shuffled: Keras's batches, in order)."""
    rng = np.random.default_rng(1)
    data = rng.normal(size=(160, 3)).astype("float32")
    targets = rng.normal(size=(160, 1)).astype("float32")
    kwargs = dict(sequence_length=5, sampling_rate=3, sequence_stride=2, batch_size=16)
    train = lamina.utils.timeseries_dataset_from_array(data[:120], targets[12:132], **kwargs)
    val = lamina.utils.timeseries_dataset_from_array(data[120:], targets[132:], **kwargs)
    tx, ty = (np.concatenate(v) for v in zip(*_windows(data[:120], targets[12:132], 5, 3, 2, 16)))
    vx, vy = (np.concatenate(v) for v in zip(*_windows(data[120:], targets[132:], 5, 3, 2, 16)))
    with keras_ref():
        ref = _lstm_model(keras, (5, 3))
        weights = [np.asarray(w) for w in ref.get_weights()]
        ref.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
        expected = ref.fit(tx, ty, batch_size=16, epochs=2, shuffle=False,
                           validation_data=(vx, vy), verbose=0).history  # fmt: skip
    model = _lstm_model(lamina, (5, 3))
    model.set_weights(weights)
    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=0.001), loss="mse")
    got = model.fit(train, epochs=2, validation_data=val, verbose=0).history
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)


# ----------------------------------------------------------------- FeatureSpace


def _heart(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(29, 77, n), "sex": rng.integers(0, 2, n),
        "cp": rng.integers(0, 5, n), "trestbps": rng.integers(94, 200, n),
        "chol": rng.integers(126, 564, n), "fbs": rng.integers(0, 2, n),
        "restecg": rng.integers(0, 3, n), "thalach": rng.integers(71, 202, n),
        "exang": rng.integers(0, 2, n), "oldpeak": rng.uniform(0, 6, n).round(1),
        "slope": rng.integers(1, 4, n), "ca": rng.integers(0, 4, n),
        "thal": rng.choice(["fixed", "normal", "reversible"], n),
        "target": rng.integers(0, 2, n),
    })  # fmt: skip


def _split(dataframe):
    dataframe = dataframe.copy()
    labels = dataframe.pop("target")
    return {key: value.to_numpy() for key, value in dataframe.items()}, labels.to_numpy()


def test_model_on_inner_tensor_is_cloned_from_new_input_as_keras(keras, tmp_path):
    """``keras.Model(inputs=encoded_features, ...)``: Keras clones the graph from a new
    ``InputLayer`` named ``<tensor>CLONE``; fitting, the summary and saving all follow it."""

    def build(k):
        a, b = k.Input((3,), name="a"), k.Input((2,), name="b")
        joined = k.layers.Concatenate(name="joined")([a, b])
        y = k.layers.Dense(4, name="head")(joined) * 2.0 + joined[:, :1]
        return k.Model(inputs=joined, outputs=y), k.Model([a, b], y)

    x = np.arange(10, dtype="float32").reshape(2, 5)
    with keras_ref():
        ref, _ = build(keras)
        expected = ref.predict(x, verbose=0)
        ref_types = [type(layer).__name__ for layer in ref.layers]
    model, full = build(lamina)
    _copy_weights(ref, model)
    assert [type(layer).__name__ for layer in model.layers] == ref_types
    assert model.layers[0].name.endswith("CLONE") and model.inputs[0].shape == (None, 5)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)
    # the original graph is untouched and shares the weights
    np.testing.assert_allclose(full.predict([x[:, :3], x[:, 3:]], verbose=0), expected, rtol=1e-6)
    with keras_ref():
        ref_connected = "Connected to" in _summary(ref)
    assert ("Connected to" in _summary(model)) == ref_connected
    # a chain from the cut (its layers' calls in the full graph do not count), as Keras
    joined = full.get_layer("joined").output
    chain = lamina.Model(joined, lamina.layers.Dense(3)(full.get_layer("head").output))
    assert "Connected to" not in _summary(chain)
    assert [type(layer).__name__ for layer in chain.layers] == ["InputLayer", "Dense", "Dense"]
    model.compile("adam", "mse")
    model.fit(x, np.ones((2, 4)), verbose=0)
    path = str(tmp_path / "cut.keras")
    model.save(path)
    np.testing.assert_allclose(
        lamina.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0),
        rtol=1e-6,
    )  # fmt: skip
    with keras_ref():
        from_file = keras.models.load_model(path)
        np.testing.assert_allclose(
            np.asarray(from_file.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-5
        )


@pytest.mark.slow
def test_structured_data_classification_with_feature_space(tmp_path):
    FeatureSpace = lamina.utils.FeatureSpace  # noqa: N806 - the script's name
    csv = tmp_path / "heart.csv"
    _heart(120).to_csv(csv, index=False)
    dataframe = pd.read_csv(csv)
    val_dataframe = dataframe.sample(frac=0.2, random_state=1337)
    train_dataframe = dataframe.drop(val_dataframe.index)
    train_x, train_y = _split(train_dataframe)
    val_x, val_y = _split(val_dataframe)
    feature_space = FeatureSpace(
        features={
            "sex": FeatureSpace.integer_categorical(num_oov_indices=0),
            "cp": FeatureSpace.integer_categorical(num_oov_indices=0),
            "fbs": FeatureSpace.integer_categorical(num_oov_indices=0),
            "restecg": FeatureSpace.integer_categorical(num_oov_indices=0),
            "exang": FeatureSpace.integer_categorical(num_oov_indices=0),
            "ca": FeatureSpace.integer_categorical(num_oov_indices=0),
            "thal": FeatureSpace.string_categorical(num_oov_indices=0),
            "age": FeatureSpace.float_discretized(num_bins=30),
            "trestbps": FeatureSpace.float_normalized(),
            "chol": FeatureSpace.float_normalized(),
            "thalach": FeatureSpace.float_normalized(),
            "oldpeak": FeatureSpace.float_normalized(),
            "slope": FeatureSpace.float_normalized(),
        },
        crosses=[
            FeatureSpace.cross(feature_names=("sex", "age"), crossing_dim=64),
            FeatureSpace.cross(feature_names=("thal", "ca"), crossing_dim=16),
        ],
        output_mode="concat",
    )
    feature_space.adapt(train_x)
    preprocessed_x = feature_space({k: v[:32] for k, v in train_x.items()})
    assert preprocessed_x.shape[0] == 32 and preprocessed_x.dtype == "float32"

    dict_inputs = feature_space.get_inputs()
    encoded_features = feature_space.get_encoded_features()
    x = lamina.layers.Dense(32, activation="relu")(encoded_features)
    x = lamina.layers.Dropout(0.5)(x)
    predictions = lamina.layers.Dense(1, activation="sigmoid")(x)
    training_model = lamina.Model(inputs=encoded_features, outputs=predictions)
    training_model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    inference_model = lamina.Model(inputs=dict_inputs, outputs=predictions)
    training_model.fit(feature_space(train_x), train_y, epochs=2, verbose=0,
                       validation_data=(feature_space(val_x), val_y))  # fmt: skip

    sample = {
        "age": 60, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2,
        "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": 0, "thal": "fixed",
    }  # fmt: skip
    # keras.ops.convert_to_tensor(["fixed"]) fails on JAX (Keras too): NumPy arrays instead
    input_dict = {name: np.array([value]) for name, value in sample.items()}
    got = inference_model.predict(input_dict, verbose=0)
    want = training_model.predict(np.asarray(feature_space(sample))[None], verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    path = str(tmp_path / "inference.keras")
    inference_model.save(path)
    loaded = lamina.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(val_x, verbose=0),
                               inference_model.predict(val_x, verbose=0), rtol=1e-6)  # fmt: skip


# ----------------------------------------------------------------- imbalanced classification


def _fraud_run(keras, train, val, class_weight, callbacks=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input(shape=train[0].shape[1:]),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    metrics = [
        keras.metrics.FalseNegatives(name="fn"),
        keras.metrics.FalsePositives(name="fp"),
        keras.metrics.TrueNegatives(name="tn"),
        keras.metrics.TruePositives(name="tp"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
    ]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy",
                  metrics=metrics)  # fmt: skip
    history = model.fit(*train, batch_size=64, epochs=2, verbose=0, validation_data=val,
                        class_weight=class_weight, shuffle=False, callbacks=callbacks)  # fmt: skip
    return history.history


@pytest.mark.slow
def test_imbalanced_classification_matches_keras(keras, tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 30)).astype("float32")
    targets = (rng.uniform(size=(200, 1)) < 0.1).astype("uint8")
    num_val_samples = int(len(features) * 0.2)
    train_features, train_targets = features[:-num_val_samples], targets[:-num_val_samples]
    val_features, val_targets = features[-num_val_samples:], targets[-num_val_samples:]
    counts = np.bincount(train_targets[:, 0])
    class_weight = {0: 1.0 / counts[0], 1: 1.0 / counts[1]}
    mean = np.mean(train_features, axis=0)
    train_features -= mean
    val_features -= mean
    std = np.std(train_features, axis=0)
    train_features /= std
    val_features /= std
    train, val = (train_features, train_targets), (val_features, val_targets)
    with keras_ref():
        expected = _fraud_run(keras, train, val, class_weight)
    callbacks = [
        lamina.callbacks.ModelCheckpoint(str(tmp_path / "fraud_model_at_epoch_{epoch}.keras"))
    ]
    got = _fraud_run(lamina, train, val, class_weight, callbacks)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fraud_model_at_epoch_1.keras", "fraud_model_at_epoch_2.keras"
    ]  # fmt: skip
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)


# ----------------------------------------------------------------- collaborative filtering


def _recommender(keras, num_users=6, num_movies=9, embedding_size=4):
    class RecommenderNet(keras.Model):
        def __init__(self, num_users, num_movies, embedding_size, **kwargs):
            super().__init__(**kwargs)
            self.user_embedding = keras.layers.Embedding(
                num_users, embedding_size, embeddings_initializer="he_normal",
                embeddings_regularizer=keras.regularizers.l2(1e-6),
            )  # fmt: skip
            self.user_bias = keras.layers.Embedding(num_users, 1)
            self.movie_embedding = keras.layers.Embedding(
                num_movies, embedding_size, embeddings_initializer="he_normal",
                embeddings_regularizer=keras.regularizers.l2(1e-6),
            )  # fmt: skip
            self.movie_bias = keras.layers.Embedding(num_movies, 1)

        def call(self, inputs):
            user_vector = self.user_embedding(inputs[:, 0])
            user_bias = self.user_bias(inputs[:, 0])
            movie_vector = self.movie_embedding(inputs[:, 1])
            movie_bias = self.movie_bias(inputs[:, 1])
            dot_user_movie = keras.ops.tensordot(user_vector, movie_vector, 2)
            x = dot_user_movie + user_bias + movie_bias
            return keras.ops.nn.sigmoid(x)

    model = RecommenderNet(num_users, num_movies, embedding_size)
    model(np.zeros((1, 2), "int64"))
    return model


@pytest.mark.slow
def test_collaborative_filtering_training_matches_keras(keras):
    rng = np.random.default_rng(0)
    x = np.stack([rng.integers(0, 6, 40), rng.integers(0, 9, 40)], axis=1)
    y = rng.uniform(size=(40,)).astype("float32")  # ratings rescaled to [0, 1]
    x_train, x_val, y_train, y_val = x[:32], x[32:], y[:32], y[32:]

    def run(keras, model):
        model.compile(loss=keras.losses.BinaryCrossentropy(),
                      optimizer=keras.optimizers.Adam(learning_rate=0.001))  # fmt: skip
        history = model.fit(x=x_train, y=y_train, batch_size=8, epochs=2, verbose=0,
                            validation_data=(x_val, y_val), shuffle=False)  # fmt: skip
        return history.history, model.predict(x_val, verbose=0).flatten()

    with keras_ref():
        ref = _recommender(keras)
        weights = [np.asarray(w) for w in ref.get_weights()]
        expected, expected_ratings = run(keras, ref)
    model = _recommender(lamina)
    model.set_weights(weights)
    got, ratings = run(lamina, model)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ratings, expected_ratings, rtol=1e-4, atol=1e-6)


# ----------------------------------------------------------------- classification from scratch


@pytest.mark.slow
def test_structured_data_classification_from_scratch(keras, tmp_path):
    layers = lamina.layers
    dataframe = _heart(100)[["age", "sex", "cp", "thal", "oldpeak", "target"]]
    val_dataframe = dataframe.sample(frac=0.2, random_state=1337)
    train_dataframe = dataframe.drop(val_dataframe.index)
    train_x, train_y = _split(train_dataframe)
    val_x, val_y = _split(val_dataframe)
    train_x = {k: v[:, None] for k, v in train_x.items()}
    val_x = {k: v[:, None] for k, v in val_x.items()}

    def encode_numerical_feature(feature, name, data):
        normalizer = layers.Normalization()
        normalizer.adapt(data[name])
        return normalizer(feature)

    def encode_categorical_feature(feature, name, data, is_string):
        lookup_class = layers.StringLookup if is_string else layers.IntegerLookup
        lookup = lookup_class(output_mode="one_hot")
        lookup.adapt(data[name])
        return lookup(feature)

    sex = lamina.Input(shape=(1,), name="sex", dtype="int64")
    cp = lamina.Input(shape=(1,), name="cp", dtype="int64")
    thal = lamina.Input(shape=(1,), name="thal", dtype="string")
    age = lamina.Input(shape=(1,), name="age")
    oldpeak = lamina.Input(shape=(1,), name="oldpeak")
    all_inputs = [sex, cp, thal, age, oldpeak]
    sex_encoded = encode_categorical_feature(sex, "sex", train_x, False)
    cp_encoded = encode_categorical_feature(cp, "cp", train_x, False)
    thal_encoded = encode_categorical_feature(thal, "thal", train_x, True)
    age_encoded = encode_numerical_feature(age, "age", train_x)
    oldpeak_encoded = encode_numerical_feature(oldpeak, "oldpeak", train_x)
    all_features = layers.concatenate(
        [sex_encoded, cp_encoded, thal_encoded, age_encoded, oldpeak_encoded]
    )
    x = layers.Dense(32, activation="relu")(all_features)
    x = layers.Dropout(0.5)(x)
    output = layers.Dense(1, activation="sigmoid")(x)
    model = lamina.Model(all_inputs, output)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(train_x, train_y, epochs=2, batch_size=32, validation_data=(val_x, val_y),
              verbose=0)  # fmt: skip
    # the numeric encodings are Keras's Normalization
    with keras_ref():
        norm = keras.layers.Normalization()
        norm.adapt(train_x["age"])
        want_age = np.asarray(norm(val_x["age"]))
    probe = lamina.Model(all_inputs, age_encoded)
    np.testing.assert_allclose(probe.predict(val_x, verbose=0), want_age, rtol=1e-5, atol=1e-6)

    sample = {"age": 60, "sex": 1, "cp": 1, "thal": "fixed", "oldpeak": 2.3}
    input_dict = {name: np.array([value]) for name, value in sample.items()}
    predictions = model.predict(input_dict, verbose=0)
    assert predictions.shape == (1, 1) and 0.0 <= predictions[0][0] <= 1.0
    path = str(tmp_path / "from_scratch.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(val_x, verbose=0), model.predict(val_x, verbose=0),
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(loaded.predict(input_dict, verbose=0), predictions, rtol=1e-6)
