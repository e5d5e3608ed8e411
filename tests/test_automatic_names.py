"""Automatic names follow Keras's counters, including the objects Keras makes behind the
scenes: a ``Sequential`` with an input builds an inner functional model (``functional``) and,
built from a shape, an ``InputLayer``; an attention layer builds a ``Softmax`` and a
``Dropout`` on its first call. Summaries, configs and files keyed by names then agree."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _names(k):
    k.backend.clear_session()
    s = k.Sequential([k.Input((3,)), k.layers.Dense(2), k.layers.Dense(1)])
    s2 = k.Sequential()
    s2.add(k.layers.Dense(4, input_shape=(3,)))
    s2.add(k.layers.Dense(2))
    s2.add(k.layers.Dense(1))
    s3 = k.Sequential([k.layers.Dense(2)])
    s3.build((None, 5))
    s4 = k.Sequential([k.layers.Dense(2)])
    s4.predict(np.ones((2, 3)), verbose=0)
    s2.pop()
    i = k.Input((3,))
    m = k.Model(i, k.layers.Dense(2)(i))
    x = k.Input((5, 4))
    k.layers.MultiHeadAttention(2, 4)(x, x)
    after_attention = (k.layers.Dropout(0.1).name, k.layers.Softmax().name)
    return {
        "model": m.name,
        "layers": [la.name for la in m.layers],
        "inputs": [c.get_config()["layers"][0]["config"]["name"] for c in (s, s2, s3, s4)],
        "after_attention": after_attention,
        "sequentials": [c.name for c in (s, s2, s3, s4)],
    }


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
def test_automatic_names_count_what_keras_builds_behind_the_scenes(keras):
    with keras_ref():
        want = _names(keras)
    got = _names(lamina)
    assert got == want
