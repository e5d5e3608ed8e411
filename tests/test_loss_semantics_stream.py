"""Loss semantics off the fused path: streamed inputs (``PyDataset``, generators), chunked
epochs and validation, matched against Keras 3 (JAX backend) from the same weights.

* per-timestep sample weights ``(batch, timesteps)`` yielded by a stream weigh a sequence
  output's loss and weighted metrics as the in-memory arrays do;
* a user loss that averages over the whole batch itself (returns a scalar) sees a partial
  batch at its real size, whatever the path (stream, chunks, validation, ``shuffle="batch"``).
"""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref
from tests.test_loss_semantics import _assert_same, _dense, _per_step, _scalar

pytestmark = pytest.mark.filterwarnings(
    "ignore::lamina.training.guardrails.GuardrailWarning",
    "ignore:.*ran out of data:UserWarning",
)

N = 10


def _dataset(lib, arrays, batch_size):
    """A ``lib.utils.PyDataset`` of ``arrays`` in batches (the last one partial)."""

    class Batches(lib.utils.PyDataset):
        def __len__(self):
            return -(-N // batch_size)

        def __getitem__(self, i):
            return tuple(a[i * batch_size : (i + 1) * batch_size] for a in arrays)

    return Batches()


def _generator(arrays, batch_size):
    for i in range(0, N, batch_size):
        yield tuple(a[i : i + batch_size] for a in arrays)


def _run_both(keras, make, loss, train, evaluate, metrics=(), fit_kw=None, **compile_kw):
    """``(history, weights, evaluate logs)`` for Keras then Lamina; ``train(lib)`` and
    ``evaluate(lib)`` give the fit and evaluate inputs."""
    out, w0 = [], None
    for lib in (keras, lamina):
        with keras_ref():
            model = make(lib)
            if w0 is None:
                w0 = model.get_weights()
            else:
                model.set_weights(w0)
            model.compile(
                optimizer=lib.optimizers.SGD(0.1), loss=loss(lib), **dict(compile_kw),
                weighted_metrics=list(metrics),
            )
            hist = model.fit(train(lib), epochs=2, shuffle=False, verbose=0, **(fit_kw or {}))
            logs = model.evaluate(evaluate(lib), verbose=0, return_dict=True)
            out.append((hist.history, model.get_weights(), logs))
    return out


@pytest.fixture
def timestep_weighted():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(N, 5, 4)).astype("float32")
    y = rng.integers(0, 4, size=(N, 5)).astype("int32")
    return x, y, rng.uniform(size=(N, 5)).astype("float32")


def _sparse_cce(lib):
    return lib.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize("batch_size", [pytest.param(5, marks=pytest.mark.slow), 4])
def test_streamed_per_timestep_sample_weight_matches_keras(keras, timestep_weighted, batch_size):
    data = timestep_weighted
    _assert_same(
        _run_both(
            keras, _per_step, _sparse_cce,
            train=lambda lib: _dataset(lib, data, batch_size),
            evaluate=lambda lib: _generator(data, batch_size),
            metrics=["accuracy"],
            fit_kw={"validation_data": _dataset(keras, data, 3)},
        )
    )  # fmt: skip


def test_streamed_sample_weight_must_keep_its_shape(timestep_weighted):
    x, y, sw = timestep_weighted

    def batches():
        yield x[:4], y[:4], sw[:4]
        yield x[4:8], y[4:8], sw[4:8, 0]  # per sample after per timestep

    model = _per_step(lamina)
    model.compile("sgd", _sparse_cce(lamina))
    with pytest.raises(ValueError, match=r"Batch 1 has sample_weight of shape \(4,\).*\(5,\)"):
        model.fit(batches(), epochs=1, verbose=0)


def test_streamed_sample_weight_of_wrong_rank_is_refused(timestep_weighted):
    x, y, sw = timestep_weighted
    model = _per_step(lamina)
    model.compile("sgd", _sparse_cce(lamina))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\).*\(4, 5, 1\)"):
        model.fit(iter([(x[:4], y[:4], sw[:4, :, None])]), epochs=1, verbose=0)


@pytest.fixture
def regression():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(N, 4)).astype("float32"),
        rng.normal(size=(N, 3)).astype("float32"),
    )


def test_scalar_user_loss_on_streamed_partial_batches_matches_keras(keras, regression):
    _assert_same(
        _run_both(
            keras, _dense, _scalar,
            train=lambda lib: _dataset(lib, regression, 4),
            evaluate=lambda lib: _generator(regression, 3),
        )
    )  # fmt: skip


class _EveryBatch:
    """A callback overriding a batch hook: the epoch runs one compiled call per step."""

    @staticmethod
    def make(lib):
        class Hook(lib.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                pass

        return Hook()


@pytest.mark.parametrize("batch_size", [4, 3])
def test_scalar_user_loss_in_chunks_and_validation_matches_keras(keras, regression, batch_size):
    x, y = regression
    out, w0 = [], None
    for lib in (keras, lamina):
        with keras_ref():
            model = _dense(lib)
            if w0 is None:
                w0 = model.get_weights()
            else:
                model.set_weights(w0)
            model.compile(optimizer=lib.optimizers.SGD(0.1), loss=_scalar(lib))
            hist = model.fit(
                x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0,
                validation_data=(x[:7], y[:7]), callbacks=[_EveryBatch.make(lib)],
            )  # fmt: skip
            out.append((hist.history, model.get_weights(), {}))
    _assert_same(out)


def _per_sample(lib):
    return lambda yt, yp: lib.ops.mean(lib.ops.square(yt - yp), axis=-1)


def test_scalar_user_loss_with_shuffled_batches_equals_its_per_sample_form(regression):
    """``shuffle="batch"`` puts the partial batch anywhere in the epoch; the scalar form of a
    loss must then train exactly as its per-sample form (masked, checked against Keras)."""
    x, y = regression
    runs = []
    for loss in (_scalar, _per_sample):
        lamina.utils.set_random_seed(7)
        model = _dense(lamina)
        model.set_weights([np.full((4, 3), 0.1, "float32"), np.zeros(3, "float32")])
        model.compile(optimizer=lamina.optimizers.SGD(0.1), loss=loss(lamina))
        hist = model.fit(x, y, batch_size=4, epochs=3, shuffle="batch", verbose=0)
        runs.append((hist.history["loss"], model.get_weights()))
    (scalar_loss, scalar_w), (sample_loss, sample_w) = runs
    np.testing.assert_allclose(scalar_loss, sample_loss, rtol=1e-5)
    for a, b in zip(scalar_w, sample_w):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "loss, expected",
    [("mse", False), (lambda lib: lib.losses.Dice(), False), (_per_sample, True), (_scalar, True)],
    ids=["builtin", "dice", "per-sample-fn", "scalar-fn"],
)
def test_only_user_losses_get_partial_shapes(regression, loss, expected):
    """Built-in losses are known per-sample (Dice zeroes the padding rows): the host passes no
    partial row counts, so a stream's partial batches share the one compiled shape.  User
    losses get them (a per-sample one then traces no extra shape: its probe finds no scalar)."""
    x, y = regression
    model = _dense(lamina)
    model.compile("sgd", loss if isinstance(loss, str) else loss(lamina))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert model._binding().program().needs_partial_rows is expected
