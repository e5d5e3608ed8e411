"""Keras 3's newer losses and metrics against real Keras (values, configs, serialization, and
inside compile + fit), and the loss functions ``keras.metrics`` re-exports."""

import numpy as np
import pytest

from lamina import losses as L
from lamina import metrics as M
from tests.helpers import keras_ref

N, C = 16, 3


@pytest.fixture
def data(rng):
    p = rng.uniform(0.01, 1, (N, C)).astype("float32")
    e = rng.normal(size=(N, 5)).astype("float32")
    labels = rng.integers(1, 5, (N, 3))
    labels[:, 2] = 0  # CTC: padded with the blank
    return {
        "onehot": np.eye(C, dtype="float32")[rng.integers(0, C, N)],
        "probs": p / p.sum(-1, keepdims=True),
        "sparse": rng.integers(0, C, N),
        "multi": (rng.random((N, C)) > 0.5).astype("float32"),
        "scores": rng.uniform(0, 1, (N, C)).astype("float32"),
        "bin": (rng.random(N) > 0.5).astype("float32"),
        "bin_p": rng.uniform(0, 1, N).astype("float32"),
        "emb": e / np.linalg.norm(e, axis=1, keepdims=True),
        "emb_labels": rng.integers(0, 3, N),
        "ctc_labels": labels,
        "ctc_logits": rng.normal(size=(N, 6, 5)).astype("float32"),
        "reg": rng.normal(size=(N, C)).astype("float32"),
        "reg_p": rng.normal(size=(N, C)).astype("float32"),
        "sw": rng.uniform(0, 2, N).astype("float32"),
    }


LOSS_FUNCTIONS = [
    ("categorical_focal_crossentropy", ("onehot", "probs"), {}),
    ("categorical_focal_crossentropy", ("onehot", "reg"), {"from_logits": True, "alpha": 0.5}),
    ("categorical_focal_crossentropy", ("onehot", "probs"), {"label_smoothing": 0.1}),
    ("categorical_generalized_cross_entropy", ("sparse", "probs"), {"q": 0.3}),
    ("dice", ("multi", "scores"), {}),
    ("dice", ("multi", "scores"), {"axis": (1,)}),
    ("tversky", ("multi", "scores"), {"alpha": 0.3, "beta": 0.7}),
    ("tversky", ("multi", "scores"), {"axis": (1,)}),
    ("circle", ("emb_labels", "emb"), {}),
    ("circle", ("emb_labels", "emb"), {"gamma": 10, "margin": 0.2, "remove_diagonal": False}),
    ("ctc", ("ctc_labels", "ctc_logits"), {}),
]


@pytest.mark.parametrize("name,keys,kw", LOSS_FUNCTIONS)
def test_loss_functions_match_keras(keras, data, name, keys, kw):
    args = [data[k] for k in keys]
    with keras_ref():
        ref = np.asarray(getattr(keras.losses, name)(*args, **kw))
    ours = np.asarray(getattr(L, name)(*args, **kw))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)


LOSS_CLASSES = [
    ("CategoricalFocalCrossentropy", {}, ("onehot", "probs")),
    ("CategoricalFocalCrossentropy", {"gamma": 1.0, "from_logits": True}, ("onehot", "reg")),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.7}, ("sparse", "probs")),
    ("Dice", {}, ("multi", "scores")),
    ("Dice", {"axis": (1,)}, ("multi", "scores")),
    ("Tversky", {"alpha": 0.2, "beta": 0.8, "axis": (1,)}, ("multi", "scores")),
    ("Circle", {"gamma": 20.0}, ("emb_labels", "emb")),
    ("CTC", {}, ("ctc_labels", "ctc_logits")),
]


@pytest.mark.parametrize(
    "reduction",
    [
        "sum_over_batch_size",
        pytest.param("sum", marks=pytest.mark.slow),
        pytest.param("none", marks=pytest.mark.slow),
    ],
)
@pytest.mark.parametrize("cls,kw,keys", LOSS_CLASSES)
def test_loss_classes_match_keras(keras, data, cls, kw, keys, reduction):
    yt, yp = (data[k] for k in keys)
    with_weights = cls not in ("Dice", "Tversky")  # reduced over axes: no per-sample weights
    ours = getattr(L, cls)(reduction=reduction, **kw)
    with keras_ref():
        ref = getattr(keras.losses, cls)(reduction=reduction, **kw)
        r0 = np.asarray(ref(yt, yp))
        r1 = np.asarray(ref(yt, yp, sample_weight=data["sw"])) if with_weights else None
        expected = keras.losses.serialize(ref)
    np.testing.assert_allclose(ours(yt, yp), r0, rtol=1e-4, atol=1e-6)
    if with_weights:
        np.testing.assert_allclose(ours(yt, yp, sample_weight=data["sw"]), r1, rtol=1e-4)
    assert ours.get_config() == ref.get_config()
    assert ours.name == ref.name
    assert L.serialize(ours) == expected
    back = L.deserialize(expected)
    assert type(back) is type(ours) and back.get_config() == ours.get_config()


def test_generalized_cross_entropy_checks_q():
    with pytest.raises(ValueError, match=r"q must be in the interval \(0, 1\)"):
        L.CategoricalGeneralizedCrossEntropy(q=1.5)


def test_ctc_checks_ranks():
    with pytest.raises(ValueError, match="expected to be a tensor of shape"):
        L.ctc(np.zeros((2, 3, 1)), np.zeros((2, 4, 5)))


@pytest.mark.parametrize(
    "loss,kind",
    [
        ("CategoricalFocalCrossentropy", "onehot"),
        pytest.param("CategoricalGeneralizedCrossEntropy", "sparse", marks=pytest.mark.slow),
        ("Dice", "onehot"),
        pytest.param("Tversky", "onehot", marks=pytest.mark.slow),
        pytest.param("categorical_focal_crossentropy", "onehot", marks=pytest.mark.slow),
    ],
)
def test_new_losses_train_like_keras(keras, rng, data, loss, kind):
    from lamina.layers import Dense
    from lamina.models import Sequential

    x = rng.normal(size=(N, 4)).astype("float32")
    y = data[kind]
    with keras_ref():
        km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(C, activation="softmax")])
        km.compile("sgd", loss if loss[0].islower() else getattr(keras.losses, loss)())
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    model = Sequential([Dense(C, activation="softmax", input_shape=(4,))])
    model.compile("sgd", loss if loss[0].islower() else getattr(L, loss)())
    model.set_weights(weights)
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert sorted(h) == sorted(kh)
    np.testing.assert_allclose(h["loss"], kh["loss"], rtol=1e-4)


def test_circle_trains_like_keras(keras, rng):
    from lamina.layers import Dense
    from lamina.models import Sequential

    x = rng.normal(size=(N, 4)).astype("float32")
    y = np.array([0, 0, 1, 1, 2, 2, 3, 4] * 2)  # labels 3 and 4 have no positive pair
    with keras_ref():
        km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
        km.compile("sgd", keras.losses.Circle(gamma=4.0))
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    model = Sequential([Dense(5, input_shape=(4,))])
    model.compile("sgd", L.Circle(gamma=4.0))
    model.set_weights(weights)
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h["loss"], kh["loss"], rtol=1e-4)


def test_ctc_trains_like_keras(keras, rng, data):
    from lamina.layers import Dense
    from lamina.models import Sequential

    x = rng.normal(size=(N, 6, 4)).astype("float32")
    y = data["ctc_labels"]
    with keras_ref():
        km = keras.Sequential([keras.Input((6, 4)), keras.layers.Dense(5)])
        km.compile("sgd", keras.losses.CTC())
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    model = Sequential([Dense(5, input_shape=(6, 4))])
    model.compile("sgd", L.CTC())
    model.set_weights(weights)
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h["loss"], kh["loss"], rtol=1e-4)


METRICS = [
    ("F1Score", {}, ("multi", "scores")),
    ("F1Score", {"average": "macro", "threshold": 0.5}, ("multi", "scores")),
    ("F1Score", {"average": "weighted"}, ("multi", "scores")),
    ("F1Score", {"average": "micro"}, ("multi", "scores")),
    ("FBetaScore", {"beta": 2.0, "average": "macro"}, ("multi", "scores")),
    ("R2Score", {}, ("reg", "reg_p")),
    ("R2Score", {"class_aggregation": None}, ("reg", "reg_p")),
    (
        "R2Score",
        {"class_aggregation": "variance_weighted_average", "num_regressors": 2},
        ("reg", "reg_p"),
    ),
    ("IoU", {"num_classes": 3, "target_class_ids": [0, 2]}, ("sparse", "sparse")),
    ("MeanIoU", {"num_classes": 3, "ignore_class": 1}, ("sparse", "sparse")),
    ("BinaryIoU", {"threshold": 0.4}, ("bin", "bin_p")),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [1]}, ("onehot", "probs")),
    ("OneHotMeanIoU", {"num_classes": 3}, ("onehot", "probs")),
    ("PrecisionAtRecall", {"recall": 0.5}, ("bin", "bin_p")),
    ("PrecisionAtRecall", {"recall": 0.5, "class_id": 1}, ("multi", "scores")),
    ("RecallAtPrecision", {"precision": 0.6, "num_thresholds": 50}, ("bin", "bin_p")),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, ("bin", "bin_p")),
    ("SpecificityAtSensitivity", {"sensitivity": 0.5, "num_thresholds": 1}, ("bin", "bin_p")),
    ("PearsonCorrelation", {}, ("reg", "reg_p")),
    ("ConcordanceCorrelation", {"axis": -1}, ("reg", "reg_p")),
]


@pytest.mark.parametrize("weighted", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("cls,kw,keys", METRICS)
def test_metrics_match_keras(keras, rng, data, cls, kw, keys, weighted):
    yt, yp = (data[k] for k in keys)
    if cls in ("IoU", "MeanIoU"):
        yp = rng.integers(0, C, N)
    sw = data["sw"] if weighted else None
    if weighted and "IoU" in cls:
        sw = np.round(sw).astype("int32")  # Keras's IoU casts weights to its int dtype
    ours = getattr(M, cls)(**kw)
    with keras_ref():
        ref = getattr(keras.metrics, cls)(**kw)
        for a, b, w in [(yt, yp, sw), (yt[:5], yp[:5], None if sw is None else sw[:5])]:
            ref.update_state(a, b, sample_weight=w)
        expected = np.asarray(ref.result())
        serialized = keras.metrics.serialize(ref)
    for a, b, w in [(yt, yp, sw), (yt[:5], yp[:5], None if sw is None else sw[:5])]:
        ours.update_state(a, b, sample_weight=w)
    np.testing.assert_allclose(np.asarray(ours.result()), expected, rtol=1e-5, atol=1e-6)
    assert ours.get_config() == ref.get_config()
    assert M.serialize(ours) == serialized
    back = M.deserialize(serialized)
    assert type(back) is type(ours) and back.get_config() == ours.get_config()
    ours.reset_state()
    if cls not in ("F1Score", "FBetaScore", "R2Score"):  # the shape-built state stays built
        assert all(float(np.sum(v)) == 0 for v in ours.variables)


def test_metric_argument_errors():
    with pytest.raises(ValueError, match="Invalid `average` argument value"):
        M.F1Score(average="mean")
    with pytest.raises(ValueError, match="It should be a Python float"):
        M.FBetaScore(beta=2)
    with pytest.raises(ValueError, match="Target class id 3 is out of range"):
        M.IoU(num_classes=3, target_class_ids=[3])
    with pytest.raises(ValueError, match="`recall` must be in the range"):
        M.PrecisionAtRecall(1.5)
    with pytest.raises(ValueError, match="class_aggregation"):
        M.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match="expects 2D inputs"):
        M.F1Score().update_state(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="call update_state"):
        M.F1Score().result()


FUNCTIONS = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "poisson",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "pearson_correlation",
    "concordance_correlation",
]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_metric_functions_are_keras_functions(keras, data, name):
    fn = getattr(M, name)
    if name in ("pearson_correlation", "concordance_correlation"):
        args = (data["reg"], data["reg_p"])
    elif name == "sparse_categorical_crossentropy":
        args = (data["sparse"], data["probs"])
    else:
        args = (data["onehot"], data["probs"])
    if hasattr(L, name):
        assert fn is getattr(L, name)
    with keras_ref():
        ref = np.asarray(getattr(keras.metrics, name)(*args))
    np.testing.assert_allclose(np.asarray(fn(*args)), ref, rtol=1e-5, atol=1e-6)
    assert M.serialize(fn) == keras.metrics.serialize(getattr(keras.metrics, name))
    assert M.deserialize(M.serialize(fn)) is fn


@pytest.mark.slow
def test_metric_functions_and_classes_in_fit_log_as_keras(keras, rng, data):
    from lamina.layers import Dense
    from lamina.models import Sequential

    x = rng.normal(size=(N, 4)).astype("float32")
    xe = rng.normal(size=(N, 4)).astype("float32")  # held-out rows for evaluate
    y = data["onehot"]

    def metrics(mod):
        return [
            "mean_squared_error",
            mod.metrics.mean_squared_error,
            mod.metrics.categorical_crossentropy,
            mod.metrics.huber,
            mod.metrics.log_cosh,
            mod.metrics.pearson_correlation,
            "f1_score",
            "r2_score",
            mod.metrics.OneHotMeanIoU(C),
            mod.metrics.PrecisionAtRecall(0.5),
        ]

    with keras_ref():
        km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(C, activation="softmax")])
        km.compile("sgd", "categorical_crossentropy", metrics=metrics(keras))
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        kev = km.evaluate(xe, y, batch_size=8, verbose=0, return_dict=True)
    import lamina

    model = Sequential([Dense(C, activation="softmax", input_shape=(4,))])
    model.compile("sgd", "categorical_crossentropy", metrics=metrics(lamina))
    model.set_weights(weights)
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    ev = model.evaluate(xe, y, batch_size=8, verbose=0, return_dict=True)
    assert sorted(h) == sorted(kh)
    for k in kh:
        np.testing.assert_allclose(np.asarray(h[k]), np.asarray(kh[k]), rtol=1e-4, atol=1e-5)
    assert sorted(ev) == sorted(kev)
    for k in kev:
        np.testing.assert_allclose(np.asarray(ev[k]), np.asarray(kev[k]), rtol=1e-4, atol=1e-5)


def test_metric_functions_and_strings_in_compile_log_as_keras(keras, rng, data):
    from lamina.layers import Dense
    from lamina.models import Sequential

    x = rng.normal(size=(N, 4)).astype("float32")
    y = data["onehot"]
    with keras_ref():
        km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(C, activation="softmax")])
        km.compile("sgd", "mse", metrics=["mean_squared_error", keras.metrics.huber, "f1_score"])
        weights = [w.copy() for w in km.get_weights()]
        kh = km.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    model = Sequential([Dense(C, activation="softmax", input_shape=(4,))])
    model.compile("sgd", "mse", metrics=["mean_squared_error", M.huber, "f1_score"])
    model.set_weights(weights)
    h = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    assert sorted(h) == sorted(kh) == ["f1_score", "huber", "loss", "mean_squared_error"]
    for k in kh:
        np.testing.assert_allclose(np.asarray(h[k]), np.asarray(kh[k]), rtol=1e-4, atol=1e-5)
