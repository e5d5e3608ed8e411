"""Keras 1/2 names Keras 3 dropped: constraint and initializer aliases, legacy loss and metric
names, scikit-learn wrappers counted as fitted, and ModelCheckpoint's starting ``best``."""

import math

import numpy as np
import pytest

import lamina
from lamina import constraints, initializers, losses, metrics
from lamina.callbacks import ModelCheckpoint
from lamina.layers import Dense, Input
from lamina.models import Sequential


def _legacy_cosine(y_true, y_pred):
    """Keras 2.0-2.2's ``cosine_proximity``, in NumPy."""

    def l2n(v):
        return v / np.sqrt(np.maximum(np.sum(v * v, axis=-1, keepdims=True), 1e-12))

    return -np.mean(l2n(y_true) * l2n(y_pred), axis=-1)


# ------------------------------------------------------------------ constraints
def test_legacy_constraint_aliases_are_the_classes():
    from lamina.constraints import maxnorm, nonneg, unitnorm

    assert maxnorm is constraints.MaxNorm is constraints.max_norm
    assert nonneg is constraints.NonNeg is constraints.non_neg
    assert unitnorm is constraints.UnitNorm is constraints.unit_norm
    assert constraints.min_max_norm is constraints.MinMaxNorm
    assert maxnorm(3).max_value == 3


def test_legacy_constraint_names_resolve_and_serialize_as_keras3():
    assert constraints.get("maxnorm") == constraints.MaxNorm()
    assert constraints.get("nonneg") == constraints.NonNeg()
    assert constraints.get("unitnorm") == constraints.UnitNorm()
    # A Keras 2 config naming the alias; written back under the class name.
    c = constraints.deserialize({"class_name": "maxnorm", "config": {"max_value": 3, "axis": 0}})
    assert c == constraints.MaxNorm(3)
    assert constraints.serialize(c)["class_name"] == "MaxNorm"
    # ALL_OBJECTS_DICT stays Keras 3's table.
    assert "maxnorm" not in constraints.ALL_OBJECTS_DICT


def test_dense_accepts_maxnorm_string():
    layer = Dense(3, kernel_constraint="maxnorm")
    assert layer.kernel_constraint == constraints.MaxNorm()


# ------------------------------------------------------------------ initializers
def test_legacy_initializer_attributes():
    assert initializers.normal is initializers.RandomNormal
    assert initializers.uniform is initializers.RandomUniform
    assert initializers.zero is initializers.Zeros
    assert initializers.one is initializers.Ones
    # Keras 1's init='normal' and Keras 2's RandomNormal both draw with stddev 0.05.
    assert initializers.normal().stddev == 0.05
    assert initializers.get("normal").stddev == 0.05
    for name, cls in [("normal", "RandomNormal"), ("uniform", "RandomUniform"),
                      ("zero", "Zeros"), ("one", "Ones")]:  # fmt: skip
        assert type(initializers.get(name)).__name__ == cls


def test_dense_kernel_initializer_normal_string_draws_stddev_005():
    model = Sequential([Input((100,)), Dense(200, kernel_initializer="normal")])
    kernel = np.asarray(model.get_weights()[0])
    assert kernel.shape == (100, 200)
    assert abs(kernel.std() - 0.05) < 0.002
    assert abs(kernel.mean()) < 0.002


# ------------------------------------------------------------------ losses and metrics
def test_cosine_proximity_is_keras2_formula():
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(5, 4)).astype("float32")
    y_pred = rng.normal(size=(5, 4)).astype("float32")
    expected = _legacy_cosine(y_true, y_pred)
    np.testing.assert_allclose(losses.cosine_proximity(y_true, y_pred), expected, rtol=1e-5)
    assert losses.cosine is losses.cosine_proximity
    assert losses.get("cosine") is losses.cosine_proximity
    assert losses.get("cosine_proximity") is losses.cosine_proximity
    assert losses.deserialize("cosine_proximity") is losses.cosine_proximity
    assert metrics.cosine_proximity is losses.cosine_proximity
    assert metrics.get("cosine") is losses.cosine_proximity
    loss = losses.resolve("cosine_proximity")
    assert loss.name == "cosine_proximity"
    np.testing.assert_allclose(float(loss(y_true, y_pred)), expected.mean(), rtol=1e-5)
    # Keras 3's own name keeps Keras 3's meaning: the negative cosine similarity (a sum).
    np.testing.assert_allclose(losses.cosine_similarity(y_true, y_pred), 4 * expected, rtol=1e-5)


def test_legacy_metric_names_resolve_to_functions():
    shapes = {"y_true_shape": (None, 3), "y_pred_shape": (None, 3)}
    for name, fn in [("cosine", losses.cosine_proximity),
                     ("cosine_proximity", losses.cosine_proximity),
                     ("kld", losses.kl_divergence), ("KLD", losses.kl_divergence),
                     ("kullback_leibler_divergence", losses.kl_divergence),
                     ("logcosh", losses.log_cosh)]:  # fmt: skip
        metric = metrics.resolve(name, **shapes)
        assert metric.name == name  # logged under the string given, as every string metric
        assert metrics.get(name) is fn
        assert metrics.deserialize(name) is fn
    # Keras 3's metric tables are unchanged.
    for name in ("cosine", "cosine_proximity", "kld", "logcosh"):
        assert name not in metrics.ALL_OBJECTS_DICT
    assert metrics.resolve("cosine_similarity").name == "cosine_similarity"


def test_compile_with_legacy_names_logs_keras2_values():
    lamina.utils.random.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = np.abs(rng.normal(size=(16, 2))).astype("float32") + 0.1
    model = Sequential([Input((3,)), Dense(2, activation="softplus")])
    model.compile(
        optimizer="sgd",
        loss="cosine_proximity",
        metrics=["cosine", "cosine_proximity", "kld", "logcosh"],
    )
    hist = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert {"loss", "cosine", "cosine_proximity", "kld", "logcosh"} <= set(hist.history)
    x, y = x[::-1] * 0.5, y[::-1]  # held-out-looking rows: evaluate scores fresh data
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x, verbose=0), dtype="float64")
    want = _legacy_cosine(y.astype("float64"), pred).mean()
    for key in ("loss", "cosine", "cosine_proximity"):
        assert logs[key] == pytest.approx(want, rel=1e-4, abs=1e-6), key
    yt, yp = np.clip(y, 1e-7, 1), np.clip(pred, 1e-7, 1)
    assert logs["kld"] == pytest.approx(np.sum(yt * np.log(yt / yp), -1).mean(), rel=1e-4)
    err = pred - y
    logcosh = np.mean(err + np.log1p(np.exp(-2 * err)) - np.log(2.0), -1).mean()
    assert logs["logcosh"] == pytest.approx(logcosh, rel=1e-4, abs=1e-6)


# ------------------------------------------------------------------ scikit-learn wrappers
def _regressor():
    model = Sequential([Input((3,)), Dense(4, activation="relu"), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    return model


def _classifier():
    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    return model


def test_wrappers_count_as_fitted_in_pipeline_and_cross_val_score():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils.validation import check_is_fitted

    from lamina.wrappers.scikit_learn import KerasClassifier, KerasRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype("float32")
    y = x.sum(axis=1)
    reg = KerasRegressor(build_fn=_regressor, epochs=1, verbose=0)
    with pytest.raises(NotFittedError):
        check_is_fitted(reg)
    pipe = Pipeline([("s", StandardScaler()), ("mlp", reg)])
    assert pipe.fit(x, y).predict(x).shape == (20,)
    check_is_fitted(pipe)
    scores = cross_val_score(pipe, x, y, cv=KFold(2), error_score="raise")
    assert scores.shape == (2,) and np.isfinite(scores).all()

    labels = (y > 0).astype("int64")
    clf = Pipeline([("s", StandardScaler()),
                    ("mlp", KerasClassifier(build_fn=_classifier, epochs=1, verbose=0))])  # fmt: skip
    assert set(clf.fit(x, labels).predict(x).ravel()) <= {0, 1}
    check_is_fitted(clf)


# ------------------------------------------------------------------ ModelCheckpoint
@pytest.mark.parametrize(
    "monitor, mode, start, values, better",
    [
        ("val_acc", "max", "-inf", [0.5, 0.25], "0.50000"),
        ("val_loss", "min", "inf", [0.5, 0.75], "0.50000"),
    ],
)
def test_checkpoint_best_starts_at_infinity(tmp_path, capsys, monitor, mode, start, values,
                                             better):  # fmt: skip
    path = tmp_path / "best.weights.h5"
    cb = ModelCheckpoint(path, monitor=monitor, mode=mode, save_best_only=True, verbose=1,
                         save_weights_only=True)  # fmt: skip
    # Set at construction, as Keras 2 did (and Keras 3 before MonitorCallback).
    assert cb.best == float(start)
    assert cb.monitor_op is (np.greater if mode == "max" else np.less)
    cb.set_model(Sequential([Input((2,)), Dense(1)]))
    cb.on_epoch_end(0, {monitor: values[0]})
    cb.on_epoch_end(1, {monitor: values[1]})
    out = capsys.readouterr().out
    assert f"Epoch 1: {monitor} improved from {start} to {better}, saving model to {path}" in out
    assert f"Epoch 2: {monitor} did not improve from {better}" in out
    assert cb.best == values[0]
    assert path.exists()


def test_checkpoint_threshold_and_nan(tmp_path, capsys):
    cb = ModelCheckpoint(tmp_path / "m.keras", monitor="val_acc", mode="max",
                         save_best_only=True, verbose=1, initial_value_threshold=0.9)  # fmt: skip
    assert cb.best == 0.9
    cb.set_model(Sequential([Input((2,)), Dense(1)]))
    cb.on_epoch_end(0, {"val_acc": 0.5})
    assert "val_acc did not improve from 0.90000" in capsys.readouterr().out
    nan_cb = ModelCheckpoint(tmp_path / "n.keras", monitor="val_loss", save_best_only=True)
    nan_cb.set_model(Sequential([Input((2,)), Dense(1)]))
    nan_cb.on_epoch_end(0, {"val_loss": math.nan})  # NaN never improves, as in Keras
    assert nan_cb.best == math.inf
    assert not (tmp_path / "n.keras").exists()


def test_checkpoint_fit_prints_minus_inf_for_accuracy(tmp_path, capsys):
    lamina.utils.random.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 2)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = Sequential([Input((2,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["acc"])
    cb = ModelCheckpoint(tmp_path / "w.hdf5", monitor="val_acc", mode="max",
                         save_best_only=True, save_weights_only=True, verbose=1)  # fmt: skip
    hist = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[cb])
    acc = hist.history["val_acc"][0]
    assert f"val_acc improved from -inf to {acc:.5f}" in capsys.readouterr().out
    assert cb.best == pytest.approx(acc)
