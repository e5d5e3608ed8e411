"""Chapter 12 of "Hands-On Machine Learning" against real Keras: custom initializer classes,
Keras 2's ``metric.reset_states()``, ``CSVLogger``'s columns and the learning rate's float32
value as ``K.get_value`` and ``float`` read it."""

import csv

import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import backend as K
from tests.helpers import keras_ref


def _initializers(lib):
    """The chapter's initializer classes, written against ``lib`` (Keras or Lamina)."""

    class MyInit(lib.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return lib.ops.ones(shape) * 0.5

    class KwInit(lib.initializers.Initializer):
        calls = []

        def __call__(self, shape, dtype=None, **kwargs):
            KwInit.calls.append((tuple(shape), dtype, sorted(kwargs)))
            return lib.ops.ones(shape, dtype=dtype) * 0.25

    class SeedInit(lib.initializers.Initializer):
        def __init__(self, scale=1.0, seed=None):
            self.scale, self.seed = scale, seed

        def __call__(self, shape, dtype=None):
            return lib.random.normal(shape, seed=self.seed) * self.scale

        def get_config(self):
            return {"scale": self.scale, "seed": self.seed}

    class GenInit(lib.initializers.Initializer):
        def __init__(self):
            self.gen = lib.random.SeedGenerator(3)

        def __call__(self, shape, dtype=None):
            return lib.random.normal(shape, seed=self.gen)

    return MyInit, KwInit, SeedInit, GenInit


def _my_glorot_initializer(lib):
    def my_glorot_initializer(shape, dtype=jnp.float32):  # the book's function form
        stddev = np.sqrt(2.0 / (shape[0] + shape[1]))
        return lib.random.normal(shape, stddev=stddev, dtype=dtype, seed=7)

    return my_glorot_initializer


def _layer_weights(lib):
    MyInit, KwInit, SeedInit, _ = _initializers(lib)
    layers = [
        lib.layers.Dense(2, kernel_initializer=MyInit(), bias_initializer=KwInit()),
        lib.layers.Embedding(4, 2, embeddings_initializer=MyInit()),
        lib.layers.SimpleRNN(
            2, kernel_initializer=SeedInit(seed=1), recurrent_initializer=MyInit()
        ),
        lib.layers.Conv2D(1, 2, kernel_initializer=KwInit()),
        lib.layers.Dense(2, kernel_initializer=_my_glorot_initializer(lib)),
    ]
    shapes = [(None, 3), (None,), (None, 2, 3), (None, 4, 4, 1), (None, 3)]
    out = []
    for layer, shape in zip(layers, shapes):
        layer.build(shape)
        out.append([np.asarray(w) for w in layer.get_weights()])
    return out, KwInit.calls


def test_initializer_subclasses_in_builtin_layers(keras):
    with keras_ref():
        expected, k_calls = _layer_weights(keras)
    got, l_calls = _layer_weights(lamina)
    for want, have in zip(expected, got):
        assert len(want) == len(have)
        for w, h in zip(want, have):
            assert h.dtype == w.dtype == np.float32
            np.testing.assert_allclose(h, w, rtol=1e-6, atol=1e-7)
    # Called as Keras calls it: shape and dtype name, no other keyword (no ``key``).
    assert l_calls == k_calls == [((2,), "float32", []), ((2, 2, 1, 1), "float32", [])]


def _models_with_custom_initializers(lib):
    MyInit, KwInit, SeedInit, GenInit = _initializers(lib)

    class Scaled(lib.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer=SeedInit(2.0, 42))

        def call(self, x):
            return x @ self.w

    assert lib.initializers.get(MyInit()).__class__ is MyInit
    seq = lib.Sequential(
        [
            lib.Input((3,)),
            lib.layers.Dense(2, kernel_initializer=GenInit()),
            Scaled(),
            lib.layers.Dense(1, kernel_initializer=GenInit(), bias_initializer=MyInit()),
        ]
    )
    inputs = lib.Input((3,))
    func = lib.Model(inputs, lib.layers.Dense(2, kernel_initializer=SeedInit(seed=5))(inputs))
    weights = [np.asarray(w) for m in (seq, func) for w in m.get_weights()]
    gen = GenInit()  # one generator, two builds: its first and second draws
    for _ in range(2):
        layer = lib.layers.Dense(2, kernel_initializer=gen)
        layer.build((None, 3))
        weights.append(np.asarray(layer.kernel))
    return weights


def test_initializer_subclasses_in_models_and_add_weight(keras):
    with keras_ref():
        expected = _models_with_custom_initializers(keras)
    got = _models_with_custom_initializers(lamina)
    assert len(got) == len(expected)
    for w, h in zip(expected, got):
        np.testing.assert_allclose(h, w, rtol=1e-6, atol=1e-7)


def _halved(lib, with_kwargs):
    class Half(lib.initializers.GlorotUniform):
        calls = 0

        if with_kwargs:

            def __call__(self, shape, dtype=None, **kw):
                Half.calls += 1
                return super().__call__(shape, dtype) * 0.5

        else:

            def __call__(self, shape, dtype=None):
                Half.calls += 1
                return super().__call__(shape, dtype) * 0.5

    layer = lib.layers.Dense(2, kernel_initializer=Half(seed=1))
    layer.build((None, 3))
    ref = np.asarray(lib.initializers.GlorotUniform(seed=1)((3, 2)))
    return np.asarray(layer.kernel), ref, Half.calls


def test_builtin_initializer_subclass_runs_the_users_call(keras):
    for with_kwargs in (True, False):  # ``__call__(shape, dtype=None[, **kw])``
        with keras_ref():
            k_kernel, k_ref, k_calls = _halved(keras, with_kwargs)
        kernel, ref, calls = _halved(lamina, with_kwargs)
        np.testing.assert_allclose(k_kernel, 0.5 * k_ref, rtol=1e-6)
        np.testing.assert_allclose(kernel, 0.5 * ref, rtol=1e-6)
        assert calls == k_calls == 1


def _save(lib, path, registered):
    _, _, SeedInit, _ = _initializers(lib)
    if registered:
        SeedInit = lib.saving.register_keras_serializable("homl_ch12")(SeedInit)
    model = lib.Sequential(
        [lib.Input((3,)), lib.layers.Dense(2, kernel_initializer=SeedInit(2.0, 42))]
    )
    model.save(path)
    return [np.asarray(w) for w in model.get_weights()]


def _load(lib, path, registered):
    _, _, SeedInit, _ = _initializers(lib)
    if registered:
        lib.saving.register_keras_serializable("homl_ch12")(SeedInit)
        model = lib.models.load_model(path)
    else:
        model = lib.models.load_model(path, custom_objects={"SeedInit": SeedInit})
    init = model.layers[-1].kernel_initializer
    assert type(init).__name__ == "SeedInit" and init.get_config() == {"scale": 2.0, "seed": 42}
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("registered", [False, True])
@pytest.mark.parametrize("direction", ["lamina_to_keras", "keras_to_lamina"])
def test_custom_initializer_saves_and_loads_with_keras(keras, tmp_path, direction, registered):
    path = str(tmp_path / "model.keras")
    writer, reader = (lamina, keras) if direction == "lamina_to_keras" else (keras, lamina)
    with keras_ref():
        saved = _save(writer, path, registered)
        loaded = _load(reader, path, registered)
    for w, h in zip(saved, loaded):
        np.testing.assert_array_equal(h, w)


# ----------------------------------------------------------------------------- metrics
def _reset_runs(lib, reset):
    class HuberMetric(lib.metrics.Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.total = self.add_weight(name="total", initializer="zeros")
            self.count = self.add_weight(name="count", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(lib.ops.sum(lib.ops.abs(y_true - y_pred)))
            self.count.assign_add(lib.ops.cast(lib.ops.size(y_true), "float32"))

        def result(self):
            return self.total / self.count

    out = []
    for m, args in [
        (lib.metrics.Mean(), ([1.0, 3.0],)),
        (lib.metrics.Precision(), ([0, 1, 1, 1], [1, 0, 1, 1])),
        (HuberMetric(), (np.array([1.0, 2.0]), np.array([0.0, 0.0]))),
    ]:
        m.update_state(*args)
        before = float(m.result())
        getattr(m, reset)()
        m.update_state(*args)
        out.append((before, float(m.result())))
    return out


def test_metric_reset_states_is_keras2s_reset_state(keras):
    with keras_ref():
        expected = _reset_runs(keras, "reset_state")
    got = _reset_runs(lamina, "reset_states")
    assert np.ravel(got) == pytest.approx(np.ravel(expected))
    assert callable(lamina.Model.reset_metrics) and callable(keras.Model.reset_metrics)


def test_keras2_reset_states_override_is_used_by_reset_state():
    class Legacy(lamina.metrics.Mean):
        calls = 0

        def reset_states(self):
            Legacy.calls += 1
            super().reset_states()

    m = Legacy()
    m.update_state([2.0])
    m.reset_state()
    assert (Legacy.calls, float(m.result())) == (1, 0.0)
    m.update_state([4.0])
    m.reset_states()
    assert (Legacy.calls, float(m.result())) == (2, 0.0)


# ---------------------------------------------------------------------------- CSVLogger
def _csv_runs(lib, folder):
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    y = x.sum(1, keepdims=True) * 0.5

    def model():
        m = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, kernel_initializer="zeros")])
        m.compile(lib.optimizers.SGD(0.1), "mse", metrics=["mae"])
        return m

    class Extra(lib.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["vec"], logs["tag"] = np.array([1.5, 2.0]), "a,b"
            if epoch == 1:
                logs["late"] = 1.0  # after the columns are fixed: left out

    fit = {"batch_size": 8, "shuffle": False, "verbose": 0}
    log = lib.callbacks.CSVLogger
    model().fit(x, y, epochs=2, callbacks=[log(f"{folder}/plain.csv")], **fit)
    model().fit(x, y, epochs=4, validation_data=(x, y), validation_freq=2,
                callbacks=[log(f"{folder}/freq.csv")], **fit)  # fmt: skip
    m = model()
    m.fit(x, y, epochs=2, callbacks=[log(f"{folder}/append.csv", ";", append=True)], **fit)
    m.fit(x, y, epochs=3, initial_epoch=2, validation_data=(x, y),
          callbacks=[log(f"{folder}/append.csv", ";", append=True)], **fit)  # fmt: skip
    model().fit(x, y, epochs=2, callbacks=[Extra(), log(f"{folder}/extra.csv", "\t")], **fit)
    return {
        name: open(f"{folder}/{name}.csv", newline="").read()
        for name in ("plain", "freq", "append", "extra")
    }


@pytest.mark.parametrize("name", ["plain", "freq", "append", "extra"])
def test_csv_logger_writes_what_keras_writes(keras, tmp_path, name):
    (tmp_path / "k").mkdir()
    (tmp_path / "l").mkdir()
    with keras_ref():
        want = _csv_runs(keras, tmp_path / "k")[name]
    got = _csv_runs(lamina, tmp_path / "l")[name]
    assert got.count("\r\n") == want.count("\r\n")
    sep = {"append": ";", "extra": "\t"}.get(name, ",")
    want_rows = list(csv.reader(want.splitlines(), delimiter=sep))
    got_rows = list(csv.reader(got.splitlines(), delimiter=sep))
    assert got_rows[0] == want_rows[0]  # the header: columns and their order
    assert len(got_rows) == len(want_rows)
    for w_row, g_row in zip(want_rows[1:], got_rows[1:]):
        assert len(g_row) == len(w_row)
        for w, g in zip(w_row, g_row):
            try:
                w_num = float(w)
            except ValueError:  # "NA", strings and arrays: exactly Keras's text
                assert g == w
                continue
            assert float(g) == pytest.approx(w_num, rel=1e-5)
            assert g == repr(float(g)) or g == w  # Python's float text, as Keras writes


# ------------------------------------------------------------------------ learning rate
def test_learning_rate_reads_as_keras_float32_variable(keras):
    with keras_ref():
        k_opt = keras.optimizers.SGD(0.01)
        k_float = float(k_opt.learning_rate)
        k_numpy = k_opt.learning_rate.numpy()
        k_iterations = keras.ops.convert_to_numpy(k_opt.iterations)
    opt = lamina.optimizers.SGD(0.01)
    assert float(opt.learning_rate) == k_float == float(np.float32(0.01))
    assert float(opt.lr) == k_float
    numpy = opt.learning_rate.numpy()
    assert (type(numpy), numpy.dtype, numpy.shape) == (type(k_numpy), k_numpy.dtype, ())
    assert np.asarray(opt.learning_rate).dtype == np.float32
    assert (opt.learning_rate * 2).dtype == np.float32
    assert opt.learning_rate == 0.01  # as Keras's float32 variable compares
    assert np.asarray(opt.iterations).dtype == k_iterations.dtype == np.int32


def test_get_value_of_learning_rate_is_a_numpy_float32_scalar(keras):
    opt = lamina.optimizers.SGD(0.01)
    value = K.get_value(opt.learning_rate)
    assert type(value) is np.float32 and value == np.float32(0.01)
    assert np.array([K.get_value(opt.learning_rate), K.get_value(opt.lr)]).dtype == np.float32
    K.set_value(opt.learning_rate, 0.5)
    assert type(K.get_value(opt.learning_rate)) is np.float32 and float(opt.learning_rate) == 0.5
    assert type(K.get_value(opt.iterations)) is np.int32
    assert K.get_value(2.5) == 2.5 and type(K.get_value(K.variable(1.0))) is np.float32


def _fit_rates(lib, get):
    rates, seen = [], []

    class Record(lib.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rates.append(get(self.model.optimizer.learning_rate))

    def schedule(epoch, lr):
        seen.append(lr)
        return lr * 0.5

    m = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1, kernel_initializer="ones")])
    m.compile(lib.optimizers.SGD(0.01), "mse")
    callbacks = [lib.callbacks.LearningRateScheduler(schedule), Record()]
    m.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3, verbose=0, callbacks=callbacks)
    return np.array(rates), seen


def test_learning_rates_collected_in_fit_are_float32(keras):
    with keras_ref():
        want, k_seen = _fit_rates(keras, keras.ops.convert_to_numpy)
    got, seen = _fit_rates(lamina, K.get_value)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    assert seen == k_seen  # the schedule gets the float32 rate as a Python float
