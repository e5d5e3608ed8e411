"""``lamina.datasets.<keras module>.load_data``: Keras's signatures and results.

Parity: small files in Keras's cache format are written to a temporary ``KERAS_HOME`` and read
by both Lamina and real Keras (its download and hash check patched out).  Without a file, the
stand-ins must match Keras's documented shapes/dtypes, warn once, and be learnable.
"""

import gzip
import inspect
import io
import os
import pickle
import tarfile
import warnings
import zipfile

import numpy as np
import pytest

import lamina
from lamina import datasets
from lamina.datasets import _files
from tests.helpers import keras_ref

MODULES = [
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "imdb",
    "reuters",
    "boston_housing",
    "california_housing",
]


@pytest.fixture
def home(tmp_path, monkeypatch, keras):
    """An empty Keras cache folder that Lamina and (patched) Keras both read."""
    import keras.src.backend.config as kconfig
    import keras.src.utils.file_utils as kfiles

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(kconfig, "_KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(kfiles, "validate_file", lambda *a, **k: True)

    def no_network(*args, **kwargs):
        raise AssertionError("the test must not download")

    monkeypatch.setattr(kfiles, "urlretrieve", no_network)
    (tmp_path / "datasets").mkdir()
    return tmp_path / "datasets"


def _same(a, b):
    if isinstance(a, tuple | list):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _same(u, v)
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == object:
        assert [list(s) for s in a] == [list(s) for s in b]
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", MODULES)
def test_signatures_match_keras(keras, name):
    ours, ref = getattr(datasets, name), getattr(keras.datasets, name)
    for fn in [n for n in dir(ref) if not n.startswith("_")]:
        theirs = inspect.signature(getattr(ref, fn))
        assert str(inspect.signature(getattr(ours, fn))) == str(theirs), fn


def _ragged(rng, n, vocab):
    out = np.empty(n, dtype=object)
    out[:] = [rng.integers(1, vocab, size=rng.integers(3, 40)).tolist() for _ in range(n)]
    return out


def test_npz_files_read_like_keras(keras, home):
    rng = np.random.default_rng(0)
    np.savez(
        home / "mnist.npz",
        x_train=rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 7, dtype=np.uint8),
        x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 3, dtype=np.uint8),
    )
    np.savez(home / "boston_housing.npz", x=rng.random((50, 13)), y=rng.random(50))
    np.savez(
        home / "california_housing.npz",
        x=rng.random((900, 8)).astype("float32"),
        y=rng.random(900).astype("float32"),
    )
    np.savez(home / "imdb.npz", x_train=_ragged(rng, 30, 500), y_train=rng.integers(0, 2, 30),
             x_test=_ragged(rng, 20, 500), y_test=rng.integers(0, 2, 20))  # fmt: skip
    np.savez(home / "reuters.npz", x=_ragged(rng, 40, 300), y=rng.integers(0, 46, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a found file never warns
        with keras_ref():
            _same(datasets.mnist.load_data(), keras.datasets.mnist.load_data())
            for kw in ({}, {"test_split": 0.3, "seed": 5}):
                _same(datasets.boston_housing.load_data(**kw),
                      keras.datasets.boston_housing.load_data(**kw))  # fmt: skip
            for kw in ({}, {"version": "small", "test_split": 0.1}):
                _same(datasets.california_housing.load_data(**kw),
                      keras.datasets.california_housing.load_data(**kw))  # fmt: skip
            for kw in (
                {},
                {"num_words": 100, "skip_top": 5, "maxlen": 30, "seed": 3},
                {"start_char": None, "oov_char": None, "num_words": 50},
                {"start_char": None, "index_from": 0},
            ):
                _same(datasets.imdb.load_data(**kw), keras.datasets.imdb.load_data(**kw))
                _same(datasets.reuters.load_data(**kw), keras.datasets.reuters.load_data(**kw))
        (home / "imdb_word_index.json").write_text('{"the": 1, "film": 2}')
        (home / "reuters_word_index.json").write_text('{"said": 1}')
        assert datasets.imdb.get_word_index() == keras.datasets.imdb.get_word_index()
        assert datasets.reuters.get_word_index() == keras.datasets.reuters.get_word_index()
        assert datasets.reuters.get_label_names() == keras.datasets.reuters.get_label_names()
    with pytest.raises(ValueError, match="no sequence was kept"):
        datasets.imdb.load_data(maxlen=2)


@pytest.mark.slow
def test_fashion_mnist_and_cifar_files_read_like_keras(keras, home):
    rng = np.random.default_rng(1)
    folder = home / "fashion-mnist"
    folder.mkdir()
    for split, n in (("train", 6), ("t10k", 4)):
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(bytes(8) + rng.integers(0, 10, n, dtype=np.uint8).tobytes())
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(bytes(16) + rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes())
    # What Keras's download leaves: the archive (then its extraction, made by Keras below).
    with tarfile.open(home / "cifar-10-batches-py-target_archive", "w") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            n = 10000 if name != "test_batch" else 5
            batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                     b"labels": rng.integers(0, 10, n).tolist()}  # fmt: skip
            data = pickle.dumps(batch, protocol=4)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    from_archive = datasets.cifar10.load_data()
    with keras_ref():
        _same(datasets.fashion_mnist.load_data(), keras.datasets.fashion_mnist.load_data())
        ref = keras.datasets.cifar10.load_data()
    assert (home / "cifar-10-batches-py-target" / "cifar-10-batches-py").is_dir()
    _same(from_archive, ref)
    _same(datasets.cifar10.load_data(), ref)  # from the folder Keras extracted
    assert ref[0][0].shape == (50000, 32, 32, 3) and ref[1][1].shape == (5, 1)


def test_tampered_object_array_is_refused(home):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    np.save(buf, np.array([Evil()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(home / "reuters.npz", "w") as z:
        z.writestr("x.npy", buf.getvalue())
        z.writestr("y.npy", b"")
    with pytest.raises(ValueError, match=r"reuters\.npz.*Refusing to deserialize `posix.system`"):
        datasets.reuters.load_data()


def test_path_must_be_a_file_name(home):
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        datasets.mnist.load_data(path=os.path.join("sub", "mnist.npz"))


def test_argument_errors_match_keras(home):
    with pytest.raises(ValueError, match="`label_mode` must be one of"):
        datasets.cifar100.load_data(label_mode="medium")
    with pytest.raises(ValueError, match="Invalid `test_split` argument"):
        datasets.boston_housing.load_data(test_split=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="must be one of 'small', 'large'"):
            datasets.california_housing.load_data(version="tiny")


EXPECTED = {  # Keras's documented shapes and dtypes: (x_train, y_train, x_test, y_test)
    "mnist": [((60000, 28, 28), "uint8"), ((60000,), "uint8"),
              ((10000, 28, 28), "uint8"), ((10000,), "uint8")],
    "fashion_mnist": [((60000, 28, 28), "uint8"), ((60000,), "uint8"),
                      ((10000, 28, 28), "uint8"), ((10000,), "uint8")],
    "cifar10": [((50000, 32, 32, 3), "uint8"), ((50000, 1), "uint8"),
                ((10000, 32, 32, 3), "uint8"), ((10000, 1), "uint8")],
    "boston_housing": [((404, 13), "float64"), ((404,), "float64"),
                       ((102, 13), "float64"), ((102,), "float64")],
    "reuters": [((8982,), "object"), ((8982,), "int64"), ((2246,), "object"), ((2246,), "int64")],
}  # fmt: skip


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "cifar10" else n for n in EXPECTED]
)
def test_standins_have_keras_shapes_and_warn_once(home, name, monkeypatch):
    monkeypatch.setattr(_files, "_WARNED", set())
    with pytest.warns(UserWarning, match=f"keras.datasets.{name}: the real data set is not"):
        (xa, ya), (xb, yb) = getattr(datasets, name).load_data()
    got = [(a.shape, str(a.dtype)) for a in (xa, ya, xb, yb)]
    assert got == EXPECTED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        (xa2, _), _ = getattr(datasets, name).load_data()
    _same(xa, xa2)  # deterministic


def test_standin_message_names_the_file(home, monkeypatch):
    monkeypatch.setattr(_files, "_WARNED", set())
    with pytest.warns(UserWarning) as caught:
        datasets.california_housing.load_data(version="small")
    message = str(caught[0].message)
    assert str(home / "california_housing.npz") in message and "KERAS_HOME" in message


@pytest.mark.slow
def test_standin_value_ranges(home):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), _ = datasets.mnist.load_data()
        (s, ls), _ = datasets.imdb.load_data(num_words=1000, skip_top=10)
        index = datasets.imdb.get_word_index()
    assert x.min() == 0 and x.max() == 255 and set(np.unique(y)) == set(range(10))
    words = np.concatenate([np.asarray(r) for r in s[:500]])
    assert all(r[0] == 2 for r in s[:100]) and words.max() < 1000  # start_char < skip_top
    assert set(words[words >= 3].tolist()).isdisjoint(range(3, 10))  # skip_top -> oov_char 2
    assert set(np.unique(ls)) == {0, 1} and index["the"] == 1 and len(index) == 88584
    assert datasets.reuters.get_label_names()[3] == "earn"


@pytest.mark.slow
def test_cifar_channels_first_and_coarse_labels(home):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (_, yc), _ = datasets.cifar100.load_data(label_mode="coarse")
    assert yc.dtype == np.int64 and yc.shape == (50000, 1) and yc.min() == 0 and yc.max() == 19
    try:
        lamina.config.set_image_data_format("channels_first")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x, _), _ = datasets.cifar10.load_data()
        assert x.shape == (50000, 3, 32, 32)
    finally:
        lamina.config.set_image_data_format("channels_last")


@pytest.mark.slow
def test_mnist_standin_is_learnable(home):
    """A tutorial's MLP reaches well above chance (10%) on the stand-in digits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    x_train = x_train[:3000].reshape(-1, 784).astype("float32") / 255
    x_test = x_test[:1000].reshape(-1, 784).astype("float32") / 255
    model = lamina.Sequential([lamina.Input((784,)), lamina.layers.Dense(64, activation="relu"),
                               lamina.layers.Dense(10, activation="softmax")])  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train[:3000], epochs=3, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test[:1000], verbose=0)
    assert accuracy > 0.8


@pytest.mark.slow
def test_imdb_standin_is_learnable(home):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x_train, y_train), (x_test, y_test) = datasets.imdb.load_data(num_words=2000)

    def bag(rows):
        out = np.zeros((len(rows), 2000), "float32")
        for i, r in enumerate(rows):
            out[i, r] = 1.0
        return out

    model = lamina.Sequential([lamina.Input((2000,)), lamina.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(bag(x_train[:2000]), y_train[:2000], epochs=5, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(bag(x_test[:1000]), y_test[:1000], verbose=0)
    assert accuracy > 0.75


def test_shipped_tables_still_load():
    X, y = datasets.load_pima()
    assert X.shape == (768, 8) and y.shape == (768,)
