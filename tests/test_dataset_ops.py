"""``tf.data.Dataset`` methods on Keras's dataset utilities' results, as tutorials chain them.

TensorFlow's image classification tutorial runs ``train_ds.cache().shuffle(1000).prefetch(
buffer_size=AUTOTUNE)`` and ``train_ds.map(lambda x, y: (normalization_layer(x), y),
num_parallel_calls=AUTOTUNE)`` on ``image_dataset_from_directory``'s result.  The reference
is ``tf.data``'s documented meaning (TensorFlow is not installed here): ``shuffle`` permutes
the elements (whole batches of a batched dataset) through a buffer of ``buffer_size`` and draws
a new order every iteration by default; ``take(-1)`` is everything, ``skip(-1)`` nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina.utils.dataset_utils import Batches

AUTOTUNE = -1  # tf.data.AUTOTUNE


def _firsts(ds):
    return [int(np.asarray(b[0] if isinstance(b, tuple) else b).ravel()[0]) for b in ds]


def test_shuffle_permutes_whole_batches_and_reshuffles_each_iteration():
    ds = Batches(np.arange(40), 4).shuffle(1000, seed=1)
    first = [b.tolist() for b in ds]
    assert sorted(first) == [list(range(i, i + 4)) for i in range(0, 40, 4)]  # batches intact
    assert first != sorted(first)
    ds.on_epoch_end()  # what fit calls between epochs
    second = [b.tolist() for b in ds]
    assert sorted(second) == sorted(first) and second != first


def test_shuffle_without_reshuffle_and_with_seed_is_repeatable():
    a = Batches(np.arange(40), 4).shuffle(10, seed=3, reshuffle_each_iteration=False)
    order = _firsts(a)
    a.on_epoch_end()
    assert _firsts(a) == order
    assert _firsts(Batches(np.arange(40), 4).shuffle(10, seed=3)) == order


def test_shuffle_buffer_bounds_how_early_an_element_can_come():
    # tf.data fills a buffer with the first buffer_size elements and refills it one at a time:
    # element i enters after i - buffer_size + 1 elements have left, so it can't come sooner.
    assert _firsts(Batches(np.arange(10), 1).shuffle(1, seed=0)) == list(range(10))
    for seed in range(20):
        order = _firsts(Batches(np.arange(50), 1).shuffle(3, seed=seed))
        assert sorted(order) == list(range(50))
        assert all(pos >= elem - 2 for pos, elem in enumerate(order))


def test_take_skip_and_cardinality_follow_tf_data():
    ds = Batches(np.arange(10), 3)
    assert [b.tolist() for b in ds.take(2)] == [[0, 1, 2], [3, 4, 5]]
    assert [b.tolist() for b in ds.skip(2)] == [[6, 7, 8], [9]]
    assert len(ds.take(-1)) == 4 and len(ds.take(100)) == 4 and len(ds.skip(-1)) == 0
    assert ds.take(1)[0].numpy().tolist() == [0, 1, 2]
    assert ds.skip(1).take(1).cardinality() == 1
    with pytest.raises(IndexError, match="out of range"):
        ds.take(2)[2]


def test_map_accepts_tf_data_arguments_and_as_numpy_iterator_gives_plain_arrays():
    ds = Batches((np.arange(6.0), np.arange(6)), 4)
    mapped = ds.map(lambda x, y: (x * 2, y), num_parallel_calls=AUTOTUNE, deterministic=True)
    batches = list(mapped.as_numpy_iterator())
    assert [b[0].tolist() for b in batches] == [[0.0, 2.0, 4.0, 6.0], [8.0, 10.0]]
    assert type(batches[0][0]) is np.ndarray


def test_pipeline_methods_reject_bad_arguments_with_tf_data_meaning():
    ds = Batches(np.arange(4), 2)
    with pytest.raises(ValueError, match="positive buffer_size"):
        ds.shuffle(0)
    with pytest.raises(TypeError, match="integer count"):
        ds.take(1.5)
    with pytest.raises(TypeError, match="expects a function"):
        ds.map("relu")


def test_timeseries_dataset_chains_shuffle_and_skip():
    data = np.arange(30, dtype="float32")
    ds = lamina.utils.timeseries_dataset_from_array(data, data, sequence_length=3, batch_size=4)
    shuffled = ds.shuffle(100, seed=0).skip(1)
    assert len(shuffled) == len(ds) - 1
    assert {int(x[0, 0]) for x, _ in shuffled} < {int(x[0, 0]) for x, _ in ds}


def _image_folder(root, n=8):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir()
        for i in range(n):
            pixels = (rng.random((10, 12, 3)) * 255).astype("uint8")
            Image.fromarray(pixels).save(root / label / f"{i}.png")


def test_image_classification_tutorial_pipeline_trains(tmp_path):
    pytest.importorskip("PIL")
    _image_folder(tmp_path)
    train_ds, val_ds = lamina.utils.image_dataset_from_directory(
        str(tmp_path), validation_split=0.25, subset="both", seed=123, image_size=(8, 8),
        batch_size=4,
    )  # fmt: skip
    class_names = train_ds.class_names
    train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=AUTOTUNE)
    val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)
    normalization_layer = lamina.layers.Rescaling(1.0 / 255)
    normalized = train_ds.map(lambda x, y: (normalization_layer(x), y), num_parallel_calls=AUTOTUNE)
    image_batch, labels_batch = next(iter(normalized))
    assert 0.0 <= float(np.min(image_batch)) and float(np.max(image_batch)) <= 1.0
    model = lamina.Sequential([
        lamina.Input((8, 8, 3)), lamina.layers.Rescaling(1.0 / 255),
        lamina.layers.Conv2D(2, 3, activation="relu"), lamina.layers.Flatten(),
        lamina.layers.Dense(len(class_names)),
    ])  # fmt: skip
    model.compile("adam", lamina.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])  # fmt: skip
    history = model.fit(train_ds, validation_data=val_ds, epochs=2, verbose=0)
    assert set(history.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}


def test_fit_reads_a_shuffled_dataset_in_its_order_and_reshuffles_between_epochs():
    x = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.arange(10, dtype="float32")
    seen = []
    ds = Batches((x, y), 2).shuffle(100, seed=0).map(lambda a, b: (seen.append(int(b[0])) or a, b))
    ref = Batches((x, y), 2).shuffle(100, seed=0)
    epoch1 = [int(b[1][0]) for b in ref]
    ref.on_epoch_end()
    epoch2 = [int(b[1][0]) for b in ref]
    assert epoch1 != epoch2
    model = lamina.Sequential([lamina.Input((2,)), lamina.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(ds, epochs=2, shuffle=True, verbose=0)
    assert seen[-10:] == epoch1 + epoch2  # fit(shuffle=True) keeps a dataset's own order


def test_batch_stacks_unbatched_directory_elements(tmp_path):
    pytest.importorskip("PIL")
    _image_folder(tmp_path, n=5)
    ds = lamina.utils.image_dataset_from_directory(
        str(tmp_path), image_size=(8, 8), batch_size=None, shuffle=False
    )
    batched = ds.shuffle(100, seed=0).batch(4)
    assert len(batched) == 3 and len(ds.batch(4, drop_remainder=True)) == 2
    x, y = batched[2]
    assert x.shape == (2, 8, 8, 3) and y.shape == (2,)
    labels = np.concatenate([y for _, y in batched])
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 5
    np.testing.assert_array_equal(ds.batch(4)[0][0][1], ds[1][0])
    with pytest.raises(ValueError, match="positive batch_size"):
        ds.batch(0)
