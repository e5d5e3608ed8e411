"""Keras 3's ``remat`` and ``RematScope`` (same gradients as Keras, the same layers
rematerialized), ``Operation`` and ``Function``, against real Keras 3.  (The other top-level
names: tests/test_toplevel_api_s20.py.)"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

X = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")

# ---------------------------------------------------------------- remat, RematScope


def _remat_count(jaxpr) -> int:
    """Rematerialized regions (``jax.checkpoint``) in a jaxpr, nested ones included."""
    n = 0
    for eqn in jaxpr.eqns:
        n += eqn.primitive.name.startswith(("remat", "checkpoint"))
        for value in eqn.params.values():
            for sub in value if isinstance(value, list | tuple) else [value]:
                inner = getattr(sub, "jaxpr", None)
                if inner is not None:
                    n += _remat_count(inner if hasattr(inner, "eqns") else inner.jaxpr)
    return n


def test_remat_function_as_in_keras(keras):
    def f(x):
        return jnp.sum(jnp.sin(x) * jnp.cos(x) ** 2)

    x = jnp.linspace(-1.0, 1.0, 5)
    with keras_ref():
        want = jax.grad(keras.remat(f))(x)
        keras_count = _remat_count(jax.make_jaxpr(jax.grad(keras.remat(f)))(x).jaxpr)
    got = jax.grad(lamina.remat(f))(x)
    np.testing.assert_allclose(got, want, rtol=1e-7)
    np.testing.assert_allclose(got, jax.grad(f)(x), rtol=1e-7)
    assert _remat_count(jax.make_jaxpr(jax.grad(lamina.remat(f)))(x).jaxpr) == keras_count == 1
    with pytest.raises(TypeError, match="takes a function"):
        lamina.remat(3)


def test_remat_scope_arguments_as_in_keras(keras):
    for lib in (keras, lamina):
        with pytest.raises(ValueError, match="Invalid mode 'everything'. Supported modes"):
            lib.RematScope(mode="everything")
        scope = lib.RematScope(mode="list_of_layers", layer_names=["a"])
        assert (scope.mode, scope.output_size_threshold, list(scope.layer_names)) == (
            "list_of_layers", 1024, ["a"]
        )  # fmt: skip


def _remat_model(lib, scope):
    with scope:
        inputs = lib.Input((4,))
        h = lib.layers.Dense(8, activation="relu", name="d1")(inputs)
        h = lib.layers.Dense(40, activation="tanh", name="wide")(h)
        h = lib.layers.LayerNormalization(name="ln")(h)
        outputs = lib.layers.Dense(1, name="d2")(h)
    return lib.Model(inputs, outputs)


def _grads_and_remats(model, weights):
    model.set_weights(weights)
    trainable = [jnp.asarray(v) for v in model.trainable_variables]
    frozen = [jnp.asarray(v) for v in model.non_trainable_variables]

    def loss(tv):
        return jnp.sum(model.stateless_call(tv, frozen, X)[0] ** 2)

    return jax.grad(loss)(trainable), _remat_count(jax.make_jaxpr(jax.grad(loss))(trainable).jaxpr)


@pytest.mark.parametrize(
    "mode,kwargs,count",
    [("full", {}, 4), ("activations", {}, 3), ("larger_than", {"output_size_threshold": 40}, 3),
     ("list_of_layers", {"layer_names": ["wide", "d2"]}, 2), (None, {}, 0)],
)  # fmt: skip
def test_remat_scope_rematerializes_the_layers_keras_does(keras, mode, kwargs, count):
    rng = np.random.default_rng(1)
    with keras_ref():
        ref = _remat_model(keras, keras.RematScope(mode=mode, **kwargs))
        weights = [rng.normal(size=w.shape).astype("float32") for w in ref.get_weights()]
        want, keras_count = _grads_and_remats(ref, weights)
    got, lamina_count = _grads_and_remats(
        _remat_model(lamina, lamina.RematScope(mode=mode, **kwargs)), weights
    )
    plain, plain_count = _grads_and_remats(_remat_model(lamina, lamina.RematScope(None)), weights)
    assert lamina_count == keras_count == count and plain_count == 0
    for g, w, p in zip(got, want, plain):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g, p, rtol=1e-6, atol=1e-7)  # the numbers do not change


class _Block(lamina.layers.Layer):
    """A custom layer with sub-layers, state and loss terms: all must survive remat."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = lamina.layers.Dense(4, activity_regularizer="l2")
        self.norm = lamina.layers.BatchNormalization()

    def call(self, x, training=None):
        self.add_loss(0.01 * lamina.ops.sum(x))
        return self.norm(self.dense(x), training=training)


def _fit_block(scope):
    lamina.utils.set_random_seed(3)
    with scope:
        block = _Block()
    inputs = lamina.Input((4,))
    model = lamina.Model(inputs, lamina.layers.Dense(1)(block(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(X, np.ones((6, 1)), epochs=2, batch_size=3, shuffle=False, verbose=0)
    return history.history["loss"], model.get_weights(), block


def test_remat_scope_keeps_losses_and_state_of_a_custom_layer():
    loss, weights, _ = _fit_block(contextlib.nullcontext())
    remat_loss, remat_weights, block = _fit_block(lamina.RematScope(mode="full"))
    np.testing.assert_allclose(remat_loss, loss, rtol=1e-6)
    for a, b in zip(remat_weights, weights):  # BatchNormalization's statistics included
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    block(X)  # an eager call reports its loss terms outside the checkpointed function
    assert len(block.losses) == 2 and all(np.isfinite(float(v)) for v in block.losses)


def test_keras_docstring_remat_layer_trains(keras):
    def build(lib):
        class CustomRematLayer(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.remat_function = lib.remat(self.intermediate_function)

            def intermediate_function(self, x):
                for _ in range(2):
                    x = x + x * 0.1
                return x

            def call(self, inputs):
                return self.remat_function(inputs)

        inputs = lib.layers.Input(shape=(4,))
        x = lib.layers.Dense(4, activation="relu")(inputs)
        x = CustomRematLayer()(x)
        model = lib.Model(inputs, lib.layers.Dense(1)(x))
        model.compile(optimizer="sgd", loss="mse")
        return model

    y = X.sum(axis=1, keepdims=True)
    with keras_ref():
        ref = build(keras)
        start = ref.get_weights()
        want = ref.fit(X, y, epochs=3, batch_size=6, shuffle=False, verbose=0).history["loss"]
    model = build(lamina)
    model.set_weights(start)
    got = model.fit(X, y, epochs=3, batch_size=6, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-5)


# ---------------------------------------------------------------- Operation, Function


def test_function_as_in_keras(keras):
    a_val = np.random.default_rng(2).random((4, 2, 3)).astype("float32")
    b_val = np.random.default_rng(3).random((4, 2, 3)).astype("float32")
    results = {}
    for lib in (keras, lamina):
        with keras_ref():
            a, b = lib.KerasTensor(shape=(None, 2, 3)), lib.KerasTensor(shape=(None, 2, 3))
            fn = lib.Function(inputs=[a, b], outputs=lib.ops.sigmoid(a + b), name="fn")
            results[lib] = (
                np.asarray(fn([a_val, b_val])),
                fn.inputs == [a, b],
                len(fn.outputs),
                fn.compute_output_shape([(5, 2, 3), (5, 2, 3)]),
                isinstance(fn, lib.Operation),
                fn.name,
            )
            with pytest.raises(ValueError, match="`inputs` argument cannot be empty"):
                lib.Function([], a + b)
            with pytest.raises(ValueError, match="`outputs` argument cannot be empty"):
                lib.Function([a], [])
            with pytest.raises(ValueError, match="Graph disconnected"):
                lib.Function([a], a + b)
            with pytest.raises(ValueError, match="invalid input structure"):
                fn(a_val)
    np.testing.assert_allclose(results[lamina][0], results[keras][0], rtol=1e-6)
    assert results[lamina][1:] == results[keras][1:]


def test_function_with_layers_and_structures_as_in_keras(keras):
    x_val = np.random.default_rng(4).random((3, 4)).astype("float32")
    results = {}
    for lib in (keras, lamina):
        with keras_ref():
            inputs = lib.Input((4,))
            dense = lib.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
            fn = lib.Function({"x": inputs}, {"y": dense(inputs), "z": [inputs * 2.0]})
            out = fn({"x": x_val})
            spec = fn.compute_output_spec({"x": lib.KerasTensor((7, 4))})
            again = lib.Input((4,))
            nested = fn({"x": again})  # a Function is an operation: it records a node
            model = lib.Model(again, nested["y"] - nested["z"][0][:, :2])
            results[lib] = (
                np.asarray(out["y"]),
                np.asarray(out["z"][0]),
                fn.compute_output_shape({"x": (None, 4)}),
                (spec["y"].shape, spec["z"][0].shape),
                (nested["y"].shape, nested["z"][0].shape),
                np.asarray(model.predict(x_val, verbose=0)),
                [op.name for op in fn.operations][-2:] == [dense.name, fn.operations[-1].name],
            )
    got, want = results[lamina], results[keras]
    for i in (0, 1, 5):
        np.testing.assert_allclose(got[i], want[i], rtol=1e-6)
    assert got[2:5] == want[2:5] and got[6] and want[6]


def test_operation_subclass_as_in_keras(keras):
    results = {}
    for lib in (keras, lamina):
        with keras_ref():

            class Scale(lib.Operation):
                def call(self, x, factor=2.0, ops=lib.ops):
                    return {"scaled": x * factor, "sum": ops.sum(x, axis=-1)}

            op = Scale()
            eager = op(X, factor=3.0)
            inputs = lib.Input((4,))
            symbolic = op(inputs, factor=3.0)
            model = lib.Model(inputs, symbolic["scaled"] + symbolic["sum"][:, None])
            spec = op.compute_output_spec(lib.KerasTensor((None, 5)))
            results[lib] = (
                np.asarray(eager["scaled"]),
                np.asarray(eager["sum"]),
                symbolic["scaled"].shape,
                symbolic["sum"].shape,
                np.asarray(model.predict(X, verbose=0)),
                (spec["scaled"].shape, spec["sum"].shape),
                op.name.startswith("scale"),
                isinstance(lib.layers.Dense(2), lib.Operation),
                isinstance(op, lib.Layer),
            )
            with pytest.raises(ValueError, match="cannot contain character `/`"):
                Scale(name="a/b")
    got, want = results[lamina], results[keras]
    for i in (0, 1, 4):
        np.testing.assert_allclose(got[i], want[i], rtol=1e-6)
    assert got[2:4] == want[2:4] and got[5:] == want[5:]
