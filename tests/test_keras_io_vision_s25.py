"""keras.io vision examples (``keras-team/keras-io``, ``examples/vision/``) run under
``import lamina as keras``: each script's model and training code, on small stand-in data,
against real Keras on the same weights where the numbers are cheap to compare.

* "Image classification from scratch" (Xception-like, SeparableConv2D and residuals) and
  "Image segmentation with a U-Net-like architecture" (Conv2DTranspose, UpSampling2D, a
  ``PyDataset`` of pixel labels): predictions equal Keras's; fit and checkpoints run;
* "Image super-resolution using an efficient sub-pixel CNN": the depth-to-space layer on
  inputs of any size;
* "Image similarity estimation using a Siamese Network with a contrastive loss";
* "Involutional neural networks" (``tf.image.extract_patches`` replaced by
  ``keras.ops.image.extract_patches``, ``tf.identity`` by a lambda);
* "Train a Vision Transformer on small datasets": ``MultiHeadAttentionLSA`` overrides Keras's
  ``_compute_attention`` hook with a trainable temperature (``tf.Variable`` replaced by
  ``keras.Variable``; the override given Keras 3's ``return_attention_scores`` parameter,
  which Keras 3 passes positionally);
* "Compact Convolutional Transformers": ``Conv2D(filters, kernel_size, stride,
  padding="valid")``, the strides positional;
* "Supervised Contrastive Learning": a ``Loss`` subclass overriding ``__call__``, calling
  ``keras.utils.normalize`` on the traced predictions.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import ops
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)


def _images(n, size, channels=3, scale=1.0):
    return (RNG.random((n, size, size, channels)) * scale).astype("float32")


def _same_predictions(keras, build, x, atol=1e-4):
    """Builds the model with Lamina and Keras, copies Keras's weights into Lamina's model and
    compares their predictions on ``x``."""
    ours = build(lamina)
    with keras_ref():
        ref = build(keras)
        expected = np.asarray(ref.predict(x, verbose=0))
        weights = ref.get_weights()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    ours.set_weights(weights)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=atol, rtol=1e-4)
    return ours


# ---------------------------------------------------------------- image classification, U-Net
def _xception(k, input_shape=(32, 32, 3), num_classes=2):
    layers = k.layers
    inputs = k.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for size in [16]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    x = layers.SeparableConv2D(24, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    units, activation = (1, "sigmoid") if num_classes == 2 else (num_classes, "softmax")
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(units, activation=activation)(x)
    return k.Model(inputs, outputs)


def test_image_classification_from_scratch_matches_keras_and_trains(keras, tmp_path):
    x = _images(8, 32, scale=255.0)
    y = RNG.integers(0, 2, (8,)).astype("float32")
    model = _same_predictions(keras, _xception, x)
    data_augmentation_layers = [
        lamina.layers.RandomFlip("horizontal"),
        lamina.layers.RandomRotation(0.1),
    ]

    def data_augmentation(images):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images

    model.compile(
        optimizer=lamina.optimizers.Adam(1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        jit_compile=True,
    )
    callbacks = [lamina.callbacks.ModelCheckpoint(str(tmp_path / "save_at_{epoch}.keras"))]
    history = model.fit(
        data_augmentation(x),
        y,
        epochs=2,
        batch_size=8,
        callbacks=callbacks,
        validation_data=(x, y),
        verbose=0,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["save_at_1.keras", "save_at_2.keras"]
    assert set(history.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    img = lamina.utils.array_to_img(x[0])
    img_array = ops.expand_dims(lamina.utils.img_to_array(img), 0)
    score = float(model.predict(img_array, verbose=0)[0][0])
    assert 0.0 <= score <= 1.0


def _unet(k, img_size=(32, 32), num_classes=3):
    layers = k.layers
    inputs = k.Input(shape=img_size + (3,))
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for filters in [16]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    for filters in [16, 8]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous_block_activation = x
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    return k.Model(inputs, outputs)


def test_oxford_pets_unet_matches_keras_and_trains_on_a_pydataset(keras, tmp_path):
    x = _images(2, 16)
    model = _same_predictions(keras, lambda k: _unet(k, img_size=(16, 16)), x)

    class OxfordPets(lamina.utils.PyDataset):
        def __init__(self, batch_size, n, **kwargs):
            super().__init__(**kwargs)
            self.batch_size, self.n = batch_size, n

        def __len__(self):
            return self.n // self.batch_size

        def __getitem__(self, idx):
            rng = np.random.default_rng(idx)
            images = rng.random((self.batch_size, 16, 16, 3)).astype("float32")
            targets = rng.integers(1, 4, (self.batch_size, 16, 16, 1)).astype("uint8") - 1
            return images, targets

    model.compile(optimizer=lamina.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    path = str(tmp_path / "oxford_segmentation.keras")
    callbacks = [lamina.callbacks.ModelCheckpoint(path, save_best_only=True)]
    history = model.fit(
        OxfordPets(2, 4),
        epochs=2,
        validation_data=OxfordPets(2, 2),
        callbacks=callbacks,
        verbose=0,
    )
    assert len(history.history["val_loss"]) == 2
    val_preds = model.predict(OxfordPets(2, 2), verbose=0)
    assert val_preds.shape == (2, 16, 16, 3)
    mask = np.expand_dims(np.argmax(val_preds[1], axis=-1), axis=-1)
    assert lamina.utils.array_to_img(mask).size == (16, 16)
    assert (tmp_path / "oxford_segmentation.keras").exists()


# ------------------------------------------------------------------------- super-resolution
def _espcn(k, upscale_factor=3, channels=1):
    class DepthToSpace(k.layers.Layer):
        def __init__(self, block_size):
            super().__init__()
            self.block_size = block_size

        def call(self, input):
            batch, height, width, depth = k.ops.shape(input)
            depth = depth // (self.block_size**2)
            x = k.ops.reshape(
                input, [batch, height, width, self.block_size, self.block_size, depth]
            )
            x = k.ops.transpose(x, [0, 1, 3, 2, 4, 5])
            return k.ops.reshape(
                x, [batch, height * self.block_size, width * self.block_size, depth]
            )

    conv_args = {"activation": "relu", "kernel_initializer": "orthogonal", "padding": "same"}
    inputs = k.Input(shape=(None, None, channels))
    x = k.layers.Conv2D(8, 5, **conv_args)(inputs)
    x = k.layers.Conv2D(channels * (upscale_factor**2), 3, **conv_args)(x)
    outputs = DepthToSpace(upscale_factor)(x)
    return k.Model(inputs, outputs)


def test_super_resolution_sub_pixel_cnn_upscales_any_size_as_keras(keras, tmp_path):
    x = _images(2, 6, channels=1)
    model = _same_predictions(keras, _espcn, x)
    other = _images(1, 7, channels=1)[:, :, :5]  # another height and width
    with keras_ref():
        ref = _espcn(keras)
        ref.set_weights(model.get_weights())
        expected = np.asarray(ref.predict(other, verbose=0))
    got = model.predict(other, verbose=0)
    assert got.shape == (1, 21, 15, 1)
    np.testing.assert_allclose(got, expected, atol=1e-5)

    class ESPCNCallback(lamina.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.psnr = []

        def on_test_batch_end(self, batch, logs=None):
            self.psnr.append(10 * math.log10(1 / logs["loss"]))

    path = str(tmp_path / "checkpoint.keras")
    callbacks = [
        ESPCNCallback(),
        lamina.callbacks.EarlyStopping(monitor="loss", patience=10),
        lamina.callbacks.ModelCheckpoint(
            filepath=path,
            save_weights_only=False,
            monitor="loss",
            mode="min",
            save_best_only=True,
        ),
    ]
    model.compile(optimizer=lamina.optimizers.Adam(learning_rate=0.001), loss="mse")
    y = _images(2, 18, channels=1)
    model.fit(x, y, epochs=2, callbacks=callbacks, validation_data=(x, y), verbose=0)
    assert len(callbacks[0].psnr) == 1
    model.load_weights(path)


# ------------------------------------------------------------------------------- siamese
def _siamese(k):
    def euclidean_distance(vects):
        x, y = vects
        sum_square = k.ops.sum(k.ops.square(x - y), axis=1, keepdims=True)
        return k.ops.sqrt(k.ops.maximum(sum_square, k.backend.epsilon()))

    layers = k.layers
    input = layers.Input((12, 12, 1))
    x = layers.BatchNormalization()(input)
    x = layers.Conv2D(4, (5, 5), activation="tanh")(x)
    x = layers.AveragePooling2D(pool_size=(2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dense(6, activation="tanh")(x)
    embedding_network = k.Model(input, x)
    input_1, input_2 = layers.Input((12, 12, 1)), layers.Input((12, 12, 1))
    merge_layer = layers.Lambda(euclidean_distance, output_shape=(1,))(
        [embedding_network(input_1), embedding_network(input_2)]
    )
    normal_layer = layers.BatchNormalization()(merge_layer)
    output_layer = layers.Dense(1, activation="sigmoid")(normal_layer)
    siamese = k.Model(inputs=[input_1, input_2], outputs=output_layer)

    def loss(margin=1):
        def contrastive_loss(y_true, y_pred):
            square_pred = k.ops.square(y_pred)
            margin_square = k.ops.square(k.ops.maximum(margin - (y_pred), 0))
            return k.ops.mean((1 - y_true) * square_pred + (y_true) * margin_square)

        return contrastive_loss

    siamese.compile(loss=loss(margin=1), optimizer="RMSprop", metrics=["accuracy"])
    return siamese


def test_siamese_contrastive_evaluates_as_keras(keras):
    pairs = [_images(10, 12, channels=1), _images(10, 12, channels=1)]
    labels = RNG.integers(0, 2, (10,)).astype("float32")
    model = _same_predictions(keras, _siamese, pairs)
    with keras_ref():
        ref = _siamese(keras)
        ref.set_weights(model.get_weights())
        expected = ref.evaluate(pairs, labels, batch_size=4, verbose=0)
    np.testing.assert_allclose(
        model.evaluate(pairs, labels, batch_size=4, verbose=0), expected, rtol=1e-5
    )


# ------------------------------------------------------------------------------ involution
def _involution_model(k):
    class Involution(k.layers.Layer):
        def __init__(self, channel, group_number, kernel_size, stride, reduction_ratio, name):
            super().__init__(name=name)
            self.channel = channel
            self.group_number = group_number
            self.kernel_size = kernel_size
            self.stride = stride
            self.reduction_ratio = reduction_ratio

        def build(self, input_shape):
            (_, height, width, num_channels) = input_shape
            height = height // self.stride
            width = width // self.stride
            self.stride_layer = (
                k.layers.AveragePooling2D(
                    pool_size=self.stride, strides=self.stride, padding="same"
                )
                if self.stride > 1
                else lambda x: x
            )
            self.kernel_gen = k.Sequential(
                [
                    k.layers.Conv2D(filters=self.channel // self.reduction_ratio, kernel_size=1),
                    k.layers.BatchNormalization(),
                    k.layers.ReLU(),
                    k.layers.Conv2D(
                        filters=self.kernel_size * self.kernel_size * self.group_number,
                        kernel_size=1,
                    ),
                ]
            )
            kk, groups = self.kernel_size * self.kernel_size, self.group_number
            self.kernel_reshape = k.layers.Reshape(target_shape=(height, width, kk, 1, groups))
            self.input_patches_reshape = k.layers.Reshape(
                target_shape=(height, width, kk, num_channels // groups, groups)
            )
            self.output_reshape = k.layers.Reshape(target_shape=(height, width, num_channels))

        def call(self, x):
            kernel = self.kernel_gen(self.stride_layer(x))
            kernel = self.kernel_reshape(kernel)
            input_patches = k.ops.image.extract_patches(
                x, size=self.kernel_size, strides=self.stride, padding="same"
            )
            input_patches = self.input_patches_reshape(input_patches)
            output = k.ops.sum(k.ops.multiply(kernel, input_patches), axis=3)
            return self.output_reshape(output), kernel

    inputs = k.Input(shape=(8, 8, 3))
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=1, reduction_ratio=2, name="inv_1"
    )(inputs)
    x = k.layers.ReLU()(x)
    x = k.layers.MaxPooling2D((2, 2))(x)
    x, _ = Involution(
        channel=3, group_number=1, kernel_size=3, stride=2, reduction_ratio=1, name="inv_2"
    )(x)
    x = k.layers.Flatten()(x)
    outputs = k.layers.Dense(10)(x)
    return k.Model(inputs=[inputs], outputs=[outputs], name="inv_model")


def test_involution_network_matches_keras_and_exposes_its_kernels(keras):
    x = _images(2, 8)
    model = _same_predictions(keras, _involution_model, x)
    vis_model = lamina.Model(model.input, [model.get_layer("inv_1").output])
    (inv1_out,) = [vis_model.predict(x[:1], verbose=0)]
    _, inv1_kernel = inv1_out
    assert inv1_kernel.shape == (1, 8, 8, 9, 1, 1)


# ------------------------------------------------------------------ vit_small_ds: LSA hook
def _lsa_class(k):
    class MultiHeadAttentionLSA(k.layers.MultiHeadAttention):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # The trainable temperature, initially the square root of the key dimension.
            self.tau = k.Variable(math.sqrt(float(self._key_dim)), trainable=True)

        def _compute_attention(
            self,
            query,
            key,
            value,
            attention_mask=None,
            training=None,
            return_attention_scores=False,
        ):
            query = k.ops.multiply(query, 1.0 / self.tau)
            attention_scores = k.ops.einsum(self._dot_product_equation, key, query)
            attention_scores = self._masked_softmax(attention_scores, attention_mask)
            attention_scores_dropout = self._dropout_layer(attention_scores, training=training)
            attention_output = k.ops.einsum(self._combine_equation, attention_scores_dropout, value)
            return attention_output, attention_scores

    return MultiHeadAttentionLSA


def _vit_lsa(k, num_patches=9, projection_dim=8):
    inputs = k.layers.Input(shape=(num_patches, 6))
    tokens = k.layers.Dense(projection_dim)(inputs)
    diag_attn_mask = 1 - k.ops.eye(num_patches)
    diag_attn_mask = k.ops.cast([diag_attn_mask], dtype="int8")
    x1 = k.layers.LayerNormalization(epsilon=1e-6)(tokens)
    attention_output = _lsa_class(k)(num_heads=2, key_dim=projection_dim, dropout=0.1)(
        x1, x1, attention_mask=diag_attn_mask
    )
    x2 = k.layers.Add()([attention_output, tokens])
    representation = k.layers.Flatten()(k.layers.LayerNormalization(epsilon=1e-6)(x2))
    logits = k.layers.Dense(5)(representation)
    return k.Model(inputs=inputs, outputs=logits)


def test_vit_small_ds_attention_override_matches_keras():
    """Keras's ``_compute_attention`` hook: before, reading ``self._key_dim`` in ``__init__``
    raised AttributeError, and the override was never called."""
    pytest.importorskip("keras")
    import keras

    x = RNG.normal(size=(3, 9, 6)).astype("float32")
    model = _same_predictions(keras, _vit_lsa, x, atol=1e-5)
    lsa = model.layers[3]
    assert lsa._key_dim == 8 and lsa._num_heads == 2
    # The temperature is a weight of the layer, listed first as Keras lists it.
    assert float(lsa.get_weights()[0]) == pytest.approx(math.sqrt(8.0))
    # A different temperature changes the output as it changes Keras's.
    weights = model.get_weights()
    (tau_index,) = [i for i, w in enumerate(weights) if np.ndim(w) == 0]
    weights[tau_index] = np.float32(0.5)
    model.set_weights(weights)
    with keras_ref():
        ref = _vit_lsa(keras)
        ref.set_weights(weights)
        expected = np.asarray(ref.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


def test_vit_small_ds_attention_temperature_trains():
    model = _vit_lsa(lamina)
    model.compile(
        optimizer=lamina.optimizers.AdamW(learning_rate=1e-2, weight_decay=1e-4),
        loss=lamina.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            lamina.metrics.SparseCategoricalAccuracy(name="accuracy"),
            lamina.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy"),
        ],
    )
    tau_before = float(model.layers[3].tau.numpy())
    x = RNG.normal(size=(8, 9, 6)).astype("float32")
    y = RNG.integers(0, 5, (8, 1))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert float(model.layers[3].tau.numpy()) != pytest.approx(tau_before)


def test_attention_override_dropout_draws_only_in_training():
    layer = _lsa_class(lamina)(num_heads=1, key_dim=4, dropout=0.5)
    x = np.ones((2, 3, 4), "float32")
    params, state = layer.init(jax.random.key(0), [x.shape] * 3)
    infer, _ = layer.apply(params, state, [x, x, x])
    again, _ = layer.apply(params, state, [x, x, x], training=False, key=jax.random.key(1))
    np.testing.assert_allclose(infer, again)
    trained, _ = layer.apply(params, state, [x, x, x], training=True, key=jax.random.key(1))
    assert not np.allclose(trained, infer)


# ------------------------------------------------------------------ CCT: positional strides
def test_cct_tokenizer_conv2d_takes_strides_positionally(keras):
    """``Conv2D(filters, kernel_size, stride, padding="valid")``: Keras 3's positional
    strides (before, read as Keras 1's ``nb_row, nb_col`` and refused)."""
    ours = lamina.layers.Conv2D(8, 3, 2, padding="valid", use_bias=False, activation="relu")
    positional = lamina.layers.Conv2D(8, 3, 2, "same")
    with keras_ref():
        ref = keras.layers.Conv2D(8, 3, 2, padding="valid", use_bias=False, activation="relu")
        ref_positional = keras.layers.Conv2D(8, 3, 2, "same")
    for layer, expected in ((ours, ref), (positional, ref_positional)):
        got = layer.get_config()
        for name in ("kernel_size", "strides", "padding"):
            assert tuple(np.atleast_1d(got[name])) == tuple(
                np.atleast_1d(expected.get_config()[name])
            ), name
    conv_model = lamina.Sequential()
    for filters in (4, 8):
        conv_model.add(
            lamina.layers.Conv2D(
                filters,
                3,
                1,
                padding="valid",
                use_bias=False,
                activation="relu",
                kernel_initializer="he_normal",
            )
        )
        conv_model.add(lamina.layers.ZeroPadding2D(1))
        conv_model.add(lamina.layers.MaxPooling2D(3, 2, "same"))
    assert conv_model(_images(1, 16)).shape == (1, 4, 4, 8)


def test_keras1_conv_positional_kernel_still_translates():
    with pytest.warns(UserWarning, match="Keras 1 spelling"):
        layer = lamina.layers.Conv2D(8, 3, 3, activation="relu")
    assert tuple(layer.kernel_size) == (3, 3) and tuple(layer.strides) == (1, 1)


# --------------------------------------------------- supervised contrastive: Loss.__call__
def _supcon_loss(k):
    def npairs_loss(y_true, y_pred):
        y_true = k.ops.cast(y_true, "float32")
        y_true = k.ops.cast(
            k.ops.equal(k.ops.expand_dims(y_true, 1), k.ops.expand_dims(y_true, 0)), "float32"
        )
        y_true /= k.ops.sum(y_true, 1, keepdims=True)
        return k.ops.mean(k.losses.categorical_crossentropy(y_true, y_pred, from_logits=True))

    class SupervisedContrastiveLoss(k.losses.Loss):
        def __init__(self, temperature=1, name=None):
            super().__init__(name=name)
            self.temperature = temperature

        def __call__(self, labels, feature_vectors, sample_weight=None):
            feature_vectors_normalized = k.utils.normalize(feature_vectors, axis=1, order=2)
            logits = k.ops.divide(
                k.ops.matmul(
                    feature_vectors_normalized, k.ops.transpose(feature_vectors_normalized)
                ),
                self.temperature,
            )
            return npairs_loss(k.ops.squeeze(labels), logits)

    return SupervisedContrastiveLoss(0.05)


def _projection_model(k):
    inputs = k.Input(shape=(6,))
    features = k.layers.Dense(8, activation="relu")(inputs)
    model = k.Model(inputs=inputs, outputs=features)
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss=_supcon_loss(k))
    return model


def test_supervised_contrastive_loss_overriding_call_evaluates_as_keras(keras):
    """A ``Loss`` overriding ``__call__`` is called as Keras's compiled loss calls it, on each
    batch at its real size (before: ``Loss.call`` raised NotImplementedError)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 6)).astype("float32")
    y = rng.integers(0, 3, (10, 1))
    model = _same_predictions(keras, _projection_model, x)
    with keras_ref():
        ref = _projection_model(keras)
        ref.set_weights(model.get_weights())
        expected = ref.evaluate(x, y, batch_size=4, verbose=0)
        ref.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        trained = ref.get_weights()
    got = model.evaluate(x, y, batch_size=4, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), trained):
        # Adam rescales near-zero gradients (units ReLU silences), so rounding shows there.
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_own_call_loss_returning_per_sample_values_is_refused():
    class PerSample(lamina.losses.Loss):
        def __call__(self, y_true, y_pred, sample_weight=None):
            return ops.sum(y_pred, axis=1)

    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer="sgd", loss=PerSample())
    with pytest.raises(TypeError, match="overrides __call__ and returned shape"):
        model.fit(np.ones((4, 3), "float32"), np.ones((4, 1)), verbose=0)


def test_normalize_of_a_tensor_is_a_tensor_as_keras(keras):
    x = RNG.normal(size=(4, 3)).astype("float32")
    with keras_ref():
        expected = np.asarray(keras.utils.normalize(keras.ops.convert_to_tensor(x), axis=1))
    traced = jax.jit(lambda v: lamina.utils.normalize(v, axis=1, order=2))(jnp.asarray(x))
    np.testing.assert_allclose(traced, expected, atol=1e-6)
    got = lamina.utils.normalize(x, axis=1)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_vit_small_ds_model_saves_its_temperature_and_mask_as_keras(keras, tmp_path):
    """The ``.keras`` file holds the constant ``attention_mask`` call argument (before: the
    config could not be written) and the temperature in the layer's own ``vars`` group
    (before: left out), so Keras loads the weights and Lamina the model."""
    model = _vit_lsa(lamina)
    weights = model.get_weights()
    (tau_index,) = [i for i, w in enumerate(weights) if np.ndim(w) == 0]
    weights[tau_index] = np.float32(0.7)
    model.set_weights(weights)
    x = RNG.normal(size=(2, 9, 6)).astype("float32")
    path = tmp_path / "vit_lsa.keras"
    model.save(path)
    model.save_weights(tmp_path / "vit_lsa.weights.h5")
    with keras_ref():
        ref = _vit_lsa(keras)
        ref.load_weights(tmp_path / "vit_lsa.weights.h5")
        expected = np.asarray(ref.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    restored = lamina.models.load_model(
        path, custom_objects={"MultiHeadAttentionLSA": type(model.layers[3])}
    )
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-5)


def test_constant_attention_mask_call_argument_is_written_as_keras_writes_it(keras, tmp_path):
    def build(k):
        inputs = k.layers.Input(shape=(4, 6))
        mask = k.ops.cast([1 - k.ops.eye(4)], dtype="int8")
        outputs = k.layers.MultiHeadAttention(num_heads=2, key_dim=3)(
            inputs, inputs, attention_mask=mask
        )
        return k.Model(inputs, outputs)

    x = RNG.normal(size=(2, 4, 6)).astype("float32")
    model = build(lamina)
    path = tmp_path / "mha_mask.keras"
    model.save(path)
    with keras_ref():
        ref = keras.saving.load_model(path)
        expected = np.asarray(ref.predict(x, verbose=0))
        node = ref.get_config()["layers"][1]["inbound_nodes"][0]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    assert node["kwargs"]["attention_mask"]["class_name"] == "__tensor__"


def test_attention_override_reaches_the_builtin_through_super(keras):
    def doubled(k):
        class Doubled(k.layers.MultiHeadAttention):
            def _compute_attention(self, query, key, value, attention_mask=None, *args):
                out, scores = super()._compute_attention(query, key, value, attention_mask)
                return out * 2.0, scores

        return Doubled(num_heads=2, key_dim=3)

    x = RNG.normal(size=(2, 4, 6)).astype("float32")
    mask = np.tril(np.ones((1, 4, 4), "int8"))
    ours = doubled(lamina)
    got = ours(x, x, attention_mask=mask)
    with keras_ref():
        ref = doubled(keras)
        ref(x, x, attention_mask=mask)
        ref.set_weights(ours.get_weights())
        expected = np.asarray(ref(x, x, attention_mask=mask))
    np.testing.assert_allclose(got, expected, atol=1e-5)
