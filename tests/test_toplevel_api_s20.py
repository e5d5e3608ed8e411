"""Keras 3's top-level names Lamina had left out, each against real Keras 3: ``InputSpec``,
``version``, ``name_scope`` (variable paths), ``device``, ``SymbolicScope``, ``legacy.saving``
and ``utils.legacy`` (Keras 2 serialization), and the namespaces Lamina does not support
(``export``, ``quantizers``, ``visualization``, ``distillation``, ``Quantizer``).  ``remat``,
``RematScope``, ``Operation`` and ``Function``: tests/test_toplevel_api_s20_graph.py."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina._unsupported import UnsupportedKerasAPIError
from tests.helpers import keras_ref

X = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")

# ---------------------------------------------------------------- every top-level name


def test_every_keras_top_level_name_resolves_or_is_named_unsupported(keras):
    missing = []
    for name in (n for n in dir(keras) if not n.startswith("_") and n != "src"):
        try:
            getattr(lamina, name)
        except UnsupportedKerasAPIError:
            continue
        except AttributeError:
            missing.append(name)
    assert missing == []


def test_input_spec_and_version_as_in_keras(keras):
    assert keras.InputSpec is keras.layers.InputSpec
    assert lamina.InputSpec is lamina.layers.InputSpec
    assert keras.version() == keras.__version__
    assert lamina.version() == lamina.__version__
    spec = lamina.InputSpec(ndim=2, axes={-1: 4})
    layer = lamina.layers.Dense(2)
    layer.input_spec = spec
    assert layer.input_spec is spec


# ---------------------------------------------------------------- name_scope


def _path_scenarios(lib):
    """Variable paths of layers and variables made in and out of name scopes."""
    out = {}
    with lib.name_scope("block"):
        built_inside = lib.layers.Dense(2, name="proj")
        built_inside.build((None, 4))
        free = lib.Variable(np.ones(3, "float32"), name="v")
        with lib.name_scope("inner"):
            made_inside = lib.layers.Dense(2, name="made_inside")
    made_inside.build((None, 4))  # built outside: Keras takes the scope at build time
    out["built_inside"] = [w.path for w in built_inside.weights]
    out["made_inside_built_outside"] = [w.path for w in made_inside.weights]
    out["free_variable"] = (free.path, free.name)

    called_inside = lib.layers.Dense(2, name="called_inside")
    with lib.name_scope("outer"):
        called_inside(X)
    out["called_inside"] = [w.path for w in called_inside.weights]

    with lib.name_scope("a"):
        with lib.name_scope("b"):
            inputs = lib.Input((4,))
            h = lib.layers.Dense(3, name="e1")(inputs)
        outputs = lib.layers.Dense(2, name="e2")(h)
    model = lib.Model(inputs, outputs)
    out["functional"] = [w.path for w in model.weights]
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, np.zeros((6, 2), "float32"), epochs=1, verbose=0)
    out["functional_after_fit"] = [w.path for w in model.weights]

    class Block(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.sub = lib.layers.Dense(2, name="sub")  # (Lamina names by attribute)

        def build(self, shape):
            self.w = self.add_weight(shape=(2,), name="w")

        def call(self, x):
            return self.sub(x) + self.w

    class Built(lib.layers.Layer):
        def build(self, shape):
            self.sub = lib.layers.Dense(2, name="sub")
            self.sub.build(shape)

        def call(self, x):
            return self.sub(x)

    block = Block(name="blk")
    block(X)
    out["custom_layer"] = [w.path for w in block.weights]
    out["custom_layer_sublayer"] = [w.path for w in block.sub.weights]
    with lib.name_scope("ns"):
        scoped = Block(name="blk2")
        scoped(X)
        built = Built(name="built")
        built.build((None, 4))
    out["custom_layer_in_scope"] = [w.path for w in scoped.weights]
    out["custom_sublayer_in_scope"] = [w.path for w in scoped.sub.weights]
    out["sublayer_built_in_build"] = [w.path for w in built.sub.weights]
    return out


def test_name_scope_variable_paths_as_in_keras(keras):
    with keras_ref():
        want = _path_scenarios(keras)
    got = _path_scenarios(lamina)
    assert got == want
    assert want["built_inside"] == ["block/proj/kernel", "block/proj/bias"]  # not vacuous


def test_name_scope_nesting_and_errors_as_in_keras(keras):
    from keras.src.backend.common.name_scope import current_path as keras_path

    from lamina.scopes import current_path

    for lib, path in ((keras, keras_path), (lamina, current_path)):
        with lib.name_scope("x") as outer:
            assert outer.name == "x"
            with lib.name_scope("y"):
                assert path() == "x/y"
            with lib.name_scope("z", override_parent="root/sub"):
                assert path() == "root/sub/z"
            assert path() == "x"
        assert path() == ""
        with pytest.raises(ValueError, match="cannot contain character `/`"):
            lib.name_scope("a/b")
        with pytest.raises(ValueError, match="must be a string"):
            lib.name_scope(3)


def test_name_scope_names_the_compiled_operations():
    def f(x):
        with lamina.name_scope("attention_block"):
            return jnp.sin(x) * 2.0

    hlo = jax.jit(f).lower(jnp.ones(3)).as_text(debug_info=True)
    assert "attention_block" in hlo


# ---------------------------------------------------------------- device


def test_device_places_arrays_as_keras_does(keras):
    for name in ("cpu", "cpu:0", "CPU:1", jax.devices("cpu")[1]):
        with keras_ref(), keras.device(name):
            want = {d.id for d in keras.ops.ones((2,)).devices()}
        with lamina.device(name):
            got = {d.id for d in lamina.ops.ones((2,)).devices()}
            plain = {d.id for d in jnp.zeros(2).devices()}
        assert got == plain == want
    assert want == {1}


def test_device_errors_as_keras(keras):
    for lib in (keras, lamina):
        with pytest.raises(ValueError, match="Device not found: cpu:7"):
            lib.device("cpu:7")
        with pytest.raises(ValueError, match="Invalid value for argument `device_name`"):
            lib.device(3)
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(RuntimeError):  # Keras passes JAX's error on
            keras.device("gpu:0")
        with pytest.raises(RuntimeError, match="Device not found: gpu:0.*cpu:0"):
            lamina.device("gpu:0")  # a ValueError too, naming the devices there are
        with pytest.raises(ValueError, match="Device not found"):
            lamina.device("gpu")
    with pytest.raises(ValueError, match="integer index"):
        lamina.device("cpu:first")


# ---------------------------------------------------------------- SymbolicScope


def test_symbolic_scope_as_in_keras(keras):
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope as keras_in

    from lamina.scopes import in_symbolic_scope

    for lib, inside in ((keras, keras_in), (lamina, in_symbolic_scope)):
        assert not inside()
        with lib.SymbolicScope() as outer:
            assert inside()
            with lib.SymbolicScope():
                assert inside()
            assert inside()
        assert not inside() and isinstance(outer, lib.SymbolicScope)


# ---------------------------------------------------------------- legacy serialization


def test_legacy_saving_names_as_in_keras(keras):
    names = sorted(n for n in dir(keras.legacy.saving) if not n.startswith("_"))
    assert names == sorted(n for n in dir(keras.utils.legacy) if not n.startswith("_"))
    for name in names:
        assert getattr(lamina.utils.legacy, name) is getattr(lamina.legacy.saving, name)
    assert sorted(lamina.legacy.saving.__all__) == names
    assert [n for n in dir(keras.legacy) if not n.startswith("_")] == lamina.legacy.__all__


@lamina.saving.register_keras_serializable(package="S20")
class _ScaledS20(lamina.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _keras_scaled(keras):
    @keras.saving.register_keras_serializable(package="S20")
    class _ScaledS20(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return _ScaledS20


def test_legacy_serialize_as_in_keras(keras):
    def forms(lib, scaled):
        s = lib.legacy.saving.serialize_keras_object
        layer = s(scaled(factor=3.0, name="sc"))
        return [
            s(None),
            s(lib.activations.relu),
            s(lib.initializers.Constant(2.0)),
            s(lib.regularizers.L1L2(l1=0.5, l2=0.25)),
            s(lib.constraints.MaxNorm(max_value=2.0, axis=0)),
            (layer["class_name"], layer["config"]["factor"], layer["config"]["name"]),
        ]

    with keras_ref():
        want = forms(keras, _keras_scaled(keras))
    assert forms(lamina, _ScaledS20) == want
    assert want[-1][0] == "S20>_ScaledS20"
    for lib in (keras, lamina):
        with pytest.raises(ValueError, match="Cannot serialize .* doesn't implement `get_config"):
            lib.legacy.saving.serialize_keras_object(object())


def test_legacy_serialized_objects_are_marked_passive_as_in_keras(keras):
    class Holder:  # an object whose config holds another object (Keras 2's nesting)
        def __init__(self, lib):
            self.init = lib.initializers.Constant(1.5)

        def get_config(self):
            return {"initializer": self.init, "units": 3, "name": "h"}

    with keras_ref():
        want = keras.legacy.saving.serialize_keras_object(Holder(keras))
    got = lamina.legacy.saving.serialize_keras_object(Holder(lamina))
    assert got == want
    assert want["config"]["initializer"]["__passive_serialization__"] is True


def test_legacy_deserialize_keras2_configs_as_keras(keras):
    config = {
        "class_name": "Dense",
        "config": {
            "units": 3,
            "activation": "relu",
            "kernel_initializer": {
                "class_name": "Constant", "config": {"value": 0.5}, "__passive_serialization__": True
            },
            "bias_initializer": {"class_name": "Ones", "config": {}, "__passive_serialization__": True},
        },
    }  # fmt: skip
    with keras_ref():
        ref = keras.legacy.saving.deserialize_keras_object(
            dict(config, config=dict(config["config"])),
            module_objects={**vars(keras.layers), **vars(keras.initializers)},
        )
        want = np.asarray(ref(X))
    layer = lamina.legacy.saving.deserialize_keras_object(
        config, module_objects={**vars(lamina.layers), **vars(lamina.initializers)}
    )
    assert (type(layer).__name__, layer.units) == (type(ref).__name__, ref.units) == ("Dense", 3)
    np.testing.assert_allclose(np.asarray(layer(X)), want, rtol=1e-6)
    # A registered layer round-trips without module_objects; custom_objects win over both.
    with keras_ref():
        kscaled = _keras_scaled(keras)
        form = keras.legacy.saving.serialize_keras_object(kscaled(factor=4.0))
        ref = keras.legacy.saving.deserialize_keras_object(form)
    back = lamina.legacy.saving.deserialize_keras_object(form)
    assert isinstance(back, _ScaledS20) and back.factor == ref.factor == 4.0
    custom = lamina.legacy.saving.deserialize_keras_object(
        {"class_name": "Anything", "config": {"factor": 2.0}}, custom_objects={"Anything": _ScaledS20}
    )
    assert custom.factor == 2.0
    for lib in (keras, lamina):
        d = lib.legacy.saving.deserialize_keras_object
        with pytest.raises(ValueError, match="Unknown object: 'Dense'"):
            d({"class_name": "Dense", "config": {"units": 3}})  # built-ins need module_objects
        with pytest.raises(ValueError, match="Unknown layer: 'Nope'"):
            d(
                {"class_name": "Nope", "config": {}},
                module_objects={},
                printable_module_name="layer",
            )
        with pytest.raises(ValueError, match="Improper config format"):
            d({"config": {}})
        with pytest.raises(ValueError, match="Could not interpret serialized object: 5"):
            d(5)


def test_legacy_deserialize_names_as_keras2():
    # Keras 2 (and Keras 3's own code, which fails before reaching it): a function named by
    # a string is returned, a class instantiated without arguments.
    d = lamina.legacy.saving.deserialize_keras_object
    assert d("relu", module_objects=vars(lamina.activations)) is lamina.activations.relu
    assert isinstance(
        d("Zeros", module_objects=vars(lamina.initializers)), lamina.initializers.Zeros
    )
    assert d(lamina.activations.tanh) is lamina.activations.tanh
    assert d(None) is None
    with pytest.raises(ValueError, match="Unknown activation: 'rellu'"):
        d("rellu", module_objects=vars(lamina.activations), printable_module_name="activation")


# ---------------------------------------------------------------- unsupported namespaces


@pytest.mark.parametrize("module", ["export", "quantizers", "distillation"])
def test_unsupported_namespaces_name_every_keras_name(keras, module):
    keras_names = {n for n in dir(getattr(keras, module)) if not n.startswith("_")}
    mod = importlib.import_module(f"lamina.{module}")
    assert getattr(lamina, module) is mod
    for name in sorted(keras_names - set(vars(mod))):  # those Lamina implements aside
        with pytest.raises(UnsupportedKerasAPIError, match=rf"keras\.{module}\.{name} is not "):
            getattr(mod, name)
    first = sorted(keras_names)[0]
    with pytest.raises(UnsupportedKerasAPIError, match=f"lamina.{module} has no {first}"):
        exec(f"from lamina.{module} import {first}", {})
    with pytest.raises(AttributeError, match="has no attribute 'surely_not_keras'"):
        mod.surely_not_keras  # noqa: B018


def test_unsupported_top_level_names(keras):
    assert lamina.Quantizer is lamina.quantizers.Quantizer  # keras.Quantizer: implemented
    with pytest.raises(UnsupportedKerasAPIError, match="ExportArchive.*format='onnx'"):
        lamina.export.ExportArchive  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'Quantiser'"):
        lamina.Quantiser  # noqa: B018
