"""Keras's model API shared by every model kind: a ``Sequential`` is a ``Model`` to
``isinstance``; ``metrics``, ``metrics_variables``, ``get_metrics_result()``, ``jit_compile``
and ``get_build_config()`` exist on ``Sequential`` as on functional models."""

import abc

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _sequential(k):
    return k.Sequential([k.Input((4,)), k.layers.Dense(1)])


def _functional(k):
    inputs = k.Input((4,))
    return k.Model(inputs, k.layers.Dense(1)(inputs))


def test_sequential_is_a_model():
    seq = _sequential(lamina)
    assert isinstance(seq, lamina.Model) and isinstance(seq, lamina.models.Model)
    assert issubclass(lamina.Sequential, lamina.Model)
    assert not isinstance(lamina.layers.Dense(1), lamina.Model)
    # Nested models found the way transfer-learning code finds them.
    outer = lamina.Sequential([seq, lamina.layers.Dense(1)])
    assert [type(layer).__name__ for layer in outer.layers if isinstance(layer, lamina.Model)] == [
        "Sequential"
    ]
    # Saving and cloning still tell a Sequential from a functional model.
    assert type(lamina.models.clone_model(seq)).__name__ == "Sequential"
    config = lamina.models.model_from_json(seq.to_json())
    assert type(config).__name__ == "Sequential"


def test_a_model_subclass_may_also_be_abstract():
    class Base(lamina.Model, abc.ABC):
        @abc.abstractmethod
        def head(self): ...

        def call(self, x):
            return self.head()(x)

    class Concrete(Base):
        def __init__(self):
            super().__init__()
            self.dense = lamina.layers.Dense(2)

        def head(self):
            return self.dense

    with pytest.raises(TypeError, match="abstract"):
        Base()
    assert Concrete()(np.ones((1, 3), "float32")).shape == (1, 2)


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_metric_objects_and_build_config_match_keras(keras, build):
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 1), "float32")
    with keras_ref():
        ref = build(keras)
        ref.compile("adam", "mse", metrics=["mae"])
        ref.fit(x, y, verbose=0)
        want = (
            [m.name for m in ref.metrics],
            len(ref.metrics_variables),
            sorted(ref.get_metrics_result()),
            ref.jit_compile,
            ref.get_build_config(),
        )
    model = build(lamina)
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(x, y, verbose=0)
    got = (
        [m.name for m in model.metrics],
        len(model.metrics_variables),
        sorted(model.get_metrics_result()),
        model.jit_compile,
        model.get_build_config(),
    )
    assert got == want
    model.compile("adam", "mse", run_eagerly=True)
    assert model.jit_compile is False
