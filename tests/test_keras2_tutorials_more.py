"""Keras 2 tutorial scripts (machinelearningmastery.com style) with their imports changed to
``lamina``: the pieces that needed a fix.

* ``train_it.next()`` on an ``ImageDataGenerator`` iterator (Keras 2's ``Iterator.next``);
* the optimizer's config after ``LearningRateScheduler``/``ReduceLROnPlateau`` holds the rate
  they set, as Keras's one learning-rate variable does (compared with Keras 3);
* ``from keras.engine.topology import Layer`` (Keras 2's engine import paths).
"""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _images():
    x = np.arange(5 * 4 * 4 * 1, dtype="float32").reshape(5, 4, 4, 1)
    return x, np.arange(5)


def test_image_iterator_next_is_keras2_next():
    # "How to Load Large Datasets From Directories": batchX, batchy = train_it.next()
    from lamina.preprocessing.image import ImageDataGenerator

    x, y = _images()
    gen = ImageDataGenerator(rescale=1.0 / 255.0)
    called = gen.flow(x, y, batch_size=2, shuffle=False)
    builtin = gen.flow(x, y, batch_size=2, shuffle=False)
    for _ in range(4):  # past the end: the endless iteration wraps around, as in Keras 2
        bx, by = called.next()
        wx, wy = next(builtin)
        np.testing.assert_array_equal(bx, wx)
        np.testing.assert_array_equal(by, wy)
    called.reset()
    np.testing.assert_array_equal(called.next()[1], [0, 1])


def _fit_with(module, callback):
    model = module.Sequential([module.Input((2,)), module.layers.Dense(1)])
    model.compile(optimizer=module.optimizers.SGD(learning_rate=0.1), loss="mse")
    x = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [1.0, 0.0]], "float32")
    y = np.array([[0.3], [0.9], [1.7], [0.2]], "float32")
    model.fit(x, y, epochs=3, batch_size=2, shuffle=False, verbose=0, callbacks=[callback])
    return model


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
        lambda m: m.callbacks.ReduceLROnPlateau(
            monitor="loss", factor=0.5, patience=0, min_delta=1e9
        ),
    ],
    ids=["LearningRateScheduler", "ReduceLROnPlateau"],
)
def test_optimizer_config_holds_the_rate_a_callback_set(keras, make, tmp_path):
    with keras_ref():
        want = _fit_with(keras, make(keras)).optimizer.get_config()["learning_rate"]
    model = _fit_with(lamina, make(lamina))
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(want, rel=1e-7)
    assert want < 0.1  # the callbacks did lower the rate
    # The saved file's optimizer config carries it too, as Keras's does.
    model.save(tmp_path / "m.keras")
    loaded = lamina.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(want, rel=1e-7)


def test_keras2_engine_import_paths():
    # Keras 2.0's "Writing your own Keras layers": from keras.engine.topology import Layer.
    from lamina import backend as K
    from lamina.engine import (
        base_layer,
        functional,
        input_layer,
        input_spec,
        network,
        sequential,
        topology,
        training,
    )
    from lamina.engine.topology import Layer

    assert Layer is lamina.layers.Layer and base_layer.Layer is lamina.layers.Layer
    assert input_layer.Input is lamina.layers.Input
    assert input_layer.InputLayer is lamina.layers.InputLayer
    assert input_spec.InputSpec is lamina.layers.InputSpec
    assert training.Model is lamina.models.Model
    assert sequential.Sequential is lamina.models.Sequential
    assert functional.Functional is network.Network is topology.Container
    assert topology.get_source_inputs is lamina.utils.get_source_inputs

    class MyLayer(Layer):
        def __init__(self, output_dim, **kwargs):
            self.output_dim = output_dim
            super().__init__(**kwargs)

        def build(self, input_shape):
            self.kernel = self.add_weight(
                name="kernel", shape=(input_shape[1], self.output_dim), initializer="ones"
            )
            super().build(input_shape)

        def call(self, x):
            return K.dot(x, self.kernel)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.output_dim)

    model = lamina.models.Sequential([MyLayer(3, input_shape=(4,))])
    out = model.predict(np.ones((2, 4), "float32"), verbose=0)
    np.testing.assert_allclose(out, np.full((2, 3), 4.0))


def rmse(y_true, y_pred):
    return lamina.backend.sqrt(lamina.backend.mean(lamina.backend.square(y_pred - y_true), -1))


@pytest.mark.parametrize("name", ["best_model.h5", "best_model.keras"])
def test_saved_custom_metric_is_named_as_a_metric(tmp_path, name):
    # "How to Use Metrics for Deep Learning with Keras": metrics=[rmse], then load_model.
    model = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=[rmse])
    x = np.array([[0.5, 1.0], [1.0, 0.25], [0.0, 0.5]], "float32")
    y = np.array([[0.2], [0.7], [0.4]], "float32")
    model.save(tmp_path / name)
    # Keras 2: "Unknown metric function: rmse" (a ValueError), not an unknown loss.
    with pytest.raises(ValueError, match=r"Unknown metric function 'rmse'.*custom_objects"):
        lamina.models.load_model(tmp_path / name)
    loaded = lamina.models.load_model(tmp_path / name, custom_objects={"rmse": rmse})
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))


def test_keras1_objectives_module_and_engine_attribute():
    """Keras 1's VAE: ``from keras import objectives; objectives.binary_crossentropy(x, y)``;
    ``keras.engine.topology`` as an attribute of the package."""
    import lamina
    from lamina import objectives
    from lamina.objectives import categorical_crossentropy

    x = np.array([[0.0, 1.0]], "float32")
    p = np.array([[0.2, 0.8]], "float32")
    np.testing.assert_allclose(
        objectives.binary_crossentropy(x, p), lamina.losses.binary_crossentropy(x, p)
    )
    assert categorical_crossentropy is lamina.losses.categorical_crossentropy
    assert lamina.engine.topology.Layer is lamina.layers.Layer
