"""Keras 3 public names Lamina had left out, each against real Keras 3: ``models.save_model``,
the ``preprocessing`` dataset aliases, the initializer aliases and ``STFT``, the
``distribution`` layouts and ``get_device_count``; and ``_unsupported.KNOWN`` listing only
names Lamina really lacks.  (RemoteMonitor, Muon, ScheduleFreeAdamW and SKLearnTransformer:
tests/test_api_gaps_more.py.)"""

import importlib

import jax
import numpy as np
import pytest

import lamina
from lamina import distribution, initializers
from lamina._unsupported import KNOWN, UnsupportedKerasAPIError
from tests.helpers import keras_ref

# ---------------------------------------------------------------- models.save_model


def _model():
    model = lamina.models.Sequential([lamina.layers.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_models_save_model_is_keras_save_model(keras, tmp_path):
    assert lamina.models.save_model is lamina.saving.save_model
    model = _model()
    x = np.random.default_rng(0).random((4, 3)).astype("float32")
    path = str(tmp_path / "m.keras")
    lamina.models.save_model(model, path, overwrite=True, zipped=None)
    with keras_ref():
        ref = keras.models.load_model(path).predict(x, verbose=0)
    np.testing.assert_allclose(ref, model.predict(x, verbose=0), rtol=1e-6)
    # Keras 2's arguments: include_optimizer and save_format="h5".
    h5 = str(tmp_path / "m.h5")
    lamina.models.save_model(model, h5, include_optimizer=False, save_format="h5")
    np.testing.assert_allclose(lamina.models.load_model(h5).predict(x, verbose=0), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="already exists"):
        lamina.models.save_model(model, path, overwrite=False)
    with pytest.raises(TypeError, match="unexpected keyword argument.*signatures"):
        lamina.models.save_model(model, path, signatures=None)


# ---------------------------------------------------------------- preprocessing aliases


def test_preprocessing_dataset_functions_are_the_utils_ones(tmp_path):
    from lamina import preprocessing, utils

    assert preprocessing.image_dataset_from_directory is utils.image_dataset_from_directory
    assert preprocessing.text_dataset_from_directory is utils.text_dataset_from_directory
    for label, text in (("neg", "bad"), ("pos", "good")):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.txt").write_text(text)
    ds = preprocessing.text_dataset_from_directory(str(tmp_path), shuffle=False, verbose=False)
    assert ds.class_names == ["neg", "pos"]
    with pytest.raises(AttributeError, match="Did you mean 'text_dataset_from_directory'"):
        preprocessing.text_dataset_from_directori  # noqa: B018


# ---------------------------------------------------------------- initializers


@pytest.mark.parametrize(
    "name", ["IdentityInitializer", "OrthogonalInitializer", "STFTInitializer", "STFT", "stft"]
)
def test_initializer_aliases_as_keras(keras, name):
    ours = getattr(initializers, name)
    with keras_ref():
        ref = getattr(keras.initializers, name)
        assert type(keras.initializers.get(name)).__name__ == ref.__name__
    assert ours.__name__ == ref.__name__
    assert type(initializers.get(name)) is ours


STFT_CASES = [
    ({}, (16, 1, 9)),
    ({"side": "imag"}, (16, 1, 9)),
    ({"window": "hamming", "scaling": "spectrum", "periodic": True}, (12, 1, 7)),
    ({"side": "imag", "window": None, "scaling": None}, (8, 2, 5)),
    ({"window": np.linspace(0.1, 1.0, 10).tolist(), "scaling": "density"}, (10, 1, 6)),
]


@pytest.mark.parametrize("kwargs,shape", STFT_CASES)
def test_stft_values_match_keras(keras, kwargs, shape):
    with keras_ref():
        kinit = keras.initializers.STFT(**kwargs)
        ref = np.asarray(kinit(shape))
        kconfig = keras.initializers.serialize(kinit)
    ours = initializers.STFT(**kwargs)
    got = np.asarray(ours(shape))
    assert got.shape == ref.shape == (shape[0], 1, shape[2]) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    assert initializers.serialize(ours) == kconfig
    back = initializers.deserialize(kconfig)
    assert back == ours
    from lamina.utils.random import HostKey

    host = ours(shape, key=HostKey((0, 1)))  # Sequential.build's NumPy path: the same numbers
    assert isinstance(host, np.ndarray)
    np.testing.assert_array_equal(host, got)


def test_stft_errors_as_keras(keras):
    for kwargs, match in (
        ({"side": "both"}, "side should be 'real' or 'imag'"),
        ({"scaling": "l3"}, "Scaling is invalid"),
        ({"window": "no-such-window"}, "window"),
    ):
        with keras_ref(), pytest.raises(ValueError, match=match):
            keras.initializers.STFT(**kwargs)
        with pytest.raises(ValueError, match=match):
            initializers.STFT(**kwargs)
    with pytest.raises(ValueError, match="shape of `window` must be equal to"):
        initializers.STFT(window=[1.0, 2.0])((4, 1, 3))
    with pytest.raises(ValueError, match="expects a shape .frame_length, input_channels"):
        initializers.STFT()((4, 3))


def test_stft_initializes_a_conv_kernel():
    layer = lamina.layers.Conv1D(5, 8, use_bias=False, kernel_initializer="stft")
    out = layer(np.ones((1, 8, 1), "float32"))
    kernel = np.asarray(layer.get_weights()[0])
    np.testing.assert_allclose(kernel, initializers.STFT()((8, 1, 5)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out)[0, 0], kernel[:, 0, :].sum(0), rtol=1e-5)


# ---------------------------------------------------------------- distribution


def test_get_device_count_as_keras(keras):
    with keras_ref():
        ref = keras.distribution.get_device_count()
        ref_cpu = keras.distribution.get_device_count("CPU")
    assert distribution.get_device_count() == ref == len(jax.devices()) == 2
    assert distribution.get_device_count("CPU") == ref_cpu


def test_layout_map_lookups_as_keras(keras):
    keys = [".*dense.*kernel", ".*dense.*bias", ".*conv2d.*kernel"]
    values = [(None, "model"), ("model",), (None, None, None, "model")]
    queries = ["dense_1/kernel", "dense_2/bias", "my_model/conv2d_123/kernel", "conv3d/kernel"]
    with keras_ref():
        kmesh = keras.distribution.DeviceMesh((2,), ["model"], keras.distribution.list_devices())
        kmap = keras.distribution.LayoutMap(kmesh)
        for k, v in zip(keys, values):
            kmap[k] = v
        ref = [None if kmap[q] is None else kmap[q].axes for q in queries]
    lmap = distribution.LayoutMap(distribution.DeviceMesh((2,), ["model"]))
    for k, v in zip(keys, values):
        lmap[k] = v
    assert [None if lmap[q] is None else lmap[q].axes for q in queries] == ref
    assert len(lmap) == 3 and list(lmap) == keys and lmap.device_mesh.axis_names == ["model"]
    assert lmap["dense_1/kernel"].device_mesh is lmap.device_mesh
    lmap["dense_1/kernel"] = ("model", None)  # an exact key wins over the patterns
    assert lmap["dense_1/kernel"].axes == ("model", None)
    del lmap["dense_1/kernel"]
    lmap[".*_1/kernel"] = (None, None)
    with pytest.raises(ValueError, match="matches multiple layout specification keys"):
        lmap["dense_1/kernel"]  # noqa: B018
    with pytest.raises(ValueError, match="already exist in the LayoutMap"):
        lmap[".*dense.*bias"] = ("model",)
    with pytest.raises(ValueError, match="should be a TensorLayout type"):
        lmap["other"] = ["model"]


def test_tensor_layout_and_distribute_tensor():
    mesh = distribution.DeviceMesh((2,), ["model"])
    with pytest.raises(ValueError, match="Invalid axis names for Layout"):
        distribution.TensorLayout(("batch", None), mesh)
    layout = distribution.TensorLayout((None, "model"))
    with pytest.raises(ValueError, match="has no device mesh"):
        layout.backend_layout  # noqa: B018
    layout.device_mesh = mesh
    with pytest.raises(ValueError, match="Cannot override device mesh"):
        layout.device_mesh = mesh
    x = np.arange(12, dtype="float32").reshape(3, 4)
    y = distribution.distribute_tensor(x, layout)
    assert [s.data.shape for s in y.addressable_shards] == [(3, 2), (3, 2)]
    np.testing.assert_array_equal(np.asarray(y), x)

    @jax.jit
    def f(a):
        return distribution.distribute_tensor(a * 2, layout)

    z = f(x)
    assert z.sharding.is_equivalent_to(layout.backend_layout, 2)
    np.testing.assert_array_equal(np.asarray(z), 2 * x)
    with pytest.raises(TypeError, match="expects a TensorLayout"):
        distribution.distribute_tensor(x, ("model",))


def test_unsupported_name_is_a_clear_error():
    from lamina import optimizers

    with pytest.raises(UnsupportedKerasAPIError, match="keras.optimizers.TFOptimizer is not"):
        optimizers.TFOptimizer  # noqa: B018
    with pytest.raises(NotImplementedError, match="keras.optimizers.TFOptimizer is not"):
        exec("from lamina.optimizers import TFOptimizer", {})
    with pytest.raises(AttributeError, match="Did you mean 'get_device_count'"):
        distribution.get_device_cont  # noqa: B018


# ---------------------------------------------------------------- the unsupported list


def test_known_unsupported_names_are_really_missing():
    resolvable = {}
    for module, names in KNOWN.items():
        mod = importlib.import_module(f"lamina.{module}")
        for name in names:
            try:
                getattr(mod, name)
            except (NotImplementedError, AttributeError, ImportError):
                continue
            resolvable.setdefault(module, []).append(name)
    assert resolvable == {}, f"remove these from lamina._unsupported.KNOWN: {resolvable}"


@pytest.mark.parametrize(
    "module,name",
    [("models", "save_model"), ("callbacks", "RemoteMonitor"), ("optimizers", "Muon"),
     ("optimizers", "ScheduleFreeAdamW"), ("preprocessing", "image_dataset_from_directory"),
     ("wrappers", "SKLearnTransformer"), ("distribution", "get_device_count"),
     ("initializers", "STFTInitializer")],
)  # fmt: skip
def test_former_gaps_import(module, name):
    exec(f"from lamina.{module} import {name}", {})
    assert name not in KNOWN.get(module, ())
