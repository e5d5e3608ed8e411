"""A weight is one variable object, as Keras 3's ``keras.Variable``: ``dense.kernel is
dense.weights[0] is model.weights[0]``, so Keras users' identity idioms work (``id(v)`` as a
dict key, ``v in model.trainable_weights``, ``list.index``, pairing ``zip(grads, vars)``).

Each identity is checked on real Keras too, with the same code.  Lamina's variables are also
hashable by identity (``set(model.weights)``): Keras 3's JAX variables define ``__eq__``
elementwise and so are not hashable; Lamina keeps Keras's elementwise ``==`` and adds the hash.
"""

import copy
import pickle

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

X = np.ones((4, 4), "float32")
Y = np.ones((4, 2), "float32")


def _mlp(k, **dense_kwargs):
    # Named: automatic names count the layers made before, which differ between libraries.
    first = k.layers.Dense(3, **{"name": "d1", **dense_kwargs})
    return k.Sequential([k.Input((4,)), first, k.layers.Dense(2, name="d2")], name="mlp")


def _identities(k):
    """The identity facts a Keras user relies on, for library ``k``."""
    model = _mlp(k)
    dense = model.layers[0]
    weights = model.trainable_variables
    by_id = {id(v): v.path for v in weights}
    return {
        "attr_twice": dense.kernel is dense.kernel,
        "attr_is_weights": dense.kernel is dense.weights[0] and dense.bias is dense.weights[1],
        "model_is_layer": model.weights[0] is dense.kernel,
        "lists_agree": all(a is b for a, b in zip(model.weights, model.trainable_weights)),
        "in_list": dense.kernel in weights,
        # ``list.index`` and ``in`` try identity first (``==`` is elementwise, as Keras's).
        "index": weights.index(dense.kernel),
        "by_id": by_id[id(model.layers[1].bias)],
    }


def test_views_are_one_object_per_weight_as_in_keras(keras):
    with keras_ref():
        want = _identities(keras)
    assert want["attr_twice"] and want["model_is_layer"]  # Keras's own behaviour
    assert _identities(lamina) == want


def test_equality_is_elementwise_and_hash_is_identity(keras):
    with keras_ref():
        kmodel = _mlp(keras)
        kbias = kmodel.layers[0].bias
        want = np.asarray(kbias == kbias).tolist()
    model = _mlp(lamina)
    bias = model.layers[0].bias
    assert np.asarray(bias == bias).tolist() == want == [True, True, True]
    assert np.asarray(bias != model.layers[0].bias).tolist() == [False] * 3
    # Lamina's addition to Keras: hashable by identity, so sets and dict keys work.
    assert hash(bias) == hash(model.layers[0].bias)
    assert len(set(model.weights) | set(model.trainable_weights)) == 4
    second = model.layers[1].kernel
    assert {v: v.path for v in model.weights}[second] == second.path


def test_views_stay_the_same_through_fit_set_weights_and_trainable(keras):
    with keras_ref():
        kmodel = _mlp(keras)
        kdense = kmodel.layers[0]
        kkernel = kdense.kernel
        kmodel.set_weights(kmodel.get_weights())
        kdense.trainable = False
        want = (kkernel is kdense.kernel, kkernel.trainable, len(kmodel.trainable_weights))
    model = _mlp(lamina)
    dense = model.layers[0]
    kernel = dense.kernel
    model.compile("sgd", "mse")
    model.fit(X, Y, epochs=1, verbose=0)
    assert dense.kernel is kernel and model.trainable_variables[0] is kernel
    weights = [np.full(w.shape, 0.5, "float32") for w in model.get_weights()]
    model.set_weights(weights)
    assert dense.kernel is kernel
    np.testing.assert_array_equal(kernel.numpy(), weights[0])
    dense.trainable = False
    got = (kernel is dense.kernel, kernel.trainable, len(model.trainable_weights))
    assert got == want == (True, False, 2)
    assert dense.non_trainable_weights[0] is kernel
    dense.trainable = True
    assert kernel.trainable and model.trainable_weights[0] is kernel


def test_view_options_are_the_declared_ones_on_every_path():
    model = _mlp(lamina, kernel_regularizer="l2", kernel_constraint="non_neg")
    dense = model.layers[0]
    kernel = dense.kernel  # read first through the attribute, then through the lists
    assert kernel.regularizer is not None and kernel.constraint is not None
    assert dense.weights[0] is kernel and kernel.regularizer is not None
    assert dense.bias.regularizer is None


def test_quantize_keeps_the_view_and_shows_int8():
    model = _mlp(lamina)
    dense = model.layers[0]
    kernel = dense.kernel
    assert kernel.dtype == "float32"
    model.quantize("int8")
    assert dense.kernel is kernel and kernel.dtype == "int8"
    assert any(v is kernel for v in dense.weights)
    assert dense.kernel_scale is dense.kernel_scale


def test_a_deep_copy_and_a_pickle_bind_views_to_the_copy():
    model = _mlp(lamina)
    dense = model.layers[0]
    kernel = dense.kernel
    original = kernel.numpy().copy()
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        twin = other.layers[0]
        assert twin.kernel is twin.weights[0] is other.weights[0]
        assert twin.kernel is not kernel and twin.kernel._layer is twin
        np.testing.assert_array_equal(twin.kernel.numpy(), original)
        twin.kernel.assign(np.zeros((4, 3), "float32"))
        np.testing.assert_array_equal(kernel.numpy(), original)  # the original is untouched
        assert dense.kernel is kernel


def test_a_shallow_layer_copy_makes_its_own_views():
    layer = lamina.layers.Dense(2)
    layer.build((None, 3))
    kernel = layer.kernel
    twin = copy.copy(layer)
    twin._standalone = [
        dict(layer._standalone[0]),
        dict(layer._standalone[1]),
        layer._standalone[2],
    ]
    assert twin.kernel._layer is twin and twin.bias._layer is twin
    assert layer.kernel is kernel and layer.bias._layer is layer


def test_clone_and_load_give_stable_views_of_their_own(tmp_path):
    model = _mlp(lamina)
    kernel = model.layers[0].kernel
    clone = lamina.models.clone_model(model)
    assert clone.layers[0].kernel is clone.weights[0] and clone.weights[0] is not kernel
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.layers[0].kernel is loaded.weights[0] is loaded.layers[0].kernel


def test_a_keras_style_layer_lists_stable_views(keras):
    def block(k):
        class Block(k.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = k.layers.Dense(3)

            def build(self, shape):
                self.w = self.add_weight(shape=(3,), initializer="ones")

            def call(self, x):
                return self.dense(x) * self.w

        layer = Block()
        inputs = k.Input((4,))
        model = k.Model(inputs, layer(inputs))
        return (
            layer.weights[1] is layer.weights[1],
            model.weights[1] is layer.weights[1],
            layer.w is model.weights[0],
            layer.dense.kernel is layer.dense.weights[0],
        )

    with keras_ref():
        want = block(keras)
    assert block(lamina) == want == (True, True, True, True)


def test_state_and_seed_views_are_stable(keras):
    def states(k):
        lstm = k.layers.LSTM(2, stateful=True)
        model = k.Sequential([k.Input((3, 2), batch_size=2), lstm])
        model(np.ones((2, 3, 2), "float32"))
        return lstm.states[0] is lstm.states[0], len(lstm.states)

    with keras_ref():
        want = states(keras)
    assert states(lamina) == want == (True, 2)
    model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dropout(0.5)])
    model.build((None, 4))
    seeds = model.non_trainable_variables
    assert seeds and all(a is b for a, b in zip(seeds, model.non_trainable_variables))


def test_apply_gradients_pairs_the_listed_variables():
    model = _mlp(lamina)
    variables = model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    optimizer = lamina.optimizers.SGD(1.0)
    optimizer.apply_gradients(zip([np.ones(v.shape, "float32") for v in variables], variables))
    for v, b in zip(model.trainable_variables, before):
        np.testing.assert_allclose(v.numpy(), b - 1.0, rtol=1e-6)
    assert [id(v) for v in model.trainable_variables] == [id(v) for v in variables]


@pytest.mark.parametrize("attr", ["kernel", "bias"])
def test_a_rebuilt_standalone_layer_keeps_its_view(attr):
    layer = lamina.layers.Dense(2)
    layer(np.ones((1, 3), "float32"))
    view = getattr(layer, attr)
    layer(np.ones((5, 3), "float32"))
    assert getattr(layer, attr) is view and view.shape == getattr(layer, attr).shape


def test_freezing_before_build_marks_variables_as_keras_does(keras):
    def frozen(k):
        class Scale(k.layers.Layer):
            def build(self, shape):
                self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

            def call(self, x):
                return x * self.w

        scale = Scale()
        scale.trainable = False
        dense = k.layers.Dense(2)
        dense.trainable = False
        model = k.Sequential([k.Input((4,)), scale, dense])
        before = (scale.w.trainable, dense.kernel.trainable, len(model.trainable_weights))
        scale.trainable = dense.trainable = True
        after = (scale.w.trainable, dense.kernel.trainable, len(model.trainable_weights))
        return before, after, scale.w is scale.weights[0]

    with keras_ref():
        want = frozen(keras)
    assert frozen(lamina) == want == ((False, False, 0), (True, True, 3), True)


def test_a_held_view_follows_its_weight_into_the_state():
    dense = lamina.layers.Dense(3)
    dense.build((None, 4))
    kernel = dense.weights[0]
    dense.enable_lora(2)  # the kernel moves to the non-trainable state
    assert kernel.shape == (4, 3) and not kernel.trainable
    kernel.assign(np.zeros((4, 3), "float32"))
    assert dense.weights[0] is kernel
    np.testing.assert_array_equal(dense.get_weights()[0], np.zeros((4, 3)))
    assert [v.name for v in dense.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
