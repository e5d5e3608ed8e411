"""Adafactor and Lamb against real Keras 3 (weights after every step), and optimizers and
schedules by name through the one registry (get/serialize/deserialize vs Keras)."""

import numpy as np
import pytest

from lamina import optimizers
from lamina.optimizers import schedules
from lamina.saving import custom_object_scope, register_keras_serializable
from tests.helpers import keras_ref
from tests.test_optimizers import _assert_history_close, _keras_run, _lamina_run, _problem

CASES = [
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.05, "clip_threshold": 0.5, "beta_2_decay": -0.6}),
    ("Adafactor", {"learning_rate": 0.01, "epsilon_2": 1e-2, "weight_decay": 0.01}),
    ("Adafactor", {"learning_rate": schedules.ExponentialDecay(0.1, 3, 0.5)}),
    ("Lamb", {}),
    ("Lamb", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5}),
    ("Lamb", {"learning_rate": 0.01, "weight_decay": 0.05, "clipnorm": 0.5}),
]


@pytest.mark.parametrize("cls_name,kwargs", CASES)
def test_updates_match_keras(keras, cls_name, kwargs):
    init, grads = _problem(seed=3)
    ref, kopt, _ = _keras_run(keras, cls_name, kwargs, init, grads)
    opt = getattr(optimizers, cls_name)(**kwargs)
    ours, _, _ = _lamina_run(opt, init, grads)
    _assert_history_close(ours, ref)
    with keras_ref():
        expected = keras.optimizers.serialize(kopt)
    got = optimizers.serialize(opt)
    got["config"].pop("name"), expected["config"].pop("name")  # Keras numbers its names
    assert got == expected
    back = optimizers.deserialize(optimizers.serialize(opt))
    assert type(back) is type(opt) and back.get_config() == opt.get_config()


@pytest.mark.parametrize("cls_name", ["Adafactor", pytest.param("Lamb", marks=pytest.mark.slow)])
def test_fit_with_new_optimizers_matches_keras(keras, rng, cls_name):
    from lamina.layers import Dense
    from lamina.models import Sequential

    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    with keras_ref():
        km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        km.compile(getattr(keras.optimizers, cls_name)(learning_rate=0.01), "mse")
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    model = Sequential([Dense(2, input_shape=(4,))])
    model.compile(cls_name.lower(), "mse")
    model.compile(getattr(optimizers, cls_name)(learning_rate=0.01), "mse")
    model.set_weights(weights)
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h["loss"], kh["loss"], rtol=1e-4)
    with keras_ref():
        ref_w = km.get_weights()
    for a, b in zip(model.get_weights(), ref_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "identifier",
    ["adam", "Adam", "ADAM", "sgd", "rmsprop", "adamw", "nadam", "ftrl", "lion", "adafactor"],
)
def test_get_by_name_matches_keras(keras, identifier):
    with keras_ref():
        ref = keras.optimizers.get(identifier)
        expected = keras.optimizers.serialize(ref)
    ours = optimizers.get(identifier)
    assert type(ours).__name__ == type(ref).__name__
    got = optimizers.serialize(ours)
    got["config"].pop("name"), expected["config"].pop("name")
    assert got == expected


def test_deserialize_keras_configs_and_errors(keras):
    with keras_ref():
        cfg = keras.optimizers.serialize(keras.optimizers.Lamb(learning_rate=0.02, beta_1=0.7))
    opt = optimizers.deserialize(cfg)
    assert isinstance(opt, optimizers.Lamb) and opt.beta_1 == 0.7
    assert optimizers.get(cfg).get_config() == opt.get_config()
    with pytest.raises(ValueError, match="Unknown optimizer 'lamd'. Did you mean 'lamb'"):
        optimizers.get("lamd")
    with pytest.raises(ValueError, match="Could not interpret optimizer config"):
        optimizers.deserialize({"config": {}})
    with pytest.raises(NotImplementedError, match="keras.optimizers.TFOptimizer"):
        optimizers.TFOptimizer  # noqa: B018


def test_custom_optimizer_found_through_the_registry():
    class MySGD(optimizers.SGD):
        pass

    cfg = optimizers.serialize(MySGD(learning_rate=0.5))
    assert cfg["registered_name"] == "MySGD" and cfg["class_name"] == "MySGD"
    with pytest.raises(ValueError, match="Unknown optimizer 'mysgd'"):
        optimizers.deserialize(cfg)
    assert type(optimizers.deserialize(cfg, custom_objects={"MySGD": MySGD})) is MySGD
    with custom_object_scope({"MySGD": MySGD}):
        assert type(optimizers.deserialize(cfg)) is MySGD
    registered = register_keras_serializable(package="TestsH3")(type("RegSGD", (MySGD,), {}))
    cfg = optimizers.serialize(registered())
    assert cfg["registered_name"] == "TestsH3>RegSGD"
    assert type(optimizers.deserialize(cfg)) is registered


SCHEDULES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=100, alpha=0.1)),
    ("PiecewiseConstantDecay", dict(boundaries=[3, 6], values=[0.1, 0.05, 0.01])),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES)
def test_schedules_serialize_like_keras(keras, name, kwargs):
    with keras_ref():
        expected = keras.optimizers.schedules.serialize(
            getattr(keras.optimizers.schedules, name)(**kwargs)
        )
    ours = getattr(schedules, name)(**kwargs)
    assert schedules.serialize(ours) == expected
    back = schedules.deserialize(expected)
    assert type(back) is type(ours) and back.get_config() == ours.get_config()


def test_schedule_names_resolve_through_the_registry():
    with pytest.raises(ValueError, match="Did you mean 'CosineDecay'"):
        schedules.deserialize({"class_name": "CosinDecay", "config": {}})

    @register_keras_serializable(package="TestsH3")
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.5

        def get_config(self):
            return {}

    cfg = schedules.serialize(Halving())
    assert cfg["registered_name"] == "TestsH3>Halving"
    assert isinstance(schedules.deserialize(cfg), Halving)
