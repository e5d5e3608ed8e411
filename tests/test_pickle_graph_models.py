"""``pickle``, ``joblib`` and ``copy.deepcopy`` of functional and subclassed models (Keras 3
pickles every model kind): the copy predicts the same and trains on exactly as the original
does (optimizer state included).  Functional models failed on their symbolic tensors' weak
references, subclassed ones on a layer attribute that no longer named the model's layer."""

import copy
import io
import pickle

import joblib
import numpy as np
import pytest

import lamina


class TwoDense(lamina.Model):
    def __init__(self):
        super().__init__()
        self.hidden = lamina.layers.Dense(4, activation="relu")
        self.out = lamina.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))


def _functional():
    inner_in = lamina.Input((3,))
    inner = lamina.Model(inner_in, lamina.layers.Dense(4, activation="tanh")(inner_in))
    x = lamina.Input((3,))
    h = inner(x)
    return lamina.Model(x, lamina.layers.Dense(2)(lamina.layers.Concatenate()([h, x])))


def _joblib(model):
    buf = io.BytesIO()
    joblib.dump(model, buf)
    buf.seek(0)
    return joblib.load(buf)


COPIES = {
    "pickle": lambda m: pickle.loads(pickle.dumps(m)),
    "joblib": _joblib,
    "deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("kind", ["functional", "subclassed"])
def test_copies_predict_and_train_on_as_the_original(kind, how):
    lamina.utils.set_random_seed(0)
    model = _functional() if kind == "functional" else TwoDense()
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 3)).astype("float32"), rng.random((16, 2)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    clone = COPIES[how](model)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    want = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    got = clone.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert got == want
    for a, b in zip(clone.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Independent: training the copy left the original's weights alone, and the other way.
    before = [w.copy() for w in model.get_weights()]
    clone.fit(x, y * 3, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    if kind == "subclassed":  # the attribute names the copy's own layer
        assert clone.hidden is clone.layers[0]
