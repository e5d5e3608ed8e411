"""Metrics against real Keras 3: eager results, the pure masked path, name resolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import metrics as M
from tests.helpers import keras_ref

N, C = 12, 4


def _batches(rng, kind):
    out = []
    for _ in range(3):
        if kind == "binary":
            yt = (rng.random((N, 1)) > 0.5).astype("float32")
            yp = rng.uniform(0, 1, (N, 1)).astype("float32")
        elif kind == "binary_flat":
            yt = (rng.random(N) > 0.5).astype("float32")
            yp = rng.uniform(0, 1, (N, 1)).astype("float32")
        elif kind == "cat":
            p = rng.uniform(0.01, 1, (N, C)).astype("float32")
            yt = np.eye(C, dtype="float32")[rng.integers(0, C, N)]
            yp = p / p.sum(-1, keepdims=True)
        elif kind in ("sparse", "sparse_col"):
            p = rng.uniform(0.01, 1, (N, C)).astype("float32")
            yt = rng.integers(0, C, N)
            yt = yt if kind == "sparse" else yt[:, None]
            yp = p / p.sum(-1, keepdims=True)
        elif kind == "equal":
            yt = rng.integers(0, 3, (N, 1)).astype("float32")
            yp = rng.integers(0, 3, N).astype("float32")
        elif kind == "reg":
            yt = rng.uniform(0.1, 2, (N, 3)).astype("float32")
            yp = rng.uniform(0.1, 2, (N, 3)).astype("float32")
        else:
            raise AssertionError(kind)
        out.append((yt, yp, rng.uniform(0, 2, N).astype("float32")))
    return out


CASES = [
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.3}, "binary_flat"),
    ("Accuracy", {}, "equal"),
    ("CategoricalAccuracy", {}, "cat"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("SparseCategoricalAccuracy", {}, "sparse_col"),
    ("TopKCategoricalAccuracy", {"k": 2}, "cat"),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {}, "sparse_col"),
    ("MeanSquaredError", {}, "reg"),
    ("MeanAbsoluteError", {}, "reg"),
    ("MeanAbsolutePercentageError", {}, "reg"),
    ("MeanSquaredLogarithmicError", {}, "reg"),
    ("RootMeanSquaredError", {}, "reg"),
    ("RootMeanSquaredError", {}, "binary_flat"),
    ("LogCoshError", {}, "reg"),
    ("CosineSimilarity", {}, "reg"),
    ("KLDivergence", {}, "cat"),
    ("Poisson", {}, "reg"),
    ("Hinge", {}, "binary"),
    ("SquaredHinge", {}, "binary"),
    ("CategoricalHinge", {}, "cat"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "cat"),
    ("CategoricalCrossentropy", {}, "cat"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "cat"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
    ("AUC", {}, "binary"),
    ("AUC", {}, "binary_flat"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"num_thresholds": 7, "summation_method": "minoring"}, "binary"),
    ("AUC", {"thresholds": [0.1, 0.5, 0.65]}, "binary"),
    ("AUC", {}, "cat"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.3, 0.6]}, "binary_flat"),
    ("Precision", {"top_k": 2}, "cat"),
    ("Recall", {"class_id": 2}, "cat"),
    ("Recall", {}, "binary_flat"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.2, 0.7]}, "binary"),
    ("TrueNegatives", {}, "binary_flat"),
    ("FalseNegatives", {}, "binary"),
]


@pytest.mark.parametrize("cls,kw,kind", CASES)
def test_eager_matches_keras(keras, rng, cls, kw, kind):
    batches = _batches(rng, kind)
    ours = getattr(M, cls)(**kw)
    with keras_ref():
        ref = getattr(keras.metrics, cls)(**kw)
        for yt, yp, sw in batches:
            ref.update_state(yt, yp, sample_weight=sw)
        expected = np.asarray(ref.result())
        cfg = ref.get_config()
    for yt, yp, sw in batches:
        ours.update_state(yt, yp, sample_weight=sw)
    np.testing.assert_allclose(np.asarray(ours.result()), expected, rtol=1e-5, atol=1e-6)
    cfg.pop("name"), (oc := ours.get_config()).pop("name")
    assert oc == cfg
    ours.reset_state()
    ours.update_state(*batches[0][:2])
    with keras_ref():
        ref.reset_state()
        ref.update_state(*batches[0][:2])
        np.testing.assert_allclose(
            np.asarray(ours.result()), np.asarray(ref.result()), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(
    "cls,kw,kind",
    [
        ("BinaryAccuracy", {}, "binary_flat"),
        ("SparseCategoricalAccuracy", {}, "sparse"),
        ("CategoricalAccuracy", {}, "cat"),
        ("AUC", {}, "binary"),
        ("AUC", {"curve": "PR"}, "binary_flat"),
        ("Precision", {}, "binary"),
        ("Recall", {}, "binary"),
        ("RootMeanSquaredError", {}, "reg"),
        ("MeanAbsoluteError", {}, "reg"),
        ("SparseCategoricalCrossentropy", {}, "sparse_col"),
        ("BinaryCrossentropy", {}, "binary"),
    ],
)
def test_pure_masked_scan_matches_keras(keras, rng, cls, kw, kind):
    """Pad each batch with junk rows (mask 0) and run the pure protocol in jit + lax.scan."""
    batches = _batches(rng, kind)
    with keras_ref():
        ref = getattr(keras.metrics, cls)(**kw)
        for yt, yp, _ in batches:
            ref.update_state(yt, yp)
        expected = np.asarray(ref.result())
    pad = 5
    junk = _batches(np.random.default_rng(1), kind)[0]
    yts = np.stack([np.concatenate([b[0], junk[0][:pad]]) for b in batches])
    yps = np.stack([np.concatenate([b[1], junk[1][:pad]]) for b in batches])
    mask = np.concatenate([np.ones(N), np.zeros(pad)]).astype("float32")
    masks = np.stack([mask] * 3)
    m = getattr(M, cls)(**kw)

    @jax.jit
    def run(yts, yps, masks):
        def step(state, xs):
            yt, yp, w = xs
            return m.update(state, yt, yp, jnp.ones(yt.shape[0], jnp.float32) * w), None

        state, _ = jax.lax.scan(step, m.init(), (yts, yps, masks))
        return m.result(state)

    np.testing.assert_allclose(np.asarray(run(yts, yps, masks)), expected, rtol=1e-5, atol=1e-6)


def test_mean_and_sum(keras, rng):
    vals = [rng.normal(size=(N,)).astype("float32") for _ in range(3)]
    sws = [rng.uniform(0, 2, N).astype("float32") for _ in range(3)]
    for cls in ("Mean", "Sum"):
        ours = getattr(M, cls)()
        with keras_ref():
            ref = getattr(keras.metrics, cls)()
            for v, w in zip(vals, sws):
                ref.update_state(v, sample_weight=w)
            expected = np.asarray(ref.result())
        for v, w in zip(vals, sws):
            ours.update_state(v, sample_weight=w)
        np.testing.assert_allclose(ours.result(), expected, rtol=1e-5)


def test_metric_functions(keras, rng):
    ((yt, yp, _),) = _batches(rng, "cat")[:1]
    ys = np.argmax(yt, -1)
    with keras_ref():
        refs = {
            "categorical_accuracy": keras.metrics.categorical_accuracy(yt, yp),
            "top_k_categorical_accuracy": keras.metrics.top_k_categorical_accuracy(yt, yp, 2),
            "sparse_categorical_accuracy": keras.metrics.sparse_categorical_accuracy(ys, yp),
            "sparse_top_k_categorical_accuracy": keras.metrics.sparse_top_k_categorical_accuracy(
                ys, yp, 2
            ),
            "binary_accuracy": keras.metrics.binary_accuracy(yt, yp),
        }
    np.testing.assert_allclose(M.categorical_accuracy(yt, yp), refs["categorical_accuracy"])
    np.testing.assert_allclose(
        M.top_k_categorical_accuracy(yt, yp, 2), refs["top_k_categorical_accuracy"]
    )
    np.testing.assert_allclose(
        M.sparse_categorical_accuracy(ys, yp), refs["sparse_categorical_accuracy"]
    )
    np.testing.assert_allclose(
        M.sparse_top_k_categorical_accuracy(ys, yp, 2), refs["sparse_top_k_categorical_accuracy"]
    )
    np.testing.assert_allclose(M.binary_accuracy(yt, yp), refs["binary_accuracy"])


@pytest.mark.parametrize(
    "yt,yp,cls",
    [
        ((32,), (32, 1), "BinaryAccuracy"),
        ((32, 1), (32, 1), "BinaryAccuracy"),
        ((32,), (32, 3), "SparseCategoricalAccuracy"),
        ((32, 1), (32, 3), "SparseCategoricalAccuracy"),
        ((32, 3), (32, 3), "CategoricalAccuracy"),
    ],
)
def test_accuracy_resolution_matches_keras(yt, yp, cls):
    from keras.src.trainers.compile_utils import get_metric

    for ident in ("accuracy", "acc"):
        ours = M.resolve(ident, y_true_shape=yt, y_pred_shape=yp)
        with keras_ref():
            ref = get_metric(ident, jnp.zeros(yt), jnp.zeros(yp))
        assert type(ours).__name__ == type(ref).__name__ == cls
        assert ours.name == ref.name == ident
    assert M.describe_accuracy_choice(yt, yp) == cls


# History keys verified from Keras 3.15 fits (see the report): the string identifier itself,
# an instance's own name, a function's __name__.
@pytest.mark.parametrize(
    "ident,cls,name",
    [
        ("mse", "MeanSquaredError", "mse"),
        ("MSE", "MeanSquaredError", "MSE"),
        ("mae", "MeanAbsoluteError", "mae"),
        ("mape", "MeanAbsolutePercentageError", "mape"),
        ("msle", "MeanSquaredLogarithmicError", "msle"),
        ("mean_squared_error", "MeanSquaredError", "mean_squared_error"),
        ("AUC", "AUC", "AUC"),
        ("auc", "AUC", "auc"),
        ("precision", "Precision", "precision"),
        ("binary_crossentropy", "BinaryCrossentropy", "binary_crossentropy"),
        ("bce", "BinaryCrossentropy", "bce"),
        ("binary_accuracy", "BinaryAccuracy", "binary_accuracy"),
        ("BinaryAccuracy", "BinaryAccuracy", "BinaryAccuracy"),
        ("log_cosh_error", "LogCoshError", "log_cosh_error"),
        ("RootMeanSquaredError", "RootMeanSquaredError", "RootMeanSquaredError"),
        ("kl_divergence", "KLDivergence", "kl_divergence"),
        (
            "sparse_top_k_categorical_accuracy",
            "SparseTopKCategoricalAccuracy",
            "sparse_top_k_categorical_accuracy",
        ),
    ],
)
def test_get_names_match_keras(ident, cls, name):
    from keras.src.trainers.compile_utils import get_metric

    ours = M.resolve(ident)
    with keras_ref():
        ref = get_metric(ident, jnp.zeros((4, 1)), jnp.zeros((4, 1)))
    assert type(ours).__name__ == type(ref).__name__ == cls
    assert ours.name == ref.name == name


def test_history_names_from_keras_fit(keras, rng):
    x = rng.normal(size=(16, 4)).astype("float32")
    y = (rng.random(16) > 0.5).astype("float32")
    idents = ["mse", "mae", "acc", "accuracy", "AUC", "precision", "binary_accuracy"]
    with keras_ref():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile("sgd", "binary_crossentropy", metrics=idents)
        hist = model.fit(x, y, epochs=1, verbose=0).history
    names = [M.resolve(i, y_true_shape=y.shape, y_pred_shape=(16, 1)).name for i in idents]
    assert sorted(names + ["loss"]) == sorted(hist)


def test_instances_callables_and_unknown():
    auc = M.AUC()
    assert M.resolve(auc) is auc

    def my_metric(y_true, y_pred):
        return jnp.abs(y_true - y_pred)

    w = M.resolve(my_metric)
    assert isinstance(w, M.MeanMetricWrapper) and w.name == "my_metric"
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'"):
        M.resolve("acuracy")
    assert M.resolve("logcosh").name == "logcosh"  # Keras 2's metric name (Keras 3 drops it)
    with pytest.raises(ValueError, match="y_true_shape"):
        M.resolve("accuracy")


def test_serialize_roundtrip(keras):
    for ours, ref in [
        (M.AUC(name="auc"), "AUC(name='auc')"),
        (M.BinaryAccuracy(threshold=0.3), "BinaryAccuracy(threshold=0.3)"),
        (M.Mean(), "Mean()"),
        (
            M.Precision(thresholds=[0.2, 0.4], name="p"),
            "Precision(thresholds=[0.2, 0.4], name='p')",
        ),
    ]:
        with keras_ref():
            expected = keras.metrics.serialize(eval("keras.metrics." + ref))
        assert M.serialize(ours) == expected
        back = M.deserialize(M.serialize(ours))
        assert back == ours and hash(back) == hash(ours)


def test_a_builtin_metric_subclass_calling_super_update_state(keras):
    """Géron's streaming ``HuberMetric(keras.metrics.Mean)``: ``update_state`` computes
    per-sample values and hands them to ``super().update_state``; eager and in ``fit``."""
    from tests.helpers import keras_ref

    def run(k):
        class AbsError(k.metrics.Mean):
            def update_state(self, y_true, y_pred, sample_weight=None):
                super().update_state(k.ops.abs(y_true - y_pred), sample_weight)

        metric = AbsError(name="abs_error")
        metric.update_state(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
        eager = float(metric.result())
        model = k.Sequential([k.Input((2,)), k.layers.Dense(1, kernel_initializer="ones")])
        model.compile("sgd", "mse", metrics=[AbsError(name="abs_error")])
        x = np.arange(10, dtype="float32").reshape(5, 2) / 10
        history = model.fit(x, np.ones((5, 1)), batch_size=2, epochs=2, shuffle=False,
                            verbose=0)  # fmt: skip
        return eager, history.history["abs_error"]

    with keras_ref():
        want = run(keras)
    got = run(lamina)
    assert got[0] == pytest.approx(want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)


def test_a_builtin_metric_subclass_with_its_own_variables(keras):
    """A ``Mean`` subclass that makes its own variables and overrides ``update_state`` and
    ``result`` entirely stays a Keras-style metric."""
    from tests.helpers import keras_ref

    def run(k):
        class Rows(k.metrics.Mean):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.n = self.add_variable(shape=(), initializer="zeros", name="n")

            def update_state(self, y_true, y_pred, sample_weight=None):
                self.n.assign_add(k.ops.cast(k.ops.shape(y_true)[0], "float32"))

            def result(self):
                return self.n + 0.0

        model = k.Sequential([k.Input((2,)), k.layers.Dense(1)])
        model.compile("sgd", "mse", metrics=[Rows(name="rows")])
        x = np.ones((6, 2), "float32")
        return model.fit(x, np.ones((6, 1)), batch_size=3, epochs=1, verbose=0).history["rows"]

    with keras_ref():
        want = run(keras)
    np.testing.assert_allclose(run(lamina), want)
