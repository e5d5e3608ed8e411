"""The model/engine contract (``lamina.training.network``) with a hand-written network of two
inputs and two outputs: per-output losses and metrics, their log names and ``evaluate``'s order
against real Keras 3, and the numbers against JAX's own gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina import optimizers
from lamina.layers import Dense
from lamina.training import loop, outputs, step
from lamina.training.network import Binding, Network
from lamina.training.state import TrainState
from tests.helpers import keras_ref


class TinyModel:
    """Two inputs ``a`` (3 features) and ``b`` (2), concatenated; outputs ``out1`` (1 unit)
    and ``out2`` (2 units).  Just enough model to fill a ``Binding``."""

    def __init__(self, loss, loss_weights, metrics, weights=None):
        self.d1, self.d2 = Dense(1, name="out1"), Dense(2, name="out2")
        keys = jax.random.split(jax.random.key(0), 2)
        p1, s1 = self.d1.init(keys[0], (None, 5))
        p2, s2 = self.d2.init(keys[1], (None, 5))
        if weights is not None:  # Keras order: out1 kernel, bias, out2 kernel, bias
            p1 = {"kernel": jnp.asarray(weights[0]), "bias": jnp.asarray(weights[1])}
            p2 = {"kernel": jnp.asarray(weights[2]), "bias": jnp.asarray(weights[3])}
        self.optimizer = optimizers.SGD(learning_rate=0.1)
        tx = self.optimizer.to_optax()
        params = (p1, p2)
        self.ts = TrainState(params, (s1, s2), tx.init(params), jax.random.key(1))
        self.rng = jax.random.key(2)
        self.network = Network(
            layers=(self.d1, self.d2),
            forward=self.forward,
            spec_key=("tiny",),
            output_names=("out1", "out2"),
        )
        shapes = ((None, 1), (None, 2))
        self.losses = outputs.resolve_losses(loss, loss_weights, self.network.output_names)
        self.metrics = outputs.resolve_metrics(metrics, None, ("out1", "out2"), shapes, shapes)
        self.program = step.build_program(self.network, self.losses, self.metrics, tx, (True, True))
        self.stop_training = False
        self.history = None

    def forward(self, params, state, x, *, training, key=None, batch_mask=None):
        h = jnp.concatenate([x["a"], x["b"]], axis=-1)
        y1, s1 = self.d1.apply(params[0], state[0], h, training=training)
        y2, s2 = self.d2.apply(params[1], state[1], h, training=training)
        return (y1, y2), (s1, s2), jnp.zeros((), jnp.float32)

    def binding(self):
        def set_state(ts):
            self.ts = ts

        def set_rng(rng):
            self.rng = rng

        names = ["loss"] + [t.log_name for t in self.losses] + [m.log_name for m in self.metrics]
        return Binding(
            model=self,
            program=lambda: self.program,
            get_state=lambda: self.ts,
            set_state=set_state,
            get_rng=lambda: self.rng,
            set_rng=set_rng,
            build=lambda shape, dtypes=None: None,
            check_x=lambda x: None,
            check_y=lambda y: None,
            metrics_names=lambda: names,
            finalize=lambda epochs: None,
            compiled=True,
        )


def _data(n=16):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, 3)).astype("float32")
    b = rng.normal(size=(n, 2)).astype("float32")
    y1 = (a.sum(1, keepdims=True) - b[:, :1]).astype("float32")
    y2 = np.concatenate([a[:, :1], b[:, 1:]], axis=1).astype("float32")
    return {"a": a, "b": b}, (y1, y2)


def _fit_kwargs():
    return dict(
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=False,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        validation_batch_size=None,
        validation_freq=1,
    )


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_multi_output_logs_and_evaluate_order_match_keras(keras):
    x, ys = _data()
    with keras_ref():
        ia, ib = keras.Input((3,), name="a"), keras.Input((2,), name="b")
        h = keras.layers.Concatenate()([ia, ib])
        km = keras.Model(
            {"a": ia, "b": ib},
            [keras.layers.Dense(1, name="out1")(h), keras.layers.Dense(2, name="out2")(h)],
        )
        km.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=["mse", "mae"],
            loss_weights=[1.0, 0.5],
            metrics=[["mae"], ["mse"]],
        )
        weights = [np.asarray(w) for w in km.get_weights()]
        k_hist = km.fit(x, list(ys), batch_size=8, epochs=2, verbose=0, shuffle=False).history
        k_eval = km.evaluate(x, list(ys), batch_size=8, verbose=0)
        k_names = list(km.evaluate(x, list(ys), batch_size=8, verbose=0, return_dict=True))
    model = TinyModel(["mse", "mae"], [1.0, 0.5], [["mae"], ["mse"]], weights)
    b = model.binding()
    hist = loop.fit(b, x, ys, **_fit_kwargs()).history
    assert sorted(hist) == sorted(k_hist)
    for k in k_hist:
        np.testing.assert_allclose(hist[k], k_hist[k], rtol=1e-5, atol=1e-6)
    got = loop.evaluate(b, x, ys, batch_size=8, verbose=0, sample_weight=None, return_dict=False)
    np.testing.assert_allclose(got, k_eval, rtol=1e-5, atol=1e-6)
    as_dict = loop.evaluate(b, x, ys, batch_size=8, verbose=0, sample_weight=None, return_dict=True)
    assert set(as_dict) == set(k_names)


def test_multi_output_step_matches_jax_gradient():
    x, ys = _data(8)
    model = TinyModel({"out1": "mse", "out2": "mae"}, {"out1": 2.0, "out2": 1.0}, None)
    params0 = jax.tree_util.tree_map(np.asarray, model.ts.params)

    def total(params):
        (p1, p2), _, _ = model.forward(
            params, model.ts.state, jax.tree_util.tree_map(jnp.asarray, x), training=True
        )
        return 2.0 * jnp.mean((p1 - ys[0]) ** 2) + jnp.mean(jnp.abs(p2 - ys[1]))

    grads = jax.grad(total)(jax.tree_util.tree_map(jnp.asarray, params0))
    kwargs = _fit_kwargs() | {"epochs": 1}
    loop.fit(model.binding(), x, ys, **kwargs | {"batch_size": 8})
    for p0, g, p in zip(
        jax.tree_util.tree_leaves(params0),
        jax.tree_util.tree_leaves(grads),
        jax.tree_util.tree_leaves(model.ts.params),
    ):
        np.testing.assert_allclose(p, p0 - 0.1 * np.asarray(g), rtol=1e-5, atol=1e-6)
    preds = loop.predict(model.binding(), x, batch_size=3, verbose=0)
    assert isinstance(preds, tuple) and preds[0].shape == (8, 1) and preds[1].shape == (8, 2)
    ref, _, _ = model.forward(model.ts.params, model.ts.state, x, training=False)
    np.testing.assert_allclose(preds[1], ref[1], rtol=1e-6)


def test_per_output_compile_errors():
    with pytest.raises(ValueError, match="one entry per output"):
        outputs.resolve_losses(["mse"], None, ("out1", "out2"))
    with pytest.raises(ValueError, match=r"not outputs of the model.*out1"):
        outputs.resolve_losses({"nope": "mse"}, None, ("out1", "out2"))
    with pytest.raises(ValueError, match="one number for a model with a single output"):
        outputs.resolve_losses("mse", [1.0, 2.0], None)
