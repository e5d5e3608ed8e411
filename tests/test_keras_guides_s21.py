"""Code of Keras 3's developer guides (keras.io/guides) that Lamina got wrong: "Training &
evaluation with the built-in methods", "Serialization & saving", "Customizing saving and
serialization" and "Making new layers and models via subclassing", checked against real
Keras (or NumPy where Keras 3.15 itself fails the guide's code)."""

import numpy as np
import pytest

import lamina
from lamina import ops
from tests.helpers import keras_ref


def _true_positives_metric(keras):
    class CategoricalTruePositives(keras.metrics.Metric):  # the training guide's metric
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = keras.ops.reshape(keras.ops.argmax(y_pred, axis=1), (-1, 1))
            values = keras.ops.cast(y_true, "int32") == keras.ops.cast(y_pred, "int32")
            self.true_positives.assign_add(keras.ops.sum(keras.ops.cast(values, "float32")))

        def result(self):
            return self.true_positives  # the variable itself, as the guide returns it

        def reset_state(self):
            self.true_positives.assign(0.0)

    return CategoricalTruePositives


def test_metric_result_returning_its_variable_runs_in_evaluate():
    # Keras 3.15 on this JAX fails this guide cell (``__jax_array__`` in abstractification);
    # the count it means is the number of rows whose argmax is the label.
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 6), "float32"), rng.integers(0, 3, (40, 1)).astype("float32")
    model = lamina.Sequential([lamina.Input((6,)), lamina.layers.Dense(3, activation="softmax")])
    model.compile("rmsprop", "sparse_categorical_crossentropy",
                  metrics=[_true_positives_metric(lamina)()])  # fmt: skip
    _, count = model.evaluate(x, y, batch_size=16, verbose=0)
    expected = np.sum(np.argmax(model.predict(x, verbose=0), axis=1) == y[:, 0])
    assert count == expected
    m = _true_positives_metric(lamina)()
    m.update_state(np.array([[1.0]]), np.array([[0.1, 0.9, 0.0]]))
    assert float(m.result()) == 1.0


def _my_dense(keras, package):
    @keras.saving.register_keras_serializable(package=package, name="KernelMult")
    class MyDense(keras.layers.Layer):  # the serialization guide's appendix
        def __init__(self, units, *, kernel_regularizer=None, kernel_initializer=None,
                     nested_model=None, **kwargs):  # fmt: skip
            super().__init__(**kwargs)
            self.hidden_units = units
            self.kernel_regularizer = kernel_regularizer
            self.kernel_initializer = kernel_initializer
            self.nested_model = nested_model

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.hidden_units, "kernel_regularizer": self.kernel_regularizer,
                           "kernel_initializer": self.kernel_initializer,
                           "nested_model": self.nested_model})  # fmt: skip
            return config

        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.hidden_units),
                                          regularizer=self.kernel_regularizer,
                                          initializer=self.kernel_initializer)  # fmt: skip

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.kernel)

    return MyDense


def _strip(config):
    """A serialized layer without what differs by design (``dtype`` policy form, names)."""
    if isinstance(config, dict):
        return {k: _strip(v) for k, v in config.items() if k not in ("dtype", "name", "module")}
    return config


def test_layers_serialize_writes_registered_name_and_nested_objects(keras):
    with keras_ref():
        k_cls = _my_dense(keras, "S21Guide")
        k_inner = k_cls(units=16, kernel_regularizer=keras.regularizers.L1L2(1e-5, 1e-4))
        k_config = keras.layers.serialize(k_cls(units=64, nested_model=k_inner))
    cls = _my_dense(lamina, "S21Guide")
    inner = cls(units=16, kernel_regularizer=lamina.regularizers.L1L2(1e-5, 1e-4))
    config = lamina.layers.serialize(cls(units=64, nested_model=inner))
    assert config["registered_name"] == "S21Guide>KernelMult"
    assert _strip(config) == _strip(k_config)
    restored = lamina.layers.deserialize(config)
    assert type(restored) is cls and restored.hidden_units == 64
    assert restored.nested_model["registered_name"] == "S21Guide>KernelMult"  # a dict, as Keras


def test_custom_layer_holding_a_layer_in_its_config_round_trips(tmp_path):
    @lamina.saving.register_keras_serializable(package="S21Complex")
    class Holder(lamina.layers.Layer):  # the guide's CustomModel(first_layer=...)
        def __init__(self, first_layer, second_layer=None, **kwargs):
            super().__init__(**kwargs)
            self.first_layer = first_layer
            self.second_layer = second_layer or lamina.layers.Dense(8)

        def get_config(self):
            config = super().get_config()
            config.update(first_layer=self.first_layer, second_layer=self.second_layer)
            return config

        @classmethod
        def from_config(cls, config):
            config["first_layer"] = lamina.layers.deserialize(config["first_layer"])
            config["second_layer"] = lamina.layers.deserialize(config["second_layer"])
            return cls(**config)

        def call(self, inputs):
            return self.first_layer(self.second_layer(inputs))

    inputs = lamina.Input((4,))
    model = lamina.Model(inputs, Holder(first_layer=lamina.layers.Dense(3))(inputs))
    x = np.ones((2, 4), "float32")
    assert lamina.Model.from_config(model.get_config())(x).shape == (2, 3)
    model.save(tmp_path / "m.keras")
    restored = lamina.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def _with_own_variable(keras):
    class WithVariable(keras.layers.Dense):  # the customizing-saving guide's layer
        def __init__(self, units, **kwargs):
            super().__init__(units, **kwargs)
            self.my_variable = keras.Variable(np.full((units,), 2.0), name="my_variable",
                                              dtype="float32")  # fmt: skip

        def call(self, inputs):
            return super().call(inputs) + self.my_variable

    return WithVariable


def test_builtin_subclass_with_a_variable_made_in_init(keras, tmp_path):
    with keras_ref():
        k_layer = _with_own_variable(keras)(2, kernel_initializer="ones")
        k_y = np.asarray(k_layer(np.ones((1, 3), "float32")))
        k_names = [w.name for w in k_layer.weights]
    cls = _with_own_variable(lamina)
    layer = cls(2, kernel_initializer="ones")
    np.testing.assert_allclose(layer(np.ones((1, 3), "float32")), k_y)  # 3 + 2
    assert [w.name for w in layer.weights] == k_names == ["my_variable", "kernel", "bias"]
    model = lamina.Sequential([lamina.Input((3,)), cls(1)])
    model.layers[0].my_variable.assign(np.array([5.0]))
    model.save(tmp_path / "v.keras")
    restored = lamina.models.load_model(tmp_path / "v.keras", custom_objects={"WithVariable": cls})
    assert restored.layers[0].my_variable.numpy().tolist() == [5.0]


def _built_by_hand(keras):
    class Linear(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

        def call(self, x):
            return keras.ops.matmul(x, self.w)

    layer = Linear()
    layer.build((None, 3))
    built = layer.built
    y = np.asarray(layer(np.ones((1, 3), "float32")))
    return built, y, len(layer.weights)


def test_layer_built_by_hand_is_not_built_again(keras):
    with keras_ref():
        expected = _built_by_hand(keras)
    built, y, count = _built_by_hand(lamina)
    assert (built, count) == (expected[0], expected[2]) == (True, 1)
    np.testing.assert_allclose(y, expected[1])


def test_custom_build_config_with_an_extra_build_argument_round_trips(tmp_path):
    @lamina.saving.register_keras_serializable(package="S21Build")
    class WithCustomBuild(lamina.layers.Layer):  # the customizing-saving guide's layer
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return dict(units=self.units, **super().get_config())

        def build(self, input_shape, layer_init):
            super().build(input_shape)
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init)
            self.b = self.add_weight(shape=(self.units,), initializer=layer_init)
            self.layer_init = layer_init

        def get_build_config(self):
            build_config = super().get_build_config()
            build_config.update({"layer_init": self.layer_init})
            return build_config

        def build_from_config(self, config):
            self.build(config["input_shape"], config["layer_init"])

    layer = WithCustomBuild(units=4)
    layer.build(input_shape=(8,), layer_init="random_normal")
    assert layer.get_build_config() == {"input_shape": (8,), "layer_init": "random_normal"}
    model = lamina.Sequential([layer, lamina.layers.Dense(1, activation="sigmoid")])
    x = np.random.default_rng(0).random((5, 8)).astype("float32")
    y = model(x)
    model.save(tmp_path / "b.keras")
    restored = lamina.models.load_model(tmp_path / "b.keras")
    assert restored.layers[0].layer_init == "random_normal" and restored.built
    np.testing.assert_allclose(restored.predict(x, verbose=0), np.asarray(y), rtol=1e-6)


def test_get_build_config_and_build_from_config_of_a_builtin_layer(keras):
    with keras_ref():
        k_layer = keras.layers.Dense(2)
        k_layer.build((None, 3))
        k_config = k_layer.get_build_config()
    layer = lamina.layers.Dense(2)
    layer.build((None, 3))
    assert layer.get_build_config() == k_config == {"input_shape": (None, 3)}
    fresh = lamina.layers.Dense(2)
    assert fresh.get_build_config() is None
    fresh.build_from_config({"input_shape": [None, 3]})  # as read back from JSON
    assert fresh.built and fresh.kernel.shape == (3, 2)
    with pytest.raises(TypeError, match="expects the dict get_build_config"):
        fresh.build_from_config([None, 3])


class _Endpoint(lamina.layers.Layer):  # the subclassing guide's LogisticEndpoint
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = lamina.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = lamina.metrics.BinaryAccuracy()

    def call(self, targets, logits, sample_weights=None):
        self.add_loss(self.loss_fn(targets, logits, sample_weights))
        self.accuracy_fn.update_state(targets, logits, sample_weights)
        return ops.softmax(logits)


def test_layer_metrics_lists_the_metrics_it_holds(keras):
    with keras_ref():

        class KEndpoint(keras.layers.Layer):
            def __init__(self):
                super().__init__()
                self.accuracy_fn = keras.metrics.BinaryAccuracy()

            def call(self, targets, logits):
                self.accuracy_fn.update_state(targets, logits)
                return logits

        k_layer = KEndpoint()
        k_layer(np.ones((2, 2), "float32"), np.array([[1.0, 0.0], [1.0, 1.0]], "float32"))
        k_result = float(k_layer.metrics[0].result())
    layer = _Endpoint()
    layer(np.ones((2, 2), "float32"), np.array([[1.0, 0.0], [1.0, 1.0]], "float32"))
    assert [m.name for m in layer.metrics] == ["binary_accuracy"]
    assert float(layer.metrics[0].result()) == k_result == 0.75


def test_metric_updated_inside_a_symbolic_call_is_left_unchanged():
    """Building a functional model runs ``call`` on symbolic inputs: as Keras's stateless
    symbolic call, it updates nothing (``fit`` carries it: tests/test_layer_metrics_fit.py)."""
    inputs, targets = lamina.Input((3,)), lamina.Input((10,))
    logits = lamina.layers.Dense(10)(inputs)
    layer = _Endpoint()
    layer(logits, targets)
    assert float(layer.accuracy_fn.result()) == 0.0
