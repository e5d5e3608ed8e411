"""Models compiled with a user's loss or metric function load back with
``custom_objects={...}`` (Keras's way), from Lamina's files and from real Keras's."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def my_loss(y_true, y_pred):
    return lamina.ops.mean(lamina.ops.square(y_pred - y_true), axis=-1)


def rmse(y_true, y_pred):
    return lamina.ops.sqrt(lamina.ops.mean(lamina.ops.square(y_pred - y_true)))


X = np.linspace(0, 1, 32, dtype="float32").reshape(8, 4)
Y = X.sum(axis=1, keepdims=True)
X_TEST, Y_TEST = X[::-1] * 0.5, Y[::-1] * 0.5


def _fitted(k):
    model = k.Sequential([k.Input((4,)), k.layers.Dense(1, kernel_initializer="ones")])
    model.compile("adam", my_loss, metrics=[rmse])
    model.fit(X, Y, epochs=1, verbose=0, shuffle=False)
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("writer", ["lamina", "keras"])
def test_user_loss_and_metric_load_with_custom_objects(keras, tmp_path, suffix, writer):
    path = tmp_path / f"m{suffix}"
    if writer == "keras":
        with keras_ref():
            model = _fitted(keras)
            model.save(path)
            expected = model.evaluate(X_TEST, Y_TEST, verbose=0)
    else:
        model = _fitted(lamina)
        model.save(path)
        expected = model.evaluate(X_TEST, Y_TEST, verbose=0)
    custom = {"my_loss": my_loss, "rmse": rmse}
    loaded = lamina.models.load_model(path, custom_objects=custom)
    np.testing.assert_allclose(loaded.evaluate(X_TEST, Y_TEST, verbose=0), expected, rtol=1e-5)
    loaded.fit(X, Y, epochs=1, verbose=0)  # compiled with the user's functions


def test_missing_custom_loss_says_how_to_load(tmp_path):
    model = _fitted(lamina)
    model.save(tmp_path / "m.keras")
    with pytest.raises(Exception, match="my_loss.*compile=False|custom_objects"):
        lamina.models.load_model(tmp_path / "m.keras")


def squared(x):
    return x**2


@pytest.mark.parametrize("writer", ["lamina", "keras"])
def test_custom_activation_loads_with_custom_objects(keras, tmp_path, writer):
    """``custom_objects`` reach every lookup of the rebuilt config (a layer's activation),
    as Keras's ``load_model`` scopes them."""
    path = str(tmp_path / "m.keras")
    x = X[:3]
    if writer == "keras":
        with keras_ref():
            inputs = keras.Input((4,))
            ref = keras.Model(inputs, keras.layers.Dense(2, activation=squared)(inputs))
            ref.save(path)
            want = ref.predict(x, verbose=0)
    else:
        inputs = lamina.Input((4,))
        ref = lamina.Model(inputs, lamina.layers.Dense(2, activation=squared)(inputs))
        ref.save(path)
        want = ref.predict(x, verbose=0)
    model = lamina.models.load_model(path, custom_objects={"squared": squared})
    assert model.layers[1].activation is squared
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-6)


def _custom_compile_class(k):
    class CustomCompile(k.Model):
        """The serialization guide's model whose ``compile`` takes other arguments."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = k.layers.Dense(2)
            self.model_optimizer = None

        def call(self, inputs):
            return self.dense(inputs)

        def compile(self, optimizer, loss_fn):
            super().compile(optimizer=optimizer, loss=loss_fn)
            self.model_optimizer = optimizer
            self.loss_fn = loss_fn

        def get_compile_config(self):
            return {"model_optimizer": self.model_optimizer, "loss_fn": self.loss_fn}

        def compile_from_config(self, config):
            optimizer = k.utils.deserialize_keras_object(config["model_optimizer"])
            loss_fn = k.utils.deserialize_keras_object(config["loss_fn"])
            self.compile(optimizer=optimizer, loss_fn=loss_fn)

    return CustomCompile


@pytest.mark.parametrize("optimizer", ["SGD", "adam_object"])
def test_a_model_own_compile_config_round_trips(keras, tmp_path, optimizer):
    cls = _custom_compile_class(lamina)
    model = cls()
    opt = lamina.optimizers.Adam(0.5) if optimizer == "adam_object" else optimizer
    model.compile(opt, "mse")
    model(X[:2])
    model.save(str(tmp_path / "c.keras"))
    back = lamina.models.load_model(str(tmp_path / "c.keras"), custom_objects={"CustomCompile": cls})
    assert back.loss_fn == "mse"
    if optimizer == "SGD":
        assert back.model_optimizer == "SGD"
    else:
        assert float(back.model_optimizer.learning_rate) == 0.5
    with keras_ref():  # Keras reads the same compile_config back through its own override
        kcls = _custom_compile_class(keras)
        kback = keras.models.load_model(str(tmp_path / "c.keras"), custom_objects={"CustomCompile": kcls})
        assert kback.loss_fn == "mse"


@pytest.mark.parametrize("loss", [("mse", "mae"), ["mse", "mae"]])
def test_a_subclassed_two_output_model_with_a_loss_per_output_loads(tmp_path, loss):
    """Géron's WideAndDeepModel compiled with ``loss=("mse", "mse")``: the file's list of
    losses is one per output although a subclassed model lists no outputs."""

    class TwoOut(lamina.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = lamina.layers.Dense(4, activation="relu")
            self.a = lamina.layers.Dense(1)
            self.b = lamina.layers.Dense(1)

        def call(self, x):
            z = self.hidden(x)
            return self.a(z), self.b(z)

    model = TwoOut()
    model.compile(loss=loss, optimizer="adam")
    model.fit(X, (Y, Y), epochs=1, verbose=0)
    model.save(str(tmp_path / "two.keras"))
    back = lamina.models.load_model(str(tmp_path / "two.keras"), custom_objects={"TwoOut": TwoOut})
    want = model.evaluate(X, (Y, Y), verbose=0)
    np.testing.assert_allclose(back.evaluate(X, (Y, Y), verbose=0), want, rtol=1e-5)


def _glorot_fn(shape, dtype="float32"):
    return lamina.random.normal(shape, stddev=(2.0 / (shape[0] + shape[1])) ** 0.5, dtype=dtype)


def _l1_fn(weights):
    return lamina.ops.sum(lamina.ops.abs(0.01 * weights))


def test_function_initializer_and_regularizer_build_save_and_load(tmp_path):
    """Géron's ch. 12: ``kernel_initializer=my_glorot_initializer`` (called with the shape
    and dtype, drawing unseeded numbers) and ``kernel_regularizer=my_l1_regularizer`` saved
    as Keras's function entries and loaded back by name."""

    class WithVars(lamina.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], 2), initializer=_glorot_fn)

        def call(self, x):
            return x @ self.w

    inputs = lamina.Input((3,))
    dense = lamina.layers.Dense(2, kernel_initializer=_glorot_fn, kernel_regularizer=_l1_fn)
    model = lamina.Model(inputs, WithVars()(dense(inputs)))
    kernel = model.layers[1].get_weights()[0]
    assert kernel.shape == (3, 2) and np.std(kernel) > 0
    model.save(str(tmp_path / "f.keras"))
    objects = {"_glorot_fn": _glorot_fn, "_l1_fn": _l1_fn, "WithVars": WithVars}
    back = lamina.models.load_model(str(tmp_path / "f.keras"), custom_objects=objects)
    assert back.layers[1].kernel_regularizer is _l1_fn
    np.testing.assert_allclose(back.predict(X[:, :3], verbose=0), model.predict(X[:, :3], verbose=0))
    with pytest.raises(Exception, match="Unknown initializer function '_glorot_fn'"):
        lamina.models.load_model(str(tmp_path / "f.keras"), custom_objects={"WithVars": WithVars})
