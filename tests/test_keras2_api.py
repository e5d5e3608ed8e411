"""Keras 1/2 APIs Keras 3 dropped: np_utils, generic_utils, generator methods, 'acc' names,
ModelCheckpoint(period=...), and the errors for Keras names Lamina lacks."""

import os
import warnings

import numpy as np
import pytest

import lamina
from lamina.callbacks import EarlyStopping, ModelCheckpoint
from lamina.layers import Dense
from lamina.models import Sequential
from lamina.utils import generic_utils, np_utils


def _model(metrics=("accuracy",)):
    lamina.utils.set_random_seed(0)
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=list(metrics))
    return model


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("f4")
    return x, (x.sum(1) > 0).astype("f4")


def _cycle(x, y, batch):
    while True:
        for i in range(0, len(x), batch):
            yield x[i : i + batch], y[i : i + batch]


def test_np_utils_matches_keras2(keras):
    labels = np.array([[2], [0], [1]])
    with pytest.warns(UserWarning, match="nb_classes"):
        ours = np_utils.to_categorical(labels, nb_classes=4)
    np.testing.assert_array_equal(ours, keras.utils.to_categorical(labels, 4))
    assert ours.shape == (3, 4)
    assert np_utils.to_categorical([1, 0], dtype="int32").dtype == np.int32
    assert np_utils.probas_to_classes(np.array([[0.7], [0.2]])).tolist() == [1, 0]
    assert lamina.utils.np_utils is np_utils
    assert generic_utils.to_list((1, 2), allow_tuple=True) == [1, 2]
    assert generic_utils.Progbar is lamina.utils.Progbar  # Keras 2 re-exported it
    with pytest.raises(NotImplementedError, match="generic_utils.func_dump is not supported"):
        generic_utils.func_dump  # noqa: B018


def test_fit_generator_keras1_spellings_match_fit():
    x, y = _data()
    ref = _model()
    ref.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    ours = _model()
    with pytest.warns(UserWarning, match="samples_per_epoch"):
        h = ours.fit_generator(_cycle(x, y, 10), samples_per_epoch=40, nb_epoch=2, verbose=0,
                               nb_worker=2, pickle_safe=True, max_q_size=5)  # fmt: skip
    assert h.params["steps"] == 4 and len(h.history["loss"]) == 2
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sample_counts_round_up_to_whole_batches():
    """Keras 1 drew batches until it had samples_per_epoch samples: ceil(samples / batch)."""
    x, y = _data()
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = model.fit_generator(_cycle(x, y, 10), samples_per_epoch=35, nb_epoch=1, verbose=0,
                                validation_data=_cycle(x, y, 8), nb_val_samples=20)  # fmt: skip
        assert h.params["steps"] == 4
        assert "val_loss" in h.history
        loss = model.evaluate_generator(_cycle(x, y, 10), val_samples=40)
        preds = model.predict_generator((b[0] for b in _cycle(x, y, 10)), val_samples=25)
    np.testing.assert_allclose(loss[0], model.evaluate(x, y, verbose=0)[0], rtol=1e-5)
    assert preds.shape == (30, 1)  # three batches of 10
    np.testing.assert_allclose(preds, model.predict(x[:30], verbose=0), rtol=1e-5, atol=1e-6)
    assert model.evaluate_generator(_cycle(x, y, 10), steps=4) == pytest.approx(loss)
    with pytest.raises(TypeError, match="unexpected keyword.*foo"):
        model.fit_generator(_cycle(x, y, 10), steps_per_epoch=1, foo=1)
    with pytest.raises(ValueError, match="samples_per_epoch must be a positive"):
        model.fit_generator(_cycle(x, y, 10), samples_per_epoch=0)


def test_acc_names_history_checkpoint_and_early_stopping(tmp_path):
    x, y = _data(60)
    model = _model(metrics=["acc"])
    path = os.path.join(tmp_path, "w-{epoch:02d}-{val_acc:.2f}.hdf5")
    es = EarlyStopping(monitor="val_acc", patience=50)
    h = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0, callbacks=[
        ModelCheckpoint(path, monitor="val_acc", save_best_only=False), es])  # fmt: skip
    assert sorted(h.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert model.metrics_names == ["loss", "acc"]
    assert sorted(os.listdir(tmp_path)) == [
        f"w-{e + 1:02d}-{v:.2f}.hdf5" for e, v in enumerate(h.history["val_acc"])
    ]
    model2 = _model(metrics=["accuracy"])
    assert "val_accuracy" in model2.fit(x, y, epochs=1, validation_split=0.25, verbose=0).history


def test_checkpoint_period_and_hdf5_weights(tmp_path):
    x, y = _data()
    model = _model()
    path = os.path.join(tmp_path, "weights.{epoch:02d}.hdf5")
    with pytest.warns(UserWarning, match="period"):
        cb = ModelCheckpoint(path, save_weights_only=True, period=2)
    model.fit(x, y, epochs=5, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["weights.02.hdf5", "weights.04.hdf5"]
    fresh = _model()
    fresh.build((None, 3))
    fresh.load_weights(os.path.join(tmp_path, "weights.04.hdf5"))
    with pytest.raises(ValueError, match="period"):
        ModelCheckpoint(path, period=0)


@pytest.mark.parametrize(
    "module,name",
    [("layers", "ConvLSTM2D"), ("layers", "Highway"), ("models", "clone_model"),
     ("callbacks", "OrbaxCheckpoint"), ("optimizers", "MultiOptimizer")],
)  # fmt: skip
def test_known_keras_names_say_unsupported(module, name):
    mod = getattr(lamina, module)
    if hasattr(mod, "__dict__") and name in mod.__dict__:
        pytest.skip(f"lamina.{module}.{name} exists now")
    with pytest.raises(NotImplementedError, match=f"keras.{module}.{name} is not supported by Lamina"):
        getattr(mod, name)
    with pytest.raises(NotImplementedError, match="is not supported by Lamina"):
        exec(f"from lamina.{module} import {name}", {})


def test_typos_get_the_closest_name():
    with pytest.raises(AttributeError, match="Did you mean 'Dense'"):
        lamina.layers.Dnese  # noqa: B018
    with pytest.raises(AttributeError, match="Did you mean 'EarlyStopping'"):
        lamina.callbacks.EarlyStoping  # noqa: B018
    assert not hasattr(lamina.layers, "__wrapped__")  # probes of dunder names stay plain


def test_keras2_module_paths_import():
    """``from keras.layers.embeddings import Embedding`` and friends, with imports aliased."""
    namespace = {}
    exec(
        "from lamina.layers.core import Dense, Dropout, Activation, Flatten, Lambda\n"
        "from lamina.layers.convolutional import Convolution2D, MaxPooling2D, ZeroPadding2D\n"
        "from lamina.layers.embeddings import Embedding\n"
        "from lamina.layers.recurrent import LSTM\n"
        "from lamina.layers.advanced_activations import LeakyReLU\n"
        "from lamina.layers.merge import concatenate\n"
        "from lamina.layers import Convolution2D, Merge\n"
        "from lamina.utils.np_utils import to_categorical\n"
        "from lamina.utils import Sequence\n"
        "from lamina.wrappers.scikit_learn import KerasClassifier\n",
        namespace,
    )
    assert namespace["Embedding"] is lamina.layers.Embedding
    assert namespace["Convolution2D"] is lamina.layers.Conv2D
    assert namespace["Sequence"] is lamina.utils.PyDataset
    assert namespace["MaxPooling2D"] is lamina.layers.MaxPooling2D
    exec("from lamina.layers.convolutional import AtrousConvolution2D", namespace)
    assert namespace["AtrousConvolution2D"] is lamina.layers.AtrousConvolution2D
    with pytest.raises(NotImplementedError, match="Deconvolution3D is not supported by"):
        exec("from lamina.layers import Deconvolution3D", {})
    exec("from lamina.layers.convolutional import Conv3D", namespace)
    assert namespace["Conv3D"] is lamina.layers.Conv3D
    from lamina.utils.vis_utils import plot_model

    assert plot_model is lamina.utils.plot_model


def test_add_metric_of_a_symbolic_tensor_is_logged_by_fit():
    """Keras 2's ``model.add_metric(tensor, name=...)`` (HOML ch. 12; Keras 3 removed it):
    the tensor's epoch mean is logged under its name (tests/test_layer_metrics_fit.py)."""
    inputs = lamina.Input((3,))
    model = lamina.Model(inputs, lamina.layers.Dense(1)(inputs))
    model.add_metric(inputs, name="mean_input")
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)
    assert history.history["mean_input"] == [1.0]
