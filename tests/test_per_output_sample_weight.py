"""Per-output ``sample_weight`` (a list, or a dict keyed by output name, one array per output,
``None`` for an output left unweighted) in fit, evaluate and the batch methods, against Keras 3
on the same starting weights."""

import numpy as np
import pytest

import lamina
from lamina import layers
from tests.helpers import keras_ref

RNG = np.random.default_rng(0)
N = 12
X = RNG.normal(size=(N, 3)).astype("float32")
Y1 = RNG.normal(size=(N, 2)).astype("float32")
Y2 = RNG.integers(0, 3, size=(N,)).astype("float32")
W1 = RNG.uniform(0.1, 2.0, size=(N,)).astype("float32")
W2 = np.where(np.arange(N) % 3 == 0, 0.0, 1.5).astype("float32")


def _model(lib, dict_out=False):
    """Two outputs (regression, classification), ``weighted_metrics`` on each."""
    inp = lib.Input((3,))
    h = lib.layers.Dense(4, activation="tanh", name="h")(inp)
    a = lib.layers.Dense(2, name="a")(h)
    b = lib.layers.Dense(3, activation="softmax", name="b")(h)
    model = lib.Model(inp, {"a": a, "b": b} if dict_out else [a, b])
    model.compile(
        optimizer=lib.optimizers.SGD(0.1),
        loss={"a": "mse", "b": "sparse_categorical_crossentropy"}
        if dict_out
        else ["mse", "sparse_categorical_crossentropy"],
        weighted_metrics={"a": ["mae"], "b": ["accuracy"]} if dict_out else [["mae"], ["accuracy"]],
    )
    return model


def _pair(keras, dict_out=False):
    with keras_ref():
        ref = _model(keras, dict_out)
    ours = _model(lamina, dict_out)
    ours.set_weights(ref.get_weights())
    return ours, ref


def _close_logs(ours, ref, rtol=1e-4):
    assert set(ours) == set(ref)
    for k in ref:
        np.testing.assert_allclose(ours[k], ref[k], rtol=rtol, atol=1e-5, err_msg=k)


def _close_weights(ours, ref):
    for a, b in zip(ours.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sw", [[W1, W2], [W1, None], [None, W2]], ids=["both", "none1", "none0"])
def test_fit_list_weights_match_keras(keras, sw):
    ours, ref = _pair(keras)
    kw = dict(batch_size=5, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    with keras_ref():
        want = ref.fit(X, [Y1, Y2], **kw).history
    got = ours.fit(X, [Y1, Y2], **kw).history
    _close_logs(got, want)
    _close_weights(ours, ref)


def test_fit_dict_weights_on_dict_outputs_match_keras(keras):
    ours, ref = _pair(keras, dict_out=True)
    y = {"a": Y1, "b": Y2}
    kw = dict(batch_size=4, epochs=2, shuffle=False, verbose=0)
    with keras_ref():
        want = ref.fit(X, y, sample_weight={"a": W1, "b": None}, **kw).history
    got = ours.fit(X, y, sample_weight={"a": W1, "b": None}, **kw).history
    _close_logs(got, want)
    _close_weights(ours, ref)


def test_dict_weights_keyed_by_output_name_on_list_outputs(keras):
    # Keras fails on this with a KeyError; the dict names the outputs, so it means the list.
    ours, _ = _pair(keras)
    twin = _model(lamina)
    twin.set_weights(ours.get_weights())
    kw = dict(batch_size=6, epochs=1, shuffle=False, verbose=0)
    got = ours.fit(X, [Y1, Y2], sample_weight={"b": W2, "a": W1}, **kw).history
    want = twin.fit(X, [Y1, Y2], sample_weight=[W1, W2], **kw).history
    _close_logs(got, want, rtol=1e-6)


def test_evaluate_and_test_on_batch_match_keras(keras):
    ours, ref = _pair(keras)
    with keras_ref():
        want = ref.evaluate(
            X, [Y1, Y2], sample_weight=[W1, W2], batch_size=5, verbose=0, return_dict=True
        )
        want_none = ref.evaluate(
            X, [Y1, Y2], sample_weight=[None, W2], batch_size=5, verbose=0, return_dict=True
        )
        want_tob = ref.test_on_batch(X, [Y1, Y2], sample_weight=[W1, W2], return_dict=True)
        want_one = ref.evaluate(X, [Y1, Y2], sample_weight=W1, verbose=0, return_dict=True)
    got = ours.evaluate(
        X, [Y1, Y2], sample_weight=[W1, W2], batch_size=5, verbose=0, return_dict=True
    )
    _close_logs(got, want)
    got_none = ours.evaluate(
        X, [Y1, Y2], sample_weight=[None, W2], batch_size=5, verbose=0, return_dict=True
    )
    _close_logs(got_none, want_none)
    _close_logs(ours.test_on_batch(X, [Y1, Y2], sample_weight=[W1, W2], return_dict=True), want_tob)
    # One array keeps its meaning: the same weights for every output.
    _close_logs(ours.evaluate(X, [Y1, Y2], sample_weight=W1, verbose=0, return_dict=True), want_one)


def test_train_on_batch_matches_keras(keras):
    # Keras 2's ACGAN: discriminator.train_on_batch(x, [y, aux_y], sample_weight=[w, w_aux]).
    ours, ref = _pair(keras)
    for _ in range(2):
        with keras_ref():
            want = ref.train_on_batch(X, [Y1, Y2], sample_weight=[W1, W2], return_dict=True)
        got = ours.train_on_batch(X, [Y1, Y2], sample_weight=[W1, W2], return_dict=True)
        _close_logs(got, want)
    _close_weights(ours, ref)


def test_generator_yielding_weight_lists_matches_keras(keras):
    ours, ref = _pair(keras)

    def batches():
        for s in (slice(0, 5), slice(5, 10), slice(10, N)):
            yield X[s], [Y1[s], Y2[s]], [W1[s], W2[s]]

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            s = slice(5 * i, min(5 * i + 5, N))
            return X[s], (Y1[s], Y2[s]), (W1[s], W2[s])

    with keras_ref():
        want = ref.fit(Batches(), epochs=1, shuffle=False, verbose=0).history
    got = ours.fit(batches(), epochs=1, steps_per_epoch=3, verbose=0).history
    _close_logs(got, want)
    _close_weights(ours, ref)


def test_validation_data_with_weight_list_matches_keras(keras):
    ours, ref = _pair(keras)
    kw = dict(
        batch_size=6,
        epochs=2,
        shuffle=False,
        verbose=0,
        validation_data=(X[:7], [Y1[:7], Y2[:7]], [W1[:7], W2[:7]]),
    )
    with keras_ref():
        want = ref.fit(X, [Y1, Y2], **kw).history
    got = ours.fit(X, [Y1, Y2], **kw).history
    assert "val_b_accuracy" in got
    _close_logs(got, want)


def test_steps_per_execution_and_validation_split_keep_the_weights(keras):
    # Several steps per compiled call, and the split of the weights with the rows.
    with keras_ref():
        ref = _model(keras)
        ref.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=["mse", "sparse_categorical_crossentropy"],
            weighted_metrics=[["mae"], ["accuracy"]],
            steps_per_execution=2,
        )
    ours = _model(lamina)
    ours.compile(
        optimizer=lamina.optimizers.SGD(0.1),
        loss=["mse", "sparse_categorical_crossentropy"],
        weighted_metrics=[["mae"], ["accuracy"]],
        steps_per_execution=2,
    )
    ours.set_weights(ref.get_weights())
    kw = dict(
        batch_size=3, epochs=2, shuffle=False, verbose=0, sample_weight=[W1, W2],
        validation_split=0.25,
    )  # fmt: skip
    with keras_ref():
        want = ref.fit(X, [Y1, Y2], **kw).history
    got = ours.fit(X, [Y1, Y2], **kw).history
    _close_logs(got, want)
    _close_weights(ours, ref)


def test_weight_list_for_a_single_output_model(keras):
    # ``[w]`` for one output is ``w``.
    model = lamina.Sequential([layers.Input((3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    got = model.evaluate(X, Y1, sample_weight=[W1], verbose=0)
    want = model.evaluate(X, Y1, sample_weight=W1, verbose=0)
    assert got == pytest.approx(want)


def test_mismatched_structures_name_expected_and_received(keras):
    ours, _ = _pair(keras)
    with pytest.raises(ValueError, match=r"Expected a list of 2 .*received a list of 3"):
        ours.fit(X, [Y1, Y2], sample_weight=[W1, W2, W1], verbose=0)
    with pytest.raises(ValueError, match=r"Expected a list of 2 .*received a list of 1"):
        ours.evaluate(X, [Y1, Y2], sample_weight=[W1, None][:1] + [], verbose=0)
    with pytest.raises(ValueError, match=r"keyed by output name \['a', 'b'\].*keys \['a', 'c'\]"):
        ours.fit(X, [Y1, Y2], sample_weight={"a": W1, "c": W2}, verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight\[1\] must have shape \(12,\)"):
        ours.fit(X, [Y1, Y2], sample_weight=[W1, W2[:5]], verbose=0)
    dict_model, _ = _pair(keras, dict_out=True)
    with pytest.raises(ValueError, match=r"Expected a dict with the keys of y, \['a', 'b'\]"):
        dict_model.fit(X, {"a": Y1, "b": Y2}, sample_weight=[W1, W2], verbose=0)
    with pytest.raises(ValueError, match=r"received a dict with keys \['a'\]"):
        dict_model.evaluate(X, {"a": Y1, "b": Y2}, sample_weight={"a": W1}, verbose=0)


def test_mismatched_structure_in_a_generator_batch(keras):
    ours, _ = _pair(keras)

    def batches():
        yield X[:6], [Y1[:6], Y2[:6]], [W1[:6]] * 3

    with pytest.raises(ValueError, match=r"sample_weight of batch 0 .*Expected a list of 2"):
        ours.fit(batches(), epochs=1, steps_per_epoch=1, verbose=0)


def test_class_weight_with_several_outputs_is_refused_as_keras(keras):
    ours, ref = _pair(keras)
    with keras_ref(), pytest.raises(ValueError, match="only supported for Models with a single"):
        ref.fit(X, [Y1, Y2], class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="only supported for models with a single output.*has 2"):
        ours.fit(X, [Y1, Y2], class_weight={0: 2.0}, verbose=0)


def _scaled_model(lib):
    """A functional model whose ``compute_loss`` override calls Keras's default: the fit runs
    the user-step path, which passes ``sample_weight`` on as the user gave it."""

    class Scaled(lib.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return 2.0 * super().compute_loss(x, y, y_pred, sample_weight, training)

    inp = lib.Input((3,))
    model = Scaled(inp, [lib.layers.Dense(2, name="a")(inp), lib.layers.Dense(1, name="b")(inp)])
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss=["mse", "mae"])
    return model


def test_compute_loss_override_reads_each_outputs_weights(keras):
    with keras_ref():
        ref = _scaled_model(keras)
    ours = _scaled_model(lamina)
    ours.set_weights(ref.get_weights())
    y2 = Y1[:, :1]
    kw = dict(batch_size=6, epochs=2, shuffle=False, verbose=0, sample_weight=[W1, W2])
    with keras_ref():
        want = ref.fit(X, [Y1, y2], **kw).history
    got = ours.fit(X, [Y1, y2], **kw).history
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-4)
    _close_weights(ours, ref)


@pytest.mark.parametrize("streamed", [False, True], ids=["arrays", "generator"])
def test_data_parallel_fit_matches_one_device(keras, streamed):
    from lamina import distribution

    def batches():
        while True:
            for s in (slice(0, 6), slice(6, N)):
                yield X[s], [Y1[s], Y2[s]], [W1[s], None]

    def fit(model):
        kw = dict(epochs=2, shuffle=False, verbose=0)
        if streamed:
            return model.fit(batches(), steps_per_epoch=2, **kw).history
        return model.fit(X, [Y1, Y2], batch_size=6, sample_weight=[W1, None], **kw).history

    single = _model(lamina)
    parallel = _model(lamina)
    parallel.set_weights(single.get_weights())
    want = fit(single)
    try:
        with distribution.DataParallel().scope():
            got = fit(parallel)
    finally:
        distribution.set_distribution(None)
    _close_logs(got, want, rtol=1e-5)
    _close_weights(parallel, single)


def test_generator_of_dict_weights_on_dict_outputs_matches_keras(keras):
    ours, ref = _pair(keras, dict_out=True)

    def item(i):
        s = slice(5 * i, min(5 * i + 5, N))
        return X[s], {"a": Y1[s], "b": Y2[s]}, {"b": W2[s], "a": None}

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return item(i)

    with keras_ref():
        want = ref.evaluate(Batches(), verbose=0, return_dict=True)
    got = ours.evaluate((item(i) for i in range(3)), steps=3, verbose=0, return_dict=True)
    _close_logs(got, want)
