"""``lamina.distribution.ModelParallel`` (Keras 3's ``keras.distribution.ModelParallel``).

The model of Keras's guide "Distributed training with Keras 3", shrunk: trained under
``ModelParallel`` on the 2 host CPU devices of ``conftest.py``, its split weights must be split
(each device holding its part) and its losses, weights, evaluation and predictions must equal
a run without any distribution.  Layouts are compared with real Keras's ``ModelParallel``.
"""

import contextlib
import functools

import jax
import numpy as np
import pytest

import lamina
from lamina import distribution
from tests.helpers import keras_ref

RTOL = 1e-5


def _layout_map(dist_lib, shape, axis_names):
    mesh = dist_lib.DeviceMesh(shape=shape, axis_names=axis_names, devices=dist_lib.list_devices())
    layout_map = dist_lib.LayoutMap(mesh)
    layout_map["d1/kernel"] = (None, "model")
    layout_map["d1/bias"] = ("model",)
    layout_map["d2/output"] = (axis_names[0], None)
    return layout_map


def _guide_model(keras, use_bias=False):
    inputs = keras.Input(shape=(4, 4, 1))
    y = keras.layers.Flatten()(inputs)
    y = keras.layers.Dense(units=8, use_bias=use_bias, activation="relu", name="d1")(y)
    y = keras.layers.Dropout(0.4)(y)
    y = keras.layers.Dense(units=3, activation="softmax", name="d2")(y)
    model = keras.Model(inputs=inputs, outputs=y)
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.Adam(),
        metrics=["accuracy"],
    )
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.random((16, 4, 4, 1)).astype("float32"), rng.integers(0, 3, 16)


@contextlib.contextmanager
def _global(dist):
    distribution.set_distribution(dist)
    try:
        yield dist
    finally:
        distribution.set_distribution(None)


def _train(dist, use_bias=False):
    """(history losses, weights, evaluate, predict, model) of the guide model trained under
    ``dist`` (``None``: no distribution), from the same seed."""
    x, y = _data()
    with _global(dist):
        lamina.utils.set_random_seed(0)
        model = _guide_model(lamina, use_bias)
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        ev = model.evaluate(x, y, batch_size=4, verbose=0)
        pred = model.predict(x, batch_size=4, verbose=0)
    return history.history["loss"], model.get_weights(), ev, pred, model


@functools.cache
def _reference(use_bias=False):
    return _train(None, use_bias)


def _assert_same_run(got, want):
    np.testing.assert_allclose(got[0], want[0], rtol=RTOL)
    for a, b in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(got[2], want[2], rtol=RTOL)
    np.testing.assert_allclose(got[3], want[3], rtol=RTOL, atol=1e-7)


def _slot_specs(model, shape):
    """The partition specs of the optimizer slots of shape ``shape``."""
    leaves = jax.tree_util.tree_leaves(model.train_state.opt_state)
    return {tuple(a.sharding.spec) for a in leaves if getattr(a, "shape", None) == shape}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_guide_model_on_a_model_axis_trains_as_one_device():
    want = _reference()
    dist = distribution.ModelParallel(
        layout_map=_layout_map(distribution, (1, 2), ["data", "model"]), batch_dim_name="data"
    )
    got = _train(dist)
    _assert_same_run(got, want)
    kernel = got[4].get_layer("d1").kernel.value
    assert tuple(kernel.sharding.spec) == (None, "model")
    assert [s.data.shape for s in kernel.addressable_shards] == [(16, 4), (16, 4)]
    assert _slot_specs(got[4], (16, 8)) == {(None, "model")}  # Adam's moments follow it
    # Unmatched weights stay whole on every device, as Keras replicates them.
    assert got[4].get_layer("d2").kernel.value.sharding.is_fully_replicated


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_guide_model_on_a_data_axis_splits_batches():
    want = _reference(use_bias=True)
    dist = distribution.ModelParallel(
        layout_map=_layout_map(distribution, (2, 1), ["data", "model"]), batch_dim_name="data"
    )
    with dist.scope():
        assert tuple(distribution.data_sharding(4).spec) == ("data", None, None, None)
        assert dist.num_data_shards == 2
    got = _train(dist, use_bias=True)
    _assert_same_run(got, want)
    layout = dist.get_variable_layout(got[4].get_layer("d1").bias)
    assert got[4].get_layer("d1").bias.value.sharding.is_equivalent_to(layout.backend_layout, 1)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_one_model_axis_is_also_the_batch_axis_by_default(keras):
    layout_map = distribution.LayoutMap(distribution.DeviceMesh((2,), ["model"]))
    layout_map["d1/kernel"] = (None, "model")
    dist = distribution.ModelParallel(layout_map=layout_map)
    with keras_ref():
        ref_map = keras.distribution.LayoutMap(keras.distribution.DeviceMesh((2,), ["model"]))
        assert keras.distribution.ModelParallel(layout_map=ref_map).batch_dim_name == "model"
    assert dist.batch_dim_name == "model"
    _assert_same_run(_train(dist), _reference())


def test_layouts_match_keras(keras):
    dist = distribution.ModelParallel(
        layout_map=_layout_map(distribution, (1, 2), ["data", "model"]), batch_dim_name="data"
    )
    model = _guide_model(lamina, use_bias=True)
    with keras_ref():
        kd = keras.distribution
        ref = kd.ModelParallel(
            layout_map=_layout_map(kd, (1, 2), ["data", "model"]), batch_dim_name="data"
        )
        ref_model = _guide_model(keras, use_bias=True)
        want = {v.path: ref.get_variable_layout(v).axes for v in ref_model.weights}
        want_data = ref.get_data_layout((8, 4, 4, 1)).axes
        want_out = ref.get_tensor_layout("d2/output").axes
        assert ref.get_tensor_layout("d1/output") is None
    assert {v.path: dist.get_variable_layout(v).axes for v in model.weights} == want
    assert dist.get_data_layout((8, 4, 4, 1)).axes == want_data
    assert dist.get_tensor_layout("d2/output").axes == want_out
    assert dist.get_tensor_layout("d1/output") is None
    assert dist.num_model_replicas == 1


def test_named_layer_outputs_are_constrained():
    x, _ = _data()
    dist = distribution.ModelParallel(
        layout_map=_layout_map(distribution, (1, 2), ["data", "model"]), batch_dim_name="data"
    )
    model = _guide_model(lamina)
    model(x)  # built outside the trace
    with dist.scope():
        jaxpr = str(jax.make_jaxpr(lambda a: model(a))(x))
    assert jaxpr.count("sharding_constraint") == 1  # d2/output only
    assert "sharding_constraint" not in str(jax.make_jaxpr(lambda a: model(a))(x))


def test_argument_errors_are_keras_errors(keras):
    mesh = distribution.DeviceMesh((1, 2), ["data", "model"])
    layout_map = distribution.LayoutMap(mesh)
    with keras_ref():
        kd = keras.distribution
        ref_map = kd.LayoutMap(kd.DeviceMesh((1, 2), ["data", "model"]))
        for mp, lm in ((kd.ModelParallel, ref_map), (distribution.ModelParallel, layout_map)):
            with pytest.raises(ValueError, match="You must specify a layout_map argument"):
                mp()
            with pytest.raises(ValueError, match="must be a `LayoutMap` instance"):
                mp(layout_map={"d1/kernel": (None, "model")})
            with pytest.raises(TypeError, match="positional argument"):
                mp(lm.device_mesh, lm)
        with pytest.raises(ValueError, match="Invalid axis names for Layout"):
            ref_map["d1/kernel"] = (None, "modle")
        with pytest.raises(ValueError, match="Invalid axis names for Layout"):
            kd.ModelParallel(layout_map=ref_map, batch_dim_name="batch").get_data_layout((8, 3))
    with pytest.raises(ValueError, match="Invalid axis names for Layout"):
        layout_map["d1/kernel"] = (None, "modle")
    # Lamina checks the batch axis when the distribution is made, not at the first fit.
    with pytest.raises(ValueError, match="Invalid axis names for Layout.*batch_dim_name"):
        distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    # Keras 3.0-3.2's spelling still works (Keras ignores device_mesh=, as here).
    old = distribution.ModelParallel(device_mesh=mesh, layout_map=layout_map, batch_dim_name="data")
    assert old.device_mesh is mesh


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_layout_that_does_not_fit_the_weight_names_it():
    x, y = _data()
    layout_map = distribution.LayoutMap(distribution.DeviceMesh((1, 2), ["data", "model"]))
    layout_map["d2/kernel"] = ("model",)
    with _global(distribution.ModelParallel(layout_map=layout_map)):
        model = _guide_model(lamina)
        with pytest.raises(ValueError, match="'d2/kernel' has 1 axes, but the variable has"):
            model.fit(x, y, batch_size=4, verbose=0)
    layout_map = distribution.LayoutMap(distribution.DeviceMesh((1, 2), ["data", "model"]))
    layout_map["d2/kernel"] = (None, "model")  # 3 units over 2 devices
    with _global(distribution.ModelParallel(layout_map=layout_map)):
        model = _guide_model(lamina)
        with pytest.raises(ValueError, match="size 3 of 'd2/kernel'.*does not divide"):
            model.fit(x, y, batch_size=4, verbose=0)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_model_trained_split_saves_and_loads(tmp_path):
    x, _ = _data()
    dist = distribution.ModelParallel(
        layout_map=_layout_map(distribution, (1, 2), ["data", "model"]), batch_dim_name="data"
    )
    _, weights, _, pred, model = _train(dist)
    path = str(tmp_path / "split.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    for a, b in zip(loaded.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(loaded.predict(x, batch_size=4, verbose=0), pred, rtol=RTOL)
    with dist.scope():  # and predicts split again
        np.testing.assert_allclose(loaded.predict(x, batch_size=4, verbose=0), pred, rtol=RTOL)


def _sequential(keras):
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, name="d1"), keras.layers.Dense(2, name="d2")],
        name="seq",
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def _seq_layout_map(dist_lib):
    layout_map = dist_lib.LayoutMap(dist_lib.DeviceMesh((2,), ["model"]))
    layout_map[".*d1.*kernel"] = (None, "model")
    layout_map[".*d2/bias"] = ("model",)
    layout_map["seq/d1/output"] = (None, "model")
    return layout_map


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sequential_paths_in_a_scope_match_keras(keras):
    rng = np.random.default_rng(1)
    x, y = rng.random((8, 6)).astype("float32"), rng.random((8, 2)).astype("float32")
    with keras_ref():
        ref = keras.distribution.ModelParallel(layout_map=_seq_layout_map(keras.distribution))
        want = {v.path: ref.get_variable_layout(v).axes for v in _sequential(keras).weights}
    lamina.utils.set_random_seed(0)
    single = _sequential(lamina)
    want_loss = single.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    dist = distribution.ModelParallel(layout_map=_seq_layout_map(distribution))
    with dist.scope():
        lamina.utils.set_random_seed(0)
        model = _sequential(lamina)
        assert {v.path: dist.get_variable_layout(v).axes for v in model.weights} == want
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        jaxpr = str(jax.make_jaxpr(lambda a: model(a))(x))
    assert jaxpr.count("sharding_constraint") == 1  # seq/d1/output
    np.testing.assert_allclose(history.history["loss"], want_loss.history["loss"], rtol=RTOL)
    for a, b in zip(model.get_weights(), single.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-7)
    assert tuple(model.get_layer("d1").kernel.value.sharding.spec) == (None, "model")
    assert tuple(model.get_layer("d2").bias.value.sharding.spec) == ("model",)


class _OwnLoss(lamina.Model):
    """A model with its own ``compute_loss``: it trains through the custom-step engine."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return lamina.ops.mean((y - y_pred) ** 2)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_model_with_its_own_loss_is_split_too():
    rng = np.random.default_rng(2)
    x, y = rng.random((8, 6)).astype("float32"), rng.random((8, 4)).astype("float32")

    def run():
        lamina.utils.set_random_seed(0)
        inputs = lamina.Input((6,))
        model = _OwnLoss(inputs, lamina.layers.Dense(4, name="dd")(inputs))
        model.compile(optimizer="adam")
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return model, history.history["loss"]

    single, want = run()
    layout_map = distribution.LayoutMap(distribution.DeviceMesh((2,), ["model"]))
    layout_map["dd/kernel"] = (None, "model")
    with distribution.ModelParallel(layout_map=layout_map).scope():
        model, got = run()
    np.testing.assert_allclose(got, want, rtol=RTOL)
    for a, b in zip(model.get_weights(), single.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-7)
    assert tuple(model.get_layer("dd").kernel.value.sharding.spec) == (None, "model")
    slots = [v for v in model.optimizer.variables if tuple(v.shape) == (6, 4)]
    assert len(slots) == 2
    assert all(tuple(v.sharding.spec) == (None, "model") for v in slots)
