"""A ``Sequential`` without an ``Input`` whose first layer is a string layer, given text.

TensorFlow's basic text classification tutorial ends with
``export_model = Sequential([vectorize_layer, model, layers.Activation("sigmoid")])`` and
``export_model.evaluate(raw_test_ds)`` / ``export_model.predict(examples)`` on raw text: the
model learns its (string) input from the data, as Keras builds any model from its first data.
The reference is the same network given an explicit ``Input(dtype="string")`` (whose numbers
``tests/test_string_inputs.py`` checks against real Keras), with the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import layers
from lamina.utils.dataset_utils import Batches

pytestmark = pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")

TEXTS = np.array(
    ["a great movie", "terrible plot", "great fun", "bad, bad", "loved it", "boring",
     "great cast", "the worst", "great music", "bad story", "fun fun", "not good"]
)  # fmt: skip
LABELS = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], "float32")


def _vectorizer():
    v = layers.TextVectorization(max_tokens=30, output_mode="int", output_sequence_length=4)
    v.adapt(TEXTS)
    return v


def _core():
    lamina.utils.set_random_seed(0)
    core = lamina.Sequential([layers.Embedding(31, 4), layers.GlobalAveragePooling1D(),
                              layers.Dense(1)])  # fmt: skip
    core.build((None, 4))
    return core


def test_export_model_evaluates_and_predicts_raw_text_like_an_explicit_string_input():
    vectorizer, core = _vectorizer(), _core()
    export = lamina.Sequential([vectorizer, core, layers.Activation("sigmoid")])
    export.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    explicit = lamina.Sequential(
        [lamina.Input((1,), dtype="string"), vectorizer, core, layers.Activation("sigmoid")]
    )
    explicit.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    raw_ds = Batches((TEXTS, LABELS), 4)  # text_dataset_from_directory's (texts, labels)
    np.testing.assert_allclose(export.evaluate(raw_ds, verbose=0),
                               explicit.evaluate(raw_ds, verbose=0), rtol=1e-6)  # fmt: skip
    examples = np.array(["The movie was great!", "The movie was okay.", "terrible..."])
    got = export.predict(examples, verbose=0)
    assert got.shape == (3, 1)
    np.testing.assert_allclose(got, explicit.predict(examples, verbose=0), rtol=1e-6)
    assert export.input_shape == (None,) and export.inputs[0].dtype == "string"


def test_fit_on_text_arrays_builds_a_string_input_and_trains_as_the_explicit_model():
    histories = []
    for explicit in (False, True):
        vectorizer, core = _vectorizer(), _core()
        head = [lamina.Input((), dtype="string")] if explicit else []
        model = lamina.Sequential([*head, vectorizer, core])
        model.compile(loss=lamina.losses.BinaryCrossentropy(from_logits=True), optimizer="sgd")
        hist = model.fit(TEXTS, LABELS, batch_size=4, epochs=2, shuffle=False, verbose=0)
        histories.append((hist.history["loss"], model.get_weights()))
    np.testing.assert_allclose(histories[0][0], histories[1][0], rtol=1e-6)
    for a, b in zip(histories[0][1], histories[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_text_for_a_model_without_string_layers_is_still_refused():
    model = lamina.Sequential([layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(TypeError, match="must be numeric"):
        model.fit(TEXTS, LABELS, verbose=0)
    assert not model.built


def test_numbers_for_a_lookup_first_model_keep_the_numeric_input():
    lookup = layers.IntegerLookup(vocabulary=[3, 5, 7])
    model = lamina.Sequential([lookup, layers.Embedding(4, 2), layers.Flatten()])
    out = model.predict(np.array([[3], [7]]), verbose=0)
    assert out.shape == (2, 2) and model.inputs[0].dtype != "string"


def test_eager_call_on_text_builds_the_string_input():
    vectorizer, core = _vectorizer(), _core()
    model = lamina.Sequential([vectorizer, core])
    explicit = lamina.Sequential([lamina.Input((), dtype="string"), vectorizer, core])
    got = model(np.array(["great fun", "bad story"]))
    np.testing.assert_allclose(got, explicit(np.array(["great fun", "bad story"])), rtol=1e-6)
