"""``lamina.utils`` (as ``keras.utils``): the helpers every tutorial calls, against Keras 3."""

import io
import os
import random
import re
import tarfile
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

import lamina
from lamina import utils
from tests.helpers import keras_ref

PIL = pytest.importorskip("PIL.Image")

#: keras.utils names Lamina leaves out on purpose (TensorFlow-only or submodules).
NOT_PORTED = {"FeatureSpace", "bounding_boxes", "legacy"}


def test_every_keras_utils_name_exists(keras):
    missing = {n for n in dir(keras.utils) if not n.startswith("_")} - set(dir(utils))
    assert missing <= NOT_PORTED


def _clean(text):
    """The bar's text without colours, timings, and the padding that depends on their width."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\b", "")
    text = re.sub(r"\d+(us|ms|s)/step", "T/step", re.sub(r" \d+s", " Ns", text))
    return re.sub(r" +(?=\r|\n|$)", "", text)


@pytest.mark.parametrize("verbose", [1, 2])
def test_progbar_prints_like_keras(keras, verbose):
    def run(cls):
        out = io.StringIO()
        with redirect_stdout(out):
            bar = cls(4, verbose=verbose, interval=0.0, stateful_metrics=["acc"])
            for step in range(4):
                bar.add(1, values=[("loss", 1.0 / (step + 1)), ("acc", 0.25 * step)])
            unknown = cls(None, verbose=verbose, interval=0.0)
            unknown.update(3, values=[("loss", 2e-5)])
        return _clean(out.getvalue())

    ours, ref = run(utils.Progbar), run(keras.utils.Progbar)
    assert ours == ref
    assert "acc: 0.7500" in ours or verbose == 2


def test_progbar_arguments():
    with pytest.raises(ValueError, match="Only one of `stateful_metrics` or `stateless_metrics`"):
        utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    out = io.StringIO()
    with redirect_stdout(out):
        utils.Progbar(3, verbose=0).update(3, [("loss", 1.0)])
    assert out.getvalue() == ""


def test_progbar_goes_to_logging_when_not_interactive(caplog):
    try:
        utils.disable_interactive_logging()
        out = io.StringIO()
        with redirect_stdout(out), caplog.at_level("INFO", logger="lamina"):
            utils.Progbar(2, verbose=2).update(2, [("loss", 0.5)])
    finally:
        utils.enable_interactive_logging()
    assert out.getvalue() == "" and "loss: 0.5000" in caplog.text


def test_get_file_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    src = tmp_path / "data.csv"
    src.write_text("a,b\n1,2\n")
    cached = utils.get_file("data.csv", origin=src.as_uri())
    assert cached == str(tmp_path / "home" / "datasets" / "data.csv")
    assert open(cached).read() == "a,b\n1,2\n"
    src.write_text("changed")  # the cache wins from now on, as in Keras
    assert open(utils.get_file("data.csv", origin="https://example.com/data.csv")).read()[:1] == "a"
    with pytest.raises(ValueError, match=r"never downloads.*place it at .*other\.npz"):
        utils.get_file("other.npz", origin="https://example.com/other.npz")
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        utils.get_file(os.path.join("a", "b.txt"), origin=src.as_uri())
    with pytest.raises(ValueError, match='specify the "origin"'):
        utils.get_file("x.txt")
    with pytest.raises(ValueError, match="file hash does not match"):
        utils.get_file("h.txt", origin=str(src), file_hash="0" * 64, cache_dir=str(tmp_path / "c"))
    import hashlib

    digest = hashlib.md5(src.read_bytes()).hexdigest()  # noqa: S324
    good = utils.get_file(origin=str(src), cache_dir=str(tmp_path / "c"), md5_hash=digest)
    assert open(good).read() == "changed"


def test_get_file_extracts_tar_safely(tmp_path):
    archive = tmp_path / "flowers.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("flowers/daisy/1.txt", b"x"), ("../escape.txt", b"bad")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    folder = utils.get_file(origin=archive.as_uri(), extract=True, cache_dir=str(tmp_path / "k"))
    assert folder == str(tmp_path / "k" / "datasets" / "flowers.tgz")
    assert os.path.isfile(os.path.join(folder, "flowers", "daisy", "1.txt"))
    assert not (tmp_path / "k" / "datasets" / "escape.txt").exists()


def _image_tree(root, counts, size=(12, 9)):
    rng = np.random.default_rng(0)
    for label, n in counts.items():
        os.makedirs(root / label, exist_ok=True)
        for i in range(n):
            shade = 40 if label == "cats" else 210
            pixels = np.clip(rng.normal(shade, 20, (*size, 3)), 0, 255).astype("uint8")
            PIL.fromarray(pixels).save(root / label / f"{i:02d}.png")
    (root / "cats" / "notes.txt").write_text("not an image")


def test_image_dataset_indexes_like_keras(keras, tmp_path):
    from keras.src.utils import dataset_utils as kdu

    _image_tree(tmp_path, {"cats": 5, "dogs": 7})
    with redirect_stdout(io.StringIO()) as out:
        ds = utils.image_dataset_from_directory(tmp_path, image_size=(8, 6), batch_size=4, seed=3)
    assert "Found 12 files belonging to 2 classes." in out.getvalue()
    with keras_ref(), redirect_stdout(io.StringIO()):
        paths, labels, names = kdu.index_directory(
            str(tmp_path), "inferred", formats=(".png",), shuffle=True, seed=3
        )
    assert ds.class_names == names == ["cats", "dogs"]
    assert ds.file_paths == paths
    x, y = ds[0]
    assert x.shape == (4, 8, 6, 3) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 255
    assert ds._labels.dtype == np.int32 and ds._labels.tolist() == labels.tolist()
    assert ((x.mean(axis=(1, 2, 3)) > 128) == (y == 1)).all()  # dogs are the bright images
    assert len(ds) == 3 and sum(len(b[1]) for b in ds) == 12


def test_image_dataset_options_and_split(tmp_path):
    _image_tree(tmp_path, {"cats": 6, "dogs": 4})
    kw = {"image_size": (5, 5), "verbose": False, "seed": 1}
    train, val = utils.image_dataset_from_directory(
        tmp_path, validation_split=0.3, subset="both", label_mode="categorical",
        color_mode="grayscale", batch_size=2, **kw,
    )  # fmt: skip
    assert len(train.file_paths) == 7 and len(val.file_paths) == 3
    assert not set(train.file_paths) & set(val.file_paths)
    x, y = train[0]
    assert x.shape == (2, 5, 5, 1) and y.shape == (2, 2) and y.dtype == np.float32
    binary = utils.image_dataset_from_directory(tmp_path, label_mode="binary", batch_size=None,
                                                crop_to_aspect_ratio=True, **kw)  # fmt: skip
    x, y = binary[0]
    assert x.shape == (5, 5, 3) and y.shape == (1,)
    padded = utils.image_dataset_from_directory(tmp_path, labels=None, pad_to_aspect_ratio=True,
                                                data_format="channels_first", **kw)  # fmt: skip
    assert padded.class_names is None and padded[0].shape == (10, 3, 5, 5)
    chosen = utils.image_dataset_from_directory(tmp_path, class_names=["dogs"], **kw)
    assert chosen.class_names == ["dogs"] and len(chosen.file_paths) == 4


def test_image_dataset_errors(tmp_path):
    _image_tree(tmp_path, {"cats": 2, "dogs": 2})
    with pytest.raises(ValueError, match="you must provide a `seed`"):
        utils.image_dataset_from_directory(tmp_path, validation_split=0.5, subset="training")
    with pytest.raises(ValueError, match="`label_mode` argument must be one of"):
        utils.image_dataset_from_directory(tmp_path, label_mode="sparse")
    with pytest.raises(ValueError, match="`color_mode` must be one of"):
        utils.image_dataset_from_directory(tmp_path, color_mode="cmyk")
    with pytest.raises(ValueError, match="Argument `interpolation` should be one of"):
        utils.image_dataset_from_directory(tmp_path, interpolation="fancy")
    with pytest.raises(ValueError, match="did not match the names of the subdirectories"):
        utils.image_dataset_from_directory(tmp_path, class_names=["birds"])
    with pytest.raises(ValueError, match="lengths of `labels` to match"):
        utils.image_dataset_from_directory(tmp_path, labels=[0, 1], verbose=False)
    with pytest.raises(ValueError, match="No text files found"):
        utils.text_dataset_from_directory(tmp_path / "dogs", verbose=False)
    os.makedirs(tmp_path / "empty" / "a")
    with pytest.raises(ValueError, match="No images found in directory"):
        utils.image_dataset_from_directory(tmp_path / "empty", verbose=False)


def test_model_fits_an_image_directory(tmp_path):
    _image_tree(tmp_path, {"cats": 8, "dogs": 8})
    train, val = utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 6), batch_size=4, validation_split=0.25, subset="both", seed=7,
        verbose=False, label_mode="binary",
    )  # fmt: skip
    model = lamina.Sequential([lamina.Input((6, 6, 3)), lamina.layers.Rescaling(1 / 255),
                               lamina.layers.Flatten(),
                               lamina.layers.Dense(1, activation="sigmoid")])  # fmt: skip
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert model.predict(val, verbose=0).shape == (4, 1)
    assert len(train.take(1)) == 1 and train.prefetch(2) is train


def test_text_dataset(tmp_path):
    for label, texts in {
        "neg": ["bad film", "awful"],
        "pos": ["great", "loved it", "fine"],
    }.items():
        os.makedirs(tmp_path / label)
        for i, t in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(t)
    ds = utils.text_dataset_from_directory(tmp_path, batch_size=8, shuffle=False, verbose=False,
                                           max_length=4)  # fmt: skip
    x, y = ds[0]
    assert ds.class_names == ["neg", "pos"]
    assert x.tolist() == ["bad ", "awfu", "grea", "love", "fine"] and y.tolist() == [0, 0, 1, 1, 1]
    mapped = ds.map(lambda texts, labels: (np.char.upper(texts.astype(str)), labels))
    assert mapped[0][0][0] == "BAD " and mapped.class_names == ["neg", "pos"]


def test_audio_dataset_says_unsupported():
    with pytest.raises(NotImplementedError, match="audio_dataset_from_directory is not supported"):
        utils.audio_dataset_from_directory("/nonexistent")


def test_split_dataset_matches_keras_sizes_and_order(keras):
    from keras.src.utils import dataset_utils as kdu

    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    for left_size, right_size in ((0.8, None), (None, 3), (4, 0.5), (7, None)):
        left, right = utils.split_dataset((x, y), left_size, right_size, shuffle=True, seed=5)
        sizes = kdu._rescale_dataset_split_sizes(left_size, right_size, 10)
        assert (len(left), len(right)) == sizes
        order = list(range(10))
        random.Random(5).shuffle(order)  # Keras: random.seed(seed); random.shuffle(samples)
        np.testing.assert_array_equal(left.numpy()[1], y[order[: sizes[0]]])
        np.testing.assert_array_equal(right.numpy()[0], x[order[-sizes[1] :]])
    for bad in ((0, 0), (1.2, None), (None, 10), (6, 6)):
        with pytest.raises(ValueError):
            kdu._rescale_dataset_split_sizes(*bad, 10)
        with pytest.raises(ValueError):
            utils.split_dataset(x, *bad)
    with pytest.raises(ValueError, match="At least one of the `left_size` or `right_size`"):
        utils.split_dataset(x)
    with pytest.raises(TypeError, match="Invalid `left_size` Type"):
        utils.split_dataset(x, left_size="half")
    batched = utils.split_dataset(utils.dataset_utils.Batches(x, 3), left_size=6)[0]
    assert [b.shape for b in batched] == [(3, 2), (3, 2)]


def test_pack_unpack_match_keras(keras):
    cases = [(1,), ([1],), ((1, 2),), (1, 2), (1, 2, 3)]
    for args in cases:
        assert utils.pack_x_y_sample_weight(*args) == keras.utils.pack_x_y_sample_weight(*args)
    for data in [1, (1,), (1, 2), [1, 2, 3], (np.ones(2),)]:
        ours, ref = utils.unpack_x_y_sample_weight(data), keras.utils.unpack_x_y_sample_weight(data)
        assert [type(v) for v in ours] == [type(v) for v in ref]
    with pytest.raises(ValueError, match="Data is expected to be in format"):
        utils.unpack_x_y_sample_weight((1, 2, 3, 4))


def test_standardize_dtype_matches_keras(keras):
    for d in ["int", "float32", np.float64, "bfloat16", None, "uint8", bool, int, float,
              np.dtype("int8"), "string"]:  # fmt: skip
        assert utils.standardize_dtype(d) == keras.utils.standardize_dtype(d)
    with pytest.raises(ValueError, match="Invalid dtype: float"):
        utils.standardize_dtype("float")


def test_config_matches_keras(keras):
    for cls in (utils.Config, keras.utils.Config):
        c = cls(lr=0.1)
        c.momentum = 0.9
        c["decay"] = 0
        assert c.as_dict() == {"lr": 0.1, "momentum": 0.9, "decay": 0} and list(c) == sorted(c)
        c.freeze()
        with pytest.raises(ValueError, match="frozen"):
            c.lr = 1
        with pytest.raises(AttributeError, match="Did you mean 'momentum'"):
            c.momentun  # noqa: B018


def test_symbolic_helpers_and_clear_session():
    a, b = lamina.Input((3,)), lamina.Input((2,))
    out = lamina.layers.Dense(1)(lamina.layers.Concatenate()([a, lamina.layers.Dense(3)(b)]))
    assert utils.is_keras_tensor(a) and not utils.is_keras_tensor(np.ones(3))
    sources = utils.get_source_inputs(out)
    assert len(sources) == 2 and sources[0] is a and sources[1] is b
    lamina.config.disable_interactive_logging()
    utils.clear_session()
    assert lamina.layers.Dense(1).name == "dense"
    assert lamina.config.is_interactive_logging_enabled()  # Keras resets its global state


def test_serialize_round_trips_and_reads_keras(keras):
    layer = lamina.layers.Dense(3, activation="relu")
    config = utils.serialize_keras_object(layer)
    assert config["module"] == "keras.layers" and config["class_name"] == "Dense"
    assert utils.deserialize_keras_object(config).get_config()["units"] == 3
    with keras_ref():
        ref = keras.utils.serialize_keras_object(keras.layers.Dense(5))
        ref_loss = keras.utils.serialize_keras_object(keras.losses.MeanSquaredError())
    assert utils.deserialize_keras_object(ref).units == 5
    assert type(utils.deserialize_keras_object(ref_loss)).__name__ == "MeanSquaredError"
    arr = utils.serialize_keras_object({"w": np.ones(2, "float32"), "t": (1, None)})
    assert arr == keras.utils.serialize_keras_object({"w": np.ones(2, "float32"), "t": (1, None)})
    back = utils.deserialize_keras_object(arr)
    assert back["t"] == (1, None) and back["w"].dtype == np.float32
    with keras_ref():  # a plain name stays a string, as in Keras
        assert utils.deserialize_keras_object("relu") == keras.utils.deserialize_keras_object("relu")
    assert utils.deserialize_keras_object("relu") == "relu"


def test_deserialize_custom_objects_without_code():
    @utils.register_keras_serializable(package="H4Test")
    class Scale(lamina.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    config = utils.serialize_keras_object(Scale(3.0))
    assert config["registered_name"] == "H4Test>Scale"
    assert utils.deserialize_keras_object(config).factor == 3.0
    assert utils.get_registered_object("H4Test>Scale") is Scale
    unknown = {"module": "evil", "class_name": "os.system", "config": {}}
    with pytest.raises(ValueError, match="Could not locate class 'os.system'"):
        utils.deserialize_keras_object(unknown)

    def double(x):
        return 2 * x

    with utils.custom_object_scope({"double": double}):
        assert utils.deserialize_keras_object("double") is double
        assert utils.get_custom_objects() is lamina.saving.get_custom_objects()
    assert utils.deserialize_keras_object("double") == "double"  # unknown: Keras's string


def test_plot_model_is_the_drawing():
    from lamina.utils import model_plot

    assert utils.plot_model is model_plot.plot_model
    assert utils.model_to_dot is model_plot.model_to_dot


def test_keras2_generic_utils_and_data_utils_names():
    from lamina.utils.data_utils import Sequence, get_file
    from lamina.utils.generic_utils import CustomObjectScope, Progbar

    assert Progbar is utils.Progbar and CustomObjectScope is utils.CustomObjectScope
    assert get_file is utils.get_file and Sequence is utils.PyDataset
    from lamina.utils.data_utils import GeneratorEnqueuer, OrderedEnqueuer, SequenceEnqueuer

    assert GeneratorEnqueuer is utils.GeneratorEnqueuer and OrderedEnqueuer is utils.OrderedEnqueuer
    assert SequenceEnqueuer is utils.SequenceEnqueuer


def test_interactive_logging_switches_are_shared():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        utils.disable_interactive_logging()
        assert not lamina.config.is_interactive_logging_enabled()
        utils.enable_interactive_logging()
        assert utils.is_interactive_logging_enabled()


def test_models_round_trip_through_serialize_keras_object_and_from_keras(keras):
    """The serialization guide's ``deserialize_keras_object(serialize_keras_object(model))``
    for a Sequential and a functional model, and Keras's own serialized models."""
    import lamina
    from tests.helpers import keras_ref

    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")

    def models(k):
        seq = k.Sequential([k.Input((4,)), k.layers.Dense(2, name="d")], name="seq")
        inputs = k.Input((4,))
        fun = k.Model(inputs, k.layers.Dense(2, name="e")(inputs), name="fun")
        return seq, fun

    with keras_ref():
        k_configs = [keras.saving.serialize_keras_object(m) for m in models(keras)]
    for model, k_config in zip(models(lamina), k_configs):
        again = lamina.saving.deserialize_keras_object(lamina.saving.serialize_keras_object(model))
        assert type(again) is type(model) and again.name == model.name
        again.set_weights(model.get_weights())
        np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0))
        from_keras = lamina.saving.deserialize_keras_object(k_config)
        assert from_keras.name == k_config["config"]["name"]
        assert [w.shape for w in from_keras.get_weights()] == [(4, 2), (2,)]
    assert isinstance(lamina.layers.deserialize(lamina.layers.serialize(models(lamina)[0])),
                      lamina.Sequential)


def test_to_categorical_matches_keras(keras):
    labels = np.array([[2], [0], [1]])
    with keras_ref():
        want = keras.utils.to_categorical(labels)
    got = utils.to_categorical(labels)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert lamina.utils.np_utils.to_categorical(labels).dtype == np.float32  # Keras 2's
