"""Custom training logic the Keras 3 (JAX backend) way, against real Keras 3: a
``compute_loss`` override, JAX-style ``train_step``/``test_step``/``predict_step`` written as
in Keras's guide "Customizing what happens in fit() with JAX", a VAE and a GAN.

Each model class is written once, as a function of the library module, and run with
``lamina`` and with ``keras``: same starting weights, ``shuffle=False``, same History and
final weights to float32 rounding.
"""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

RTOL = 2e-4
ATOL = 2e-5


def _close(a, b, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def _same_history(kh, lh, rtol=RTOL, atol=ATOL):
    assert sorted(kh.history) == sorted(lh.history)
    for k in kh.history:
        _close(kh.history[k], lh.history[k], rtol, atol)


def _same_weights(km, lm, rtol=RTOL, atol=ATOL):
    kw, lw = km.get_weights(), lm.get_weights()
    assert len(kw) == len(lw)
    for a, b in zip(kw, lw):
        _close(a, b, rtol, atol)


def _data(n=53, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1))).astype("float32")
    return x, y


# ------------------------------------------------------------------ the guide's model
def guide_model_class(K, with_test_step=False):
    """The guide's ``CustomModel`` (``train_step`` over ``self.metrics``)."""

    class CustomModel(K.Model):
        def compute_loss_and_updates(
            self, trainable_variables, non_trainable_variables, x, y, training=False
        ):
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=training
            )
            loss = self.compute_loss(x, y, y_pred)
            return loss, (y_pred, non_trainable_variables)

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, ntv)), grads = grad_fn(tv, ntv, x, y, training=True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            new_mv, logs = [], {}
            for metric in self.metrics:
                this = mv[len(new_mv) : len(new_mv) + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, y, y_pred)
                logs[metric.name] = metric.stateless_result(this)
                new_mv += this
            return logs, (tv, ntv, ov, new_mv)

    if not with_test_step:
        return CustomModel

    class WithTestStep(CustomModel):
        def test_step(self, state, data):
            x, y = data
            tv, ntv, mv = state
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=False)
            loss = self.compute_loss(x, y, y_pred)
            new_mv, logs = [], {}
            for metric in self.metrics:
                this = mv[len(new_mv) : len(new_mv) + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, y, y_pred)
                logs[metric.name] = metric.stateless_result(this)
                new_mv += this
            return logs, (tv, ntv, new_mv)

    return WithTestStep


def _functional_pair(keras, make_cls, features=6):
    with keras_ref():
        kin = keras.Input((features,))
        kh = keras.layers.Dense(5, activation="tanh")(kin)
        km = make_cls(keras)(kin, keras.layers.Dense(1)(kh))
    lin = lamina.Input((features,))
    lh = lamina.layers.Dense(5, activation="tanh")(lin)
    lm = make_cls(lamina)(lin, lamina.layers.Dense(1)(lh))
    lm.set_weights(km.get_weights())
    return km, lm


def test_guide_train_step_matches_keras(keras):
    x, y = _data()
    km, lm = _functional_pair(keras, guide_model_class)
    with keras_ref():
        km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
        kh = km.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    lm.compile(optimizer=lamina.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    lh = lm.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    _same_history(kh, lh)
    _same_weights(km, lm)
    with keras_ref():
        kp = km.predict(x, verbose=0)
    _close(kp, lm.predict(x, verbose=0))


def penalty_model_class(K):
    """The backend-agnostic way: ``compute_loss`` adds a penalty on the predictions."""

    class Penalized(K.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training)
            return loss + 0.1 * K.ops.mean(K.ops.square(y_pred))

    return Penalized


def test_compute_loss_override_matches_keras(keras):
    x, y = _data()
    vx, vy = _data(n=20, seed=1)
    km, lm = _functional_pair(keras, penalty_model_class)
    with keras_ref():
        km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
        kh = km.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                    validation_data=(vx, vy))  # fmt: skip
        ke = km.evaluate(vx, vy, verbose=0, return_dict=True)
    lm.compile(optimizer=lamina.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    lh = lm.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                validation_data=(vx, vy))  # fmt: skip
    _same_history(kh, lh)
    _same_weights(km, lm)
    le = lm.evaluate(vx, vy, verbose=0, return_dict=True)
    assert sorted(ke) == sorted(le)
    for k in ke:
        _close(ke[k], le[k])


def trackers_model_class(K):
    """The guide's lower-level version: its own trackers, loss function and ``test_step``."""

    class CustomModel(K.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = K.metrics.Mean(name="loss")
            self.mae_metric = K.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = K.losses.MeanSquaredError()

        def compute_loss_and_updates(self, tv, ntv, x, y, training=False):
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=training)
            return self.loss_fn(y, y_pred), (y_pred, ntv)

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, ntv)), grads = grad_fn(tv, ntv, x, y, training=True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            n = len(self.loss_tracker.variables)
            loss_vars = self.loss_tracker.stateless_update_state(mv[:n], loss)
            mae_vars = self.mae_metric.stateless_update_state(mv[n:], y, y_pred)
            logs = {
                "loss": self.loss_tracker.stateless_result(loss_vars),
                "mae": self.mae_metric.stateless_result(mae_vars),
            }
            return logs, (tv, ntv, ov, loss_vars + mae_vars)

        def test_step(self, state, data):
            x, y = data
            tv, ntv, mv = state
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=False)
            n = len(self.loss_tracker.variables)
            loss_vars = self.loss_tracker.stateless_update_state(mv[:n], self.loss_fn(y, y_pred))
            mae_vars = self.mae_metric.stateless_update_state(mv[n:], y, y_pred)
            logs = {
                "loss": self.loss_tracker.stateless_result(loss_vars),
                "mae": self.mae_metric.stateless_result(mae_vars),
            }
            return logs, (tv, ntv, loss_vars + mae_vars)

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    return CustomModel


def test_own_trackers_and_test_step_match_keras(keras):
    x, y = _data()
    km, lm = _functional_pair(keras, trackers_model_class)
    with keras_ref():
        km.compile(optimizer=keras.optimizers.Adam(0.01))
        kh = km.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                    validation_split=0.25)  # fmt: skip
        ke = km.evaluate(x, y, batch_size=10, verbose=0)
    lm.compile(optimizer=lamina.optimizers.Adam(0.01))
    lh = lm.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    _same_history(kh, lh)
    _same_weights(km, lm)
    _close(ke, lm.evaluate(x, y, batch_size=10, verbose=0))
    # Keras syncs the metric state back to the model after evaluate.
    _close(lm.loss_tracker.result(), ke[0])


# ---------------------------------------------------------------------------- a VAE
def vae_parts(K, features=8, latent=2):
    """Encoder (with a sampling layer drawing from its SeedGenerator), decoder, VAE."""

    class Sampling(K.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = K.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            shape = (K.ops.shape(z_mean)[0], K.ops.shape(z_mean)[1])
            eps = K.random.normal(shape=shape, seed=self.seed_generator)
            return z_mean + K.ops.exp(0.5 * z_log_var) * eps

    class VAE(K.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = K.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = K.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = K.metrics.Mean(name="kl_loss")
            self.built = True

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker,
                    self.kl_loss_tracker]  # fmt: skip

        def losses_and_updates(self, tv, ntv, x):
            n_t = len(self.encoder.trainable_variables)
            n_nt = len(self.encoder.non_trainable_variables)
            (z_mean, z_log_var, z), e_ntv = self.encoder.stateless_call(
                tv[:n_t], ntv[:n_nt], x, training=True
            )
            rec, d_ntv = self.decoder.stateless_call(tv[n_t:], ntv[n_nt:], z, training=True)
            rec_loss = K.ops.mean(K.ops.sum(K.ops.square(x - rec), axis=1))
            kl = -0.5 * (1 + z_log_var - K.ops.square(z_mean) - K.ops.exp(z_log_var))
            kl_loss = K.ops.mean(K.ops.sum(kl, axis=1))
            return rec_loss + kl_loss, (rec_loss, kl_loss, list(e_ntv) + list(d_ntv))

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            grad_fn = jax.value_and_grad(self.losses_and_updates, has_aux=True)
            (total, (rec_loss, kl_loss, ntv)), grads = grad_fn(tv, ntv, data)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            new_mv, logs = [], {}
            for metric, value in zip(self.metrics, (total, rec_loss, kl_loss)):
                at = len(new_mv)
                this = metric.stateless_update_state(mv[at : at + len(metric.variables)], value)
                logs[metric.name] = metric.stateless_result(this)
                new_mv += this
            return logs, (tv, ntv, ov, new_mv)

    inp = K.Input((features,))
    h = K.layers.Dense(6, activation="relu")(inp)
    z_mean, z_log_var = K.layers.Dense(latent)(h), K.layers.Dense(latent)(h)
    encoder = K.Model(inp, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    lat = K.Input((latent,))
    decoder = K.Model(lat, K.layers.Dense(features)(K.layers.Dense(6, activation="relu")(lat)))
    return encoder, decoder, VAE


@pytest.mark.slow
def test_vae_with_seeded_sampling_matches_keras(keras):
    x = np.random.default_rng(2).normal(size=(40, 8)).astype("float32")
    with keras_ref():
        kenc, kdec, KVAE = vae_parts(keras)
    lenc, ldec, LVAE = vae_parts(lamina)
    lenc.set_weights(kenc.get_weights())
    ldec.set_weights(kdec.get_weights())
    with keras_ref():
        kvae = KVAE(kenc, kdec)
        kvae.compile(optimizer=keras.optimizers.Adam(0.01))
        kh = kvae.fit(x, batch_size=16, epochs=3, shuffle=False, verbose=0)
    lvae = LVAE(lenc, ldec)
    lvae.compile(optimizer=lamina.optimizers.Adam(0.01))
    lh = lvae.fit(x, batch_size=16, epochs=3, shuffle=False, verbose=0)
    _same_history(kh, lh)
    _same_weights(kenc, lenc)
    _same_weights(kdec, ldec)
    # Fresh noise every step: the generator advanced once per step (3 epochs x 3 steps).
    sampler = [la for la in lenc.layers if hasattr(la, "seed_generator")][0]
    assert np.asarray(sampler.seed_generator.state).tolist() == [1337, 9]


# ---------------------------------------------------------------------------- a GAN
def gan_parts(K, features=4, latent=3):
    """Discriminator and generator (Sequential), and the GAN class with two optimizers."""

    class GAN(K.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_tracker = K.metrics.Mean(name="d_loss")
            self.g_loss_tracker = K.metrics.Mean(name="g_loss")
            self.seed_generator = K.random.SeedGenerator(1337)
            self.built = True

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            d_tv, g_tv, d_loss, g_loss = gan_update(
                K, self, tv, data, self.d_optimizer, self.g_optimizer,
                lambda: K.random.normal((K.ops.shape(data)[0], self.latent_dim),
                                        seed=self.seed_generator),
            )  # fmt: skip
            n = len(self.d_loss_tracker.variables)
            d_vars = self.d_loss_tracker.stateless_update_state(mv[:n], d_loss)
            g_vars = self.g_loss_tracker.stateless_update_state(mv[n:], g_loss)
            logs = {"d_loss": self.d_loss_tracker.stateless_result(d_vars),
                    "g_loss": self.g_loss_tracker.stateless_result(g_vars)}  # fmt: skip
            return logs, (list(d_tv) + list(g_tv), ntv, ov, d_vars + g_vars)

    discriminator = K.Sequential(
        [K.Input((features,)), K.layers.Dense(5, activation="relu"), K.layers.Dense(1)]
    )
    generator = K.Sequential(
        [K.Input((latent,)), K.layers.Dense(5, activation="relu"), K.layers.Dense(features)]
    )
    return discriminator, generator, GAN


def gan_update(K, gan, tv, real, d_opt, g_opt, noise):
    """One GAN step: the discriminator on fakes and reals, then the generator through it.
    ``noise()`` draws the latent vectors; ``d_opt.variables`` is the optimizer's state."""
    n_d = len(gan.discriminator.trainable_variables)
    d_tv, g_tv = list(tv[:n_d]), list(tv[n_d:])
    batch = K.ops.shape(real)[0]

    def d_loss_fn(d_tv, images, labels):
        preds, _ = gan.discriminator.stateless_call(d_tv, [], images)
        return gan.loss_fn(labels, preds)

    def g_loss_fn(g_tv, d_tv, z):
        fake, _ = gan.generator.stateless_call(g_tv, [], z)
        preds, _ = gan.discriminator.stateless_call(d_tv, [], fake)
        return gan.loss_fn(K.ops.zeros((batch, 1)), preds)

    fake, _ = gan.generator.stateless_call(g_tv, [], noise())
    images = K.ops.concatenate([fake, real], axis=0)
    labels = K.ops.concatenate([K.ops.ones((batch, 1)), K.ops.zeros((batch, 1))], axis=0)
    d_loss, grads = jax.value_and_grad(d_loss_fn)(d_tv, images, labels)
    d_tv, d_vars = d_opt.stateless_apply(d_opt.variables, grads, d_tv)
    g_loss, grads = jax.value_and_grad(g_loss_fn)(g_tv, d_tv, noise())
    g_tv, g_vars = g_opt.stateless_apply(g_opt.variables, grads, g_tv)
    return d_tv, g_tv, d_loss, g_loss


def _keras_gan_reference(keras, gan, real, batch_size, epochs):
    """The same GAN trained by a hand-written jitted JAX loop over Keras's stateless APIs,
    threading both optimizers' variables and the seed explicitly (Keras's ``fit`` carries
    only ``model.optimizer``)."""
    import jax.numpy as jnp

    d_opt, g_opt = gan.d_optimizer, gan.g_optimizer
    d_opt.build(gan.discriminator.trainable_variables)
    g_opt.build(gan.generator.trainable_variables)

    @jax.jit
    def run_step(tv, d_vars, g_vars, counter, batch):
        draws = iter([counter, counter + 1])
        out = {}

        def noise():
            seed = jnp.stack([jnp.uint32(1337), next(draws).astype(jnp.uint32)])
            return keras.random.normal((batch.shape[0], gan.latent_dim), seed=seed)

        class Recording:  # an optimizer whose variables are given and recorded
            def __init__(self, name, opt, variables):
                self.name, self.opt, self.variables = name, opt, variables

            def stateless_apply(self, variables, grads, tv):
                new_tv, new_vars = self.opt.stateless_apply(variables, grads, tv)
                out[self.name] = new_vars
                return new_tv, new_vars

        d_tv, g_tv, d_loss, g_loss = gan_update(
            keras, gan, tv, batch, Recording("d", d_opt, d_vars), Recording("g", g_opt, g_vars),
            noise,
        )  # fmt: skip
        return list(d_tv) + list(g_tv), out["d"], out["g"], d_loss, g_loss

    tv = [v.value for v in gan.discriminator.trainable_variables]
    tv += [v.value for v in gan.generator.trainable_variables]
    d_vars = [v.value for v in d_opt.variables]
    g_vars = [v.value for v in g_opt.variables]
    counter, history = 0, {"d_loss": [], "g_loss": []}
    for _ in range(epochs):
        d_losses, g_losses = [], []
        for start in range(0, len(real), batch_size):
            tv, d_vars, g_vars, d_loss, g_loss = run_step(
                tv, d_vars, g_vars, jnp.uint32(counter), real[start : start + batch_size]
            )
            counter += 2
            d_losses.append(float(d_loss))
            g_losses.append(float(g_loss))
        history["d_loss"].append(np.mean(d_losses))
        history["g_loss"].append(np.mean(g_losses))
    return history, tv, counter


@pytest.mark.slow
def test_gan_two_optimizers_and_seeded_noise_match_keras(keras):
    real = np.random.default_rng(3).normal(size=(40, 4)).astype("float32")
    with keras_ref():
        kd, kg, KGAN = gan_parts(keras)
    ld, lg, LGAN = gan_parts(lamina)
    ld.set_weights(kd.get_weights())
    lg.set_weights(kg.get_weights())
    with keras_ref():
        kgan = KGAN(kd, kg, latent_dim=3)
        kgan.compile(keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.02),
                     keras.losses.BinaryCrossentropy(from_logits=True))  # fmt: skip
        k_hist, k_tv, draws = _keras_gan_reference(keras, kgan, real, 16, 3)
    lgan = LGAN(ld, lg, latent_dim=3)
    lgan.compile(lamina.optimizers.Adam(0.01), lamina.optimizers.Adam(0.02),
                 lamina.losses.BinaryCrossentropy(from_logits=True))  # fmt: skip
    lh = lgan.fit(real, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert sorted(lh.history) == ["d_loss", "g_loss"]
    for k in k_hist:
        _close(k_hist[k], lh.history[k])
    for a, b in zip(k_tv, ld.get_weights() + lg.get_weights()):
        _close(a, b)
    # Fresh noise at every draw (two per step), and both optimizers kept their state.
    assert np.asarray(lgan.seed_generator.state).tolist() == [1337, draws]
    assert int(lgan.d_optimizer.variables[0]) == 9 and int(lgan.g_optimizer.variables[0]) == 9


def metrics_override_class(K):
    """``compute_metrics`` overridden the stateful way, with a metric held as an attribute."""

    class WithCustomMetric(K.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.custom_metric = K.metrics.MeanAbsoluteError(name="custom_mae")

        def compute_metrics(self, x, y, y_pred, sample_weight=None):
            results = super().compute_metrics(x, y, y_pred, sample_weight)
            self.custom_metric.update_state(y, 2.0 * y_pred)
            results["custom_mae"] = self.custom_metric.result()
            return results

    return WithCustomMetric


def test_compute_metrics_override_and_batch_hooks_match_keras(keras):
    x, y = _data()
    km, lm = _functional_pair(keras, metrics_override_class)
    k_batches, l_batches = [], []

    def recorder(module, seen):
        class Recorder(module.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                seen.append((batch, round(float(logs["loss"]), 4)))

        return Recorder()

    with keras_ref():
        km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mse"])
        kh = km.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                    callbacks=[recorder(keras, k_batches)])  # fmt: skip
    lm.compile(optimizer=lamina.optimizers.SGD(0.05), loss="mse", metrics=["mse"])
    lh = lm.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                callbacks=[recorder(lamina, l_batches)])  # fmt: skip
    _same_history(kh, lh)
    _same_weights(km, lm)
    assert [b for b, _ in k_batches] == [b for b, _ in l_batches]
    _close([v for _, v in k_batches], [v for _, v in l_batches], atol=1e-4)
    assert [m.name for m in lm.metrics] == ["loss", "compile_metrics", "custom_mae"]


def test_tf_style_train_step_is_refused_with_the_jax_signature():
    class TFStyle(lamina.Model):
        def __init__(self):
            super().__init__()
            self.dense = lamina.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            return {}

    model = TFStyle()
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    with pytest.raises(TypeError, match=r"TensorFlow-style.*train_step\(self, state, data\)"):
        model.fit(x, y, verbose=0)
    with pytest.raises(TypeError, match=r"override compute_loss\(self, x, y, y_pred"):
        model.fit(x, y, verbose=0)


def test_run_eagerly_runs_the_step_python_at_every_step():
    calls = []

    def make(K):
        class Traced(guide_model_class(K)):
            def train_step(self, state, data):
                calls.append(isinstance(state[0][0], jax.core.Tracer))
                return super().train_step(state, data)

        return Traced

    x, y = _data(n=40)
    lin = lamina.Input((6,))
    eager = make(lamina)(lin, lamina.layers.Dense(1)(lin))
    compiled = make(lamina)(lin, lamina.layers.Dense(1)(lin))
    compiled.set_weights(eager.get_weights())
    eager.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    eh = eager.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert calls == [False] * 3  # 3 steps (16, 16, 8 rows), on concrete arrays
    calls.clear()
    compiled.compile(optimizer="sgd", loss="mse")
    ch = compiled.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert calls and all(calls)  # traced (per batch shape), then run compiled
    _close(eh.history["loss"], ch.history["loss"])


def test_predict_step_and_x_only_evaluate():
    class Doubling(lamina.Model):
        def __init__(self):
            super().__init__()
            self.dense = lamina.layers.Dense(2)
            self.tracker = lamina.metrics.Mean(name="energy")

        def call(self, x):
            return self.dense(x)

        def predict_step(self, state, data):
            y, ntv = self.stateless_call(state[0], state[1], data)
            return 2.0 * y, ntv

        def test_step(self, state, data):
            tv, ntv, mv = state
            y, _ = self.stateless_call(tv, ntv, data)
            mv = self.tracker.stateless_update_state(mv, lamina.ops.mean(y**2))
            return {"energy": self.tracker.stateless_result(mv)}, (tv, ntv, mv)

        @property
        def metrics(self):
            return [self.tracker]

    model = Doubling()
    x = np.random.default_rng(4).normal(size=(10, 3)).astype("float32")
    model.build((None, 3))
    model.compile(optimizer="sgd")
    plain = np.asarray(model(x))
    _close(model.predict(x, batch_size=4, verbose=0), 2.0 * plain, atol=1e-5)
    # x alone reaches test_step (Keras passes ``data = x``), in batches of 4, 4 and 2 rows.
    per_batch = [np.mean(plain[i : i + 4] ** 2) for i in (0, 4, 8)]
    _close(model.evaluate(x, batch_size=4, verbose=0), np.mean(per_batch), atol=1e-5)


def test_streamed_batches_train_like_arrays():
    x, y = _data()

    def batches():
        for i in range(0, 53, 16):  # 16, 16, 16 and 5 rows: the short batch runs alone
            yield x[i : i + 16], y[i : i + 16]

    lin = lamina.Input((6,))
    arrays = guide_model_class(lamina)(lin, lamina.layers.Dense(1)(lin))
    stream = guide_model_class(lamina)(lin, lamina.layers.Dense(1)(lin))
    stream.set_weights(arrays.get_weights())
    for m in (arrays, stream):
        m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    ha = arrays.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    hs = stream.fit(batches(), epochs=1, verbose=0)
    _same_history(ha, hs, atol=1e-6)
    _same_weights(arrays, stream, atol=1e-6)
