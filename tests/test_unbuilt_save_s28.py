"""Saving a model before it is built (Keras's customizing-saving guide saves
``Sequential([LayerWithCustomAssets(...)])`` without an input shape), and a built-in layer's
subclass whose overriding ``call`` changes the output shape, against Keras 3.15."""

import os
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import lamina
from lamina.saving.safety import FileFormatError
from tests.helpers import keras_ref

UNBUILT = "You are saving a model that has not yet been built"


def _groups(path):
    with zipfile.ZipFile(path) as zf:
        zf.extract("model.weights.h5", os.path.dirname(path))
    out = []
    with h5py.File(os.path.join(os.path.dirname(path), "model.weights.h5")) as h5:
        h5.visit(out.append)
    return sorted(out)


def test_unbuilt_sequential_saves_as_keras_and_each_loads_the_others(tmp_path, keras):
    model = lamina.Sequential([lamina.layers.Dense(2), lamina.layers.Dense(1)])
    model.compile(lamina.optimizers.SGD(0.25), "mse")
    mine = str(tmp_path / "lamina" / "m.keras")
    os.makedirs(os.path.dirname(mine))
    with pytest.warns(UserWarning, match=UNBUILT):
        model.save(mine)
    with keras_ref(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(1)])
        ref.compile(keras.optimizers.SGD(0.25), "mse")
        theirs = str(tmp_path / "keras" / "m.keras")
        os.makedirs(os.path.dirname(theirs))
        ref.save(theirs)
    assert _groups(mine) == _groups(theirs)  # empty layer groups, iterations, learning rate
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    with keras_ref(), warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras reads every optimizer variable it expects
        loaded = keras.models.load_model(mine)
        assert not loaded.built
        assert float(loaded.optimizer.learning_rate) == pytest.approx(0.25)
        loaded.fit(x, y, verbose=0)
    for path in (mine, theirs):
        back = lamina.models.load_model(path)
        assert not back.built and len(back.layers) == 2
        assert float(back.optimizer.learning_rate) == pytest.approx(0.25)
        back.fit(x, y, verbose=0)
        assert back.predict(x, verbose=0).shape == (4, 1)


def test_unbuilt_subclassed_model_saves_and_loads_unbuilt(tmp_path):
    @lamina.saving.register_keras_serializable(package="s28")
    class Net(lamina.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d = lamina.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    path = str(tmp_path / "net.keras")
    with pytest.warns(UserWarning, match=UNBUILT):
        Net().save(path)
    back = lamina.models.load_model(path)
    assert isinstance(back, Net) and not back.built
    assert back.predict(np.ones((3, 4), "float32"), verbose=0).shape == (3, 2)


def test_unbuilt_model_config_with_stored_arrays_is_still_refused(tmp_path):
    """Weights in the file and no input shape to place them: the loader's error stays."""
    built = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    src = str(tmp_path / "built.keras")
    built.save(src)
    unbuilt = lamina.Sequential([lamina.layers.Dense(2)])
    cfg_src = str(tmp_path / "cfg.keras")
    with pytest.warns(UserWarning, match=UNBUILT):
        unbuilt.save(cfg_src)
    mixed = str(tmp_path / "mixed.keras")
    with zipfile.ZipFile(cfg_src) as a, zipfile.ZipFile(src) as b:
        with zipfile.ZipFile(mixed, "w") as out:
            out.writestr("config.json", a.read("config.json"))
            out.writestr("metadata.json", a.read("metadata.json"))
            out.writestr("model.weights.h5", b.read("model.weights.h5"))
    with pytest.raises(FileFormatError, match="no input shape in its config"):
        lamina.models.load_model(mixed)


def test_customizing_saving_guide_assets_on_an_unbuilt_layer(tmp_path):
    class LayerWithCustomAssets(lamina.layers.Layer):
        def __init__(self, vocab=None, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.vocab = vocab

        def save_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocabulary.txt"), "w") as f:
                f.write(self.vocab)

        def load_assets(self, inner_path):
            with open(os.path.join(inner_path, "vocabulary.txt")) as f:
                self.vocab = f.read().replace("<unk>", "little")

    lamina.saving.register_keras_serializable(package="s28")(LayerWithCustomAssets)
    model = lamina.Sequential([LayerWithCustomAssets(vocab="Mary had a <unk> lamb.")])
    path = str(tmp_path / "assets.keras")
    with pytest.warns(UserWarning, match=UNBUILT):
        model.save(path)
    restored = lamina.models.load_model(path)
    assert restored.layers[0].vocab == "Mary had a little lamb."


def _scaled_dense(lib):
    class ScaledDense(lib.layers.Dense):
        """The guide's ``LayerWithCustomVariables``: its ``call`` broadcasts the ``(1,)``
        output of ``Dense(1)`` against a ``(10,)`` variable."""

        def __init__(self, units, **kwargs):
            super().__init__(units, **kwargs)
            self.scale = lib.Variable(np.linspace(0.5, 1.5, 10), name="scale", dtype="float32")

        def call(self, inputs):
            return super().call(inputs) * self.scale

    return ScaledDense


def test_builtin_subclass_call_changing_the_shape_fits_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.random((8, 10)).astype("float32")
    y = rng.random((8, 10)).astype("float32")

    def run(lib):
        lib.utils.set_random_seed(3)
        model = lib.Sequential([lib.Input((10,)), _scaled_dense(lib)(1)])
        model.compile(optimizer="adam", loss="mean_squared_error")
        w = [np.full(v.shape, 0.1, "float32") for v in model.get_weights()]
        model.set_weights(w)
        hist = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        return model.output_shape, hist.history["loss"], model.predict(x, verbose=0)

    got = run(lamina)
    with keras_ref():
        want = run(keras)
    # Keras reports ``Dense.compute_output_shape``'s (None, 1) while its call returns 10
    # columns; Lamina traces the overriding ``call`` (and checks the targets against it).
    assert got[0] == (None, 10) and want[0] == (None, 1)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-5, atol=1e-6)


def test_model_loss_is_none_before_compile_as_keras(keras):
    assert lamina.Sequential([lamina.layers.Dense(1)]).loss is None
    with keras_ref():
        assert keras.Sequential([keras.layers.Dense(1)]).loss is None


def _unbuilt_lists(lib):
    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.d = lib.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    out = []
    for model in (lib.Sequential([lib.layers.Dense(2)]), Net()):
        names = ("weights", "trainable_weights", "non_trainable_weights", "variables")
        out.append([len(getattr(model, n)) for n in names] + [len(model.get_weights())])
    return out


def test_unbuilt_models_list_no_weights_as_keras(keras):
    with keras_ref():
        want = _unbuilt_lists(keras)
    assert _unbuilt_lists(lamina) == want == [[0] * 5, [0] * 5]
