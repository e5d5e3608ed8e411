"""Keras 2 / tf.keras tutorial code that Keras 3 refuses or changed, with Keras 2's meaning:
a single metric passed without a list, Keras 1's ``merge`` function, ``to_yaml``'s removal
message, and ``fit`` returning the user's own ``History``."""

import numpy as np
import pytest

import lamina
from lamina import layers


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype("float32")
    return x, (x[:, :1] > 0).astype("float32")


def _model():
    return lamina.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize(
    "metrics, key",
    [
        (lambda: lamina.metrics.BinaryAccuracy(threshold=0.5), "binary_accuracy"),
        (lambda: "accuracy", "accuracy"),
        (lambda: lamina.metrics.binary_accuracy, "binary_accuracy"),
    ],
)
def test_one_metric_without_a_list(metrics, key):
    # The TensorFlow text-classification tutorial: metrics=tf.metrics.BinaryAccuracy(...).
    x, y = _data()
    model = _model()
    model.compile("adam", "binary_crossentropy", metrics=metrics())
    history = model.fit(x, y, epochs=1, verbose=0)
    assert sorted(history.history) == sorted(["loss", key])
    listed = _model()
    listed.set_weights(model.get_weights())
    listed.compile("adam", "binary_crossentropy", metrics=[metrics()])
    want = listed.evaluate(x, y, verbose=0, return_dict=True)
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    assert got == pytest.approx(want)


def test_metrics_of_another_type_are_refused():
    model = _model()
    with pytest.raises(TypeError, match=r"metrics must be a list.*Received: 3"):
        model.compile("adam", "mse", metrics=3)


def test_to_yaml_raises_keras_message():
    with pytest.raises(RuntimeError, match=r"to_yaml\(\)` has been removed.*to_json\(\)"):
        _model().to_yaml()


@pytest.mark.parametrize(
    "mode, layer",
    [
        ("sum", lambda: layers.Add()),
        ("mul", lambda: layers.Multiply()),
        ("ave", lambda: layers.Average()),
        ("max", lambda: layers.Maximum()),
        ("concat", lambda: layers.Concatenate(axis=-1)),
        ("dot", lambda: layers.Dot(axes=-1)),
        ("cos", lambda: layers.Dot(axes=-1, normalize=True)),
    ],
)
def test_keras1_merge_function(mode, layer):
    from lamina.layers import merge  # Keras 1: from keras.layers import merge

    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=(4, 3)).astype("float32") for _ in range(2))
    np.testing.assert_allclose(merge([a, b], mode=mode), layer()([a, b]), rtol=1e-6)
    ia, ib = layers.Input((3,)), layers.Input((3,))
    model = lamina.models.Model([ia, ib], merge([ia, ib], mode=mode, name="m"))
    assert model.get_layer("m") is not None
    np.testing.assert_allclose(model.predict([a, b], verbose=0), layer()([a, b]), rtol=1e-6)


def test_keras1_merge_function_with_a_callable_mode_and_errors():
    from lamina.layers import merge
    from lamina.layers.merge import concatenate  # the module keeps Keras 2's names

    a, b = np.ones((2, 3), "float32"), np.full((2, 3), 3.0, "float32")
    np.testing.assert_allclose(merge([a, b], mode=lambda t: t[1] - t[0]), np.full((2, 3), 2.0))
    assert concatenate([a, b]).shape == (2, 6)
    with pytest.raises(ValueError, match="unknown mode 'avg'"):
        merge([a, b], mode="avg")
    with pytest.raises(ValueError, match="node_indices"):
        merge([a, b], mode="sum", node_indices=[0, 0])


def test_fit_returns_the_users_history_callback():
    x, y = _data()
    model = _model()
    model.compile("sgd", "mse")
    history = lamina.callbacks.History()
    reduce = lamina.callbacks.ReduceLROnPlateau(patience=1)
    returned = model.fit(x, y, epochs=2, verbose=0, callbacks=[history, reduce])
    assert returned is history and model.history is history
    # It ran before ReduceLROnPlateau added the rate to the logs, as in Keras.
    assert sorted(history.history) == ["loss"]
    assert history.epoch == [0, 1]
    again = model.fit(x, y, epochs=1, verbose=0)
    assert again is not history and len(again.history["loss"]) == 1


def test_flat_metrics_list_applies_to_every_output():
    """Keras 2 (Hands-On ML's wide & deep with an auxiliary output): ``metrics=["mae"]`` on a
    two-output model counts it on each output (Keras 3 refuses a list whose length is not
    the number of outputs; one of that length stays per output)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8)).astype("float32")
    y = rng.normal(size=(20, 1)).astype("float32")
    a = lamina.layers.Input(shape=[8])
    h = lamina.layers.Dense(4)(a)
    model = lamina.Model(
        a, [lamina.layers.Dense(1, name="main")(h), lamina.layers.Dense(1, name="aux")(h)]
    )
    model.compile(loss="mse", loss_weights=[0.9, 0.1], optimizer="sgd", metrics=["mae"])
    logs = model.evaluate(x, (y, y), verbose=0, return_dict=True)
    assert sorted(logs) == ["aux_loss", "aux_mae", "loss", "main_loss", "main_mae"]
    main, aux = model.predict(x, verbose=0)
    np.testing.assert_allclose(logs["main_mae"], np.mean(np.abs(main - y)), rtol=1e-5)
    np.testing.assert_allclose(logs["aux_mae"], np.mean(np.abs(aux - y)), rtol=1e-5)
    model.compile(loss="mse", optimizer="sgd", metrics=["mae", "mse"])  # one per output
    assert sorted(model.evaluate(x, (y, y), verbose=0, return_dict=True)) == [
        "aux_loss", "aux_mse", "loss", "main_loss", "main_mae"
    ]  # fmt: skip


def test_fit_generator_shuffle_and_validation_steps():
    """Deep Learning with Python: ``fit_generator(seq, shuffle=False)`` keeps a Sequence's
    batch order (Keras 2; it was dropped and the order shuffled), and a plain generator as
    validation data needs ``validation_steps`` (Keras 2's ValueError; otherwise it hangs)."""
    seen = []

    class Recorded(lamina.utils.PyDataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            seen.append(i)
            return np.full((2, 3), i, "float32"), np.zeros((2, 1), "float32")

    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit_generator(Recorded(), epochs=2, shuffle=False, verbose=0)
    assert seen[-12:] == list(range(6)) * 2  # (batch 0 is read once more, to check it)

    def forever():
        while True:
            yield np.zeros((2, 3), "float32"), np.zeros((2, 1), "float32")

    with pytest.raises(ValueError, match="Please specify `validation_steps`"):
        model.fit_generator(Recorded(), steps_per_epoch=1, validation_data=forever(), verbose=0)


def test_add_loss_with_keras2_inputs_argument():
    """Deep Learning with Python's VAE layer calls ``self.add_loss(loss, inputs=inputs)``
    (Keras 2's signature); the term counts as without it."""

    class Penalty(lamina.layers.Layer):
        def call(self, x):
            self.add_loss(lamina.ops.mean(x), inputs=x)
            return x

    inputs = lamina.Input((3,))
    model = lamina.Model(inputs, Penalty()(inputs))
    model.compile("sgd")
    assert model.evaluate(np.full((2, 3), 2.0, "float32"), verbose=0) == pytest.approx(2.0)
