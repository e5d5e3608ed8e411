"""Keras 2's scikit-learn wrappers (``lamina.wrappers.scikit_learn``), checked against Keras
2's documented behaviour: routing of sk_params, labels and one-hot targets, predict/predict_proba
/score from the model's own outputs, and use inside scikit-learn's model selection."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402

import lamina  # noqa: E402
from lamina.datasets import load_iris  # noqa: E402
from lamina.layers import Dense  # noqa: E402
from lamina.models import Sequential  # noqa: E402
from lamina.wrappers import SKLearnClassifier  # noqa: E402
from lamina.wrappers.scikit_learn import KerasClassifier, KerasRegressor  # noqa: E402

CALLS = []


def create_softmax(units=8, optimizer="adam"):
    CALLS.append(units)
    lamina.utils.set_random_seed(0)
    model = Sequential([Dense(units, input_dim=4, activation="relu"),
                        Dense(3, activation="softmax")])  # fmt: skip
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


def create_sigmoid():
    lamina.utils.set_random_seed(0)
    model = Sequential([Dense(4, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["acc"])
    return model


def create_regressor(units=4):
    lamina.utils.set_random_seed(0)
    model = Sequential([Dense(units, input_dim=4, activation="relu"), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    return model


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris()
    return x.astype("f4"), np.array(["setosa", "versicolor", "virginica"])[y.astype(int)]


def test_classifier_labels_routing_and_outputs(iris):
    x, y = iris
    CALLS.clear()
    clf = KerasClassifier(build_fn=create_softmax, units=6, epochs=3, batch_size=16, verbose=0)
    history = clf.fit(x, y)
    assert CALLS == [6]  # units went to build_fn
    assert len(history.history["loss"]) == 3  # epochs went to fit; fit returns History (Keras 2)
    np.testing.assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    probs = clf.model.predict(x, verbose=0)
    np.testing.assert_allclose(clf.predict_proba(x), probs, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(x), clf.classes_[probs.argmax(1)])
    index = np.searchsorted(clf.classes_, y)
    acc = clf.model.evaluate(x, np.eye(3)[index], verbose=0)[1]
    assert clf.score(x, y) == pytest.approx(acc)
    assert clf.score(x, y) == pytest.approx(np.mean(probs.argmax(1) == index))


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_classifier_one_hot_and_sigmoid(iris):
    x, y = iris
    onehot = np.eye(3)[np.searchsorted(np.unique(y), y)]
    clf = KerasClassifier(build_fn=create_softmax, epochs=2, verbose=0)
    clf.fit(x, onehot)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict(x).shape == (150,)
    binary = (y == "setosa").astype(int)
    clf2 = KerasClassifier(build_fn=create_sigmoid, epochs=2, verbose=0)
    clf2.fit(x, binary)
    p = clf2.model.predict(x, verbose=0)
    np.testing.assert_allclose(clf2.predict_proba(x), np.hstack([1 - p, p]), rtol=1e-6)
    np.testing.assert_array_equal(clf2.predict(x), (p > 0.5).astype(int))  # (n, 1): Keras 2
    assert clf2.score(x, binary) == pytest.approx(np.mean((p[:, 0] > 0.5) == binary))
    with pytest.raises(ValueError, match="Invalid|labels"):
        clf2.fit(x, np.zeros((150, 2, 2)))


def test_regressor_score_is_negative_loss(iris):
    x, _ = iris
    target = x[:, 0] * 0.5 + x[:, 1]
    reg = KerasRegressor(build_fn=create_regressor, units=5, nb_epoch=3, verbose=0)
    history = reg.fit(x, target)
    assert len(history.history["loss"]) == 3  # Keras 1's nb_epoch, accepted as Keras 2 did
    pred = reg.predict(x)
    assert pred.shape == (150,)
    np.testing.assert_allclose(pred, reg.model.predict(x, verbose=0)[:, 0], rtol=1e-6)
    assert reg.score(x, target) == pytest.approx(-np.mean((pred - target) ** 2), rel=1e-4)


def test_params_clone_and_errors():
    clf = KerasClassifier(build_fn=create_softmax, units=5, epochs=2)
    assert clf.get_params() == {"build_fn": create_softmax, "units": 5, "epochs": 2}
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and twin is not clf
    clf.set_params(units=7, batch_size=4)
    assert clf.sk_params == {"units": 7, "epochs": 2, "batch_size": 4}
    with pytest.raises(ValueError, match="not a legal parameter"):
        KerasClassifier(build_fn=create_softmax, unit=3)
    with pytest.raises(ValueError, match="not a legal parameter"):
        clf.set_params(epochz=3)
    no_acc = KerasRegressor(build_fn=create_regressor, epochs=1, verbose=0)
    with pytest.raises(Exception, match="not fitted"):
        no_acc.predict(np.zeros((2, 4), "f4"))


@pytest.mark.slow
def test_grid_search_and_cross_val_score(iris):
    x, y = iris
    clf = KerasClassifier(build_fn=create_softmax, epochs=2, batch_size=32, verbose=0)
    scores = cross_val_score(clf, x, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    grid = GridSearchCV(clf, {"units": [4, 8], "optimizer": ["adam", "sgd"]}, cv=2, n_jobs=1)
    grid.fit(x, y)
    assert set(grid.best_params_) == {"units", "optimizer"}
    assert 0 <= grid.best_score_ <= 1
    assert grid.predict(x[:3]).dtype.kind == "U"


def test_sklearn_classifier_one_hot_targets(iris):
    """The former bug: one-hot y became shape (n, k, 2) inside SKLearnClassifier.fit."""
    x, y = iris
    onehot = np.eye(3, dtype="f4")[np.searchsorted(np.unique(y), y)]
    clf = SKLearnClassifier(create_softmax, epochs=2, verbose=0).fit(x, onehot)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    pred = clf.predict(x)
    assert pred.shape == (150, 3)
    probs = clf.model_.predict(x, verbose=0)
    np.testing.assert_array_equal(pred.argmax(1), probs.argmax(1))
    assert clf.score(x, onehot) == pytest.approx(np.mean(probs.argmax(1) == onehot.argmax(1)))
