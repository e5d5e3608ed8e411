"""Re-compiling, copying and pickling a model (issue 9): the trained weights survive, the
optimizer restarts as in Keras, and copies are independent models that predict the same."""

import copy
import pickle

import numpy as np
import pytest

from lamina import optimizers
from lamina.layers import Dense, Dropout, Input
from lamina.models import Sequential, load_model


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")


def _model(dropout=False):
    layers = [Input((3,)), Dense(6, activation="relu")]
    if dropout:
        layers.append(Dropout(0.3))
    layers.append(Dense(1))
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("new_optimizer", ["adam", "lr"])
def test_compile_after_fit_keeps_weights_and_trains_on(new_optimizer):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0)
    trained = model.get_weights()
    opt = "adam" if new_optimizer == "adam" else optimizers.Adam(learning_rate=0.01)
    model.compile(optimizer=opt, loss="mse")
    for a, b in zip(trained, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    loss_before = model.evaluate(*_data(seed=1), verbose=0)
    history = model.fit(x, y, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert model.evaluate(*_data(seed=1), verbose=0) < loss_before
    assert len(model.get_weights()) == len(trained)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_compile_after_fit_resets_optimizer_like_keras():
    """Continuing after re-compile equals a fresh model that starts from the trained weights."""
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, shuffle=False)
    model.compile(optimizer="adam", loss="mse")
    fresh = Sequential([Input((3,)), Dense(6, activation="relu"), Dense(1)])
    fresh.compile(optimizer="adam", loss="mse")
    fresh.set_weights(model.get_weights())
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    fresh.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_compile_with_dropout_after_fit():
    x, y = _data()
    model = _model(dropout=True)
    model.fit(x, y, epochs=1, verbose=0)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(model.predict(x, verbose=0)).all()


@pytest.mark.parametrize("recompile", [True, False])
def test_freeze_after_fit_then_fit(recompile):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    model.layers[0].trainable = False
    if recompile:
        model.compile(optimizer="adam", loss="mse")
    frozen = model.get_weights()[:2]
    before_head = model.get_weights()[2:]
    model.fit(x, y, epochs=2, verbose=0)
    after = model.get_weights()
    for a, b in zip(frozen, after[:2]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(before_head, after[2:]))
    model.layers[0].trainable = True
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(model.get_weights()[0], frozen[0])


def test_compile_after_load_model(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = load_model(path)
    loaded.compile(optimizer=optimizers.SGD(learning_rate=0.01), loss="mse")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    before = loaded.evaluate(*_data(seed=1), verbose=0)
    loaded.fit(x, y, epochs=3, verbose=0)
    assert loaded.evaluate(*_data(seed=1), verbose=0) < before
    loaded.save(path)  # saving after the re-compiled fit works too


def _roundtrips():
    return {
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
        "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    }


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
@pytest.mark.parametrize("fitted", [False, True])
def test_copies_predict_the_same_and_are_independent(how, fitted):
    x, y = _data()
    model = _model(dropout=True)
    if fitted:
        model.fit(x, y, epochs=2, verbose=0)
    else:
        model.build((None, 3))
    clone = _roundtrips()[how](model)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    # Both go on training without touching each other (a shared donated buffer would break).
    before = model.get_weights()
    clone.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, epochs=1, verbose=0)
    assert clone.evaluate(*_data(seed=1), verbose=0)[0] > 0


def test_pickle_keeps_optimizer_state_and_continues_identically():
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, shuffle=False)
    clone = pickle.loads(pickle.dumps(model))
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    clone.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pickle_uncompiled_unbuilt_model():
    model = Sequential([Dense(2)])
    clone = pickle.loads(pickle.dumps(model))
    assert [la.name for la in clone.layers] == [la.name for la in model.layers]
    x = np.ones((4, 5), "float32")
    assert clone.predict(x, verbose=0).shape == (4, 2)


@pytest.mark.parametrize("how", ["pickle", "joblib", "deepcopy"])
def test_sklearn_wrapper_roundtrip(how, tmp_path):
    pytest.importorskip("sklearn")
    from lamina.wrappers import SKLearnClassifier

    x, y = _data(64)
    labels = (y[:, 0] > 0).astype(int)
    clf = SKLearnClassifier(_build_classifier, epochs=2, verbose=0).fit(x, labels)
    if how == "pickle":
        clone = pickle.loads(pickle.dumps(clf))
    elif how == "joblib":
        joblib = pytest.importorskip("joblib")
        joblib.dump(clf, tmp_path / "clf.joblib")
        clone = joblib.load(tmp_path / "clf.joblib")
    else:
        clone = copy.deepcopy(clf)
    np.testing.assert_array_equal(clone.predict_proba(x), clf.predict_proba(x))
    np.testing.assert_array_equal(clone.predict(x), clf.predict(x))


def _build_classifier():
    model = Sequential([Input((3,)), Dense(4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model
