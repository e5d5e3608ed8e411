"""MultiHeadAttention and EinsumDense against real Keras 3: same weights, same outputs.

Covers every mask kind (attention_mask, causal, query/value/key masks), attention scores,
multi-axis attention, output_shape, functional (symbolic) calls, gradients, configs and errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina.layers import EinsumDense, MultiHeadAttention
from tests.helpers import keras_ref

ATOL = 2e-5


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _pair(keras, kwargs, query, value, key=None):
    """A built Keras MHA and a Lamina MHA holding the same (random, non-zero-bias) weights."""
    with keras_ref():
        km = keras.layers.MultiHeadAttention(**kwargs)
        km(query, value, key, return_attention_scores=True)  # builds even when value_dim != key_dim
        rng = np.random.default_rng(1)
        km.set_weights([rng.normal(size=w.shape).astype("float32") * 0.3 for w in km.weights])
    lm = MultiHeadAttention(**kwargs)
    lm(query, value, key)
    lm.set_weights(km.get_weights())
    return km, lm


def _kcall(km, *args, **kwargs):
    with keras_ref():
        out = km(*args, **kwargs)
    return jax.tree_util.tree_map(np.asarray, out)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_weights_named_shaped_and_ordered_as_keras(keras):
    q, v = _rand(2, 5, 6), _rand(2, 7, 4, seed=1)
    km, lm = _pair(keras, dict(num_heads=3, key_dim=2, value_dim=5), q, v)
    want = _kcall(km, q, v, return_attention_scores=True)[0]
    np.testing.assert_allclose(lm(q, v), want, atol=ATOL)
    assert [tuple(w.shape) for w in lm.weights] == [tuple(w.shape) for w in km.weights]
    assert [w.path.split("/", 1)[1] for w in km.weights] == [
        w.path.split("/", 1)[1] for w in lm.weights
    ]
    assert [w.name for w in km.weights] == [w.name for w in lm.weights]


MASK_CASES = {
    "none": {},
    "attention_mask": {"attention_mask": "am"},
    "causal": {"use_causal_mask": True},
    "causal_and_attention_mask": {"use_causal_mask": True, "attention_mask": "am"},
    "value_mask": {"value_mask": "vm"},
    "key_mask": {"key_mask": "vm"},
}


@pytest.mark.parametrize("scores", [False, True])
@pytest.mark.parametrize("case", list(MASK_CASES))
def test_forward_matches_keras_for_each_mask(keras, case, scores):
    q, v, k = _rand(2, 5, 6), _rand(2, 5, 4, seed=1), _rand(2, 5, 3, seed=2)
    rng = np.random.default_rng(3)
    arrays = {
        "am": rng.random((2, 5, 5)) > 0.3,
        "qm": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool),
        "vm": np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 0]], bool),
    }
    kwargs = {n: arrays.get(a, a) if isinstance(a, str) else a for n, a in MASK_CASES[case].items()}
    km, lm = _pair(keras, dict(num_heads=2, key_dim=3), q, v, k)
    want = _kcall(km, q, v, k, return_attention_scores=scores, **kwargs)
    got = lm(q, v, k, return_attention_scores=scores, **kwargs)
    if scores:
        assert len(got) == 2
        np.testing.assert_allclose(got[1], want[1], atol=ATOL)
        got, want = got[0], want[0]
    np.testing.assert_allclose(got, want, atol=ATOL)


@pytest.mark.parametrize(
    "kwargs, q_shape, v_shape",
    [
        (dict(num_heads=2, key_dim=3, attention_axes=(1, 2)), (2, 3, 4, 6), (2, 3, 4, 6)),
        (dict(num_heads=2, key_dim=3, attention_axes=2), (2, 3, 4, 6), (2, 3, 5, 6)),
        (dict(num_heads=1, key_dim=4, output_shape=(3,)), (2, 5, 6), (2, 4, 6)),
        (dict(num_heads=2, key_dim=4, output_shape=(2, 3)), (2, 5, 6), (2, 4, 6)),
        (dict(num_heads=3, key_dim=2, use_bias=False), (1, 4, 6), (1, 4, 6)),
    ],
)
def test_axes_and_output_shape_match_keras(keras, kwargs, q_shape, v_shape):
    q, v = _rand(*q_shape), _rand(*v_shape, seed=1)
    km, lm = _pair(keras, kwargs, q, v)
    for scores in (False, True):
        want = _kcall(km, q, v, return_attention_scores=scores)
        got = lm(q, v, return_attention_scores=scores)
        for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, atol=ATOL)


def test_query_mask_equals_keras_implicit_query_mask(keras):
    """Keras 3 takes query_mask from the query's implicit (Embedding mask_zero) mask and folds it
    into the attention mask as ``query_mask[:, :, None] & value_mask[:, None, :]``."""
    q, v = _rand(2, 5, 6), _rand(2, 4, 6, seed=1)
    qm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    vm = np.array([[1, 1, 0, 1], [1, 1, 1, 0]], bool)
    km, lm = _pair(keras, dict(num_heads=2, key_dim=3), q, v)
    for scores in (False, True):
        want = _kcall(km, q, v, attention_mask=qm[:, :, None] & vm[:, None, :],
                      return_attention_scores=scores)
        got = lm(q, v, query_mask=qm, value_mask=vm, return_attention_scores=scores)
        for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(g, w, atol=ATOL)


def test_functional_model_matches_keras(keras):
    x = _rand(3, 6, 8)
    with keras_ref():
        inp = keras.Input((6, 8))
        mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
        y, s = mha(inp, inp, use_causal_mask=True, return_attention_scores=True)
        km = keras.Model(inp, [keras.layers.Dense(2)(y), s])
    inp = lamina.layers.Input((6, 8))
    lmha = MultiHeadAttention(num_heads=2, key_dim=4)
    y, s = lmha(inp, inp, use_causal_mask=True, return_attention_scores=True)
    assert tuple(y.shape) == (None, 6, 8) and tuple(s.shape) == (None, 2, 6, 6)
    lm = lamina.models.Model(inp, [lamina.layers.Dense(2)(y), s])
    lm.set_weights(km.get_weights())
    with keras_ref():
        want = km.predict(x, verbose=0)
    got = lm.predict(x, verbose=0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=ATOL)


def test_symbolic_attention_mask_input(keras):
    x = _rand(2, 4, 6)
    m = np.random.default_rng(5).random((2, 4, 4)) > 0.4
    with keras_ref():
        a, b = keras.Input((4, 6)), keras.Input((4, 4))
        km = keras.Model([a, b], keras.layers.MultiHeadAttention(2, 3)(a, a, attention_mask=b))
    a, b = lamina.layers.Input((4, 6)), lamina.layers.Input((4, 4))
    lm = lamina.models.Model([a, b], MultiHeadAttention(2, 3)(a, a, attention_mask=b))
    lm.set_weights(km.get_weights())
    with keras_ref():
        want = km.predict([x, m.astype("float32")], verbose=0)
    np.testing.assert_allclose(lm.predict([x, m.astype("float32")], verbose=0), want, atol=ATOL)


@pytest.mark.slow  # over 5 s on 2 cores: runs in the slow set
def test_input_gradient_matches_keras(keras):
    q, v = _rand(2, 4, 6), _rand(2, 5, 6, seed=1)
    am = np.random.default_rng(2).random((2, 4, 5)) > 0.3
    km, lm = _pair(keras, dict(num_heads=2, key_dim=3), q, v)

    def k_loss(q):
        return jnp.sum(jnp.tanh(km(q, v, attention_mask=am)))

    with keras_ref():
        want = jax.grad(k_loss)(q)
    params, state, _ = lm._weights_source()

    def l_loss(q):
        y, _ = lm.apply(params, state, [q, v, v], attention_mask=am)
        return jnp.sum(jnp.tanh(y))

    np.testing.assert_allclose(jax.grad(l_loss)(q), want, atol=1e-4)


def test_dropout_only_in_training_and_deterministic_per_seed_state():
    # As Keras's, the masks come from the attention dropout's seed generator state (advanced
    # by each training call), not from the step's key.
    x = _rand(2, 5, 4)
    lm = MultiHeadAttention(2, 3, dropout=0.5)
    lm(x, x)
    params, state, _ = lm._weights_source()
    base, _ = lm.apply(params, state, [x, x, x], training=False)
    k = jax.random.key(0)
    a, advanced = lm.apply(params, state, [x, x, x], training=True, key=k)
    b, _ = lm.apply(params, state, [x, x, x], training=True, key=jax.random.key(1))
    c, _ = lm.apply(params, advanced, [x, x, x], training=True, key=k)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, base) and not np.allclose(a, c)


def test_config_round_trip_and_registry(keras):
    layer = MultiHeadAttention(4, 8, value_dim=2, dropout=0.1, output_shape=(3,), name="mha_x")
    cfg = layer.get_config()
    with keras_ref():
        kcfg = keras.layers.MultiHeadAttention(4, 8, value_dim=2, dropout=0.1, output_shape=(3,)).get_config()
    for key in ("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "attention_axes"):
        assert cfg[key] == kcfg[key], key
    assert list(cfg["output_shape"]) == list(kcfg["output_shape"])
    clone = lamina.layers.deserialize(lamina.layers.serialize(layer))
    assert isinstance(clone, MultiHeadAttention) and clone.get_config() == cfg


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(0, 4)
    with pytest.raises(ValueError, match="key_dim"):
        MultiHeadAttention(2, None)
    with pytest.raises(TypeError, match="query and value"):
        MultiHeadAttention(2, 4)(_rand(2, 3, 4))
    with pytest.raises(ValueError, match="value` and `key`"):
        MultiHeadAttention(2, 4)(_rand(2, 3, 4), _rand(2, 3, 4), _rand(2, 5, 4))
    with pytest.raises(ValueError, match="flash_attention=True.*not supported"):
        MultiHeadAttention(2, 4, flash_attention=True)


# ------------------------------------------------------------------ EinsumDense
EINSUM_CASES = [
    ("ab,bc->ac", (4,), "c", (3, 5)),
    ("abc,cd->abd", (None, 6), "d", (3, 4, 5)),
    ("abc,cde->abde", (None, 2, 3), "de", (3, 4, 5)),
    ("abc,cde->abde", (None, 2, 3), "e", (3, 4, 5)),
    ("...b,bc->...c", (6,), "c", (3, 4, 2, 5)),
    ("ab...,bc->ac...", (6,), None, (3, 5, 4)),
    ("abcd,cde->abe", (None, 7), "e", (2, 4, 3, 5)),
]


@pytest.mark.parametrize("equation, output_shape, bias_axes, x_shape", EINSUM_CASES)
def test_einsum_dense_matches_keras(keras, equation, output_shape, bias_axes, x_shape):
    x = _rand(*x_shape)
    with keras_ref():
        kl = keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
        want = np.asarray(kl(x))
        weights = [np.random.default_rng(1).normal(size=w.shape).astype("float32") for w in kl.weights]
        kl.set_weights(weights)
        want = np.asarray(kl(x))
        kshape = kl.compute_output_shape((None, *x_shape[1:]))
    ll = EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    ll(x)
    assert [tuple(w.shape) for w in ll.weights] == [w.shape for w in weights]
    ll.set_weights(weights)
    np.testing.assert_allclose(ll(x), want, atol=ATOL)
    # Keras leaves an axis shared with the input unknown (and reverses several left-elided
    # axes); Lamina's static shape is the shape of the output Keras computes
    got_shape = ll.compute_output_shape((None, *x_shape[1:]))
    assert len(got_shape) == len(kshape) and got_shape[1:] == want.shape[1:]


def test_einsum_dense_errors():
    x = _rand(2, 3)
    with pytest.raises(ValueError, match="Invalid einsum equation"):
        EinsumDense("ab->b", 3)(x)
    with pytest.raises(ValueError, match="Bias dimension 'z'"):
        EinsumDense("ab,bc->ac", 3, bias_axes="z")(x)
    with pytest.raises(ValueError, match="Weight dimension 'q'"):
        EinsumDense("ab,bqc->ac", 3)(x)
    with pytest.raises(TypeError, match="string"):
        EinsumDense(3, 3)


def test_einsum_dense_in_a_trained_model_matches_config(keras):
    layer = EinsumDense("abc,cd->abd", (None, 4), bias_axes="d", name="ed")
    with keras_ref():
        kcfg = keras.layers.EinsumDense("abc,cd->abd", (None, 4), bias_axes="d").get_config()
    cfg = layer.get_config()
    for key in ("equation", "bias_axes", "activation"):
        assert cfg[key] == kcfg[key]
    assert list(cfg["output_shape"]) == list(kcfg["output_shape"])
    inp = lamina.layers.Input((3, 5))
    model = lamina.models.Model(inp, layer(inp))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(_rand(8, 3, 5), _rand(8, 3, 4), epochs=1, verbose=0)
    assert model.predict(_rand(2, 3, 5), verbose=0).shape == (2, 3, 4)


# ------------------------------------------------------ Attention, AdditiveAttention
SIMPLE_CASES = [
    ("Attention", {}),
    ("Attention", {"use_scale": True}),
    ("Attention", {"score_mode": "concat"}),
    ("Attention", {"score_mode": "concat", "use_scale": True}),
    ("AdditiveAttention", {}),
    ("AdditiveAttention", {"use_scale": False}),
]


@pytest.mark.parametrize("name, kwargs", SIMPLE_CASES)
def test_simple_attention_matches_keras(keras, name, kwargs):
    q, v, k = _rand(2, 3, 4), _rand(2, 5, 4, seed=1), _rand(2, 5, 4, seed=2)
    qm = np.array([[1, 1, 0], [1, 1, 1]], bool)
    vm = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
    with keras_ref():
        kl = getattr(keras.layers, name)(**kwargs)
        kl([q, v, k])
        weights = [np.random.default_rng(4).normal(size=w.shape).astype("float32") for w in kl.weights]
        kl.set_weights(weights)
    ll = getattr(lamina.layers, name)(**kwargs)
    ll([q, v, k])
    ll.set_weights(weights)
    for call in (
        dict(),
        dict(mask=[qm, vm]),
        dict(use_causal_mask=True),
        dict(mask=[None, vm], use_causal_mask=True),
    ):
        for inputs in ([q, v], [q, v, k]):
            want = _kcall(kl, inputs, return_attention_scores=True, **call)
            got = ll(inputs, return_attention_scores=True, **call)
            np.testing.assert_allclose(got[0], want[0], atol=ATOL)
            np.testing.assert_allclose(got[1], want[1], atol=ATOL)
            np.testing.assert_allclose(ll(inputs, **call), want[0], atol=ATOL)
    cfg = ll.get_config()
    with keras_ref():
        kcfg = kl.get_config()
    assert {k: cfg[k] for k in kcfg if k not in ("name", "dtype")} == {
        k: v for k, v in kcfg.items() if k not in ("name", "dtype")
    }


def test_simple_attention_functional_and_errors():
    q_in, v_in = lamina.layers.Input((3, 4)), lamina.layers.Input((5, 4))
    out, scores = lamina.layers.Attention()([q_in, v_in], return_attention_scores=True)
    assert tuple(out.shape) == (None, 3, 4) and tuple(scores.shape) == (None, 3, 5)
    model = lamina.models.Model([q_in, v_in], out)
    q, v = _rand(2, 3, 4), _rand(2, 5, 4, seed=1)
    np.testing.assert_allclose(model.predict([q, v], verbose=0), lamina.layers.Attention()([q, v]), atol=ATOL)
    with pytest.raises(ValueError, match="score_mode"):
        lamina.layers.Attention(score_mode="general")
    with pytest.raises(ValueError, match="list of inputs"):
        lamina.layers.Attention()(q)


# ------------------------------------------------------------ GroupQueryAttention
@pytest.mark.parametrize("scores", [False, True])
@pytest.mark.parametrize(
    "call",
    [{}, {"use_causal_mask": True}, {"attention_mask": "am"}, {"query_mask": "qm", "value_mask": "vm"}],
)
def test_group_query_attention_matches_keras(keras, call, scores):
    q, v = _rand(2, 5, 8), _rand(2, 6, 4, seed=1)
    rng = np.random.default_rng(3)
    arrays = {
        "am": rng.random((2, 5, 6)) > 0.3,
        "qm": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool),
        "vm": np.array([[1, 1, 0, 1, 0, 1], [1, 1, 1, 1, 0, 0]], bool),
    }
    call = {n: arrays[a] if isinstance(a, str) else a for n, a in call.items()}
    kw = dict(head_dim=3, num_query_heads=4, num_key_value_heads=2)
    with keras_ref():
        km = keras.layers.GroupQueryAttention(**kw)
        km(q, v, return_attention_scores=True)
        weights = [np.random.default_rng(1).normal(size=w.shape).astype("float32") * 0.3 for w in km.weights]
        km.set_weights(weights)
    lm = lamina.layers.GroupQueryAttention(**kw)
    lm(q, v)
    assert [tuple(w.shape) for w in lm.weights] == [w.shape for w in weights]
    lm.set_weights(weights)
    want = _kcall(km, q, v, return_attention_scores=scores, **call)
    got = lm(q, v, return_attention_scores=scores, **call)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(g, w, atol=ATOL)
    if not call and not scores:
        with keras_ref():
            kcfg = km.get_config()
        cfg = lm.get_config()
        for key in ("head_dim", "num_query_heads", "num_key_value_heads", "dropout", "use_bias"):
            assert cfg[key] == kcfg[key], key
        with pytest.raises(ValueError, match="divisible"):
            lamina.layers.GroupQueryAttention(3, 4, 3)


@pytest.mark.parametrize("cls", ["MultiHeadAttention", "GroupQueryAttention"])
@pytest.mark.parametrize("ext", [".keras", ".weights.h5"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_attention_files_load_both_ways_with_keras(keras, tmp_path, cls, ext, use_bias):
    # Keras stores each projection in its own group (query_dense/vars, ..., output_dense/vars).
    def build(k):
        kwargs = {"num_heads": 2, "key_dim": 4, "use_bias": use_bias}
        if cls == "GroupQueryAttention":
            kwargs = {"head_dim": 4, "num_query_heads": 2, "num_key_value_heads": 1,
                      "use_bias": use_bias}  # fmt: skip
        inputs = k.Input((5, 8))
        y = getattr(k.layers, cls)(**kwargs)(inputs, inputs)
        return k.Model(inputs, k.layers.Dense(3)(y))

    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    with keras_ref():
        ref = build(keras)
        want = ref.predict(x, verbose=0)
        ref_path = str(tmp_path / f"keras{ext}")
        ref.save(ref_path) if ext == ".keras" else ref.save_weights(ref_path)
    if ext == ".keras":
        model = lamina.models.load_model(ref_path)
    else:
        model = build(lamina)
        model.load_weights(ref_path)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    ours = str(tmp_path / f"lamina{ext}")
    model.save(ours) if ext == ".keras" else model.save_weights(ours)
    with keras_ref():
        if ext == ".keras":
            back = keras.models.load_model(ours)
        else:
            back = build(keras)
            back.load_weights(ours)
        np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_attention_weights_in_one_group_still_load(tmp_path):
    # Files written before attention layers took Keras's per-projection groups.
    import h5py

    inputs = lamina.Input((5, 8))
    model = lamina.Model(inputs, lamina.layers.MultiHeadAttention(2, 4)(inputs, inputs))
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    with h5py.File(path, "r+") as f:
        group = f["layers/multi_head_attention"]
        arrays = [group[f"{sub}/vars/{j}"][()] for sub in
                  ("query_dense", "key_dense", "value_dense", "output_dense") for j in (0, 1)]  # fmt: skip
        for sub in ("query_dense", "key_dense", "value_dense", "output_dense"):
            del group[sub]
        for j, a in enumerate(arrays):
            group["vars"].create_dataset(str(j), data=a)
    fresh = lamina.Model(inputs, lamina.layers.MultiHeadAttention(2, 4)(inputs, inputs))
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
