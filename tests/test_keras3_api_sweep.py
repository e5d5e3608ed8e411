"""Keras 3 API names a signature sweep found missing: step-function builders, state trees,
own variables, output specs, ``TerminateOnNaN(raise_error=)``, sorted-id top-k accuracy and
``Input``'s ``ragged``/``sparse``/``optional`` arguments; each against real Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

X = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
Y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")


def _tree_shapes(tree):
    if isinstance(tree, dict):
        return {k: _tree_shapes(v) for k, v in tree.items()}
    return (tuple(np.shape(tree)), str(np.asarray(tree).dtype))


def _sequential(lib):
    model = lib.Sequential(
        [
            lib.Input((3,), name="my_input"),
            lib.layers.Dense(2, name="d"),
            lib.layers.BatchNormalization(name="bn"),
        ],
        name="seq",
    )
    model.compile(lib.optimizers.Adam(0.01, name="adam"), "mse", metrics=["mae"])
    return model


def _functional(lib):
    inp = lib.Input((3,), name="x")
    h = lib.layers.Dense(4, name="h")(inp)
    model = lib.Model(inp, lib.layers.Dense(2, name="o")(h), name="fun")
    model.compile(lib.optimizers.SGD(0.1, momentum=0.9, name="sgd"), "mse", metrics=["mae"])
    return model


# ------------------------------------------------------------------ 1. step functions
def test_make_functions_build_set_and_run():
    model = _sequential(lamina)
    assert model.train_function is None and model.predict_function is None
    step = model.make_train_function()
    assert model.train_function is step
    assert model.make_train_function() is step  # not rebuilt without force
    assert model.make_train_function(force=True) is not step
    logs = model.make_test_function()((X, Y))
    assert sorted(logs) == ["loss", "mae"]
    before = model.get_weights()[0].copy()
    logs = model.train_function(iter([(X, Y)]))  # Keras's step functions take an iterator
    assert np.isfinite(logs["loss"]) and not np.allclose(model.get_weights()[0], before)
    assert model.make_predict_function()(X).shape == (8, 2)
    model.compile("sgd", "mse")  # compile drops them, as Keras's does
    assert model.train_function is None and model.test_function is None
    assert model.fit(X, Y, epochs=1, verbose=0).history["loss"]


def test_make_train_function_then_fit_matches_keras(keras):
    with keras_ref():
        ref = _functional(keras)
        ours = _functional(lamina)
        ref.build((None, 3))
        ours.set_weights([np.asarray(w) for w in ref.get_weights()])
        ref.make_train_function()
        expected = ref.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ours.make_train_function()
    got = ours.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], rtol=1e-5)


def test_make_train_function_needs_compile():
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        model.make_train_function()


def test_keras2_private_make_predict_function_is_harmless():
    model = _sequential(lamina)
    expected = model.predict(X, verbose=0)
    assert model._make_predict_function() is None
    np.testing.assert_allclose(model.predict(X, verbose=0), expected)


# ------------------------------------------------------------------ 2. state trees
@pytest.mark.parametrize("make", [_sequential, _functional])
def test_state_tree_structure_matches_keras(keras, make):
    with keras_ref():
        ref = make(keras)
        ref.fit(X, Y, verbose=0)
        expected = _tree_shapes(ref.get_state_tree("numpy_array"))
    ours = make(lamina)
    ours.fit(X, Y, verbose=0)
    tree = ours.get_state_tree("numpy_array")
    assert _tree_shapes(tree) == expected
    assert all(
        isinstance(v, np.ndarray) for v in lamina.tree.flatten(tree["trainable_variables"])
    )


@pytest.mark.parametrize("make", [_sequential, _functional])
def test_set_state_tree_from_keras_then_training_matches(keras, make):
    with keras_ref():
        ref = make(keras)
        ref.fit(X, Y, batch_size=4, verbose=0, shuffle=False)
        tree = ref.get_state_tree("numpy_array")
    ours = make(lamina)
    ours.fit(X, Y, batch_size=4, verbose=0, shuffle=False)
    ours.set_state_tree(tree)
    for a, b in zip(ours.get_weights(), [np.asarray(w) for w in ref.get_weights()]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    ours_opt = {v.path: np.asarray(v) for v in ours.optimizer.variables}
    for v in ref.optimizer.variables:  # weights' slots and the iteration count
        np.testing.assert_allclose(ours_opt[v.path], np.asarray(v), rtol=1e-6)
    with keras_ref():
        expected = ref.fit(X, Y, batch_size=4, verbose=0, shuffle=False).history["loss"]
    got = ours.fit(X, Y, batch_size=4, verbose=0, shuffle=False).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_state_tree_round_trip_and_metrics():
    model = _sequential(lamina)
    model.fit(X, Y, verbose=0)
    tree = model.get_state_tree()
    saved = model.get_weights()
    model.fit(X, Y, verbose=0)
    model.set_state_tree(tree)
    for a, b in zip(model.get_weights(), saved):
        np.testing.assert_array_equal(a, b)
    count = np.asarray(tree["metrics_variables"]["loss"]["count"])
    model.set_state_tree({"metrics_variables": {"loss": {"count": count * 0 + 5.0}}})
    assert float(model.get_state_tree()["metrics_variables"]["loss"]["count"]) == 5.0


def test_state_tree_errors_are_keras():
    model = _sequential(lamina)
    with pytest.raises(ValueError, match="Invalid `value_format` argument"):
        model.get_state_tree("list")
    with pytest.raises(ValueError, match="Unknown variable name: weights"):
        model.set_state_tree({"weights": {}})


# ------------------------------------------------------------------ 3. own variables
def _subclassed(lib):
    class Scaled(lib.Model):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(2)

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(2,), initializer="ones", name="scale")
            self.steps = self.add_weight(
                shape=(), initializer="zeros", name="steps", trainable=False
            )

        def call(self, x):
            return self.dense(x) * self.scale

    return Scaled()


def _store_shapes(store):
    return {k: tuple(np.shape(v)) for k, v in store.items()}


def test_save_own_variables_matches_keras(keras):
    with keras_ref():
        ref_models = [_subclassed(keras), _sequential(keras), _functional(keras)]
        ref_stores = []
        for m in ref_models:
            m(X)
            store = {}
            m.save_own_variables(store)
            ref_stores.append(_store_shapes(store))
    for make, expected in zip((_subclassed, _sequential, _functional), ref_stores):
        model = make(lamina)
        model(X)
        store = {}
        model.save_own_variables(store)
        assert _store_shapes(store) == expected
    assert ref_stores[1] == {} and ref_stores[0] == {"0": (2,), "1": ()}


def test_load_own_variables_assigns_and_checks_count():
    model = _subclassed(lamina)
    model(X)
    model.load_own_variables({"0": np.array([2.0, 3.0], "float32"), "1": np.float32(7)})
    np.testing.assert_array_equal(np.asarray(model.scale), [2.0, 3.0])
    assert float(np.asarray(model.steps)) == 7.0
    with pytest.raises(ValueError, match="expected 2 variables, but received 1"):
        model.load_own_variables({"0": np.ones(2, "float32")})


def test_layer_own_variables_exclude_sublayers(keras):
    def make(lib):
        class Block(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.inner = lib.layers.Dense(2)

            def build(self, shape):
                self.inner.build(shape)
                self.moving = self.add_weight(
                    shape=(1,), initializer="zeros", trainable=False, name="moving"
                )
                self.w = self.add_weight(shape=(3,), initializer="ones", name="w")

            def call(self, x):
                return self.inner(x)

        return Block()

    with keras_ref():
        ref = make(keras)
        ref(X)
        expected = {}
        ref.save_own_variables(expected)
    ours = make(lamina)
    ours(X)
    store = {}
    ours.save_own_variables(store)
    assert _store_shapes(store) == _store_shapes(expected) == {"0": (3,), "1": (1,)}


# ------------------------------------------------------------------ 4. output specs
def _spec(out):
    if isinstance(out, list | tuple):
        return [_spec(o) for o in out]
    return (tuple(out.shape), str(out.dtype))


def _spec_cases(lib):
    inp = lib.Input((3,))
    h = lib.layers.Dense(2)(inp)
    two = lib.Model(inp, [lib.layers.Dense(1)(h), lib.layers.Dense(5, dtype="float16")(h)])
    seq = lib.Sequential([lib.layers.Dense(2), lib.layers.Dense(6)])
    return [
        (lib.layers.Dense(4), lib.KerasTensor((None, 3))),
        (lib.layers.LSTM(4, return_state=True), lib.KerasTensor((2, 5, 3))),
        (lib.layers.Embedding(10, 4), lib.KerasTensor((None, 5), "int32")),
        (two, lib.KerasTensor((7, 3))),
        (seq, lib.KerasTensor((5, 3))),
    ]


def test_compute_output_spec_matches_keras(keras):
    with keras_ref():
        expected = [_spec(layer.compute_output_spec(x)) for layer, x in _spec_cases(keras)]
    got = [_spec(layer.compute_output_spec(x)) for layer, x in _spec_cases(lamina)]
    assert got == expected


def test_compute_output_spec_records_nothing_symbolic_call_records():
    dense = lamina.layers.Dense(4)
    dense.compute_output_spec(lamina.KerasTensor((None, 3)))
    assert not getattr(dense, "_inbound_nodes", None)
    inp = lamina.Input((3,))
    out = dense.symbolic_call(inp)
    assert out.shape == (None, 4)
    model = lamina.Model(inp, out)  # the recorded call is a graph node
    assert model(np.ones((2, 3), "float32")).shape == (2, 4)
    with pytest.raises(TypeError, match="expects KerasTensor inputs"):
        dense.symbolic_call(np.ones((2, 3), "float32"))


# ------------------------------------------------------------------ 5. TerminateOnNaN
def _nan_fit(lib, callback):
    model = lib.Sequential([lib.Input((1,)), lib.layers.Dense(1)])
    model.compile(lib.optimizers.SGD(1e30), "mse")
    x = np.ones((8, 1), "float32")
    y = np.full((8, 1), 1e30, "float32")
    return model.fit(x, y, batch_size=2, epochs=3, callbacks=[callback], verbose=0)


@pytest.mark.filterwarnings("ignore:The loss became NaN")  # Lamina's own NaN report
def test_terminate_on_nan_raise_error_matches_keras(keras):
    with keras_ref(), pytest.raises(RuntimeError) as ref_error:
        _nan_fit(keras, keras.callbacks.TerminateOnNaN(raise_error=True))
    with pytest.raises(RuntimeError) as error:
        _nan_fit(lamina, lamina.callbacks.TerminateOnNaN(raise_error=True))
    head = "NaN or Inf loss encountered at batch 0. Loss value: "
    assert str(ref_error.value).startswith(head) and str(error.value).startswith(head)
    assert str(error.value).endswith("Terminating training immediately.")


def test_terminate_on_nan_default_still_stops():
    with pytest.warns(RuntimeWarning):  # Lamina's own NaN report
        history = _nan_fit(lamina, lamina.callbacks.TerminateOnNaN())
    assert len(history.history["loss"]) == 1
    assert lamina.callbacks.TerminateOnNaN().raise_error is False


# ------------------------------------------------------------------ 6. sorted-id top k
@pytest.mark.parametrize("k", [1, 2, 3])
def test_sparse_top_k_from_sorted_ids_matches_keras(keras, k):
    y_true = np.array([3, 1, 4, 0, 2])
    ids = np.array([[3, 0, 2], [2, 0, 1], [0, 4, 4], [1, 2, 3], [2, 2, 2]])
    with keras_ref():
        expected = np.asarray(
            keras.metrics.sparse_top_k_categorical_accuracy(y_true, ids, k=k, from_sorted_ids=True)
        )
        ref = keras.metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
        ref.update_state(y_true[:, None], ids)
        ref_result = float(ref.result())
        ref_config = ref.get_config()
    got = lamina.metrics.sparse_top_k_categorical_accuracy(y_true, ids, k=k, from_sorted_ids=True)
    np.testing.assert_array_equal(np.asarray(got), expected)
    ours = lamina.metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
    ours.update_state(y_true[:, None], ids)
    assert float(ours.result()) == pytest.approx(ref_result)
    assert ours.get_config() == ref_config
    again = lamina.metrics.SparseTopKCategoricalAccuracy.from_config(ours.get_config())
    assert again.from_sorted_ids is True


# ------------------------------------------------------------------ 7. Input arguments
def test_input_accepts_keras_defaults(keras):
    t = lamina.Input((3,), ragged=False, sparse=False, optional=False)
    with keras_ref():
        ref = keras.layers.InputLayer(shape=(3,), ragged=False, sparse=False, optional=False)
    ours = lamina.layers.InputLayer(shape=(3,), ragged=False, sparse=False, optional=False)
    assert t.shape == (None, 3)
    assert ours.get_config()["batch_shape"] == ref.get_config()["batch_shape"]


@pytest.mark.parametrize(
    "arg,words",
    [("ragged", "no ragged tensors"), ("sparse", "no sparse tensors"), ("optional", "None")],
)
def test_input_unsupported_arguments_raise(arg, words):
    for make in (lamina.Input, lamina.layers.Input):
        with pytest.raises(ValueError, match=rf"Input\({arg}=True\).*{words}"):
            make((3,), **{arg: True})
    with pytest.raises(ValueError, match=rf"Input\({arg}=True\)"):
        lamina.layers.InputLayer(shape=(3,), **{arg: True})


def test_lora_layer_own_variables_are_keras_merged_kernel(keras):
    x = np.random.default_rng(2).normal(size=(2, 4)).astype("float32")
    with keras_ref():
        ref = keras.layers.Dense(3)
        ref.build((None, 4))
        ref.enable_lora(2)
        ref.lora_kernel_b.assign(np.ones((2, 3), "float32"))
        expected = {}
        ref.save_own_variables(expected)
        expected = {k: np.asarray(v) for k, v in expected.items()}
        ref_out = np.asarray(ref(x))
    ours = lamina.layers.Dense(3)
    ours.build((None, 4))
    ours.enable_lora(2)
    ours.set_weights([np.asarray(w) for w in ref.get_weights()])
    store = {}
    ours.save_own_variables(store)
    assert sorted(store) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(np.asarray(store[key]), value, rtol=1e-6)
    fresh = lamina.layers.Dense(3)
    fresh.build((None, 4))
    fresh.enable_lora(2)
    fresh.load_own_variables(expected)
    np.testing.assert_allclose(np.asarray(fresh(x)), ref_out, rtol=1e-5, atol=1e-6)
