"""Keras 2/3 compatibility gaps, each checked against a reference:

* Keras 2 module paths: ``keras.utils.layer_utils`` (``count_params``, ``print_summary``,
  ``get_source_inputs``), ``keras.backend.tensorflow_backend`` (``set_session``,
  ``_get_available_gpus``) and ``keras.layers.local`` (the layers themselves:
  ``tests/test_locally_connected_keras2.py``);
* ``history.history['lr']`` (Keras 2's key) next to Keras 3's keys;
* ``verbose=2`` output as Keras 3 prints it;
* ``KerasClassifier.predict`` of one sigmoid unit: Keras 2's ``(n, 1)`` labels;
* a ``Sequential`` with a fixed batch size shows it in ``summary()``, as Keras 3;
* a subclassed model's automatic ``get_config``: Keras 3's keys and values for a model built
  with its default arguments.  Keras 3.15's ``Model.__new__`` hands no arguments to the
  automatic config, which then records the *defaults* (``MyModel(units=5)`` saves
  ``units: 3`` and reloads a different model); Lamina records the arguments as called, as
  Keras 3 does for layers and as the automatic config is documented to.
"""

import copy
import importlib
import pickle
import re
import warnings

import jax
import numpy as np
import pytest

import lamina
from lamina.layers import LocallyConnected1D, LocallyConnected2D
from tests.helpers import keras_ref

RTOL, ATOL = 1e-5, 1e-5


# ------------------------------------------------------------------ Keras 2 module paths
@pytest.mark.parametrize(
    "path, names",
    [
        ("lamina.utils.layer_utils", ["count_params", "print_summary", "get_source_inputs"]),
        ("lamina.backend.tensorflow_backend", ["set_session", "_get_available_gpus"]),
        ("lamina.layers.local", ["LocallyConnected1D", "LocallyConnected2D"]),
    ],
)
def test_keras2_module_paths_import(path, names):
    module = importlib.import_module(path)
    for name in names:
        assert callable(getattr(module, name))
    assert lamina.layers.local.LocallyConnected2D is LocallyConnected2D
    assert lamina.layers.LocallyConnected1D is LocallyConnected1D
    assert lamina.utils.print_summary is lamina.utils.layer_utils.print_summary


def test_layer_utils_count_params_and_summary(keras):
    from keras.src.utils.summary_utils import count_params as keras_count

    from lamina.utils.layer_utils import count_params, get_source_inputs, print_summary

    def build(k):
        return k.Sequential(
            [k.Input((5,)), k.layers.Dense(4, name="d"), k.layers.BatchNormalization(name="bn")],
            name="m",
        )

    with keras_ref():
        kmodel = build(keras)
    model = build(lamina)
    assert count_params(model.trainable_weights) == keras_count(kmodel.trainable_weights) == 32
    assert count_params(model.weights) == keras_count(kmodel.weights) == 40
    w = np.zeros((3, 2))
    assert count_params([w, w]) == 6  # Keras 2 counted a set of the weights
    texts, own = [], []
    print_summary(model, line_length=70, print_fn=texts.append)
    model.summary(line_length=70, print_fn=own.append)
    assert texts == own and "Total params: 40" in texts[0]
    x = lamina.Input((3,))
    assert get_source_inputs(lamina.layers.Dense(2)(x)) == [x]


def test_tensorflow_backend_session_and_gpus():
    from lamina import backend as K
    from lamina.backend import tensorflow_backend as tfb

    assert K.tensorflow_backend is tfb
    assert tfb.set_session(object()) is None  # a tf.Session in Keras 2 code: ignored
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    names = tfb._get_available_gpus()
    assert len(names) == len(gpus)
    assert all(re.fullmatch(r"/job:localhost/replica:0/task:0/device:GPU:\d+", n) for n in names)
    assert tfb.floatx() == K.floatx()  # the module re-exported the backend in Keras 2


# ------------------------------------------------------------------ history['lr']
def _fit_with_lr_callbacks(lib, x, y):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, name="d")])
    model.compile(lib.optimizers.SGD(0.1), "mse")
    model.get_layer("d").set_weights([np.ones((3, 1), "float32"), np.zeros(1, "float32")])
    callbacks = [
        # min_delta larger than any change: the loss never "improves", the rate halves
        lib.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9),
        lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9),
    ]
    return model.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0, callbacks=callbacks)


def test_history_answers_keras2_lr_key(keras, rng):
    x = rng.normal(size=(16, 3)).astype("float32")
    y = x.sum(1, keepdims=True)
    with keras_ref():
        theirs = _fit_with_lr_callbacks(keras, x, y).history
    ours = _fit_with_lr_callbacks(lamina, x, y).history
    assert list(ours) == list(theirs)  # Keras 3's keys, 'lr' not among them
    np.testing.assert_allclose(ours["learning_rate"], theirs["learning_rate"], rtol=1e-6)
    # Keras 2's ReduceLROnPlateau/LearningRateScheduler logged the same values as 'lr'.
    assert ours["lr"] == ours["learning_rate"] and ours.get("lr") == ours["learning_rate"]
    assert "lr" in ours and "lr" not in list(ours)
    assert pickle.loads(pickle.dumps(ours)) == dict(ours)  # a plain dict once pickled
    assert type(pickle.loads(pickle.dumps(ours))) is dict
    assert copy.deepcopy(ours)["lr"] == ours["learning_rate"]

    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile("sgd", "mse")
    plain = model.fit(x, y, epochs=1, verbose=0).history
    with pytest.raises(KeyError, match="lr"):
        plain["lr"]  # no learning-rate callback: no 'lr', as in Keras 2
    assert "lr" not in plain and plain.get("lr") is None


# ------------------------------------------------------------------ verbose=2
def _shape_of_output(text):
    """The printed text with its numbers replaced by their kind (times, fixed, exponent)."""
    text = re.sub(r"\d+(us|ms|s)/step", "T/step", text)
    text = re.sub(r"- \d+s -", "- Ts -", text)
    text = re.sub(r"\d+\.\d{4}e[+-]\d+", "E", text)
    return re.sub(r"\d+\.\d{4}", "F", text)


def _verbose_2_run(lib, x, y, epochs):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="d")])
    model.compile("sgd", "cosine_similarity", metrics=["mae"])
    kernel = np.linspace(-1.0, 1.0, 6, dtype="float32").reshape(3, 2)
    model.get_layer("d").set_weights([kernel, np.zeros(2, "float32")])
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=2, validation_data=(x[:16], y[:16]))
    model.evaluate(x, y, verbose=2)
    model.predict(x, verbose=2)


@pytest.mark.parametrize("epochs", [1, 2])
def test_verbose_2_prints_keras3_text(keras, capsys, rng, epochs):
    x = rng.normal(size=(64, 3)).astype("float32")
    y = rng.normal(size=(64, 2)).astype("float32")
    with keras_ref():
        _verbose_2_run(keras, x, y, epochs)
    theirs = capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the evaluate-on-training-data guardrail (stderr)
        _verbose_2_run(lamina, x, y, epochs)
    ours = capsys.readouterr().out
    assert _shape_of_output(ours) == _shape_of_output(theirs)
    assert ("Epoch 1/" in ours) == (epochs > 1)
    assert ": -E" in _shape_of_output(ours)  # a negative value: Keras's exponent form


# ------------------------------------------------------------------ KerasClassifier
def test_keras_classifier_binary_predict_shapes_are_keras2s(rng):
    pytest.importorskip("sklearn")
    from lamina.wrappers.scikit_learn import KerasClassifier

    def build():
        lamina.utils.set_random_seed(0)
        unit = lamina.layers.Dense(1, activation="sigmoid")
        model = lamina.Sequential([lamina.Input((4,)), unit])
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        return model

    x = rng.normal(size=(40, 4)).astype("float32")
    labels = np.where(x[:, 0] > 0, "pos", "neg")
    clf = KerasClassifier(build_fn=build, epochs=2, verbose=0)
    clf.fit(x, labels)
    proba = clf.model.predict(x, verbose=0)  # (n, 1)
    # Keras 2: classes = (proba > 0.5).astype('int32'); return self.classes_[classes]
    want = clf.classes_[(proba > 0.5).astype("int32")]
    pred = clf.predict(x)
    assert pred.shape == (40, 1)
    np.testing.assert_array_equal(pred, want)
    # predict_proba: np.hstack([1 - probs, probs]) for one unit
    np.testing.assert_allclose(clf.predict_proba(x), np.hstack([1 - proba, proba]), rtol=1e-6)


# ------------------------------------------------------------------ summary batch size
def _summary_text(model):
    lines = []
    model.summary(print_fn=lambda s, **_: lines.append(s))
    return "".join(lines)


def _fixed_batch_models(k):
    seq = k.Sequential(
        [
            k.Input(batch_shape=(4, None)),
            k.layers.Embedding(10, 3, name="emb"),
            k.layers.LSTM(5, stateful=True, name="lstm"),
            k.layers.Dense(2, name="out"),
        ],
        name="fixed",
    )
    built = k.Sequential([k.layers.Dense(3, name="d")], name="built")
    built.build((4, 7))
    return seq, built


def test_fixed_batch_size_in_summary_and_shapes(keras):
    with keras_ref():
        k_seq, k_built = _fixed_batch_models(keras)
        want = [_summary_text(k_seq), _summary_text(k_built)]
        want_shapes = [k_seq.output_shape, k_built.output_shape]
        want_build = k_built.get_config()["build_input_shape"]
    seq, built = _fixed_batch_models(lamina)
    assert [_summary_text(seq), _summary_text(built)] == want
    assert [seq.output_shape, built.output_shape] == want_shapes == [(4, 2), (4, 3)]
    assert tuple(built.get_config()["build_input_shape"]) == tuple(want_build)


# ------------------------------------------------------------------ subclassed get_config
def _norm_dtype(config):
    config = dict(config)
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        config["dtype"] = dtype["config"]["name"]
    return config


def _classes(k):
    class Block(k.Model):
        def __init__(self, units=3, rate=0.5, tags=("a", "b"), **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = k.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

    class NoArgs(k.Model):
        def __init__(self):
            super().__init__()
            self.dense = k.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    class Holder(k.Model):
        def __init__(self, layer, **kwargs):
            super().__init__(**kwargs)
            self.inner = layer

        def call(self, x):
            return self.inner(x)

    class Overrides(k.Model):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = k.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Block, NoArgs, Holder, Overrides


def test_subclassed_model_config_is_keras3s(keras):
    with keras_ref():
        kb, kn, kh, ko = _classes(keras)
        want = [
            _norm_dtype(kb(name="b").get_config()),
            _norm_dtype(kb(name="b2", trainable=False).get_config()),
            _norm_dtype(kn().get_config()),
            _norm_dtype(ko(units=7, name="o").get_config()),
        ]
        with pytest.raises(NotImplementedError) as theirs:
            kh(keras.layers.Dense(2)).get_config()
    lb, ln, lh, lo = _classes(lamina)
    got = [
        lb(name="b").get_config(),
        lb(name="b2", trainable=False).get_config(),
        ln().get_config(),
        lo(units=7, name="o").get_config(),
    ]
    assert got == want
    assert list(got[0]) == list(want[0])  # name, the arguments, trainable, dtype
    with pytest.raises(NotImplementedError, match="non-serializable argument values") as ours:
        lh(lamina.layers.Dense(2)).get_config()
    assert str(ours.value).split("\n")[1:5] == str(theirs.value).split("\n")[1:5]


def test_subclassed_model_round_trips_its_arguments(tmp_path, rng):
    """The arguments a model was built with come back with ``from_config`` and
    ``load_model(..., custom_objects=...)`` (Keras 3.15 records the defaults instead: see the
    module docstring)."""
    block_cls = _classes(lamina)[0]
    model = block_cls(units=5, rate=0.1, name="blk")
    assert model.get_config() == {"name": "blk", "units": 5, "rate": 0.1, "tags": ("a", "b"),
                                  "trainable": True, "dtype": "float32"}  # fmt: skip
    twin = block_cls.from_config(model.get_config())
    assert (twin.units, twin.name) == (5, "blk")
    x = rng.normal(size=(3, 4)).astype("float32")
    y = model(x)
    model.compile("sgd", "mse")
    model.save(tmp_path / "blk.keras")
    loaded = lamina.models.load_model(tmp_path / "blk.keras", custom_objects={"Block": block_cls})
    assert type(loaded) is block_cls and loaded.units == 5
    np.testing.assert_allclose(loaded(x), y, rtol=RTOL, atol=ATOL)
