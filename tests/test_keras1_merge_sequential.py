"""Keras 1 code Lamina used to refuse: ``Sequential`` of merged branches, ``Highway``,
``MaxoutDense``.  References: the equivalent Keras 3 functional model (same weights) and NumPy
versions of Keras 1's formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina
from lamina.layers import Dense, Highway, MaxoutDense, Merge
from lamina.models import Sequential
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)
X1 = RNG.normal(size=(24, 5)).astype("float32")
X2 = RNG.normal(size=(24, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 24)]


def _branches(lib, second_dim=6):
    left = lib.Sequential()
    left.add(lib.layers.Dense(6, input_shape=(5,)) if lib is not lamina else Dense(6, input_dim=5))
    left.add(lib.layers.Dense(6, activation="relu"))
    right = lib.Sequential()
    right.add(lib.layers.Dense(second_dim, input_shape=(4,)))
    return left, right


def _lamina_model(mode, **kw):
    left, right = _branches(lamina)
    model = Sequential()
    model.add(Merge([left, right], mode=mode, **kw))
    model.add(Dense(3, activation="softmax"))
    return model


def _keras_model(keras, merge_layer):
    left, right = _branches(keras)
    a, b = keras.Input((5,)), keras.Input((4,))
    merged = merge_layer([left(a), right(b)])
    return keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(merged))


KERAS2_LAYER = {
    "concat": lambda k: k.layers.Concatenate(axis=-1),
    "sum": lambda k: k.layers.Add(),
}


@pytest.mark.parametrize("mode", sorted(KERAS2_LAYER))
def test_merged_branches_fit_and_predict_like_keras_functional(keras, mode):
    model = _lamina_model(mode)
    with keras_ref():
        ref = _keras_model(keras, KERAS2_LAYER[mode](keras))
        ref.set_weights(model.get_weights())  # Keras 1's order: left, right, then the rest
        ref.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
        ref_hist = ref.fit([X1, X2], Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        ref_pred = ref.predict([X1, X2], verbose=0)
        ref_eval = ref.evaluate([X1, X2], Y, verbose=0)
    model.compile(optimizer=lamina.optimizers.SGD(0.1), loss="categorical_crossentropy")
    hist = model.fit([X1, X2], Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(model.predict([X1, X2], verbose=0), ref_pred, atol=1e-5)
    np.testing.assert_allclose(model.evaluate([X1, X2], Y, verbose=0), ref_eval, rtol=1e-5)
    for mine, theirs in zip(model.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-5)
    np.testing.assert_array_equal(model.predict_classes([X1, X2], verbose=0),
                                  ref_pred.argmax(-1))  # fmt: skip


def test_elementwise_modes_match_keras1_formulas():
    left, right = _branches(lamina)
    a, b = left.predict(X1, verbose=0), right.predict(X2, verbose=0)
    expected = {"sum": a + b, "mul": a * b, "ave": (a + b) / 2, "max": np.maximum(a, b)}
    for mode, want in expected.items():
        model = Sequential([Merge([left, right], mode=mode)])
        np.testing.assert_allclose(model([X1, X2]), want, rtol=1e-5, atol=1e-6, err_msg=mode)


def test_weights_follow_keras1_order_branch_by_branch():
    model = _lamina_model("concat")
    shapes = [w.shape for w in model.get_weights()]
    # left (two Dense), right (one Dense), then the Dense after the merge: Keras 1's
    # ``flattened_layers`` order, not the graph's depth order (which interleaves branches).
    assert shapes == [(5, 6), (6,), (6, 6), (6,), (4, 6), (6,), (12, 3), (3,)]
    new = [np.full(s, i, "float32") for i, s in enumerate(shapes)]
    model.set_weights(new)
    assert [float(w.flat[0]) for w in model.get_weights()] == list(range(8))


def test_summary_lists_the_branches_and_counts_every_weight():
    model = _lamina_model("concat")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    left, right = model.layers[2], model.layers[3]  # after the two inputs, as Keras lists them
    assert left.name in text and right.name in text and text.count("(Sequential)") == 2
    assert type(left).__name__ == "Sequential" and f"Total params: {model.count_params()}" in text
    assert model.count_params() == sum(w.size for w in model.get_weights()) == 147


def test_dot_and_cos_modes_match_numpy():
    left, right = _branches(lamina)
    model = Sequential([Merge([left, right], mode="dot", dot_axes=1)])
    l_out = left.predict(X1, verbose=0)
    r_out = right.predict(X2, verbose=0)
    np.testing.assert_allclose(model.predict([X1, X2], verbose=0),
                               (l_out * r_out).sum(-1, keepdims=True), rtol=1e-4, atol=1e-5)  # fmt: skip
    cos = Sequential([Merge([left, right], mode="cos")])
    norm = np.linalg.norm(l_out, axis=-1) * np.linalg.norm(r_out, axis=-1)
    expected = ((l_out * r_out).sum(-1) / np.maximum(norm, 1e-7))[:, None]
    np.testing.assert_allclose(cos.predict([X1, X2], verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_callable_mode_with_output_shape():
    left, right = _branches(lamina)
    model = Sequential()
    model.add(Merge([left, right], mode=lambda ts: ts[0] - ts[1], output_shape=(6,)))
    model.add(Dense(2))
    assert model.output_shape == (None, 2)
    diff = left.predict(X1, verbose=0) - right.predict(X2, verbose=0)
    w, b = model.get_weights()[-2:]
    np.testing.assert_allclose(model.predict([X1, X2], verbose=0), diff @ w + b, atol=1e-5)


def test_nested_merges_flatten_inputs_and_concat_axis():
    left, right = _branches(lamina)
    inner = Sequential()
    inner.add(Merge([left, right], mode="sum"))
    third = Sequential()
    third.add(Dense(6, input_dim=3))
    outer = Sequential()
    outer.add(Merge([inner, third], mode="concat", concat_axis=1))
    x3 = RNG.normal(size=(24, 3)).astype("float32")
    assert [tuple(t.shape) for t in outer.inputs] == [(None, 5), (None, 4), (None, 3)]
    expected = np.concatenate([inner.predict([X1, X2], verbose=0),
                               third.predict(x3, verbose=0)], axis=1)  # fmt: skip
    np.testing.assert_allclose(outer.predict([X1, X2, x3], verbose=0), expected, atol=1e-5)


def test_same_branch_twice_is_one_input_and_tensor_branches():
    shared = Sequential()
    shared.add(Dense(4, input_dim=5))
    model = Sequential([Merge([shared, shared], mode="concat"), Dense(1)])
    assert len(model.inputs) == 1 and len(model.get_weights()) == 4
    a, b = lamina.Input((5,)), lamina.Input((4,))
    ta, tb = Dense(3)(a), Dense(3)(b)
    model = Sequential([Merge([ta, tb], mode="sum")])
    assert model.inputs == [a, b]
    assert model.predict([X1, X2], verbose=0).shape == (24, 3)


def test_save_load_and_keras_reads_the_functional_equivalent(keras, tmp_path):
    model = _lamina_model("concat")
    model.compile("adam", "categorical_crossentropy")
    model.fit([X1, X2], Y, epochs=1, verbose=0)
    path = str(tmp_path / "merged.keras")
    model.save(path)
    expected = model.predict([X1, X2], verbose=0)
    back = lamina.models.load_model(path)
    np.testing.assert_allclose(back.predict([X1, X2], verbose=0), expected, atol=1e-6)
    with keras_ref():
        ref = keras.models.load_model(path)
        np.testing.assert_allclose(ref.predict([X1, X2], verbose=0), expected, atol=1e-5)
    legacy = str(tmp_path / "merged.h5")
    model.save(legacy)
    np.testing.assert_allclose(lamina.models.load_model(legacy).predict([X1, X2], verbose=0),
                               expected, atol=1e-6)  # fmt: skip
    h5 = str(tmp_path / "merged.weights.h5")
    model.save_weights(h5)
    fresh = _lamina_model("concat")
    fresh.load_weights(h5)
    np.testing.assert_allclose(fresh.predict([X1, X2], verbose=0), expected, atol=1e-6)


def test_merge_errors():
    left, right = _branches(lamina)
    with pytest.raises(TypeError, match="at least two"):
        Merge([left], mode="concat")
    with pytest.raises(TypeError, match="merges models"):
        Merge([left, Dense(3)], mode="concat")
    with pytest.raises(ValueError, match="unknown mode"):
        Merge([left, right], mode="median")
    model = Sequential()
    model.add(Dense(3, input_dim=2))
    with pytest.raises(ValueError, match="must be the first layer"):
        model.add(Merge([left, right], mode="concat"))
    no_shape = Sequential([Dense(3)])
    with pytest.raises(ValueError, match="no input shape"):
        Merge([left, no_shape], mode="concat")


# ------------------------------------------------------------------ Highway, MaxoutDense
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_highway_keras1_formula_weights_and_arguments():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = Highway(init="glorot_uniform", transform_bias=-1.5, activation="tanh",
                        W_regularizer="l2", input_dim=4)  # fmt: skip
    model = Sequential([layer])
    model.build((None, 4))
    w, w_c, b, b_c = model.get_weights()  # Keras 1.2's order
    assert [v.path.split("/")[-2:] for v in layer.weights] == [
        [layer.name, n] for n in ("W", "W_carry", "b", "b_carry")
    ]
    np.testing.assert_array_equal(b_c, np.full(4, -1.5, "float32"))
    np.testing.assert_array_equal(b, np.zeros(4, "float32"))
    x = RNG.normal(size=(6, 4)).astype("float32")
    t = _sigmoid(x @ w_c + b_c)
    expected = np.tanh(x @ w + b) * t + (1 - t) * x
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    assert layer.kernel_regularizer is not None and layer.get_config()["transform_bias"] == -1.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        no_bias = Highway(bias=False, input_dim=4)
    no_bias.build((None, 4))
    assert [v.path.split("/")[-1] for v in no_bias.weights] == ["W", "W_carry"]


def test_maxout_dense_keras1_formula_and_arguments():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = MaxoutDense(output_dim=3, nb_feature=4, init="glorot_uniform", input_dim=5)
    model = Sequential([layer])
    model.build((None, 5))
    w, b = model.get_weights()
    assert w.shape == (4, 5, 3) and b.shape == (4, 3)
    model.set_weights([RNG.normal(size=w.shape), RNG.normal(size=b.shape)])
    w, b = model.get_weights()
    x = RNG.normal(size=(6, 5)).astype("float32")
    expected = (np.einsum("nd,kdo->nko", x, w) + b[None]).max(axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("first", ["highway", "maxout"])
def test_keras1_layers_fit_and_save_load_round_trip(tmp_path, first):
    head = Highway(activation="relu", input_shape=(5,)) if first == "highway" else \
        MaxoutDense(5, nb_feature=2, input_shape=(5,))  # fmt: skip
    model = Sequential([head, Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    before = model.get_weights()
    hist = model.fit(X1, Y, epochs=3, batch_size=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    path = str(tmp_path / f"{first}.keras")
    model.save(path)
    back = lamina.models.load_model(path)
    assert type(back.layers[0]) is type(head)
    np.testing.assert_allclose(back.predict(X1, verbose=0), model.predict(X1, verbose=0),
                               atol=1e-6)  # fmt: skip
    assert back.layers[0].get_config() == model.layers[0].get_config()


def test_keras1_layers_reject_non_2d_inputs():
    with pytest.raises(ValueError, match="expects 2D inputs"):
        Highway()(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="nb_feature"):
        MaxoutDense(3, nb_feature=0)
