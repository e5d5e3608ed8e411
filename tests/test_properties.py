"""Property-based tests: random small Sequential stacks, data sizes, label formats and dtypes.

Every combination either trains (finite loss) or raises ``ValueError``/``TypeError`` from
Lamina's own checks, with a message that is not an internal JAX error.  ``max_examples`` is
kept small (4 in the default run, 12 in the slow set) so the file runs in well under a minute; for a longer search run e.g.
``HYPOTHESIS_PROFILE=long pytest tests/test_properties.py`` (200 examples).
"""

import os
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.layers import Activation, Dense, Dropout, Input
from lamina.models import Sequential

settings.register_profile(
    "props_default",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")
PROFILE = "long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "props_default"

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"]
LABELS = ["int_1d", "float_col", "one_hot", "bool"]
LOSSES = {
    "int_1d": "sparse_categorical_crossentropy",
    "float_col": "mse",
    "one_hot": "categorical_crossentropy",
    "bool": "binary_crossentropy",
}
JAX_INTERNAL = ("jaxlib", "jax._src", "Traced<", "ShapedArray", "XlaRuntimeError", "tracer")

hidden_layer = st.one_of(
    st.tuples(st.just("dense"), st.integers(1, 12), st.sampled_from([None, "relu", "tanh"])),
    st.tuples(st.just("dropout"), st.floats(0.0, 0.9), st.none()),
    st.tuples(
        st.just("act"), st.sampled_from(["relu", "sigmoid", "softplus", "linear"]), st.none()
    ),
)


def _labels(fmt, n, classes, rng):
    ints = rng.integers(0, classes, size=n)
    if fmt == "int_1d":
        return ints
    if fmt == "float_col":
        return rng.normal(size=(n, 1)).astype("float32")
    if fmt == "one_hot":
        return np.eye(classes, dtype="float32")[ints]
    return ints % 2 == 0


def _head(fmt, classes):
    if fmt in ("int_1d", "one_hot"):
        return Dense(classes, activation="softmax")
    if fmt == "bool":
        return Dense(1, activation="sigmoid")
    return Dense(1)


def _assert_clean(err):
    assert isinstance(err, ValueError | TypeError), repr(err)
    msg = str(err)
    assert msg and not any(s in msg for s in JAX_INTERNAL), msg
    frames = traceback.extract_tb(err.__traceback__)
    raiser = frames[-1].filename
    assert "/jax/" not in raiser and "/jaxlib/" not in raiser, (raiser, msg)


_STACKS = given(
    stack=st.lists(hidden_layer, max_size=4),
    n=st.sampled_from([1, 2, 7, 13, 31, 64]),
    batch_size=st.sampled_from([1, 3, 8, 32, 100]),
    features=st.integers(1, 5),
    x_dtype=st.sampled_from(DTYPES),
    label_fmt=st.sampled_from(LABELS),
    loss_matches=st.booleans(),
    loss_other=st.sampled_from(sorted(set(LOSSES.values()))),
    classes=st.integers(2, 4),
    data_seed=st.integers(0, 2**16),
)


@pytest.mark.slow
@settings.get_profile(PROFILE)
@_STACKS
def test_random_stacks_train_or_fail_cleanly(**case):
    """The full search (12 examples, 200 with the ``long`` profile): run in the slow set."""
    _train_or_fail_cleanly(**case)


@settings(settings.get_profile("props_default"), max_examples=4)
@_STACKS
def test_a_few_random_stacks_train_or_fail_cleanly(**case):
    """A 4-example sample of the same property for the default run."""
    _train_or_fail_cleanly(**case)


def _train_or_fail_cleanly(
    stack,
    n,
    batch_size,
    features,
    x_dtype,
    label_fmt,
    loss_matches,
    loss_other,
    classes,
    data_seed,
):
    rng = np.random.default_rng(data_seed)
    x = (rng.normal(size=(n, features)) * 3).astype(x_dtype)
    y = _labels(label_fmt, n, classes, rng)
    loss = LOSSES[label_fmt] if loss_matches else loss_other
    layers = [Input((features,))]
    for kind, a, b in stack:
        layers.append(
            Dense(a, activation=b)
            if kind == "dense"
            else Dropout(a)
            if kind == "dropout"
            else Activation(a)
        )
    layers.append(_head(label_fmt, classes))
    model = Sequential(layers)
    model.compile(optimizer="adam", loss=loss)
    try:
        history = model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0)
    except Exception as err:  # noqa: BLE001 - the property is about which exceptions
        _assert_clean(err)
        assert not loss_matches or x_dtype == "float16", (
            f"a matching loss/label pair must train: {loss} with {label_fmt}: {err}"
        )
        return
    losses = history.history["loss"]
    assert len(losses) == 2
    assert all(np.isfinite(v) for v in losses), losses
    pred = model.predict(x, verbose=0, batch_size=batch_size)
    assert pred.shape[0] == n and np.all(np.isfinite(pred))


@pytest.mark.parametrize("n", [1, 17])
@pytest.mark.parametrize("fmt", LABELS)
def test_every_label_format_trains_with_its_loss(fmt, n):
    """The matching (label format, loss) pairs always train, on tiny and prime sizes."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 3)).astype("float32")
    model = Sequential([Input((3,)), Dense(4, activation="relu"), Dropout(0.5), _head(fmt, 3)])
    model.compile(optimizer="sgd", loss=LOSSES[fmt])
    history = model.fit(x, _labels(fmt, n, 3, rng), batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
