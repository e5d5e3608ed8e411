"""``model.export(path, format="onnx")``: the exported graph, run in onnxruntime, matches predict.

Models are compiled and fit for one epoch (so BatchNormalization's moving statistics and every
weight differ from their initial values) before export.
"""

import numpy as np
import pytest

import lamina

L = lamina.layers
RTOL, ATOL = 1e-4, 1e-5


def _roundtrip(tmp_path, model, x, y, loss="mse", x_test=None):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "m.onnx"
    model.export(path, format="onnx")
    x_test = x if x_test is None else x_test
    out = ort.InferenceSession(str(path)).run(None, {"input": x_test})[0]
    expected = model.predict(x_test, verbose=0)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    return out


def test_dense_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    model = lamina.models.Sequential(
        [
            L.Input((8,)),
            L.Dense(12, activation="relu"),
            L.Dense(8, activation="relu"),
            L.Dense(1, activation="sigmoid"),
        ]
    )
    _roundtrip(tmp_path, model, x, y, loss="binary_crossentropy")


def test_conv2d_model(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 12, 12, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, size=32)]
    model = lamina.models.Sequential(
        [
            L.Input((12, 12, 3)),
            L.Conv2D(8, 3, activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(),
            L.Conv2D(6, 3, padding="same", strides=2, activation="relu"),
            L.GlobalAveragePooling2D(),
            L.Dense(4, activation="softmax"),
        ]
    )
    _roundtrip(tmp_path, model, x, y, loss="categorical_crossentropy")


def test_conv1d_model(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 20, 4)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    model = lamina.models.Sequential(
        [
            L.Input((20, 4)),
            L.Conv1D(6, 3, padding="same", dilation_rate=2, activation="tanh"),
            L.MaxPooling1D(2),
            L.Conv1D(5, 3, padding="causal", use_bias=False),
            L.AveragePooling1D(3, strides=2, padding="same"),
            L.Conv1D(4, 2, strides=2, activation="relu"),
            L.GlobalMaxPooling1D(),
            L.Dense(1),
        ]
    )
    _roundtrip(tmp_path, model, x, y)


def test_more_image_layers(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, size=(24, 9, 9, 2)).astype("float32")
    y = rng.normal(size=(24, 3)).astype("float32")
    model = lamina.models.Sequential(
        [
            L.Input((9, 9, 2)),
            L.Rescaling(1 / 127.5, offset=-1),
            L.Normalization(mean=[0.1, -0.2], variance=[1.5, 0.5]),
            L.ZeroPadding2D(((1, 0), (2, 1))),
            L.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="swish"),
            L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            L.SeparableConv2D(5, 2, activation="elu"),
            L.AveragePooling2D(3, strides=2, padding="same"),
            L.Cropping2D(((0, 1), (1, 0))),
            L.LayerNormalization(),
            L.Dropout(0.3),
            L.GlobalMaxPooling2D(keepdims=True),
            L.Flatten(),
            L.Dense(3),
        ]
    )
    _roundtrip(tmp_path, model, x, y)


def test_adapted_normalization_and_batchnorm_1d(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(3.0, 2.0, size=(40, 10, 3)).astype("float32")
    y = rng.normal(size=(40, 2)).astype("float32")
    norm = L.Normalization()
    norm.adapt(x)
    model = lamina.models.Sequential(
        [
            L.Input((10, 3)),
            norm,
            L.Conv1D(4, 3, padding="same"),
            L.BatchNormalization(),
            L.Activation("relu"),
            L.GlobalAveragePooling1D(),
            L.Dense(2),
        ]
    )
    _roundtrip(tmp_path, model, x, y)


def test_embedding_model_takes_int64_indices(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 20, size=(32, 7)).astype("int64")
    y = rng.normal(size=(32, 1)).astype("float32")
    model = lamina.models.Sequential(
        [
            L.Input((7,)),
            L.Embedding(20, 4),
            L.Conv1D(3, 2),
            L.GlobalAveragePooling1D(),
            L.Dense(1),
        ]
    )
    _roundtrip(tmp_path, model, x, y)


def test_dynamic_batch_size(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(16, 6, 6, 1)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    model = lamina.models.Sequential([L.Input((6, 6, 1)), L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
    _roundtrip(tmp_path, model, x, y, x_test=x[:3])


def test_unsupported_layer_raises_naming_it(tmp_path):
    pytest.importorskip("onnx")
    model = lamina.models.Sequential(
        [L.Input((4, 4, 1)), L.UpSampling2D(name="up"), L.Flatten(), L.Dense(1)]
    )
    model.build((None, 4, 4, 1))
    with pytest.raises(ValueError, match="'up'.*UpSampling2D"):
        model.export(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_functional_graph_with_two_inputs_merges_and_two_outputs(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    rng = np.random.default_rng(0)
    a_in, b_in = lamina.Input((6,), name="a"), lamina.Input((4,), name="b")
    a = L.Dense(5, activation="relu")(a_in)
    b = L.Dense(5, activation="tanh")(b_in)
    added = L.Add()([a, b])
    mixed = L.Concatenate()([L.Subtract()([a, b]), L.Multiply()([a, b, added])])
    avg = L.Average()([L.Maximum()([a, b]), L.Minimum()([a, b])])
    h = L.Dense(4, activation="relu")(L.Concatenate(axis=-1)([mixed, avg]))
    out1, out2 = L.Dense(1, activation="sigmoid")(h), L.Dense(3, activation="softmax")(h)
    model = lamina.Model([a_in, b_in], [out1, out2])
    model.compile(optimizer="adam", loss=["binary_crossentropy", "sparse_categorical_crossentropy"])
    xa = rng.normal(size=(32, 6)).astype("float32")
    xb = rng.normal(size=(32, 4)).astype("float32")
    model.fit([xa, xb], [(xa[:, :1] > 0).astype("f4"), rng.integers(0, 3, 32)], verbose=0)
    path = tmp_path / "f.onnx"
    model.export(path)
    got = ort.InferenceSession(str(path)).run(None, {"input_0": xa, "input_1": xb})
    expected = model.predict([xa, xb], verbose=0)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL)


def test_subclassed_model_export_is_refused_clearly(tmp_path):
    pytest.importorskip("onnx")

    class Net(lamina.Model):
        def __init__(self):
            super().__init__()
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    model = Net()
    model(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="subclassed model"):
        model.export(tmp_path / "m.onnx")
