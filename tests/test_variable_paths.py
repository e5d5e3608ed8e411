"""``variable.path`` as Keras 3 gives it, for every kind of model.

Each case builds the same architecture with real Keras and with Lamina, each after its own
``clear_session()`` (so automatic names agree), and compares the paths of ``weights``,
``trainable_weights``, ``non_trainable_weights`` and ``variables`` (Keras's ``variables``
also lists the ``SeedGenerator`` state of its recurrent layers, which are not weights: those
are left out).
"""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

LISTS = ("weights", "trainable_weights", "non_trainable_weights", "variables")


def _paths(model):
    return {
        name: [v.path for v in getattr(model, name) if "seed_generator" not in v.path]
        for name in LISTS
    }


def _compare(keras, build):
    keras.backend.clear_session(free_memory=False)
    with keras_ref():
        want = _paths(build(keras))
    lamina.backend.clear_session()
    got = _paths(build(lamina))
    assert got == want
    return got


X3 = np.zeros((2, 3), "float32")
SEQ = np.zeros((2, 5, 3), "float32")


def _seq_input(k):
    return k.Sequential([k.Input((3,)), k.layers.Dense(2), k.layers.BatchNormalization()])


def _seq_input_shape(k):
    return k.Sequential([k.layers.Dense(2, input_shape=(3,)), k.layers.Dense(1)])


def _seq_first_call(k):
    model = k.Sequential([k.layers.Dense(2), k.layers.Dense(1)])
    model(X3)
    return model


def _seq_build(k):
    model = k.Sequential([k.layers.Dense(2, name="d"), k.layers.BatchNormalization(name="bn")])
    model.build((None, 3))
    return model


def _seq_fit(k):
    model = k.Sequential([k.layers.Dense(2, name="d")], name="s")
    model.compile("sgd", "mse")
    model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    return model


def _seq_in_seq(k):
    inner = k.Sequential([k.layers.Dense(2, name="d1")], name="inner")
    return k.Sequential([k.Input((3,)), inner, k.layers.Dense(1, name="d2")], name="outer")


def _built_seq_in_seq(k):
    inner = k.Sequential([k.Input((3,)), k.layers.Dense(2, name="d1")], name="inner")
    return k.Sequential([k.Input((3,)), inner, k.layers.Dense(1, name="d2")], name="outer")


def _seq_in_functional(k):
    inner = k.Sequential([k.layers.Dense(2, name="d1")], name="inner")
    inp = k.Input((3,))
    return k.Model(inp, k.layers.Dense(1, name="d2")(inner(inp)))


def _functional_in_seq(k):
    inp = k.Input((3,))
    f = k.Model(inp, k.layers.Dense(2, name="d1")(inp), name="f")
    return k.Sequential([k.Input((3,)), f, k.layers.Dense(1, name="d2")], name="outer")


def _functional(k):
    inp = k.Input((3,))
    return k.Model(inp, k.layers.Dense(2)(inp))


def _in_name_scope(k):
    with k.name_scope("blk"):
        return k.Sequential([k.Input((3,)), k.layers.Dense(2, name="d")], name="s")


def _built_before(k):
    dense = k.layers.Dense(2, name="pre")
    dense.build((None, 3))
    return k.Sequential([k.Input((3,)), dense], name="s")


def _subclassed_cls(k):
    class Net(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d = k.layers.Dense(2)
            self.blk = k.layers.Dense(3)
            self.bn = k.layers.BatchNormalization(name="bn")

        def call(self, x):
            return self.bn(self.blk(self.d(x)))

    return Net


def _subclassed(k):
    model = _subclassed_cls(k)()
    model(X3)
    return model


def _subclassed_own_weight(k):
    class Scaled(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d = k.layers.Dense(2, name="d")

        def build(self, shape):
            self.w = self.add_weight(shape=(2,), name="w")

        def call(self, x):
            return self.d(x) * self.w

    model = Scaled(name="wm")
    model(X3)
    return model


def _subclassed_nested(k):
    class Inner(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d = k.layers.Dense(2, name="d")

        def call(self, x):
            return self.d(x)

    class Outer(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Inner(name="inner")
            self.o = k.layers.Dense(1, name="o")

        def call(self, x):
            return self.o(self.inner(x))

    model = Outer(name="outer")
    model(X3)
    return model


def _block_cls(k):
    class Block(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.proj = k.layers.Dense(4, name="inner_proj")
            self.norm = k.layers.LayerNormalization()

        def call(self, x):
            return self.norm(self.proj(x))

    return Block


def _custom_init_seq(k):
    block = _block_cls(k)(name="blk")
    return k.Sequential([k.Input((3,)), block, k.layers.Dense(1, name="out")], name="s")


def _custom_init_functional(k):
    inp = k.Input((3,))
    return k.Model(inp, _block_cls(k)(name="blk")(inp))


def _custom_nested(k):
    block_cls = _block_cls(k)

    class Outer(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.b = block_cls(name="inner_blk")

        def call(self, x):
            return self.b(x)

    inp = k.Input((3,))
    return k.Model(inp, Outer(name="outer")(inp))


def _custom_build(k):
    class BuildBlock(k.layers.Layer):
        def build(self, shape):
            self.proj = k.layers.Dense(4, name="p")
            self.proj.build(shape)
            self.w = self.add_weight(shape=(4,), name="scale")

        def call(self, x):
            return self.proj(x) * self.w

    return k.Sequential([k.Input((3,)), BuildBlock(name="bb")], name="s")


def _custom_holding_seq(k):
    class Holder(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seq = k.Sequential(
                [k.layers.Dense(4, name="d"), k.layers.BatchNormalization(name="bn")],
                name="inner_seq",
            )
            self.blocks = [k.layers.Dense(4, name=f"b{i}") for i in range(2)]

        def call(self, x):
            x = self.seq(x)
            for block in self.blocks:
                x = block(x)
            return x

    return k.Sequential([k.Input((3,)), Holder(name="h")], name="s")


def _bidirectional(k):
    return k.Sequential([k.Input((5, 3)), k.layers.Bidirectional(k.layers.LSTM(2))])


def _bidirectional_gru(k):
    layer = k.layers.Bidirectional(k.layers.GRU(2, name="g"), name="bi")
    return k.Sequential([k.Input((5, 3)), layer], name="s")


def _time_distributed(k):
    return k.Sequential([k.Input((5, 3)), k.layers.TimeDistributed(k.layers.Dense(2))])


def _time_distributed_lstm(k):
    layer = k.layers.TimeDistributed(k.layers.LSTM(2, name="l"), name="td")
    return k.Sequential([k.Input((4, 5, 3)), layer], name="s")


def _recurrent(k):
    inp = k.Input((5, 3))
    x = k.layers.GRU(2, return_sequences=True)(inp)
    x = k.layers.SimpleRNN(2, return_sequences=True)(x)
    return k.Model(inp, k.layers.LSTM(2)(x))


def _rnn_cells(k):
    inp = k.Input((5, 3))
    x = k.layers.RNN(k.layers.LSTMCell(2), return_sequences=True)(inp)
    return k.Model(inp, k.layers.RNN([k.layers.LSTMCell(2), k.layers.GRUCell(2)])(x))


def _conv_lstm(k):
    return k.Sequential([k.Input((2, 5, 5, 1)), k.layers.ConvLSTM2D(2, 3)], name="s")


def _attention(k):
    inp = k.Input((4, 6))
    x = k.layers.MultiHeadAttention(2, 3)(inp, inp)
    return k.Model(inp, k.layers.GroupQueryAttention(4, 2, 1, name="g")(x, x))


def _attention_in_subclassed(k):
    class T(k.Model):
        def __init__(self):
            super().__init__(name="t")
            self.att = k.layers.MultiHeadAttention(2, 3, name="att")
            self.bn = k.layers.BatchNormalization(name="bn")

        def call(self, x):
            return self.bn(self.att(x, x))

    model = T()
    model(np.zeros((2, 4, 6), "float32"))
    return model


def _spectral_norm(k):
    layer = k.layers.SpectralNormalization(k.layers.Dense(2, name="d"), name="sn")
    return k.Sequential([k.Input((3,)), layer], name="s")


CASES = [
    _seq_input,
    _seq_input_shape,
    _seq_first_call,
    _seq_build,
    _seq_fit,
    _seq_in_seq,
    _built_seq_in_seq,
    _seq_in_functional,
    _functional_in_seq,
    _functional,
    _in_name_scope,
    _built_before,
    _subclassed,
    _subclassed_own_weight,
    _subclassed_nested,
    _custom_init_seq,
    _custom_init_functional,
    _custom_nested,
    _custom_build,
    _custom_holding_seq,
    _bidirectional,
    _bidirectional_gru,
    _time_distributed,
    _time_distributed_lstm,
    _recurrent,
    _rnn_cells,
    _conv_lstm,
    _attention,
    _attention_in_subclassed,
    _spectral_norm,
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("build", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_weight_paths_match_keras(keras, build):
    _compare(keras, build)


def test_sequential_paths_start_with_model_name():
    # Keras's own example: the Sequential's name comes first, a functional model's does not.
    lamina.backend.clear_session()
    seq = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    assert [v.path for v in seq.weights] == ["sequential/dense/kernel", "sequential/dense/bias"]
    model = _subclassed_cls(lamina)()
    model(X3)
    assert [v.path for v in model.weights][:2] == ["net/dense_1/kernel", "net/dense_1/bias"]


def test_weight_name_is_its_last_part(keras):
    got = _compare(keras, _bidirectional)
    lamina.backend.clear_session()
    names = [v.name for v in _bidirectional(lamina).weights]
    assert names == [p.rsplit("/", 1)[-1] for p in got["weights"]]


def _metric_paths(k, model):
    return {m.name: [(v.path, v.name) for v in m.variables] for m in model.metrics}


def test_metric_variable_paths_match_keras(keras):
    def run(k):
        model = k.Sequential([k.Input((3,)), k.layers.Dense(2, name="d")], name="s")
        metrics = ["mae", "mse", "binary_accuracy", k.metrics.AUC(name="auc")]
        model.compile(optimizer="adam", loss="mse", metrics=metrics)
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
        free = k.metrics.Mean(name="avg")
        return (
            _metric_paths(k, model),
            [v.path for v in model.metrics_variables],
            [(v.path, v.name) for v in free.variables],
        )

    keras.backend.clear_session(free_memory=False)
    with keras_ref():
        want = run(keras)
    lamina.backend.clear_session()
    assert run(lamina) == want


def _recurrent_subclassed(k):
    class Net(k.Model):
        def __init__(self):
            super().__init__(name="net")
            self.rnn = k.layers.LSTM(2, name="l")

        def call(self, x):
            return self.rnn(x)

    return Net()


def _dense_functional(k):
    inp = k.Input((5, 3))
    return k.Model(inp, k.layers.Dense(2, name="d")(k.layers.Flatten()(inp)), name="f")


@pytest.mark.parametrize("make", [_recurrent_subclassed, _dense_functional])
def test_optimizer_variable_paths_match_keras(keras, make):
    # Keras names a slot by the weight's path: ``adam/d_kernel_momentum`` in a functional
    # model, ``sgd/net_l_lstm_cell_kernel_momentum`` in a subclassed one.
    def run(k):
        model = make(k)
        model.compile(optimizer=k.optimizers.SGD(momentum=0.9), loss="mse")
        model.fit(np.zeros((4, 5, 3)), np.zeros((4, 2)), verbose=0)
        return [(v.path, v.name) for v in model.optimizer.variables]

    keras.backend.clear_session(free_memory=False)
    with keras_ref():
        want = run(keras)
    lamina.backend.clear_session()
    assert run(lamina) == want
