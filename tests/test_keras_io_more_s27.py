"""More keras.io examples (``keras-team/keras-io``, Keras 3 versions, backend-agnostic code:
``keras`` + ``keras.ops`` + NumPy) run under ``import lamina as keras`` on small stand-in data,
against real Keras (JAX backend).  After ``set_random_seed`` both build the same initial
weights, so the predictions are compared without copying weights.

* "Image classification with modern MLP models" (``vision/mlp_image_classification``): the
  MLP-Mixer, FNet (``ops.fft2``) and gMLP (``ops.split``) blocks in a ``Sequential`` of custom
  layers holding ``Sequential``s, behind a ``Normalization``/``Resizing``/``RandomFlip``/
  ``RandomZoom`` model, ``ops.image.extract_patches`` patches, ``AdamW``, top-5 accuracy,
  ``ReduceLROnPlateau`` + ``EarlyStopping(restore_best_weights=True)``;
* "Image classification with ConvMixer" (``vision/convmixer``): ``DepthwiseConv2D``,
  ``GlobalAvgPool2D``, ``ModelCheckpoint(save_weights_only=True)`` then ``load_weights``,
  ``layer.get_config()["kernel_size"] == (5, 5)``;
* "Image classification with EANet (External Attention Transformer)" (``vision/eanet``): the
  external attention made of ``ops`` on symbolic tensors and a ``Lambda``, ``CosineDecay``
  with a warmup, label smoothing; and its ``MultiHeadAttention`` variant, whose query, key and
  value kernels Keras draws from one clone of the initializer each (Lamina drew them all
  from one seed: three equal kernels after ``set_random_seed``);
* "Image classification with Perceiver" (``vision/perceiver_image_classification``): a
  subclassed model with a latent array made in ``build``, a functional cross-attention model
  with a dict of inputs fed a batch-1 latent array;
* "Classification using Attention-based Deep Multiple Instance Learning"
  (``vision/attention_mil_classification``): a layer returning a list, ``model.input`` as a
  list, ``class_weight``;
* "Simple MNIST convnet" (``vision/mnist_convnet``) and "Convolutional autoencoder for image
  denoising" (``vision/autoencoder``);
* "Point cloud classification with PointNet" (``vision/pointnet``): a ``Regularizer``
  subclass on a ``Dense`` kernel, ``Dot(axes=(2, 1))``;
* "Customizing the convolution operation of a Conv2D layer"
  (``keras_recipes/subclassing_conv_layers``): ``convolution_op`` overridden;
* "Next-frame prediction with Conv-LSTM" (``vision/conv_lstm``) and "3D image
  classification from CT scans" (``vision/3D_image_classification``), shrunk.
"""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _close(a, b, tol=2e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# --------------------------------------------------------------------------------------------
# vision/mlp_image_classification: MLP-Mixer, FNet, gMLP


def _mlp_models(keras, x_train):
    layers = keras.layers
    num_classes, image_size, patch_size, embedding_dim, dropout_rate = 5, 16, 4, 8, 0.2
    num_patches = (image_size // patch_size) ** 2
    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(image_size, image_size),
            layers.RandomFlip("horizontal"),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ],
        name="data_augmentation",
    )
    data_augmentation.layers[0].adapt(x_train)

    class Patches(layers.Layer):
        def __init__(self, patch_size, **kwargs):
            super().__init__(**kwargs)
            self.patch_size = patch_size

        def call(self, x):
            patches = keras.ops.image.extract_patches(x, self.patch_size)
            batch_size = keras.ops.shape(patches)[0]
            num_patches = keras.ops.shape(patches)[1] * keras.ops.shape(patches)[2]
            patch_dim = keras.ops.shape(patches)[3]
            return keras.ops.reshape(patches, (batch_size, num_patches, patch_dim))

    class MLPMixerLayer(layers.Layer):
        def __init__(self, num_patches, hidden_units, dropout_rate, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.mlp1 = keras.Sequential(
                [
                    layers.Dense(units=num_patches, activation="gelu"),
                    layers.Dense(units=num_patches),
                    layers.Dropout(rate=dropout_rate),
                ]
            )
            self.mlp2 = keras.Sequential(
                [
                    layers.Dense(units=num_patches, activation="gelu"),
                    layers.Dense(units=hidden_units),
                    layers.Dropout(rate=dropout_rate),
                ]
            )
            self.normalize = layers.LayerNormalization(epsilon=1e-6)

        def build(self, input_shape):
            return super().build(input_shape)

        def call(self, inputs):
            x = self.normalize(inputs)
            x_channels = keras.ops.transpose(x, axes=(0, 2, 1))
            mlp1_outputs = self.mlp1(x_channels)
            mlp1_outputs = keras.ops.transpose(mlp1_outputs, axes=(0, 2, 1))
            x = mlp1_outputs + inputs
            x_patches = self.normalize(x)
            mlp2_outputs = self.mlp2(x_patches)
            return x + mlp2_outputs

    class FNetLayer(layers.Layer):
        def __init__(self, embedding_dim, dropout_rate, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.ffn = keras.Sequential(
                [
                    layers.Dense(units=embedding_dim, activation="gelu"),
                    layers.Dropout(rate=dropout_rate),
                    layers.Dense(units=embedding_dim),
                ]
            )
            self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
            self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

        def call(self, inputs):
            real_part = inputs
            im_part = keras.ops.zeros_like(inputs)
            x = keras.ops.fft2((real_part, im_part))[0]
            x = x + inputs
            x = self.normalize1(x)
            x_ffn = self.ffn(x)
            x = x + x_ffn
            return self.normalize2(x)

    class gMLPLayer(layers.Layer):  # noqa: N801 - the example's name
        def __init__(self, num_patches, embedding_dim, dropout_rate, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.channel_projection1 = keras.Sequential(
                [
                    layers.Dense(units=embedding_dim * 2, activation="gelu"),
                    layers.Dropout(rate=dropout_rate),
                ]
            )
            self.channel_projection2 = layers.Dense(units=embedding_dim)
            self.spatial_projection = layers.Dense(units=num_patches, bias_initializer="Ones")
            self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
            self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

        def spatial_gating_unit(self, x):
            u, v = keras.ops.split(x, indices_or_sections=2, axis=2)
            v = self.normalize2(v)
            v_channels = keras.ops.transpose(v, axes=(0, 2, 1))
            v_projected = self.spatial_projection(v_channels)
            v_projected = keras.ops.transpose(v_projected, axes=(0, 2, 1))
            return u * v_projected

        def call(self, inputs):
            x = self.normalize1(inputs)
            x_projected = self.channel_projection1(x)
            x_spatial = self.spatial_gating_unit(x_projected)
            x_projected = self.channel_projection2(x_spatial)
            return x + x_projected

    def build_classifier(blocks, positional_encoding=False):
        inputs = layers.Input(shape=(16, 16, 3))
        augmented = data_augmentation(inputs)
        patches = Patches(patch_size)(augmented)
        x = layers.Dense(units=embedding_dim)(patches)
        if positional_encoding:
            positions = keras.ops.arange(start=0, stop=num_patches, step=1)
            x = x + layers.Embedding(input_dim=num_patches, output_dim=embedding_dim)(positions)
        x = blocks(x)
        representation = layers.GlobalAveragePooling1D()(x)
        representation = layers.Dropout(rate=dropout_rate)(representation)
        logits = layers.Dense(num_classes)(representation)
        return keras.Model(inputs=inputs, outputs=logits)

    return {
        "mixer": lambda: build_classifier(
            keras.Sequential(
                [MLPMixerLayer(num_patches, embedding_dim, dropout_rate) for _ in range(2)]
            )
        ),
        "fnet": lambda: build_classifier(
            keras.Sequential([FNetLayer(embedding_dim, dropout_rate) for _ in range(2)]),
            positional_encoding=True,
        ),
        "gmlp": lambda: build_classifier(
            keras.Sequential(
                [gMLPLayer(num_patches, embedding_dim, dropout_rate) for _ in range(2)]
            )
        ),
    }


def _run_mlp_experiment(keras, model, x, y):
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=0.005, weight_decay=0.0001),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc"),
        ],
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=5)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=10, restore_best_weights=True
    )
    history = model.fit(
        x=x, y=y, batch_size=8, epochs=1, validation_split=0.25,
        callbacks=[early_stopping, reduce_lr], verbose=0,
    )
    _, accuracy, top_5_accuracy = model.evaluate(x[:8], y[:8], verbose=0)
    return history, accuracy, top_5_accuracy


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mixer", "fnet", "gmlp"])
def test_mlp_image_classification_models_match_keras(keras, kind):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 5, (16, 1))
    lamina.utils.set_random_seed(1)
    model = _mlp_models(lamina, x)[kind]()
    with keras_ref():
        keras.utils.set_random_seed(1)
        ref = _mlp_models(keras, x)[kind]()
        expected = ref.predict(x[:4], verbose=0)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in ref.get_weights()]
    _close(model.predict(x[:4], verbose=0), expected, 1e-4)
    history, accuracy, top5 = _run_mlp_experiment(lamina, model, x, y)
    assert set(history.history) == {"loss", "acc", "top5-acc", "val_loss", "val_acc",
                                    "val_top5-acc", "learning_rate"}
    assert np.isfinite(history.history["loss"][0]) and 0 <= accuracy <= top5 <= 1


# --------------------------------------------------------------------------------------------
# vision/convmixer


def _conv_mixer(keras, image_size=8, filters=8, depth=2, kernel_size=5, patch_size=2):
    layers = keras.layers

    def activation_block(x):
        x = layers.Activation("gelu")(x)
        return layers.BatchNormalization()(x)

    def conv_stem(x, filters, patch_size):
        x = layers.Conv2D(filters, kernel_size=patch_size, strides=patch_size)(x)
        return activation_block(x)

    def conv_mixer_block(x, filters, kernel_size):
        x0 = x
        x = layers.DepthwiseConv2D(kernel_size=kernel_size, padding="same")(x)
        x = layers.Add()([activation_block(x), x0])
        x = layers.Conv2D(filters, kernel_size=1)(x)
        return activation_block(x)

    inputs = keras.Input((image_size, image_size, 3))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)
    x = conv_stem(x, filters, patch_size)
    for _ in range(depth):
        x = conv_mixer_block(x, filters, kernel_size)
    x = layers.GlobalAvgPool2D()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _convmixer_run(keras, path, x, y):
    keras.utils.set_random_seed(1)
    model = _conv_mixer(keras)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    checkpoint = keras.callbacks.ModelCheckpoint(
        path, monitor="val_accuracy", save_best_only=True, save_weights_only=True
    )
    history = model.fit(
        x, y, validation_data=(x[:4], y[:4]), epochs=2, batch_size=8,
        callbacks=[checkpoint], verbose=0, shuffle=False,
    )
    model.load_weights(path)
    found = [
        i for i, layer in enumerate(model.layers)
        if isinstance(layer, keras.layers.DepthwiseConv2D)
        and layer.get_config()["kernel_size"] == (5, 5)
    ]
    return history.history, model.predict(x, verbose=0), found, model.layers[2].get_weights()


@pytest.mark.slow
def test_convmixer_trains_checkpoints_and_reloads_as_keras(keras, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 10, (16, 1))
    ours = _convmixer_run(lamina, str(tmp_path / "a.weights.h5"), x, y)
    with keras_ref():
        ref = _convmixer_run(keras, str(tmp_path / "b.weights.h5"), x, y)
    for key in ref[0]:
        _close(ours[0][key], ref[0][key], 1e-4)
    _close(ours[1], ref[1], 1e-4)
    assert ours[2] == ref[2] == [5, 12]
    assert [w.shape for w in ours[3]] == [(2, 2, 3, 8), (8,)]


# --------------------------------------------------------------------------------------------
# vision/eanet


def _eanet(keras, x, attention_type):
    layers, ops = keras.layers, keras.ops
    patch_size, num_patches, embedding_dim, mlp_dim, num_heads, dim_coefficient = 2, 16, 8, 16, 2, 2

    class PatchExtract(layers.Layer):
        def __init__(self, patch_size, **kwargs):
            super().__init__(**kwargs)
            self.patch_size = patch_size

        def call(self, x):
            B, C = ops.shape(x)[0], ops.shape(x)[-1]  # noqa: N806 - the example's names
            x = ops.image.extract_patches(x, self.patch_size)
            return ops.reshape(x, (B, -1, self.patch_size * self.patch_size * C))

    class PatchEmbedding(layers.Layer):
        def __init__(self, num_patch, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.num_patch = num_patch
            self.proj = layers.Dense(embed_dim)
            self.pos_embed = layers.Embedding(input_dim=num_patch, output_dim=embed_dim)

        def call(self, patch):
            pos = ops.arange(start=0, stop=self.num_patch, step=1)
            return self.proj(patch) + self.pos_embed(pos)

    def external_attention(x, dim, num_heads, dim_coefficient=4, attention_dropout=0,
                           projection_dropout=0):
        _, num_patch, channel = x.shape
        num_heads = num_heads * dim_coefficient
        x = layers.Dense(dim * dim_coefficient)(x)
        x = ops.reshape(x, (-1, num_patch, num_heads, dim * dim_coefficient // num_heads))
        x = ops.transpose(x, axes=[0, 2, 1, 3])
        attn = layers.Dense(dim // dim_coefficient)(x)
        attn = layers.Softmax(axis=2)(attn)
        attn = layers.Lambda(
            lambda attn: ops.divide(
                attn, ops.convert_to_tensor(1e-9) + ops.sum(attn, axis=-1, keepdims=True)
            )
        )(attn)
        attn = layers.Dropout(attention_dropout)(attn)
        x = layers.Dense(dim * dim_coefficient // num_heads)(attn)
        x = ops.transpose(x, axes=[0, 2, 1, 3])
        x = ops.reshape(x, [-1, num_patch, dim * dim_coefficient])
        x = layers.Dense(dim)(x)
        return layers.Dropout(projection_dropout)(x)

    def mlp(x, embedding_dim, mlp_dim, drop_rate=0.2):
        x = layers.Dense(mlp_dim, activation=ops.gelu)(x)
        x = layers.Dropout(drop_rate)(x)
        x = layers.Dense(embedding_dim)(x)
        return layers.Dropout(drop_rate)(x)

    def transformer_encoder(x, attention_type):
        residual_1 = x
        x = layers.LayerNormalization(epsilon=1e-5)(x)
        if attention_type == "external_attention":
            x = external_attention(x, embedding_dim, num_heads, dim_coefficient, 0.1, 0.1)
        else:
            x = layers.MultiHeadAttention(
                num_heads=num_heads, key_dim=embedding_dim, dropout=0.1
            )(x, x)
        x = layers.add([x, residual_1])
        residual_2 = x
        x = layers.LayerNormalization(epsilon=1e-5)(x)
        x = mlp(x, embedding_dim, mlp_dim)
        return layers.add([x, residual_2])

    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(factor=0.1),
            layers.RandomContrast(factor=0.1),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ],
        name="data_augmentation",
    )
    data_augmentation.layers[0].adapt(x)
    inputs = layers.Input(shape=(8, 8, 3))
    h = data_augmentation(inputs)
    h = PatchExtract(patch_size)(h)
    h = PatchEmbedding(num_patches, embedding_dim)(h)
    for _ in range(2):
        h = transformer_encoder(h, attention_type)
    h = layers.GlobalAveragePooling1D()(h)
    outputs = layers.Dense(4, activation="softmax")(h)
    return keras.Model(inputs=inputs, outputs=outputs)


def _eanet_compile(keras, model):
    total_steps, warmup_steps = 4, 2
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-4, decay_steps=total_steps - warmup_steps, warmup_target=1e-3,
        warmup_steps=warmup_steps,
    )
    model.compile(
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(3, name="top-5-accuracy"),
        ],
    )


@pytest.mark.slow
@pytest.mark.parametrize("attention_type", ["external_attention", "self_attention"])
def test_eanet_predicts_as_keras_from_the_same_seed_and_trains(keras, attention_type):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 8, 8, 3)).astype("float32")
    y = lamina.utils.to_categorical(rng.integers(0, 4, 16), 4)
    lamina.utils.set_random_seed(1)
    model = _eanet(lamina, x, attention_type)
    with keras_ref():
        keras.utils.set_random_seed(1)
        ref = _eanet(keras, x, attention_type)
        expected = ref.predict(x, verbose=0)
    _close(model.predict(x, verbose=0), expected, 1e-4)
    _eanet_compile(lamina, model)
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25, verbose=0)
    assert np.all(np.isfinite(history.history["val_loss"]))
    assert 0 <= history.history["top-5-accuracy"][-1] <= 1


def test_attention_projections_draw_keras_seeds_after_set_random_seed(keras):
    def build(K):
        K.utils.set_random_seed(1)
        i = K.layers.Input((6, 8))
        x = K.layers.LayerNormalization()(i)
        x = K.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(x, x)
        x = K.layers.Dense(3)(x)  # built after the attention: draws the seed after Keras's
        return K.Model(i, x)

    model = build(lamina)
    with keras_ref():
        ref = build(keras)
    weights = model.get_weights()
    assert np.abs(weights[2] - weights[4]).max() > 0.05  # query and key kernels differ
    for ours, theirs in zip(weights, ref.get_weights(), strict=True):
        _close(ours, theirs, 1e-6)


def test_attention_in_a_custom_layer_draws_its_seeds_where_keras_builds_it(keras):
    def build(K):
        class TransformerBlock(K.layers.Layer):
            def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
                super().__init__()
                self.att = K.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
                self.ffn = K.Sequential(
                    [K.layers.Dense(ff_dim, activation="relu"), K.layers.Dense(embed_dim)]
                )
                self.layernorm1 = K.layers.LayerNormalization(epsilon=1e-6)
                self.dropout1 = K.layers.Dropout(rate)

            def call(self, inputs):
                attn_output = self.dropout1(self.att(inputs, inputs))
                out1 = self.layernorm1(inputs + attn_output)
                return out1 + self.ffn(out1)

        K.utils.set_random_seed(3)
        i = K.layers.Input((5, 4))
        return K.Model(i, TransformerBlock(4, 2, 6)(i))

    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    model = build(lamina)
    with keras_ref():
        ref = build(keras)
        expected = ref.predict(x, verbose=0)
    _close(model.predict(x, verbose=0), expected, 1e-5)


# --------------------------------------------------------------------------------------------
# vision/perceiver_image_classification


def perceiver(keras, x):
    layers, ops, activations = keras.layers, keras.ops, keras.activations
    data_augmentation = keras.Sequential([layers.Normalization(), layers.Resizing(8, 8),
        layers.RandomFlip("horizontal"), layers.RandomZoom(height_factor=0.2, width_factor=0.2)], name="data_augmentation")
    data_augmentation.layers[0].adapt(x)

    def create_ffn(hidden_units, dropout_rate):
        ffn_layers = []
        for units in hidden_units[:-1]:
            ffn_layers.append(layers.Dense(units, activation=activations.gelu))
        ffn_layers.append(layers.Dense(units=hidden_units[-1]))
        ffn_layers.append(layers.Dropout(dropout_rate))
        return keras.Sequential(ffn_layers)

    class Patches(layers.Layer):
        def __init__(self, patch_size):
            super().__init__()
            self.patch_size = patch_size

        def call(self, images):
            batch_size = ops.shape(images)[0]
            patches = ops.image.extract_patches(images=images, size=(self.patch_size, self.patch_size),
                strides=(self.patch_size, self.patch_size), dilation_rate=1, padding="valid")
            patch_dims = patches.shape[-1]
            return ops.reshape(patches, [batch_size, -1, patch_dims])

    class PatchEncoder(layers.Layer):
        def __init__(self, num_patches, projection_dim):
            super().__init__()
            self.num_patches = num_patches
            self.projection = layers.Dense(units=projection_dim)
            self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

        def call(self, patches):
            positions = ops.arange(start=0, stop=self.num_patches, step=1)
            return self.projection(patches) + self.position_embedding(positions)

    def create_cross_attention_module(latent_dim, data_dim, projection_dim, ffn_units, dropout_rate):
        inputs = {
            "latent_array": layers.Input(shape=(latent_dim, projection_dim), name="latent_array"),
            "data_array": layers.Input(shape=(data_dim, projection_dim), name="data_array"),
        }
        latent_array = layers.LayerNormalization(epsilon=1e-6)(inputs["latent_array"])
        data_array = layers.LayerNormalization(epsilon=1e-6)(inputs["data_array"])
        query = layers.Dense(units=projection_dim)(latent_array)
        key = layers.Dense(units=projection_dim)(data_array)
        value = layers.Dense(units=projection_dim)(data_array)
        attention_output = layers.Attention(use_scale=True, dropout=0.1)([query, key, value], return_attention_scores=False)
        attention_output = layers.Add()([attention_output, latent_array])
        attention_output = layers.LayerNormalization(epsilon=1e-6)(attention_output)
        ffn = create_ffn(hidden_units=ffn_units, dropout_rate=dropout_rate)
        outputs = ffn(attention_output)
        outputs = layers.Add()([outputs, attention_output])
        return keras.Model(inputs=inputs, outputs=outputs)

    def create_transformer_module(latent_dim, projection_dim, num_heads, num_transformer_blocks, ffn_units, dropout_rate):
        inputs = layers.Input(shape=(latent_dim, projection_dim))
        x0 = inputs
        for _ in range(num_transformer_blocks):
            x1 = layers.LayerNormalization(epsilon=1e-6)(x0)
            attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=projection_dim, dropout=0.1)(x1, x1)
            x2 = layers.Add()([attention_output, x0])
            x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
            ffn = create_ffn(hidden_units=ffn_units, dropout_rate=dropout_rate)
            x3 = ffn(x3)
            x0 = layers.Add()([x3, x2])
        return keras.Model(inputs=inputs, outputs=x0)

    class Perceiver(keras.Model):
        def __init__(self, patch_size, data_dim, latent_dim, projection_dim, num_heads,
                     num_transformer_blocks, ffn_units, dropout_rate, num_iterations, classifier_units):
            super().__init__()
            self.latent_dim = latent_dim
            self.data_dim = data_dim
            self.patch_size = patch_size
            self.projection_dim = projection_dim
            self.num_heads = num_heads
            self.num_transformer_blocks = num_transformer_blocks
            self.ffn_units = ffn_units
            self.dropout_rate = dropout_rate
            self.num_iterations = num_iterations
            self.classifier_units = classifier_units

        def build(self, input_shape):
            self.latent_array = self.add_weight(shape=(self.latent_dim, self.projection_dim),
                initializer="random_normal", trainable=True)
            self.patcher = Patches(self.patch_size)
            self.patch_encoder = PatchEncoder(self.data_dim, self.projection_dim)
            self.cross_attention = create_cross_attention_module(self.latent_dim, self.data_dim,
                self.projection_dim, self.ffn_units, self.dropout_rate)
            self.transformer = create_transformer_module(self.latent_dim, self.projection_dim,
                self.num_heads, self.num_transformer_blocks, self.ffn_units, self.dropout_rate)
            self.global_average_pooling = layers.GlobalAveragePooling1D()
            self.classification_head = create_ffn(hidden_units=self.classifier_units, dropout_rate=self.dropout_rate)
            super().build(input_shape)

        def call(self, inputs):
            augmented = data_augmentation(inputs)
            patches = self.patcher(augmented)
            encoded_patches = self.patch_encoder(patches)
            cross_attention_inputs = {
                "latent_array": ops.expand_dims(self.latent_array, 0),
                "data_array": encoded_patches,
            }
            for _ in range(self.num_iterations):
                latent_array = self.cross_attention(cross_attention_inputs)
                latent_array = self.transformer(latent_array)
                cross_attention_inputs["latent_array"] = latent_array
            representation = self.global_average_pooling(latent_array)
            return self.classification_head(representation)

    return Perceiver(2, 16, 4, 8, 2, 1, [8, 8], 0.2, 2, [8, 5])


@pytest.mark.slow
def test_perceiver_modules_match_keras_and_the_model_trains(keras):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 5, (16, 1))
    lamina.utils.set_random_seed(2)
    model = perceiver(lamina, x)
    model.build((None, 8, 8, 3))
    latent = rng.normal(size=(1, 4, 8)).astype("float32")  # the latent array: batch 1
    data = rng.normal(size=(3, 16, 8)).astype("float32")
    with keras_ref():
        keras.utils.set_random_seed(2)
        ref = perceiver(keras, x)
        ref.build((None, 8, 8, 3))
        ref.predict(x[:2], verbose=0)  # builds the classification head
        cross = np.asarray(ref.cross_attention({"latent_array": latent, "data_array": data}))
        trans = np.asarray(ref.transformer(cross))
        patches = np.asarray(ref.patch_encoder(ref.patcher(x[:3])))
    for ours, theirs in zip(model.get_weights(), ref.get_weights(), strict=True):
        _close(ours, theirs, 1e-6)  # the same initial weights, in Keras's order
    ours = model.cross_attention({"latent_array": latent, "data_array": data})
    _close(ours, cross, 1e-5)
    _close(model.transformer(cross), trans, 1e-5)
    _close(model.patch_encoder(model.patcher(x[:3])), patches, 1e-5)
    model.compile(
        optimizer=lamina.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001),
        loss=lamina.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[lamina.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc")],
    )
    history = model.fit(x, y, batch_size=8, epochs=1, validation_split=0.25, verbose=0)
    assert np.isfinite(history.history["val_loss"][0])
    assert model.predict(x, verbose=0).shape == (16, 5)


def test_untracked_sequential_first_called_inside_a_models_call_keeps_concrete_weights():
    # Perceiver's ``data_augmentation`` is a global ``Sequential``, adapted but never built,
    # that the subclassed model's ``call`` runs: it is built inside the model's trace.
    layers = lamina.layers
    x = np.random.default_rng(0).normal(size=(4, 4, 4, 3)).astype("float32")
    augmentation = lamina.Sequential([layers.Normalization(), layers.Dropout(0.5)])
    augmentation.layers[0].adapt(x)

    class Classifier(lamina.Model):
        def build(self, input_shape):
            self.dense = layers.Dense(2)
            super().build(input_shape)

        def call(self, inputs):
            return self.dense(augmentation(inputs))

    model = Classifier()
    model.build((None, 4, 4, 3))
    out = model.predict(x, verbose=0)
    normalized = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)))
    kernel, bias = model.get_weights()
    _close(out, normalized @ kernel + bias, 1e-4)


# --------------------------------------------------------------------------------------------
# vision/attention_mil_classification


def mil(keras):
    layers, ops = keras.layers, keras.ops

    class MILAttentionLayer(layers.Layer):
        def __init__(self, weight_params_dim, kernel_initializer="glorot_uniform", kernel_regularizer=None,
                     use_gated=False, **kwargs):
            super().__init__(**kwargs)
            self.weight_params_dim = weight_params_dim
            self.use_gated = use_gated
            self.kernel_initializer = keras.initializers.get(kernel_initializer)
            self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
            self.v_init = self.kernel_initializer
            self.w_init = self.kernel_initializer
            self.u_init = self.kernel_initializer
            self.v_regularizer = self.kernel_regularizer
            self.w_regularizer = self.kernel_regularizer
            self.u_regularizer = self.kernel_regularizer

        def build(self, input_shape):
            input_dim = input_shape[0][1]
            self.v_weight_params = self.add_weight(shape=(input_dim, self.weight_params_dim),
                initializer=self.v_init, name="v", regularizer=self.v_regularizer, trainable=True)
            self.w_weight_params = self.add_weight(shape=(self.weight_params_dim, 1),
                initializer=self.w_init, name="w", regularizer=self.w_regularizer, trainable=True)
            if self.use_gated:
                self.u_weight_params = self.add_weight(shape=(input_dim, self.weight_params_dim),
                    initializer=self.u_init, name="u", regularizer=self.u_regularizer, trainable=True)
            else:
                self.u_weight_params = None
            self.input_built = True

        def call(self, inputs):
            instances = [self.compute_attention_scores(instance) for instance in inputs]
            instances = ops.stack(instances)
            alpha = ops.softmax(instances, axis=0)
            return [alpha[i] for i in range(alpha.shape[0])]

        def compute_attention_scores(self, instance):
            original_instance = instance
            instance = ops.tanh(ops.tensordot(instance, self.v_weight_params, axes=1))
            if self.use_gated:
                instance = instance * ops.sigmoid(ops.tensordot(original_instance, self.u_weight_params, axes=1))
            return ops.tensordot(instance, self.w_weight_params, axes=1)

    inputs, embeddings = [], []
    shared_dense_layer_1 = layers.Dense(16, activation="relu")
    shared_dense_layer_2 = layers.Dense(8, activation="relu")
    for _ in range(3):
        inp = layers.Input((6, 6))
        flatten = layers.Flatten()(inp)
        dense_1 = shared_dense_layer_1(flatten)
        dense_2 = shared_dense_layer_2(dense_1)
        inputs.append(inp)
        embeddings.append(dense_2)
    alpha = MILAttentionLayer(weight_params_dim=12, kernel_regularizer=keras.regularizers.L2(0.01),
                              use_gated=True, name="alpha")(embeddings)
    multiply_layers = [layers.multiply([alpha[i], embeddings[i]]) for i in range(len(alpha))]
    concat = layers.concatenate(multiply_layers, axis=1)
    output = layers.Dense(2, activation="softmax")(concat)
    return keras.Model(inputs, output)


def _mil_run(keras, data, labels, path):
    keras.utils.set_random_seed(3)
    model = mil(keras)

    def compute_class_weights(labels):
        negative_count = len(np.where(labels == 0)[0])
        positive_count = len(np.where(labels == 1)[0])
        total_count = negative_count + positive_count
        return {
            0: (1 / negative_count) * (total_count / 2),
            1: (1 / positive_count) * (total_count / 2),
        }

    model_checkpoint = keras.callbacks.ModelCheckpoint(
        path, monitor="val_loss", verbose=0, mode="min", save_best_only=True,
        save_weights_only=True,
    )
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, mode="min")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        data, labels, validation_data=(data, labels), epochs=2,
        class_weight=compute_class_weights(labels), batch_size=1,
        callbacks=[early_stopping, model_checkpoint], verbose=0, shuffle=False,
    )
    model.load_weights(path)
    intermediate_model = keras.Model(model.input, model.get_layer("alpha").output)
    intermediate_predictions = intermediate_model.predict(data, verbose=0)
    attention_weights = np.squeeze(np.swapaxes(intermediate_predictions, 1, 0))
    return history.history, attention_weights, model.predict(data, verbose=0), len(model.losses)


@pytest.mark.slow
def test_attention_mil_trains_with_class_weights_as_keras(keras, tmp_path):
    rng = np.random.default_rng(0)
    data = [rng.normal(size=(8, 6, 6)).astype("float32") for _ in range(3)]
    labels = rng.integers(0, 2, 8)
    ours = _mil_run(lamina, data, labels, str(tmp_path / "a.weights.h5"))
    with keras_ref():
        ref = _mil_run(keras, data, labels, str(tmp_path / "b.weights.h5"))
    for key in ref[0]:
        _close(ours[0][key], ref[0][key], 1e-4)
    assert ours[1].shape == (8, 3)
    _close(ours[1], ref[1], 1e-5)
    _close(ours[2], ref[2], 1e-5)
    assert ours[3] == ref[3] == 3  # the three regularized attention weights


# --------------------------------------------------------------------------------------------
# vision/mnist_convnet, vision/autoencoder, vision/pointnet, keras_recipes/subclassing_conv_layers,
# vision/conv_lstm, vision/3D_image_classification (shrunk)



def mnist_convnet(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(12, 12, 1)),
        layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def denoising_autoencoder(keras):
    layers = keras.layers
    input = layers.Input(shape=(8, 8, 1))
    x = layers.Conv2D(4, (3, 3), activation="relu", padding="same")(input)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(4, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2DTranspose(4, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(4, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = keras.Model(input, x)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def pointnet(keras, num_points=8, num_classes=3):
    layers, ops = keras.layers, keras.ops

    def conv_bn(x, filters):
        x = layers.Conv1D(filters, kernel_size=1, padding="valid")(x)
        x = layers.BatchNormalization(momentum=0.0)(x)
        return layers.Activation("relu")(x)

    def dense_bn(x, filters):
        x = layers.Dense(filters)(x)
        x = layers.BatchNormalization(momentum=0.0)(x)
        return layers.Activation("relu")(x)

    class OrthogonalRegularizer(keras.regularizers.Regularizer):
        def __init__(self, num_features, l2reg=0.001):
            self.num_features = num_features
            self.l2reg = l2reg
            self.eye = ops.eye(num_features)

        def __call__(self, x):
            x = ops.reshape(x, (-1, self.num_features, self.num_features))
            xxt = ops.tensordot(x, x, axes=(2, 2))
            xxt = ops.reshape(xxt, (-1, self.num_features, self.num_features))
            return ops.sum(self.l2reg * ops.square(xxt - self.eye))

        def get_config(self):
            config = super().get_config()
            config.update({"num_features": self.num_features, "l2reg_strength": self.l2reg})
            return config

    def tnet(inputs, num_features):
        bias = keras.initializers.Constant(np.eye(num_features).flatten())
        reg = OrthogonalRegularizer(num_features)
        x = conv_bn(inputs, 4)
        x = conv_bn(x, 8)
        x = layers.GlobalMaxPooling1D()(x)
        x = dense_bn(x, 8)
        x = layers.Dense(num_features * num_features, kernel_initializer="zeros",
                         bias_initializer=bias, activity_regularizer=reg)(x)
        feat_T = layers.Reshape((num_features, num_features))(x)
        return layers.Dot(axes=(2, 1))([inputs, feat_T])

    inputs = keras.Input(shape=(num_points, 3))
    x = tnet(inputs, 3)
    x = conv_bn(x, 4)
    x = conv_bn(x, 4)
    x = tnet(x, 4)
    x = conv_bn(x, 4)
    x = layers.GlobalMaxPooling1D()(x)
    x = dense_bn(x, 8)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="pointnet")


def standardized_conv(keras, keras_variant=False):
    ops = keras.ops

    class StandardizedConv2DWithOverride(keras.layers.Conv2D):
        def convolution_op(self, inputs, kernel):
            kernel = ops.convert_to_tensor(kernel) if keras_variant else kernel
            mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
            return ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-10),
                            padding="valid", strides=list(self.strides), dilation_rate=list(self.dilation_rate))

    class StandardizedConv2DWithCall(keras.layers.Conv2D):
        def call(self, inputs):
            kernel = ops.convert_to_tensor(self.kernel) if keras_variant else self.kernel
            mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
            result = ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-10),
                              padding="valid", strides=list(self.strides), dilation_rate=list(self.dilation_rate))
            if self.use_bias:
                result = result + self.bias
            return result

    layers = keras.layers
    return keras.Sequential([
        keras.layers.Input(shape=(10, 10, 1)),
        StandardizedConv2DWithCall(4, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        StandardizedConv2DWithOverride(6, kernel_size=(3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def conv_lstm(keras):
    layers = keras.layers
    inp = layers.Input(shape=(None, 6, 6, 1))
    x = layers.ConvLSTM2D(filters=4, kernel_size=(3, 3), padding="same", return_sequences=True, activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(filters=4, kernel_size=(1, 1), padding="same", return_sequences=True, activation="relu")(x)
    x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
    model = keras.models.Model(inp, x)
    model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam())
    return model


def ct_3d(keras, width=8, height=8, depth=8):
    layers = keras.layers
    inputs = keras.Input((width, height, depth, 1))
    x = layers.Conv3D(filters=4, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPool3D(pool_size=2)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv3D(filters=4, kernel_size=1, activation="relu")(x)
    x = layers.GlobalAveragePooling3D()(x)
    x = layers.Dense(units=8, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(units=1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="3dcnn")
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(0.0001, decay_steps=100000, decay_rate=0.96, staircase=True)
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=lr_schedule), metrics=["acc"])
    return model


def _fit_like_keras(keras, build, x, y, loss=None, keras_variant=False, optimizer="adam"):
    def run(K, **kwargs):
        K.utils.set_random_seed(4)
        model = build(K, **kwargs)
        if loss:
            model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        before = model.predict(x, verbose=0)
        history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        return before, history.history, model.predict(x, verbose=0)

    ours = run(lamina)
    with keras_ref():
        ref = run(keras, **({"keras_variant": True} if keras_variant else {}))
    _close(ours[0], ref[0], 1e-5)
    for key in ref[1]:
        _close(ours[1][key], ref[1][key], 1e-4)
    return ours, ref


@pytest.mark.slow
def test_mnist_convnet_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, 12, 12, 1)).astype("float32")
    y = lamina.utils.to_categorical(rng.integers(0, 10, 16), 10)
    ours, ref = _fit_like_keras(keras, mnist_convnet, x, y, "categorical_crossentropy")
    _close(ours[2], ref[2], 1e-5)


@pytest.mark.slow
def test_denoising_autoencoder_trains_as_keras(keras):
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype("float32")
    ours, ref = _fit_like_keras(keras, denoising_autoencoder, x, x)
    _close(ours[2], ref[2], 1e-5)


@pytest.mark.slow
def test_pointnet_with_orthogonal_regularizer_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8, 3)).astype("float32")
    y = rng.integers(0, 3, 16)
    # SGD rather than the script's Adam: the T-nets' zero-initialized kernels get gradients
    # near zero, which Adam scales up to unit steps, so float rounding would decide them.
    # The regularizer subtracts a (3, 3) identity from (n, 3, 3) products: NumPy broadcasting,
    # which these tests otherwise forbid.
    with jax.numpy_rank_promotion("allow"):
        ours, ref = _fit_like_keras(keras, pointnet, x, y, "sparse_categorical_crossentropy",
                                    optimizer="sgd")
    _close(ours[2], ref[2], 1e-5)


@pytest.mark.slow
def test_standardized_conv_overriding_convolution_op_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, 10, 10, 1)).astype("float32")
    y = rng.integers(0, 10, 16)
    # Keras 3.15 on this JAX refuses ``ops.moments`` of the Variable ``self.kernel`` (its
    # ``__jax_array__``): its reference reads the kernel through ``convert_to_tensor``.
    ours, ref = _fit_like_keras(keras, standardized_conv, x, y, "sparse_categorical_crossentropy",
                                keras_variant=True)
    _close(ours[2], ref[2], 1e-5)


@pytest.mark.slow
def test_conv_lstm_next_frame_model_trains_as_keras(keras):
    x = np.random.default_rng(0).uniform(0, 1, (8, 3, 6, 6, 1)).astype("float32")
    ours, ref = _fit_like_keras(keras, conv_lstm, x, x)
    _close(ours[2], ref[2], 1e-5)


@pytest.mark.slow
def test_3d_ct_scan_classifier_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, 8, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 2, 8).astype("float32")
    ours, ref = _fit_like_keras(keras, ct_3d, x, y)
    _close(ours[2], ref[2], 1e-5)


@pytest.mark.parametrize(
    "equation, output_shape, input_shape",
    [("abc,cde->abde", (None, 2, 8), (None, 4, 8)), ("...b,bc->...c", 6, (None, 3, 5))],
)
def test_einsum_dense_kernel_fans_follow_its_axes_as_keras(keras, equation, output_shape,
                                                           input_shape):
    # keras.io's transformer examples build EinsumDense / MultiHeadAttention kernels after
    # ``set_random_seed``: Keras 3 scales them by the einsum's input and output axes.
    def build(K):
        K.utils.set_random_seed(1)
        layer = K.layers.EinsumDense(equation, output_shape=output_shape, bias_axes=None)
        layer.build(input_shape)
        return [np.asarray(w) for w in layer.get_weights()]

    with keras_ref():
        expected = build(keras)
    for ours, theirs in zip(build(lamina), expected, strict=True):
        _close(ours, theirs, 1e-6)
