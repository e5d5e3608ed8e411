"""Keras 2's per-call accessors ``layer.get_output_at(i)``, ``get_input_at``,
``get_*_shape_at``, ``get_*_mask_at`` (Keras 2's ``Layer._get_node_attribute_at_index``):
a siamese network's shared tower called twice has one node per call."""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.layers import LSTM, Dense, Embedding, Input


def test_a_shared_layer_has_one_node_per_call():
    left, right = Input((4,), name="left"), Input((6,), name="right")
    tower = Dense(3, name="tower")
    a = tower(left)
    c = tower(Dense(4)(right))
    assert tower.get_output_at(0) is a and tower.get_output_at(1) is c
    assert tower.get_input_at(0) is left
    assert tower.get_input_shape_at(0) == (None, 4) and tower.get_output_shape_at(1) == (None, 3)
    assert tower.get_input_mask_at(0) is None and tower.get_output_mask_at(1) is None
    model = lamina.Model([left, right], [a, c])
    out = model.predict([np.ones((2, 4)), np.ones((2, 6))], verbose=0)
    assert [o.shape for o in out] == [(2, 3), (2, 3)]


def test_masks_and_sequential_layers():
    model = lamina.Sequential([Input((5,), dtype="int32"), Embedding(10, 4, mask_zero=True), LSTM(2)])
    emb = model.layers[0]
    assert emb.get_output_shape_at(0) == (None, 5, 4)
    assert emb.get_output_mask_at(0).shape == (None, 5)
    assert emb.get_input_mask_at(0) is None
    assert model.layers[1].get_input_mask_at(0).shape == (None, 5)


def test_keras2_errors_for_a_layer_never_called_and_a_missing_node():
    with pytest.raises(RuntimeError, match="has never been called and thus has no defined output"):
        Dense(2).get_output_at(0)
    layer = Dense(2)
    layer(Input((3,)))
    with pytest.raises(ValueError, match="Asked to get input_shape at node 1, but the layer has only 1"):
        layer.get_input_shape_at(1)


def test_input_spec_reads_none_until_a_layer_sets_one(keras):
    from lamina.layers import InputSpec, Layer

    seen = {}

    class Checked(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            seen["before"] = self.input_spec  # Keras: None on a fresh layer
            self.input_spec = InputSpec(ndim=2)

        def call(self, x):
            return x

    layer = Checked()
    assert seen["before"] is None and layer.input_spec.ndim == 2
    with pytest.raises(ValueError, match="expected ndim=2, found ndim=3"):
        layer(np.ones((2, 3, 4), "float32"))
    assert keras.layers.Layer().input_spec is None
