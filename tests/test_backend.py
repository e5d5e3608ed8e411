"""``lamina.backend``: Keras 3 helpers against ``keras.backend`` / ``keras.config`` and Keras 2's
``K.*`` functions against NumPy formulas of tf-keras's definitions."""

import numpy as np
import pytest

from lamina import backend as K
from tests.helpers import keras_ref

keras = pytest.importorskip("keras")

rng = np.random.default_rng(3)
X = rng.normal(size=(4, 3)).astype("float32")
Y = rng.normal(size=(4, 3)).astype("float32")
P = rng.uniform(0.05, 0.95, size=(4, 3)).astype("float32")
T = (rng.uniform(size=(4, 3)) > 0.5).astype("float32")


@pytest.fixture(autouse=True)
def _restore_settings():
    yield
    K.set_floatx("float32")
    K.set_epsilon(1e-7)
    K.set_image_data_format("channels_last")


def test_keras3_settings_and_dtypes():
    assert K.backend() == "jax" and K.floatx() == "float32" and K.epsilon() == 1e-7
    K.set_floatx("float16")
    assert K.floatx() == "float16" and K.zeros((2,)).dtype == np.float16
    from lamina import ops

    assert (
        ops.convert_to_tensor(1.5).dtype == np.float16
        and ops.mean(ops.arange(3)).dtype == np.float32
    )
    K.set_floatx("float32")
    K.set_image_data_format("channels_first")
    assert K.image_data_format() == "channels_first" and K.image_dim_ordering() == "th"
    K.set_image_dim_ordering("tf")
    assert K.image_data_format() == "channels_last"
    for bad, fn in (
        ("float8", K.set_floatx),
        ("nchw", K.set_image_data_format),
        ("xx", K.set_image_dim_ordering),
    ):
        with pytest.raises(ValueError):
            fn(bad)
    for dt in ("float32", np.float16, int, float, bool, "int8", np.dtype("uint8")):
        with keras_ref():
            assert K.standardize_dtype(dt) == keras.backend.standardize_dtype(dt)
    for args in (
        ("int32", float),
        ("float16", float),
        ("int8", "int16"),
        ("uint8", "int8"),
        ("bfloat16", "float16"),
        ("int8", int),
    ):
        assert K.result_type(*args) == keras.backend.result_type(*args)
    assert not K.is_keras_tensor(X) and K.is_float_dtype("bfloat16") and K.is_int_dtype("int8")


def test_custom_keras2_loss_formulas():
    def rmse(y_true, y_pred):
        return K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))

    np.testing.assert_allclose(rmse(X, Y), np.sqrt(((Y - X) ** 2).mean(-1)), rtol=1e-6)
    eps = 1e-7
    pc = np.clip(P, eps, 1 - eps)
    bce = -(T * np.log(pc + eps) + (1 - T) * np.log(1 - pc + eps))  # tf-keras's formula
    np.testing.assert_allclose(K.binary_crossentropy(T, P), bce, rtol=1e-6)
    logits_bce = np.maximum(X, 0) - X * T + np.log1p(np.exp(-np.abs(X)))
    np.testing.assert_allclose(
        K.binary_crossentropy(T, X, from_logits=True), logits_bce, rtol=1e-5, atol=1e-6
    )
    pn = np.clip(P / P.sum(-1, keepdims=True), eps, 1 - eps)
    np.testing.assert_allclose(
        K.categorical_crossentropy(T, P), -(T * np.log(pn)).sum(-1), rtol=1e-6
    )
    sm = np.exp(X) / np.exp(X).sum(-1, keepdims=True)
    np.testing.assert_allclose(
        K.categorical_crossentropy(T, X, from_logits=True), -(T * np.log(sm)).sum(-1), rtol=1e-5
    )
    labels = np.array([0, 2, 1, 1])
    np.testing.assert_allclose(
        K.sparse_categorical_crossentropy(labels, P), -np.log(pn[np.arange(4), labels]), rtol=1e-6
    )


MATH = [
    ("mean", (X,), {"axis": 1, "keepdims": True}, lambda: X.mean(1, keepdims=True)),
    ("mean", (X > 0,), {}, lambda: (X > 0).mean()), ("sum", (X,), {"axis": [0, 1]}, lambda: X.sum()),
    ("prod", (X,), {"axis": 0}, lambda: X.prod(0)), ("max", (X,), {"axis": -1}, lambda: X.max(-1)),
    ("min", (X,), {}, lambda: X.min()), ("std", (X,), {"axis": 0}, lambda: X.std(0)),
    ("var", (X,), {"axis": 1}, lambda: X.var(1)), ("any", (X > 1,), {"axis": 1}, lambda: (X > 1).any(1)),
    ("all", (X > -3,), {}, lambda: (X > -3).all()), ("argmax", (X,), {}, lambda: X.argmax(-1)),
    ("argmin", (X,), {"axis": 0}, lambda: X.argmin(0)), ("square", (X,), {}, lambda: X**2),
    ("sqrt", (X,), {}, lambda: np.sqrt(np.maximum(X, 0))), ("abs", (X,), {}, lambda: np.abs(X)),
    ("exp", (X,), {}, lambda: np.exp(X)), ("log", (P,), {}, lambda: np.log(P)),
    ("pow", (P, 3), {}, lambda: P**3), ("clip", (X, -0.5, 0.5), {}, lambda: np.clip(X, -0.5, 0.5)),
    ("clip", (X, None, 0.1), {}, lambda: np.minimum(X, 0.1)), ("clip", (X, 1.0, 0.0), {}, lambda: np.full_like(X, 1.0)),
    ("maximum", (X, Y), {}, lambda: np.maximum(X, Y)), ("minimum", (X, 0.0), {}, lambda: np.minimum(X, 0)),
    ("round", (X * 3,), {}, lambda: np.round(X * 3)), ("sign", (X,), {}, lambda: np.sign(X)),
    ("greater", (X, Y), {}, lambda: X > Y), ("equal", (X, X), {}, lambda: X == X),
    ("dot", (X, Y.T), {}, lambda: X @ Y.T), ("dot", (np.ones((2, 3, 4)), np.ones((5, 4, 6))), {}, lambda: np.dot(np.ones((2, 3, 4)), np.ones((5, 4, 6)))),
    ("batch_dot", (X, Y), {"axes": 1}, lambda: (X * Y).sum(1, keepdims=True)),
    ("batch_dot", (np.ones((32, 20, 1)), np.ones((32, 30, 20))), {"axes": (1, 2)}, lambda: np.full((32, 1, 30), 20.0)),
    ("concatenate", ([X, Y],), {}, lambda: np.concatenate([X, Y], -1)),
    ("reshape", (X, (3, 4)), {}, lambda: X.reshape(3, 4)), ("expand_dims", (X,), {}, lambda: X[..., None]),
    ("squeeze", (X[:, :1], 1), {}, lambda: X[:, 0]), ("flatten", (X,), {}, lambda: X.ravel()),
    ("batch_flatten", (np.ones((2, 3, 4)),), {}, lambda: np.ones((2, 12))),
    ("stack", ([X, Y],), {"axis": 1}, lambda: np.stack([X, Y], 1)), ("transpose", (X,), {}, lambda: X.T),
    ("permute_dimensions", (np.ones((2, 3, 4)), (2, 0, 1)), {}, lambda: np.ones((4, 2, 3))),
    ("tile", (X, (1, 2)), {}, lambda: np.tile(X, (1, 2))), ("repeat_elements", (X, 2, 1), {}, lambda: np.repeat(X, 2, 1)),
    ("repeat", (X, 2), {}, lambda: np.repeat(X[:, None], 2, 1)), ("gather", (X, [3, 1]), {}, lambda: X[[3, 1]]),
    ("cumsum", (X,), {}, lambda: X.cumsum(0)), ("cumprod", (X,), {"axis": 1}, lambda: X.cumprod(1)),
    ("one_hot", (np.array([0, 2]), 3), {}, lambda: np.eye(3)[[0, 2]]),
    ("l2_normalize", (X,), {"axis": 1}, lambda: X / np.sqrt((X**2).sum(1, keepdims=True))),
    ("softmax", (X,), {}, lambda: np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
    ("sigmoid", (X,), {}, lambda: 1 / (1 + np.exp(-X))), ("hard_sigmoid", (X,), {}, lambda: np.clip(0.2 * X + 0.5, 0, 1)),
    ("relu", (X,), {"alpha": 0.1, "max_value": 0.5}, lambda: np.where(X > 0, np.minimum(X, 0.5), 0.1 * X)),
    ("elu", (X,), {}, lambda: np.where(X > 0, X, np.exp(X) - 1)), ("softplus", (X,), {}, lambda: np.log1p(np.exp(X))),
    ("switch", (X[:, 0] > 0, X, Y), {}, lambda: np.where((X[:, 0] > 0)[:, None], X, Y)),
    ("switch", (True, lambda: X, lambda: Y), {}, lambda: X), ("logsumexp", (X,), {"axis": 1}, lambda: np.log(np.exp(X).sum(1))),
    ("ones_like", (X,), {}, lambda: np.ones_like(X)), ("zeros_like", (X,), {}, lambda: np.zeros_like(X)),
    ("eye", (2,), {}, lambda: np.eye(2)), ("ones", ((2, 2),), {}, lambda: np.ones((2, 2))),
    ("bias_add", (X, Y[0]), {}, lambda: X + Y[0]), ("cast", (X, "int32"), {}, lambda: X.astype("int32")),
    ("arange", (1, 7, 2), {}, lambda: np.arange(1, 7, 2)),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,args,kwargs,expected", MATH, ids=[f"{m[0]}-{i}" for i, m in enumerate(MATH)]
)
def test_keras2_math_matches_numpy(name, args, kwargs, expected):
    got = np.asarray(getattr(K, name)(*args, **kwargs))
    want = np.asarray(expected())
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_variables_values_and_shapes():
    v = K.variable(X)
    assert (
        K.int_shape(v) == (4, 3)
        and K.ndim(v) == 2
        and K.dtype(v) == "float32"
        and K.count_params(v) == 12
    )
    K.set_value(v, Y)
    np.testing.assert_array_equal(K.get_value(v), Y)
    np.testing.assert_array_equal(K.eval(v * 2), Y * 2)
    K.batch_set_value([(v, X)])
    np.testing.assert_array_equal(K.batch_get_value([v])[0], X)
    K.update_add(v, np.ones_like(X))
    np.testing.assert_allclose(K.get_value(v), X + 1)
    assert K.variable(3).dtype == "float32" and K.constant(2, shape=(2, 2)).shape == (2, 2)
    arr = np.zeros(3)
    K.set_value(arr, [1, 2, 3])
    assert arr.tolist() == [1.0, 2.0, 3.0]

    class Hyper:  # an optimizer hyperparameter exposing assign, as Keras's variables do
        def __init__(self):
            self.value = 0.1

        def assign(self, value):
            self.value = value

    h = Hyper()
    K.set_value(h, 0.01)
    assert h.value == 0.01
    with pytest.raises(TypeError, match="learning_rate"):
        K.set_value(0.1, 0.01)
    with pytest.raises(ValueError, match="shape"):
        K.set_value(v, np.ones(5))


def test_random_tensors_session_and_unsupported():
    a = K.random_normal((200,), mean=2.0, stddev=0.5, seed=3)
    assert abs(float(np.mean(a)) - 2.0) < 0.15
    u = K.random_uniform((200,), minval=-1, maxval=1, seed=4)
    assert float(np.min(u)) >= -1 and float(np.max(u)) < 1
    assert set(np.unique(K.random_bernoulli((50,), p=0.5, seed=1)).tolist()) <= {0.0, 1.0}
    with keras_ref():
        expected = np.asarray(keras.random.normal((3,), seed=9))
    np.testing.assert_allclose(K.random_normal((3,), seed=9), expected)
    K.clear_session()
    from lamina.layers import Dense

    assert Dense(2).name == "dense"
    assert K.learning_phase() == 0
    assert K.placeholder(shape=(None, 3)).shape == (None, 3)  # an Input K.function can feed
    with pytest.raises(TypeError, match="K.gradients.*symbolic tensor"):
        K.gradients(None, [])  # only graph tensors (tests/test_keras2_examples_dir.py)


@pytest.mark.slow
def test_function_on_a_functional_model():
    from lamina.layers import Dense, Input
    from lamina.models import Model

    inp = Input((3,))
    hidden = Dense(4, activation="relu")(inp)
    out = Dense(2)(hidden)
    model = Model(inp, out)
    get_hidden = K.function([model.input], [hidden])
    h = get_hidden([X])[0]
    w, b = model.layers[1].get_weights()
    np.testing.assert_allclose(h, np.maximum(X @ w + b, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(get_hidden([X, 0])[0], h)
