"""keras.io vision examples (``keras-team/keras-io``, ``examples/vision/``) run under
``import lamina as keras`` in their JAX-friendly Keras 3 form, on small stand-in data, against
real Keras from the same ``set_random_seed``:

* "Image similarity estimation using a Siamese Network with a triplet loss": a
  ``SiameseModel`` with a ``Mean`` loss tracker and a JAX-style ``train_step(state, data)``
  over a three-input network; the step receives ``data`` packed as Keras packs it (several
  inputs without targets come as ``(x,)``);
* "Zero-DCE for low-light image enhancement": custom losses (``ops.average_pool``,
  ``ops.conv``, a ``Loss`` with ``reduction="none"``) in a JAX-style step, trackers made in an
  overridden ``compile(learning_rate)``, ``validation_data`` given as a bare array (Keras
  unpacks it as ``x_val`` alone), and ``save_weights``/``load_weights`` overridden to the
  inner network;
* "Image classification with Swin Transformers": window partition reshapes, ``ops.roll``,
  a relative position bias table read with ``ops.take`` through an integer ``keras.Variable``
  made in ``__init__``, an attention mask ``keras.Variable`` made in ``build``;
* "Grad-CAM class activation visualization", "Model interpretability with Integrated
  Gradients" and "Visualizing what convnets learn", with ``jax.grad`` over model calls.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _both(keras, fn):
    with keras_ref():
        expected = fn(keras)
    return fn(lamina), expected


def _close(ours, expected, atol=1e-4):
    assert ours.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(np.asarray(ours[key]), np.asarray(expected[key]), atol=atol,
                                   rtol=1e-4, err_msg=key)  # fmt: skip


# ------------------------------------------------------------ data as a custom step gets it
def _step_data_structures(k):
    seen = []

    class Probe(k.Model):
        def __init__(self):
            super().__init__()
            self.d = k.layers.Dense(1)

        def call(self, x, training=False):
            return self.d(x[0])

        def train_step(self, state, data):
            x, y, _ = k.utils.unpack_x_y_sample_weight(data)
            seen.append(("train", len(jax.tree_util.tree_leaves(x)), y is None))
            return {}, state

        def test_step(self, state, data):
            x, y, _ = k.utils.unpack_x_y_sample_weight(data)
            seen.append(("test", len(jax.tree_util.tree_leaves(x)), y is None))
            return {}, state

        def predict_step(self, state, data):
            x, _, _ = k.utils.unpack_x_y_sample_weight(data)
            seen.append(("predict", len(jax.tree_util.tree_leaves(x))))
            return self.stateless_call(state[0], state[1], x)[0], state

    model = Probe()
    model.compile(optimizer="adam")
    a = np.zeros((4, 3), "float32")
    for x, y in [([a, a, a], None), ((a, a), None), ([a, a], a), (a, None)]:
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        model.evaluate(x, y, verbose=0)
        if not isinstance(x, np.ndarray):
            model.predict(x, batch_size=4, verbose=0)
    return sorted(set(seen), key=str)


@pytest.mark.slow
def test_custom_steps_receive_several_inputs_packed_as_keras_packs_them(keras):
    ours, expected = _both(keras, _step_data_structures)
    assert ours == expected
    assert ("train", 3, True) in ours and ("predict", 2) in ours


# ---------------------------------------------------------------- Siamese triplet network
def _siamese(k):
    layers, ops = k.layers, k.ops
    k.utils.set_random_seed(3)
    base = k.Sequential([k.Input((8, 8, 3)), layers.Conv2D(4, 3, activation="relu"),
                         layers.Flatten(), layers.Dense(16, activation="relu"), layers.Dense(8)],
                        name="Embedding")  # fmt: skip

    class DistanceLayer(layers.Layer):
        def call(self, anchor, positive, negative):
            ap_distance = ops.sum(ops.square(anchor - positive), -1)
            an_distance = ops.sum(ops.square(anchor - negative), -1)
            return (ap_distance, an_distance)

    anchor = layers.Input(name="anchor", shape=(8, 8, 3))
    positive = layers.Input(name="positive", shape=(8, 8, 3))
    negative = layers.Input(name="negative", shape=(8, 8, 3))
    distances = DistanceLayer()(base(anchor), base(positive), base(negative))
    siamese_network = k.Model(inputs=[anchor, positive, negative], outputs=distances)

    class SiameseModel(k.Model):
        def __init__(self, siamese_network, margin=0.5):
            super().__init__()
            self.siamese_network = siamese_network
            self.margin = margin
            self.loss_tracker = k.metrics.Mean(name="loss")

        def call(self, inputs, training=False):
            return self.siamese_network(inputs, training=training)

        def compute_loss_and_updates(self, tv, ntv, x, training=False):
            (ap, an), ntv = self.stateless_call(tv, ntv, x, training=training)
            return ops.mean(ops.maximum(ap - an + self.margin, 0.0)), ntv

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, _, _ = k.utils.unpack_x_y_sample_weight(data)
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, ntv), grads = grad_fn(tv, ntv, x, training=True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            mv = self.loss_tracker.stateless_update_state(mv, loss)
            return {"loss": self.loss_tracker.stateless_result(mv)}, (tv, ntv, ov, mv)

        def test_step(self, state, data):
            tv, ntv, mv = state
            loss, ntv = self.compute_loss_and_updates(tv, ntv, data[0])
            mv = self.loss_tracker.stateless_update_state(mv, loss)
            return {"loss": self.loss_tracker.stateless_result(mv)}, (tv, ntv, mv)

        @property
        def metrics(self):
            return [self.loss_tracker]

    model = SiameseModel(siamese_network)
    model.compile(optimizer=k.optimizers.Adam(0.001))
    rng = np.random.default_rng(0)
    data = [rng.random((8, 8, 8, 3)).astype("float32") for _ in range(3)]
    history = model.fit(data, epochs=2, batch_size=4, verbose=0, shuffle=False)
    cosine = k.metrics.CosineSimilarity()
    similarity = cosine(base(data[0]), base(data[1]))
    return {
        "loss": history.history["loss"],
        "evaluate": model.evaluate(data, verbose=0),
        "embedding": base.predict(data[0], verbose=0),
        "cosine": float(similarity),
    }


@pytest.mark.slow
def test_siamese_triplet_network_with_a_jax_train_step_trains_as_keras(keras):
    _close(*_both(keras, _siamese))


# ------------------------------------------------------------------------------- Zero-DCE
def _zero_dce(k, tmp_path):
    layers, ops = k.layers, k.ops
    k.utils.set_random_seed(5)

    def build_dce_net():
        inp = k.Input(shape=[None, None, 3])
        c1 = layers.Conv2D(4, 3, activation="relu", padding="same")(inp)
        c2 = layers.Conv2D(4, 3, activation="relu", padding="same")(c1)
        c3 = layers.Conv2D(4, 3, activation="relu", padding="same")(c2)
        c4 = layers.Conv2D(4, 3, activation="relu", padding="same")(
            layers.Concatenate(axis=-1)([c3, c2])
        )
        x_r = layers.Conv2D(24, 3, activation="tanh", padding="same")(
            layers.Concatenate(axis=-1)([c4, c1])
        )
        return k.Model(inputs=inp, outputs=x_r)

    def color_constancy_loss(x):
        m = ops.mean(x, axis=(1, 2), keepdims=True)
        mr, mg, mb = m[:, :, :, 0], m[:, :, :, 1], m[:, :, :, 2]
        d_rg, d_rb, d_gb = ops.square(mr - mg), ops.square(mr - mb), ops.square(mb - mg)
        return ops.sqrt(ops.square(d_rg) + ops.square(d_rb) + ops.square(d_gb))

    def exposure_loss(x, mean_val=0.6):
        x = ops.mean(x, axis=3, keepdims=True)
        mean = ops.average_pool(x, pool_size=4, strides=4, padding="valid")
        return ops.mean(ops.square(mean - mean_val))

    def illumination_smoothness_loss(x):
        batch_size = ops.cast(ops.shape(x)[0], "float32")
        h_x, w_x = x.shape[1], x.shape[2]
        count_h, count_w = (x.shape[2] - 1) * x.shape[3], x.shape[2] * (x.shape[3] - 1)
        h_tv = ops.sum(ops.square(x[:, 1:, :, :] - x[:, : h_x - 1, :, :]))
        w_tv = ops.sum(ops.square(x[:, :, 1:, :] - x[:, :, : w_x - 1, :]))
        return 2 * (h_tv / count_h + w_tv / count_w) / batch_size

    left = np.zeros((3, 3, 1, 1), "float32")
    left[1, 0], left[1, 1] = -1, 1

    class SpatialConsistencyLoss(k.losses.Loss):
        def __init__(self, **kwargs):
            super().__init__(reduction="none")
            self.left_kernel = ops.convert_to_tensor(left)

        def call(self, y_true, y_pred):
            original = ops.average_pool(ops.mean(y_true, 3, keepdims=True), 2, 2)
            enhanced = ops.average_pool(ops.mean(y_pred, 3, keepdims=True), 2, 2)
            d_original = ops.conv(original, self.left_kernel, strides=1, padding="same")
            d_enhanced = ops.conv(enhanced, self.left_kernel, strides=1, padding="same")
            return ops.square(d_original - d_enhanced)

    class ZeroDCE(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dce_model = build_dce_net()

        def compile(self, learning_rate, **kwargs):
            super().compile(**kwargs)
            self.optimizer = k.optimizers.Adam(learning_rate=learning_rate)
            self.spatial_constancy_loss = SpatialConsistencyLoss(reduction="none")
            self.total_loss_tracker = k.metrics.Mean(name="total_loss")
            self.spatial_constancy_loss_tracker = k.metrics.Mean(name="spatial_constancy_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.spatial_constancy_loss_tracker]

        def get_enhanced_image(self, data, output):
            x = data
            for i in range(0, 24, 12):
                r = output[:, :, :, i : i + 3]
                x = x + r * (ops.square(x) - x)
            return x

        def call(self, data, training=False):
            return self.get_enhanced_image(data, self.dce_model(data))

        def compute_losses(self, data, output):
            enhanced = self.get_enhanced_image(data, output)
            spatial = ops.mean(self.spatial_constancy_loss(enhanced, data))
            total = (200 * illumination_smoothness_loss(output) + spatial
                     + 5 * ops.mean(color_constancy_loss(enhanced))
                     + 10 * ops.mean(exposure_loss(enhanced)))  # fmt: skip
            return {"total_loss": total, "spatial_constancy_loss": spatial}

        def losses_of(self, tv, ntv, data):
            output, ntv = self.dce_model.stateless_call(tv, ntv, data, training=True)
            losses = self.compute_losses(data, output)
            return losses["total_loss"], (losses, ntv)

        def track(self, mv, losses):
            new, logs, i = [], {}, 0
            for m in self.metrics:
                n = len(m.variables)
                part = m.stateless_update_state(mv[i : i + n], losses[m.name])
                logs[m.name] = m.stateless_result(part)
                new, i = new + list(part), i + n
            return logs, new

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            grad_fn = jax.value_and_grad(self.losses_of, has_aux=True)
            (_, (losses, ntv)), grads = grad_fn(tv, ntv, data)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            logs, mv = self.track(mv, losses)
            return logs, (tv, ntv, ov, mv)

        def test_step(self, state, data):
            tv, ntv, mv = state
            _, (losses, _) = self.losses_of(tv, ntv, data)
            logs, mv = self.track(mv, losses)
            return logs, (tv, ntv, mv)

        def save_weights(self, filepath, overwrite=True):
            self.dce_model.save_weights(filepath, overwrite=overwrite)

        def load_weights(self, filepath, skip_mismatch=False):
            self.dce_model.load_weights(filepath=filepath, skip_mismatch=skip_mismatch)

    model = ZeroDCE()
    model.compile(learning_rate=1e-3)
    rng = np.random.default_rng(0)
    x = (rng.random((8, 8, 8, 3)) * 0.3).astype("float32")
    history = model.fit(x, validation_data=x, epochs=2, batch_size=4, verbose=0, shuffle=False)
    path = str(tmp_path / f"zero_dce_{k.__name__}.weights.h5")
    model.save_weights(path)
    reloaded = ZeroDCE()
    reloaded.load_weights(path)
    other_size = rng.random((1, 12, 16, 3)).astype("float32")
    return {
        **history.history,
        "predict": model.predict(x[:2], verbose=0),
        "reloaded": reloaded(x[:2]),
        "other_size": reloaded(other_size),
    }


@pytest.mark.slow
def test_zero_dce_trains_validates_on_a_bare_array_and_reloads_as_keras(keras, tmp_path):
    ours, expected = _both(keras, lambda k: _zero_dce(k, tmp_path))
    assert "val_total_loss" in ours
    _close(ours, expected)


@pytest.mark.slow
def test_bare_validation_array_is_x_val_for_a_model_with_its_own_test_step(keras):
    def run(k):
        class Autoencoder(k.Model):
            def __init__(self):
                super().__init__()
                self.dense = k.layers.Dense(3, kernel_initializer="ones")

            def call(self, x, training=False):
                return self.dense(x)

            def test_step(self, state, data):
                tv, ntv, mv = state
                y, _ = self.stateless_call(tv, ntv, data)
                return {"recon": k.ops.mean(k.ops.square(y - data))}, state

        model = Autoencoder()
        model.compile(optimizer="sgd", loss="mse")
        x = np.linspace(0, 1, 12, dtype="float32").reshape(4, 3)
        history = model.fit(x, x, validation_data=x, epochs=1, batch_size=4, verbose=0)
        return {"val_recon": history.history["val_recon"]}

    _close(*_both(keras, run))


def test_bare_validation_array_of_a_compiled_model_is_still_refused():
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 3), "float32")
    with pytest.raises(ValueError, match="validation_data must be a tuple"):
        model.fit(x, x[:, :1], validation_data=x, epochs=1, verbose=0)


# ------------------------------------- learning to resize, with gradient centralization
def _learnable_resizer_with_gc_rmsprop(k, tmp_path):
    layers, ops = k.layers, k.ops
    k.utils.set_random_seed(6)
    target_size = (8, 8)

    def conv_block(x, filters, kernel_size, strides, activation=layers.LeakyReLU(0.2)):  # noqa: B008 (the example shares one LeakyReLU)
        x = layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return activation(x) if activation else x

    def res_block(x):
        inputs = x
        x = conv_block(x, 4, 3, 1)
        x = conv_block(x, 4, 3, 1, activation=None)
        return layers.Add()([inputs, x])

    def get_learnable_resizer(filters=4, interpolation="bilinear"):
        inputs = layers.Input(shape=[None, None, 3])
        naive_resize = layers.Resizing(*target_size, interpolation=interpolation)(inputs)
        x = layers.Conv2D(filters=filters, kernel_size=7, strides=1, padding="same")(inputs)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.BatchNormalization()(x)
        bottleneck = layers.Resizing(*target_size, interpolation=interpolation)(x)
        x = res_block(bottleneck)
        x = layers.Conv2D(filters=filters, kernel_size=3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Add()([bottleneck, x])
        x = layers.Conv2D(filters=3, kernel_size=7, strides=1, padding="same")(x)
        return k.Model(inputs, layers.Add()([naive_resize, x]), name="learnable_resizer")

    class GCRMSprop(k.optimizers.RMSprop):
        # As keras.io's Keras 3 port writes it: Keras 3 never calls get_gradients, so this
        # trains as RMSprop; the subclass must still save and load by its name.
        def get_gradients(self, loss, params):
            grads = []
            for grad in super().get_gradients():
                if len(grad.shape) > 1:
                    grad -= ops.mean(grad, axis=list(range(len(grad.shape) - 1)), keepdims=True)
                grads.append(grad)
            return grads

    learnable_resizer = get_learnable_resizer()
    backbone = k.Sequential(
        [
            k.Input((8, 8, 3)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    inputs = layers.Input((20, 20, 3))
    outputs = backbone(learnable_resizer(layers.Rescaling(scale=1.0 / 255)(inputs)))
    model = k.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    x = (rng.random((8, 20, 20, 3)) * 255).astype("float32")
    y = k.utils.to_categorical(rng.integers(0, 2, 8), 2)
    model.compile(
        optimizer=GCRMSprop(learning_rate=1e-3),
        loss=k.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    before = model.predict(x, verbose=0)
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    path = str(tmp_path / f"resizer_{k.__name__}.keras")
    model.save(path)
    loaded = k.models.load_model(path, custom_objects={"GCRMSprop": GCRMSprop})
    assert type(loaded.optimizer).__name__ == "GCRMSprop"
    odd = rng.random((1, 13, 17, 3)).astype("float32")
    return {
        "before": before,
        "loss": history.history["loss"],
        "loaded": loaded.predict(x, verbose=0),
        "learning_rate": float(loaded.optimizer.learning_rate),
        "odd_shape": loaded.layers[2](odd).shape,
    }


@pytest.mark.slow
def test_learnable_resizer_with_a_custom_optimizer_subclass_saves_and_loads_as_keras(
        keras, tmp_path):  # fmt: skip
    _close(*_both(keras, lambda k: _learnable_resizer_with_gc_rmsprop(k, tmp_path)))


def test_keras_file_with_a_user_optimizer_subclass_loads_it_from_custom_objects(tmp_path):
    class GCAdam(lamina.optimizers.Adam):
        pass

    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile(optimizer=GCAdam(learning_rate=0.01), loss="mse")
    path = str(tmp_path / "gc.keras")
    model.save(path)
    loaded = lamina.models.load_model(path, custom_objects={"GCAdam": GCAdam})
    assert isinstance(loaded.optimizer, GCAdam)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.01)
    with lamina.utils.custom_object_scope({"GCAdam": GCAdam}):
        assert isinstance(lamina.models.load_model(path).optimizer, GCAdam)


# ------------------------------------------------------------ Swin Transformer blocks
def _swin_blocks(k):
    layers, ops = k.layers, k.ops
    k.utils.set_random_seed(1)

    def window_partition(x, window_size):
        _, height, width, channels = x.shape
        py, px = height // window_size, width // window_size
        x = ops.reshape(x, (-1, py, window_size, px, window_size, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, window_size, window_size, channels))

    def window_reverse(windows, window_size, height, width, channels):
        py, px = height // window_size, width // window_size
        x = ops.reshape(windows, (-1, py, px, window_size, window_size, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, height, width, channels))

    class WindowAttention(layers.Layer):
        def __init__(self, dim, window_size, num_heads, qkv_bias=True, dropout_rate=0.0, **kwargs):
            super().__init__(**kwargs)
            self.dim = dim
            self.window_size = window_size
            self.num_heads = num_heads
            self.scale = (dim // num_heads) ** -0.5
            self.qkv = layers.Dense(dim * 3, use_bias=qkv_bias)
            self.dropout = layers.Dropout(dropout_rate)
            self.proj = layers.Dense(dim)
            n = (2 * window_size[0] - 1) * (2 * window_size[1] - 1)
            self.relative_position_bias_table = self.add_weight(
                shape=(n, num_heads),
                initializer=k.initializers.RandomNormal(seed=3),
                trainable=True,
            )
            coords = np.stack(
                np.meshgrid(np.arange(window_size[0]), np.arange(window_size[1]), indexing="ij")
            )
            cf = coords.reshape(2, -1)
            rc = (cf[:, :, None] - cf[:, None, :]).transpose([1, 2, 0])
            rc[:, :, 0] += window_size[0] - 1
            rc[:, :, 1] += window_size[1] - 1
            rc[:, :, 0] *= 2 * window_size[1] - 1
            rpi = rc.sum(-1)
            self.relative_position_index = k.Variable(
                initializer=rpi, shape=rpi.shape, dtype="int", trainable=False
            )

        def call(self, x, mask=None):
            _, size, channels = x.shape
            head_dim = channels // self.num_heads
            x_qkv = self.qkv(x)
            x_qkv = ops.reshape(x_qkv, (-1, size, 3, self.num_heads, head_dim))
            x_qkv = ops.transpose(x_qkv, (2, 0, 3, 1, 4))
            q, kk, v = x_qkv[0], x_qkv[1], x_qkv[2]
            q = q * self.scale
            kk = ops.transpose(kk, (0, 1, 3, 2))
            attn = q @ kk
            nwe = self.window_size[0] * self.window_size[1]
            flat = ops.reshape(self.relative_position_index, (-1,))
            bias = ops.take(self.relative_position_bias_table, flat, axis=0)
            bias = ops.reshape(bias, (nwe, nwe, -1))
            bias = ops.transpose(bias, (2, 0, 1))
            attn = attn + ops.expand_dims(bias, axis=0)
            if mask is not None:
                nW = mask.shape[0]
                mf = ops.cast(ops.expand_dims(ops.expand_dims(mask, axis=1), axis=0), "float32")
                attn = ops.reshape(attn, (-1, nW, self.num_heads, size, size)) + mf
                attn = ops.reshape(attn, (-1, self.num_heads, size, size))
                attn = k.activations.softmax(attn, axis=-1)
            else:
                attn = k.activations.softmax(attn, axis=-1)
            attn = self.dropout(attn)
            x_qkv = attn @ v
            x_qkv = ops.transpose(x_qkv, (0, 2, 1, 3))
            x_qkv = ops.reshape(x_qkv, (-1, size, channels))
            return self.dropout(self.proj(x_qkv))

    class SwinTransformer(layers.Layer):
        def __init__(
            self,
            dim,
            num_patch,
            num_heads,
            window_size=7,
            shift_size=0,
            num_mlp=1024,
            qkv_bias=True,
            dropout_rate=0.0,
            **kwargs,
        ):
            super().__init__(**kwargs)
            self.dim = dim
            self.num_patch = num_patch
            self.num_heads = num_heads
            self.window_size = window_size
            self.shift_size = shift_size
            self.num_mlp = num_mlp
            self.norm1 = layers.LayerNormalization(epsilon=1e-5)
            self.attn = WindowAttention(
                dim,
                window_size=(window_size, window_size),
                num_heads=num_heads,
                qkv_bias=qkv_bias,
                dropout_rate=dropout_rate,
            )
            self.drop_path = layers.Dropout(dropout_rate)
            self.norm2 = layers.LayerNormalization(epsilon=1e-5)
            self.mlp = k.Sequential(
                [
                    layers.Dense(num_mlp),
                    layers.Activation(k.activations.gelu),
                    layers.Dropout(dropout_rate),
                    layers.Dense(dim),
                    layers.Dropout(dropout_rate),
                ]
            )
            if min(self.num_patch) < self.window_size:
                self.shift_size = 0
                self.window_size = min(self.num_patch)

        def build(self, input_shape):
            if self.shift_size == 0:
                self.attn_mask = None
            else:
                height, width = self.num_patch
                hs = (
                    slice(0, -self.window_size),
                    slice(-self.window_size, -self.shift_size),
                    slice(-self.shift_size, None),
                )
                ws = hs
                mask_array = np.zeros((1, height, width, 1))
                count = 0
                for h in hs:
                    for w in ws:
                        mask_array[:, h, w, :] = count
                        count += 1
                mask_array = ops.convert_to_tensor(mask_array)
                mw = window_partition(mask_array, self.window_size)
                mw = ops.reshape(mw, [-1, self.window_size * self.window_size])
                am = ops.expand_dims(mw, axis=1) - ops.expand_dims(mw, axis=2)
                am = ops.where(am != 0, -100.0, am)
                am = ops.where(am == 0, 0.0, am)
                self.attn_mask = k.Variable(
                    initializer=am, shape=am.shape, dtype=am.dtype, trainable=False
                )

        def call(self, x, training=False):
            height, width = self.num_patch
            _, _, channels = x.shape
            x_skip = x
            x = self.norm1(x)
            x = ops.reshape(x, (-1, height, width, channels))
            if self.shift_size > 0:
                shifted_x = ops.roll(x, shift=[-self.shift_size, -self.shift_size], axis=[1, 2])
            else:
                shifted_x = x
            xw = window_partition(shifted_x, self.window_size)
            xw = ops.reshape(xw, (-1, self.window_size * self.window_size, channels))
            aw = self.attn(xw, mask=self.attn_mask)
            aw = ops.reshape(aw, (-1, self.window_size, self.window_size, channels))
            shifted_x = window_reverse(aw, self.window_size, height, width, channels)
            if self.shift_size > 0:
                x = ops.roll(shifted_x, shift=[self.shift_size, self.shift_size], axis=[1, 2])
            else:
                x = shifted_x
            x = ops.reshape(x, (-1, height * width, channels))
            x = self.drop_path(x, training=training)
            x = x_skip + x
            x_skip = x
            x = self.norm2(x)
            x = self.mlp(x)
            x = self.drop_path(x)
            return x_skip + x

    class PatchEmbedding(layers.Layer):
        def __init__(self, num_patch, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.num_patch = num_patch
            self.proj = layers.Dense(embed_dim)
            self.pos_embed = layers.Embedding(input_dim=num_patch, output_dim=embed_dim)

        def call(self, patch):
            pos = ops.arange(start=0, stop=self.num_patch)
            return self.proj(patch) + self.pos_embed(pos)

    class PatchMerging(layers.Layer):
        def __init__(self, num_patch, embed_dim):
            super().__init__()
            self.num_patch = num_patch
            self.embed_dim = embed_dim
            self.linear_trans = layers.Dense(2 * embed_dim, use_bias=False)

        def call(self, x):
            height, width = self.num_patch
            _, _, C = x.shape
            x = ops.reshape(x, (-1, height, width, C))
            x0 = x[:, 0::2, 0::2, :]
            x1 = x[:, 1::2, 0::2, :]
            x2 = x[:, 0::2, 1::2, :]
            x3 = x[:, 1::2, 1::2, :]
            x = ops.concatenate((x0, x1, x2, x3), axis=-1)
            x = ops.reshape(x, (-1, (height // 2) * (width // 2), 4 * C))
            return self.linear_trans(x)

    def patch_extract(images):
        batch_size = ops.shape(images)[0]
        patches = ops.image.extract_patches(
            images=images, size=(2, 2), strides=(2, 2), dilation_rate=1, padding="valid"
        )
        patch_dim = patches.shape[-1]
        patch_num = patches.shape[1]
        return ops.reshape(patches, (batch_size, patch_num * patch_num, patch_dim))

    rng = np.random.default_rng(0)
    images = rng.random((8, 16, 16, 3)).astype("float32")
    patches = np.asarray(patch_extract(images))
    y = k.utils.to_categorical(rng.integers(0, 5, 8), 5)
    inp = layers.Input(shape=(64, 12))
    x = PatchEmbedding(64, 8)(inp)
    x = SwinTransformer(
        dim=8, num_patch=(8, 8), num_heads=2, window_size=4, shift_size=0, num_mlp=16
    )(x)
    x = SwinTransformer(
        dim=8, num_patch=(8, 8), num_heads=2, window_size=4, shift_size=2, num_mlp=16
    )(x)
    x = PatchMerging((8, 8), embed_dim=8)(x)
    x = layers.GlobalAveragePooling1D()(x)
    model = k.Model(inp, layers.Dense(5, activation="softmax")(x))
    before = model.predict(patches, verbose=0)
    model.compile(
        loss=k.losses.CategoricalCrossentropy(label_smoothing=0.1),
        optimizer=k.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
        metrics=[
            k.metrics.CategoricalAccuracy(name="accuracy"),
            k.metrics.TopKCategoricalAccuracy(2, name="top-2-accuracy"),
        ],
    )
    history = model.fit(patches, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    return {
        "patches": patches,
        "before": before,
        "loss": history.history["loss"],
        "after": model.predict(patches, verbose=0),
        "weights": [tuple(w.shape) for w in model.weights],
    }


@pytest.mark.slow
def test_swin_transformer_blocks_predict_and_train_as_keras(keras):
    ours, expected = _both(keras, _swin_blocks)
    assert ours.pop("weights") == expected.pop("weights")
    _close(ours, expected)


# ------------------------------------------- Grad-CAM, integrated gradients, ascent
def _explanations(k):
    layers, ops = k.layers, k.ops
    k.utils.set_random_seed(4)
    inp = k.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, activation="relu", name="conv1")(inp)
    x = layers.Conv2D(6, 3, activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = layers.Dense(3, name="predictions")(x)
    model = k.Model(inp, out)
    rng = np.random.default_rng(0)
    img = rng.random((1, 16, 16, 3)).astype("float32")
    res = {}
    # Grad-CAM, split model as in the older example + the grad_model of the Keras 3 one
    last_conv_layer = model.get_layer("last_conv")
    last_conv_layer_model = k.Model(model.inputs, last_conv_layer.output)
    classifier_input = k.Input(shape=last_conv_layer.output.shape[1:])
    y = classifier_input
    for name in ["avg_pool", "predictions"]:
        y = model.get_layer(name)(y)
    classifier_model = k.Model(classifier_input, y)
    grad_model = k.models.Model(model.inputs, [model.get_layer("last_conv").output, model.output])
    conv_out, preds = grad_model(img)
    res["conv_out"] = conv_out
    res["preds"] = preds
    top = int(ops.argmax(preds[0]))

    def class_score(conv):
        return classifier_model(conv)[:, top].sum()

    grads = jax.grad(class_score)(jnp.asarray(last_conv_layer_model(img)))
    res["grads"] = grads
    pooled = ops.mean(grads, axis=(0, 1, 2))
    heatmap = conv_out[0] @ pooled[..., None]
    heatmap = ops.squeeze(heatmap)
    heatmap = ops.maximum(heatmap, 0) / ops.max(heatmap)
    res["heatmap"] = heatmap
    # stateless grad through the whole model (JAX-friendly grad_model)
    tv = [v.value for v in grad_model.trainable_variables]
    ntv = [v.value for v in grad_model.non_trainable_variables]

    def score2(x):
        (c, p), _ = grad_model.stateless_call(tv, ntv, x)
        return p[:, top].sum()

    res["input_grads"] = jax.grad(score2)(jnp.asarray(img))
    # integrated gradients
    baseline = np.zeros_like(img[0])
    alphas = np.linspace(0, 1, 5)
    interp = np.stack([baseline + a * (img[0] - baseline) for a in alphas]).astype("float32")

    def f(x):
        return ops.sum(ops.softmax(model(x), axis=-1)[:, top])

    g = jax.grad(f)(jnp.asarray(interp))
    res["ig"] = (img[0] - baseline) * ops.mean((g[:-1] + g[1:]) / 2.0, axis=0)
    # visualizing what convnets learn: gradient ascent with the feature extractor
    fe = k.Model(inputs=model.inputs, outputs=model.get_layer("conv1").output)

    def compute_loss(input_image, filter_index):
        activation = fe(input_image)
        filter_activation = activation[:, 2:-2, 2:-2, filter_index]
        return ops.mean(filter_activation)

    grad_fn = jax.jit(jax.value_and_grad(compute_loss), static_argnums=1)
    im = jnp.asarray(img)
    for _ in range(3):
        loss, gr = grad_fn(im, 1)
        gr = k.utils.normalize(gr)
        im = im + 10.0 * gr
    res["ascent"] = im
    res["ascent_loss"] = loss
    return res


@pytest.mark.slow
def test_grad_cam_integrated_gradients_and_gradient_ascent_with_jax_grad_as_keras(keras):
    _close(*_both(keras, _explanations))


@pytest.mark.parametrize(("dtype", "expected"), [("int", "int32"), (int, "int32"), (float, "float32")])
def test_variable_python_dtypes_are_keras_jax_standard_dtypes_without_a_warning(
    keras, dtype, expected
):  # fmt: skip
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # JAX warns when asked for a 64-bit dtype it truncates
        ours = lamina.Variable(initializer=np.arange(4), dtype=dtype)
    with keras_ref():
        theirs = keras.Variable(initializer=np.arange(4), dtype=dtype)
    assert ours.dtype == theirs.dtype == expected


def test_shared_batch_norm_of_sibling_branches_updates_in_keras_order(keras):
    def run(k):
        bn = k.layers.BatchNormalization(momentum=0.5)
        a, b = k.Input((4,)), k.Input((4,))
        model = k.Model([a, b], [bn(a), bn(b)])
        x = [np.full((2, 4), 1.0, "float32"), np.full((2, 4), 3.0, "float32")]
        model(x, training=True)
        return {"moving_mean": np.asarray(bn.moving_mean)}

    _close(*_both(keras, run))


def test_sub_layers_made_in_build_draw_keras_seeds(keras):
    def run(k):
        class SqueezeExcite(k.layers.Layer):
            def build(self, input_shape):
                self.squeeze = k.layers.Dense(4, activation="gelu")

            def call(self, x):
                return self.squeeze(x)

        k.utils.set_random_seed(8)
        inputs = k.Input((8,))
        model = k.Model(inputs, SqueezeExcite()(inputs))
        return {"kernel": np.asarray(model.weights[0])}

    _close(*_both(keras, run))


@pytest.mark.slow
def test_two_input_model_overriding_compute_loss_fits_and_predicts_as_keras(keras):
    """SimSiam-style: two augmented views as ``x`` and no targets; Keras's default steps
    unpack ``(x,)``, so ``call`` and ``compute_loss`` get both views."""

    def run(k):
        k.utils.set_random_seed(1)

        class TwoViews(k.Model):
            def __init__(self):
                super().__init__()
                self.dense = k.layers.Dense(2)

            def call(self, x, training=False):
                first, second = x
                return self.dense(first) - self.dense(k.ops.stop_gradient(second))

            def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                             training=True):  # fmt: skip
                return k.ops.mean(k.ops.square(y_pred))

        model = TwoViews()
        model.compile(optimizer="sgd")
        a = np.linspace(0, 1, 12, dtype="float32").reshape(4, 3)
        b = a[::-1] * 2.0
        history = model.fit((a, b), epochs=2, batch_size=2, verbose=0, shuffle=False)
        return {"loss": history.history["loss"], "predict": model.predict([a, b], verbose=0),
                "evaluate": model.evaluate([a, b], verbose=0)}  # fmt: skip

    _close(*_both(keras, run))
