"""Losses inside fit/evaluate mean what Keras 3 says: reductions, masks, padded batches.

Every case fits the same model in real Keras 3 (JAX backend) and in Lamina from the same
weights (SGD, ``shuffle=False``) and compares the History, the final weights and ``evaluate``.
Batch sizes 5 (divides the 10 rows) and 4 (a padded last batch of 2) both run.
"""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

RTOL, ATOL = 1e-5, 1e-6
N = 10


def _fit_both(keras, make, loss, x, y, sw=None, batch_size=4, metrics=(), **compile_kw):
    """(history, weights, evaluate logs) for Keras, then Lamina."""
    out, w0 = [], None
    for lib in (keras, lamina):
        with keras_ref():
            model = make(lib)
            if w0 is None:
                w0 = model.get_weights()
            else:
                model.set_weights(w0)
            model.compile(
                optimizer=lib.optimizers.SGD(0.1), loss=loss(lib), metrics=list(metrics),
                **compile_kw,
            )
            hist = model.fit(
                x, y, sample_weight=sw, batch_size=batch_size, epochs=2, shuffle=False, verbose=0
            )
            logs = model.evaluate(
                x, y, sample_weight=sw, batch_size=batch_size, verbose=0, return_dict=True
            )
            out.append((hist.history, model.get_weights(), logs))
    return out


def _assert_same(pair):
    (kh, kw, ke), (lh, lw, le) = pair
    assert set(kh) == set(lh)
    for key in kh:
        np.testing.assert_allclose(lh[key], kh[key], rtol=RTOL, atol=ATOL, err_msg=key)
    for a, b in zip(kw, lw):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    for key in ke:
        np.testing.assert_allclose(le[key], ke[key], rtol=RTOL, atol=ATOL, err_msg=key)


def _dense(lib, activation=None):
    return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, activation=activation)])


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4)).astype("float32")
    y = rng.normal(size=(N, 3)).astype("float32")
    return x, y, rng.uniform(size=(N,)).astype("float32")


@pytest.mark.parametrize("batch_size", [5, 4])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_with_sample_weight"])
def test_loss_reduction_in_fit_matches_keras(keras, regression, reduction, weighted, batch_size):
    x, y, sw = regression
    _assert_same(
        _fit_both(
            keras, _dense, lambda lib: lib.losses.MeanSquaredError(reduction=reduction), x, y,
            sw if weighted else None, batch_size,
        )
    )


@pytest.mark.parametrize("reduction", ["none", None])
def test_reduction_none_cannot_train_in_keras_either(keras, regression, reduction):
    x, y, _ = regression
    with keras_ref():
        model = _dense(keras)
        model.compile("sgd", keras.losses.MeanSquaredError(reduction=reduction))
        with pytest.raises(TypeError, match="scalar-output"):
            model.fit(x, y, epochs=1, verbose=0)
    model = _dense(lamina)
    model.compile("sgd", lamina.losses.MeanSquaredError(reduction=reduction))
    with pytest.raises(TypeError, match=f"reduction={reduction!r}.*needs a scalar loss"):
        model.fit(x, y, epochs=1, verbose=0)


def _evaluate_both(keras, make, loss, x, y, sw=None, batch_size=4, **compile_kw):
    """``evaluate`` logs of Keras, then Lamina, from the same weights (no fit)."""
    out, w0 = [], None
    for lib in (keras, lamina):
        with keras_ref():
            model = make(lib)
            if w0 is None:
                w0 = model.get_weights()
            else:
                model.set_weights(w0)
            model.compile(optimizer="sgd", loss=loss(lib), **compile_kw)
            out.append(
                model.evaluate(
                    x, y, sample_weight=sw, batch_size=batch_size, verbose=0, return_dict=True
                )
            )
    return out


def _assert_same_logs(pair):
    keras_logs, lamina_logs = pair
    assert set(keras_logs) == set(lamina_logs)
    for key in keras_logs:
        np.testing.assert_allclose(
            lamina_logs[key], keras_logs[key], rtol=RTOL, atol=ATOL, err_msg=key
        )


def _unreduced_subclass(lib):
    class SquaredError(lib.losses.Loss):
        def call(self, y_true, y_pred):
            return lib.ops.mean(lib.ops.square(y_true - y_pred), axis=-1)

    return SquaredError(reduction=None)


@pytest.mark.parametrize("batch_size", [5, 4])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "loss",
    [
        lambda lib: lib.losses.MeanSquaredError(reduction="none"),
        lambda lib: lib.losses.MeanAbsoluteError(reduction=None),
        _unreduced_subclass,
    ],
    ids=["mse-none", "mae-None", "subclass-None"],
)
def test_unreduced_loss_evaluates_as_keras(keras, regression, loss, weighted, batch_size):
    x, y, sw = regression
    _assert_same_logs(
        _evaluate_both(keras, _dense, loss, x, y, sw if weighted else None, batch_size)
    )


def _scalar(lib):
    return lambda yt, yp: lib.ops.mean(lib.ops.square(yt - yp))


def _per_sample(lib):
    return lambda yt, yp: lib.ops.mean(lib.ops.square(yt - yp), axis=-1)


def _per_element(lib):
    return lambda yt, yp: lib.ops.square(yt - yp)


@pytest.mark.parametrize("batch_size", [5, 4])
@pytest.mark.parametrize("fn", [_per_sample, _per_element])
def test_user_loss_shapes_and_loss_weights_match_keras(keras, regression, fn, batch_size):
    x, y, _ = regression
    _assert_same(_fit_both(keras, _dense, fn, x, y, None, batch_size, loss_weights=[0.5]))


@pytest.mark.parametrize("weighted", [False, True])
def test_user_scalar_loss_matches_keras_on_whole_batches(keras, regression, weighted):
    x, y, sw = regression
    _assert_same(_fit_both(keras, _dense, _scalar, x, y, sw if weighted else None, 5))


@pytest.mark.parametrize("weighted", [False, True])
def test_user_scalar_loss_on_a_padded_batch_matches_keras(keras, regression, weighted):
    # The fused epoch runs the partial last batch at its real shape (training.whole_batch).
    x, y, sw = regression
    _assert_same(_fit_both(keras, _dense, _scalar, x, y, sw if weighted else None, 4))


def _seq_data(rng):
    x = rng.normal(size=(N, 5, 4)).astype("float32")
    y = rng.integers(0, 4, size=(N, 5)).astype("int32")
    return x, y


def _per_step(lib):
    return lib.Sequential([lib.Input((5, 4)), lib.layers.Dense(4)])


@pytest.mark.parametrize("batch_size", [5, 4])
def test_ignore_class_in_fit_matches_keras(keras, batch_size):
    x, y = _seq_data(np.random.default_rng(1))
    y[0, :3] = -1
    y[3, 1] = -1
    loss = lambda lib: lib.losses.SparseCategoricalCrossentropy(  # noqa: E731
        from_logits=True, ignore_class=-1
    )
    _assert_same(_fit_both(keras, _per_step, loss, x, y, None, batch_size))


@pytest.mark.parametrize("batch_size", [5, 4])
def test_unreduced_masked_sequence_loss_evaluates_as_keras(keras, batch_size):
    rng = np.random.default_rng(4)
    x, y = _seq_data(rng)
    y[0, :3] = -1
    sw = rng.uniform(size=(N, 5)).astype("float32")
    loss = lambda lib: lib.losses.SparseCategoricalCrossentropy(  # noqa: E731
        from_logits=True, ignore_class=-1, reduction=None
    )
    _assert_same_logs(
        _evaluate_both(keras, _per_step, loss, x, y, sw, batch_size, weighted_metrics=["accuracy"])
    )


@pytest.mark.parametrize("batch_size", [5, 4])
def test_per_timestep_sample_weight_matches_keras(keras, batch_size):
    rng = np.random.default_rng(2)
    x, y = _seq_data(rng)
    sw = rng.uniform(size=(N, 5)).astype("float32")
    loss = lambda lib: lib.losses.SparseCategoricalCrossentropy(from_logits=True)  # noqa: E731
    _assert_same(
        _fit_both(keras, _per_step, loss, x, y, sw, batch_size, weighted_metrics=["accuracy"])
    )


@pytest.mark.parametrize("batch_size", [5, 4])
@pytest.mark.parametrize("loss", ["Dice", "Tversky"])
def test_whole_batch_losses_see_only_real_rows(keras, loss, batch_size):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, 4)).astype("float32")
    y = (rng.uniform(size=(N, 3)) > 0.5).astype("float32")
    _assert_same(
        _fit_both(
            keras, lambda lib: _dense(lib, "sigmoid"), lambda lib: getattr(lib.losses, loss)(),
            x, y, None, batch_size,
        )
    )


def _two_outputs(lib):
    inputs = lib.Input((4,))
    a = lib.layers.Dense(3, name="a")(inputs)
    b = lib.layers.Dense(1, activation="sigmoid", name="b")(inputs)
    return lib.Model(inputs, [a, b])


@pytest.mark.parametrize("batch_size", [5, 4])
def test_per_output_reductions_and_loss_weights_match_keras(keras, regression, batch_size):
    x, y, sw = regression
    y2 = (y[:, :1] > 0).astype("float32")

    def losses(lib):
        return [
            lib.losses.MeanSquaredError(reduction="sum"),
            lib.losses.BinaryCrossentropy(reduction="mean_with_sample_weight"),
        ]

    _assert_same(
        _fit_both(keras, _two_outputs, losses, x, [y, y2], sw, batch_size, loss_weights=[0.3, 2.0])
    )


@pytest.mark.parametrize("batch_size", [5, 4])
def test_unreduced_output_loss_evaluates_as_keras(keras, regression, batch_size):
    x, y, sw = regression
    y2 = (y[:, :1] > 0).astype("float32")

    def losses(lib):
        return [lib.losses.MeanSquaredError(reduction=None), lib.losses.BinaryCrossentropy()]

    _assert_same_logs(
        _evaluate_both(
            keras, _two_outputs, losses, x, [y, y2], sw, batch_size, loss_weights=[0.3, 2.0]
        )
    )
