"""Losses against real Keras 3 (values, reductions, gradients, lookup, fit-time checks)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lamina import losses as L
from tests.helpers import keras_ref

N, C = 8, 4


def _data(rng, kind):
    if kind == "binary":
        return (rng.random((N, 1)) > 0.5).astype("float32"), rng.uniform(0, 1, (N, 1)).astype(
            "float32"
        )
    if kind == "binary_flat":
        return (rng.random(N) > 0.5).astype("float32"), rng.uniform(0, 1, (N, 1)).astype("float32")
    if kind == "multi":
        return (rng.random((N, C)) > 0.5).astype("float32"), rng.uniform(0, 1, (N, C)).astype(
            "float32"
        )
    if kind == "cat":
        p = rng.uniform(0.01, 1, (N, C)).astype("float32")
        return np.eye(C, dtype="float32")[rng.integers(0, C, N)], p / p.sum(-1, keepdims=True)
    if kind == "reg":
        return rng.normal(size=(N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32")
    if kind == "reg_flat":
        return rng.normal(size=N).astype("float32"), rng.normal(size=(N, 1)).astype("float32")
    if kind == "pos":
        return rng.uniform(0.1, 2, (N, 3)).astype("float32"), rng.uniform(0.1, 2, (N, 3)).astype(
            "float32"
        )
    raise AssertionError(kind)


FUNCS = [
    ("mean_squared_error", "reg"),
    ("mean_squared_error", "reg_flat"),
    ("mean_absolute_error", "reg"),
    ("mean_absolute_percentage_error", "reg"),
    ("mean_squared_logarithmic_error", "pos"),
    ("huber", "reg"),
    ("log_cosh", "reg"),
    ("cosine_similarity", "reg"),
    ("kl_divergence", "cat"),
    ("poisson", "pos"),
    ("hinge", "multi"),
    ("hinge", "reg"),
    ("squared_hinge", "multi"),
    ("categorical_hinge", "cat"),
    ("binary_crossentropy", "binary"),
    ("binary_crossentropy", "multi"),
    ("categorical_crossentropy", "cat"),
    ("binary_focal_crossentropy", "multi"),
]


@pytest.mark.parametrize("name,kind", FUNCS)
def test_functions_match_keras(keras, rng, name, kind):
    yt, yp = _data(rng, kind)
    if kind == "reg_flat":  # Keras's functions squeeze/expand too for these
        pass
    with keras_ref():
        ref = np.asarray(getattr(keras.losses, name)(yt, yp))
    np.testing.assert_allclose(np.asarray(getattr(L, name)(yt, yp)), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_crossentropy_options(keras, rng, from_logits, ls):
    yt, yp = _data(rng, "cat")
    if from_logits:
        yp = rng.normal(size=yp.shape).astype("float32")
    with keras_ref():
        ref_c = keras.losses.categorical_crossentropy(yt, yp, from_logits, ls)
        ref_b = keras.losses.binary_crossentropy(yt, yp, from_logits, ls)
    np.testing.assert_allclose(
        L.categorical_crossentropy(yt, yp, from_logits, ls), ref_c, rtol=1e-5
    )
    np.testing.assert_allclose(L.binary_crossentropy(yt, yp, from_logits, ls), ref_b, rtol=1e-5)


@pytest.mark.parametrize("shape", ["flat", "col"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_crossentropy(keras, rng, shape, from_logits):
    _, yp = _data(rng, "cat")
    ys = rng.integers(0, C, N)
    ys = ys if shape == "flat" else ys[:, None]
    with keras_ref():
        ref = keras.losses.sparse_categorical_crossentropy(ys, yp, from_logits)
        ref_i = keras.losses.sparse_categorical_crossentropy(ys, yp, from_logits, ignore_class=1)
        ref_cls = keras.losses.SparseCategoricalCrossentropy(ignore_class=1)(ys, yp)
    np.testing.assert_allclose(
        L.sparse_categorical_crossentropy(ys, yp, from_logits), ref, rtol=1e-5
    )
    np.testing.assert_allclose(
        L.sparse_categorical_crossentropy(ys, yp, from_logits, ignore_class=1), ref_i, rtol=1e-5
    )
    np.testing.assert_allclose(
        L.SparseCategoricalCrossentropy(ignore_class=1)(ys, yp), ref_cls, rtol=1e-5
    )


CLASSES = [
    ("MeanSquaredError", {}, "reg"),
    ("MeanSquaredError", {}, "reg_flat"),
    ("MeanAbsoluteError", {}, "reg_flat"),
    ("MeanAbsolutePercentageError", {}, "reg"),
    ("MeanSquaredLogarithmicError", {}, "pos"),
    ("Huber", {"delta": 0.5}, "reg"),
    ("LogCosh", {}, "reg"),
    ("CosineSimilarity", {}, "reg"),
    ("KLDivergence", {}, "cat"),
    ("Poisson", {}, "pos"),
    ("Hinge", {}, "binary_flat"),
    ("SquaredHinge", {}, "multi"),
    ("CategoricalHinge", {}, "cat"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {}, "binary_flat"),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "multi"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True}, "binary_flat"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "cat"),
    ("CategoricalCrossentropy", {"from_logits": True}, "cat"),
]


@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]
)
@pytest.mark.parametrize("cls,kw,kind", CLASSES)
def test_classes_match_keras(keras, rng, cls, kw, kind, reduction):
    yt, yp = _data(rng, kind)
    sw = rng.uniform(0, 2, N).astype("float32")
    ours = getattr(L, cls)(reduction=reduction, **kw)
    with keras_ref():
        ref = getattr(keras.losses, cls)(reduction=reduction, **kw)
        r0, r1 = ref(yt, yp), ref(yt, yp, sample_weight=sw)
    np.testing.assert_allclose(ours(yt, yp), r0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours(yt, yp, sample_weight=sw), r1, rtol=1e-5, atol=1e-6)
    # Keras 3.15 drops a non-default Huber delta / cosine axis from the config (its reload
    # loses them); Lamina keeps those and is otherwise Keras's config.
    dropped = {"Huber": "delta", "CosineSimilarity": "axis"}.get(cls)
    config = ours.get_config()
    if dropped in kw:
        assert config.pop(dropped) == kw[dropped]
    assert config == ref.get_config()
    assert ours.name == ref.name
    with keras_ref():
        want = keras.losses.serialize(ref)
    got = L.serialize(ours)
    got["config"].pop(dropped, None)
    assert got == want
    assert L.deserialize(L.serialize(ours)) == ours


@pytest.mark.parametrize("ys_shape", ["flat", "col"])
def test_sparse_class_sample_weight(keras, rng, ys_shape):
    _, yp = _data(rng, "cat")
    ys = rng.integers(0, C, N)
    ys = ys if ys_shape == "flat" else ys[:, None]
    sw = rng.uniform(0, 2, N).astype("float32")
    with keras_ref():
        ref = keras.losses.SparseCategoricalCrossentropy()(ys, yp, sample_weight=sw)
    loss = L.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(loss(ys, yp, sample_weight=sw), ref, rtol=1e-5)
    assert loss.per_sample(ys, yp).shape == (N,)


def test_sum_over_batch_size_divides_by_elements(rng):
    yt, yp = _data(rng, "reg")
    sw = np.zeros(N, "float32")
    sw[0] = 1.0
    per = np.asarray(L.mean_squared_error(yt, yp))
    np.testing.assert_allclose(
        L.MeanSquaredError()(yt, yp, sample_weight=sw), per[0] / N, rtol=1e-6
    )


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy"])
def test_crossentropy_gradients_match_keras(keras, rng, name):
    yt, _ = _data(rng, "cat")
    yp = np.array(
        [[1.0, 0.0, 0.0, 0.0], [1e-9, 1 - 1e-9, 0.0, 0.0]] + [[0.25] * 4] * (N - 2), "float32"
    )
    ours = jax.grad(lambda p: jnp.sum(getattr(L, name)(yt, p)))(yp)
    with keras_ref():
        ref = jax.grad(lambda p: jnp.sum(getattr(keras.losses, name)(yt, p)))(yp)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_get_resolution():
    assert isinstance(L.resolve("mse"), L.MeanSquaredError) and L.resolve("mse").name == "mse"
    assert isinstance(L.resolve("BinaryCrossentropy"), L.BinaryCrossentropy)
    assert L.resolve("binary_crossentropy").name == "binary_crossentropy"
    for alias in [
        "mae",
        "MAE",
        "mape",
        "msle",
        "kld",
        "kullback_leibler_divergence",
        "logcosh",
        "bce",
    ]:
        assert isinstance(L.resolve(alias), L.Loss)
    inst = L.Huber()
    assert L.resolve(inst) is inst

    def my_loss(y_true, y_pred):
        return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)

    w = L.resolve(my_loss)
    assert isinstance(w, L.LossFunctionWrapper) and w.name == "my_loss"
    assert L.resolve(
        {"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}}
    ).from_logits
    assert isinstance(
        L.resolve("ce", y_true_shape=(4,), y_pred_shape=(4, 3)), L.SparseCategoricalCrossentropy
    )
    assert L.resolve(L.MeanSquaredError()) == L.MeanSquaredError()
    assert hash(L.MeanSquaredError()) == hash(L.MeanSquaredError())


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="Unknown loss 'mean_sqared_error'.*Did you mean"):
        L.resolve("mean_sqared_error")


def test_check_targets():
    with pytest.raises(ValueError, match="integer labels with categorical_crossentropy"):
        L.check_targets("categorical_crossentropy", (10,), "i", (10, 3))
    with pytest.raises(ValueError, match="integer labels with categorical_crossentropy"):
        L.check_targets("categorical_crossentropy", (10, 1), "i", (10, 3))
    with pytest.raises(ValueError, match="y has 3 columns but the model outputs 2"):
        L.check_targets("categorical_crossentropy", (10, 3), "f", (10, 2))
    with pytest.raises(ValueError, match="out of range"):
        L.check_targets(
            "sparse_categorical_crossentropy", (4,), "i", (4, 3), np.array([0, 1, 3, 2])
        )
    with pytest.raises(ValueError, match="one-hot"):
        L.check_targets("sparse_categorical_crossentropy", (4, 3), "f", (4, 3))
    with pytest.raises(ValueError, match="y has 2 columns but the model outputs 1"):
        L.check_targets("mse", (4, 2), "f", (4, 1))
    with pytest.raises(ValueError, match="y has 1 columns but the model outputs 3"):
        L.check_targets("binary_crossentropy", (4,), "f", (4, 3))
    # Valid combinations pass.
    L.check_targets("categorical_crossentropy", (10, 3), "f", (10, 3))
    L.check_targets("sparse_categorical_crossentropy", (4, 1), "i", (4, 3), np.array([0, 1, 2, 2]))
    L.check_targets("binary_crossentropy", (4,), "f", (4, 1))
    L.check_targets(L.MeanSquaredError(), (4, 1), "f", (4, 1))
