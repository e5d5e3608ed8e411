"""One registry type for named objects: user objects through custom_objects, scopes and
register_keras_serializable, resolved the way Keras resolves them."""

import numpy as np
import pytest

from lamina import activations, constraints, initializers, regularizers
from lamina.layers import registry as layer_registry
from lamina.object_registry import ClassRegistry, Registry
from lamina.saving import (
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from tests.helpers import keras_ref


class _Scaled(regularizers.Regularizer):
    def __init__(self, factor=0.5):
        self.factor = factor

    def __call__(self, w):
        return self.factor * (w**2).sum()

    def get_config(self):
        return {"factor": self.factor}


def test_registered_name_matches_keras(keras):
    with keras_ref():

        @keras.saving.register_keras_serializable(package="Pkg")
        def keras_fn(x):
            return x

        expected = keras.saving.get_registered_name(keras_fn)

    @register_keras_serializable(package="Pkg")
    def keras_fn(x):  # noqa: F811 - the same name registered in Lamina
        return x

    assert get_registered_name(keras_fn) == expected == "Pkg>keras_fn"
    assert get_custom_objects()["Pkg>keras_fn"] is keras_fn


def test_registered_class_round_trips_through_serialize():
    register_keras_serializable(package="Tests")(_Scaled)
    reg = _Scaled(0.25)
    config = regularizers.serialize(reg)
    assert config["registered_name"] == "Tests>_Scaled"
    back = regularizers.deserialize(config)
    assert isinstance(back, _Scaled) and back.factor == 0.25
    # A bare class name also finds the registration.
    assert isinstance(regularizers.get("_Scaled"), _Scaled)


def test_custom_objects_argument_and_scope_take_precedence():
    def my_act(x):
        return x * 3

    assert activations.deserialize("my_act", custom_objects={"my_act": my_act}) is my_act
    with custom_object_scope({"my_act": my_act}):
        assert activations.get("my_act") is my_act
        assert get_registered_object("my_act") is my_act
    with pytest.raises(ValueError, match="Unknown activation 'my_act'"):
        activations.get("my_act")


def test_scope_rejects_non_dicts():
    with pytest.raises(TypeError, match="custom_object_scope takes dicts"):
        with custom_object_scope(["not", "a", "dict"]):
            pass


@pytest.mark.parametrize(
    "module, typo, guess",
    [
        (initializers, "glorot_unifrom", "glorot_uniform"),
        (regularizers, "l3", "l1"),
        (constraints, "max_nrom", "max_norm"),
        (activations, "rleu", "relu"),
    ],
)
def test_unknown_names_suggest_the_closest(module, typo, guess):
    with pytest.raises(ValueError, match=f"Did you mean '{guess}'"):
        module.get(typo)


def test_custom_layer_class_found_by_registered_name():
    from lamina.layers import Dense

    @register_keras_serializable(package="Tests")
    class MyDense(Dense):
        pass

    cls = layer_registry.get_layer_class("MyDense", registered_name="Tests>MyDense")
    assert cls is MyDense
    with pytest.raises(ValueError, match="Unknown layer class 'Dnese'. Did you mean 'Dense'"):
        layer_registry.get_layer_class("Dnese")


def test_class_registry_builds_instances_from_configs():
    reg = ClassRegistry("initializer", "keras.initializers", initializers.Initializer)
    reg.add(initializers.Constant, "Constant")
    init = reg.deserialize({"class_name": "Constant", "config": {"value": 2.0}})
    assert np.allclose(np.asarray(init((2,))), 2.0)
    with pytest.raises(ValueError, match="Could not interpret initializer config"):
        reg.deserialize({"config": {}})
    with pytest.raises(TypeError, match="expected a Initializer instance"):
        reg.serialize(object())


def test_hidden_names_resolve_but_are_not_listed():
    reg = Registry("thing", "docs")
    reg.add(1, "Base", listed=False)
    reg.add(2, "real")
    assert reg.lookup("Base") == 1
    assert reg.names() == ["real"]


def test_registered_loss_function_resolves_by_name_and_config():
    from lamina import losses

    @register_keras_serializable(package="Tests")
    def half_mse(y_true, y_pred):
        return 0.5 * ((y_true - y_pred) ** 2).mean(axis=-1)

    assert losses.get("Tests>half_mse") is half_mse  # as keras.losses.get: the function
    loss = losses.resolve("Tests>half_mse")  # compile's Loss object
    y = np.ones((4, 2), np.float32)
    assert np.isclose(float(loss(y, y * 3)), 2.0)
    config = {
        "module": "builtins",
        "class_name": "function",
        "config": "half_mse",
        "registered_name": "Tests>half_mse",
    }
    assert losses.deserialize(config) is half_mse
    with pytest.raises(ValueError, match="Unknown loss 'no_such_loss'"):
        losses.deserialize("no_such_loss")


def test_keras1_class_names_in_old_configs_resolve():
    from lamina.layers import Conv2D

    assert layer_registry.get_layer_class("Convolution2D") is Conv2D
    with pytest.warns(Warning):
        layer = layer_registry.deserialize(
            {
                "class_name": "Convolution2D",
                "config": {"nb_filter": 4, "nb_row": 3, "nb_col": 3, "border_mode": "same"},
            }
        )
    assert isinstance(layer, Conv2D)
    assert layer.get_config()["filters"] == 4 and layer.get_config()["padding"] == "same"
