"""``ops.stft``, ``ops.istft`` and ``ops.ctc_decode(strategy="beam_search")`` against real Keras 3.

Random inputs of several shapes (batched and not), odd and even frame/FFT lengths, every window
kind, centred or not; beam search with one and several paths, both ``merge_repeated`` values and
blank classes other than 0; under ``jax.jit``; symbolic (functional) calls; and the argument
errors Keras also raises.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lamina
from lamina import ops
from tests.helpers import keras_ref

ATOL = 2e-5


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def _kops(keras, name, *args, **kwargs):
    with keras_ref():
        return _np(getattr(keras.ops, name)(*args, **kwargs))


def _kjit(keras, name, *args, **kwargs):
    """Keras's op under ``jax.jit`` (Keras's eager beam search runs op by op: slow)."""
    with keras_ref():
        return _np(jax.jit(lambda *a: getattr(keras.ops, name)(*a, **kwargs))(*args))


def _close(got, want, atol=ATOL):
    got, want = _np(got), _np(want)
    assert len(got) == len(want) if isinstance(want, tuple) else True
    for g, w in zip(got, want) if isinstance(want, tuple) else [(got, want)]:
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)


# (signal shape, sequence_length, sequence_stride, fft_length): even and odd lengths, a window
# zero-padded to a larger FFT, stride == fft_length (no overlap), stride 1, batch axes.
STFT_CASES = [
    ((32,), 8, 4, 8),
    ((2, 33), 5, 2, 8),
    ((2, 3, 40), 7, 3, 7),
    ((3, 30), 6, 6, 6),
    ((17,), 4, 1, 5),
]
WINDOWS = ["hann", "hamming", None, "array"]


def _window(window, sequence_length):
    if window == "array":
        return np.random.default_rng(7).uniform(0.2, 1.0, sequence_length).astype("float32")
    return window


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("window", WINDOWS)
def test_stft_matches_keras(keras, window, center):
    for i, (shape, seq_len, stride, fft_len) in enumerate(STFT_CASES):
        x = _rand(*shape, seed=i)
        kwargs = dict(window=_window(window, seq_len), center=center)
        want = _kops(keras, "stft", x, seq_len, stride, fft_len, **kwargs)
        got = ops.stft(x, seq_len, stride, fft_len, **kwargs)
        assert isinstance(got, tuple) and len(got) == 2
        _close(got, want, atol=1e-4)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("window", WINDOWS)
def test_istft_matches_keras(keras, window, center):
    for i, (shape, seq_len, stride, fft_len) in enumerate(STFT_CASES):
        win = _window(window, seq_len)
        spec = _kops(keras, "stft", _rand(*shape, seed=i), seq_len, stride, fft_len, window=win)
        for length in (None, shape[-1], shape[-1] - 3):
            kwargs = dict(length=length, window=win, center=center)
            want = _kops(keras, "istft", spec, seq_len, stride, fft_len, **kwargs)
            got = ops.istft(spec, seq_len, stride, fft_len, **kwargs)
            _close(got, want, atol=1e-4)


def test_stft_istft_round_trip_and_docstring_values():
    x = _rand(2, 64)
    spec = ops.stft(x, 16, 4, 16)
    np.testing.assert_allclose(ops.istft(spec, 16, 4, 16, length=64), x, atol=1e-5)
    real, imag = ops.stft(jnp.asarray([0.0, 1.0, 2.0, 3.0, 4.0]), 3, 2, 3)
    np.testing.assert_allclose(real, [[0.75, -0.375], [3.75, -1.875], [5.25, -2.625]], atol=1e-6)
    np.testing.assert_allclose(imag[:, 1], [0.649519, 0.649519, -0.649519], atol=1e-6)


def test_stft_istft_under_jit_match_eager():
    x = _rand(2, 3, 41)
    fn = jax.jit(lambda x: ops.stft(x, 9, 3, 12, window="hamming"))
    _close(fn(x), ops.stft(x, 9, 3, 12, window="hamming"))
    spec = ops.stft(x, 9, 3, 12)
    inv = jax.jit(lambda r, i: ops.istft((r, i), 9, 3, 12, length=41))
    _close(inv(*spec), ops.istft(spec, 9, 3, 12, length=41))
    assert jax.grad(lambda x: jnp.sum(ops.stft(x, 8, 4, 8)[0] ** 2))(x).shape == x.shape


def test_stft_float64_and_list_inputs_match_keras(keras):
    x64 = np.random.default_rng(3).normal(size=(2, 20))
    _close(ops.stft(x64, 6, 2, 8), _kops(keras, "stft", x64, 6, 2, 8))
    window = [0.5, 1.0, 1.0, 0.5]
    x = _rand(12)
    _close(ops.stft(x, 4, 2, 4, window=window), _kops(keras, "stft", x, 4, 2, 4, window=window))


def test_symbolic_stft_istft_shapes_match_keras(keras):
    inp = lamina.Input((33,))
    real, imag = ops.stft(inp, 8, 4, 8)
    out = ops.istft((real, imag), 8, 4, 8)
    with keras_ref():
        k_inp = keras.Input((33,))
        k_real, k_imag = keras.ops.stft(k_inp, 8, 4, 8)
        k_out = keras.ops.istft((k_real, k_imag), 8, 4, 8)
    assert tuple(real.shape) == tuple(k_real.shape) and tuple(out.shape) == tuple(k_out.shape)
    x = _rand(2, 33)
    model = lamina.Model(inp, out)
    want = ops.istft(ops.stft(x, 8, 4, 8), 8, 4, 8)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-5)


STFT_ERRORS = [
    ((_rand(16), 4, 0, 4), {}, ValueError, "sequence_stride"),
    ((_rand(16), 4, 2.0, 4), {}, ValueError, "sequence_stride"),
    ((np.arange(16, dtype="int32"), 4, 2, 4), {}, TypeError, "Invalid input type"),
    ((_rand(16), 8, 2, 4), {}, ValueError, "fft_length"),
    ((_rand(16), 4, 2, 4), {"window": "blackman"}, ValueError, "hamming"),
    ((_rand(16), 4, 2, 4), {"window": np.ones(5, "float32")}, ValueError, "shape of `window`"),
    ((_rand(16), 4, 2, 4), {"window": np.ones((4, 1), "float32")}, ValueError, "shape of `window`"),
]


@pytest.mark.parametrize("args,kwargs,error,match", STFT_ERRORS)
def test_stft_errors_as_keras(keras, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.stft(*args, **kwargs)
    with keras_ref(), pytest.raises(error, match=match):
        keras.ops.stft(*args, **kwargs)


_SPEC = (_rand(5, 3), _rand(5, 3, seed=1))
ISTFT_ERRORS = [
    ((_SPEC + _SPEC[:1], 4, 2, 4), {}, "tuple of two tensors"),
    ((_SPEC, 4, -1, 4), {}, "sequence_stride"),
    (((_SPEC[0], _rand(4, 3)), 4, 2, 4), {}, "same shape"),
    (((_rand(3), _rand(3)), 4, 2, 4), {}, "at least 2 dimensions"),
    ((_SPEC, 4, 2, 4), {"window": np.ones(3, "float32")}, "shape of `window`"),
]


@pytest.mark.parametrize("args,kwargs,match", ISTFT_ERRORS)
def test_istft_errors_as_keras(keras, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ops.istft(*args, **kwargs)
    with keras_ref(), pytest.raises(ValueError, match=match):
        keras.ops.istft(*args, **kwargs)


# (batch, time, classes, beam_width, top_paths, mask_index, merge_repeated)
BEAM_CASES = [
    (3, 7, 5, 4, 1, 0, True),
    (3, 7, 5, 4, 3, 0, False),
    (2, 6, 4, 100, 2, 2, True),
    (2, 8, 6, 3, 2, 5, False),
    (4, 5, 3, 2, 4, None, True),
    (1, 1, 4, 5, 2, 1, True),
]


def _ctc_inputs(batch, time, classes, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, time, classes)).astype("float32") * 2
    # Make some steps repeat the previous step's best class, so merging is exercised.
    logits[:, 1::2] = logits[:, ::2][:, : logits[:, 1::2].shape[1]] + 0.1
    lengths = rng.integers(1, time + 1, size=batch).astype("int32")
    lengths[0] = time
    return logits, lengths


@pytest.mark.parametrize("case", BEAM_CASES, ids=[str(c) for c in BEAM_CASES])
def test_ctc_beam_search_matches_keras(keras, case):
    batch, time, classes, beam_width, top_paths, mask_index, merge = case
    logits, lengths = _ctc_inputs(batch, time, classes, seed=sum(case[:5]))
    kwargs = dict(
        strategy="beam_search", beam_width=beam_width, top_paths=top_paths,
        merge_repeated=merge, mask_index=mask_index,
    )  # fmt: skip
    want = (_kops if case == BEAM_CASES[0] else _kjit)(
        keras, "ctc_decode", logits, lengths, **kwargs
    )
    got = _np(ops.ctc_decode(logits, lengths, **kwargs))
    assert got[0].shape == (top_paths, batch, time) and got[1].shape == (batch, top_paths)
    assert got[0].dtype == want[0].dtype == np.int32 and got[1].dtype == want[1].dtype
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], atol=1e-4, rtol=1e-5)
    jitted = jax.jit(lambda x, n: ops.ctc_decode(x, n, **kwargs))(logits, lengths)
    np.testing.assert_array_equal(jitted[0], want[0])
    np.testing.assert_allclose(jitted[1], want[1], atol=1e-4, rtol=1e-5)


def test_ctc_beam_search_dtypes_and_nn_namespace_match_keras(keras):
    logits, lengths = _ctc_inputs(2, 5, 4, seed=3)
    for x in (logits.astype("float16"), jnp.asarray(logits, jnp.bfloat16)):
        want = _kjit(keras, "ctc_decode", x, lengths, strategy="beam_search", top_paths=2)
        got = _np(ops.nn.ctc_decode(x, lengths, strategy="beam_search", top_paths=2))
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1].dtype == want[1].dtype
        np.testing.assert_allclose(got[1], want[1], atol=1e-3)


def test_ctc_beam_search_obvious_path_and_symbolic(keras):
    logits = np.eye(3, dtype="float32")[[[1, 1, 0, 2]]] * 5
    paths, scores = ops.ctc_decode(logits, [4], strategy="beam_search", top_paths=2)
    assert paths[:, 0].tolist() == [[1, 2, -1, -1], [1, -1, -1, -1]]
    assert scores[0, 0] > scores[0, 1]
    sym = ops.ctc_decode(
        lamina.Input((6, 5)), lamina.Input((), dtype="int32"), strategy="beam_search", top_paths=2
    )
    with keras_ref():
        k_sym = keras.ops.ctc_decode(
            keras.Input((6, 5)), keras.Input((), dtype="int32"), strategy="beam_search", top_paths=2
        )
    assert [tuple(t.shape) for t in sym] == [tuple(t.shape) for t in k_sym]
    assert [t.dtype for t in sym] == [t.dtype for t in k_sym]


def test_ctc_decode_greedy_unchanged_and_bad_strategy(keras):
    logits, lengths = _ctc_inputs(2, 6, 5, seed=1)
    for merge in (True, False):
        want = _kops(keras, "ctc_decode", logits, lengths, merge_repeated=merge, mask_index=3)
        _close(ops.ctc_decode(logits, lengths, merge_repeated=merge, mask_index=3), want)
    with pytest.raises(ValueError, match="Invalid strategy"):
        ops.ctc_decode(logits, lengths, strategy="prefix")
    with keras_ref(), pytest.raises(ValueError, match="Invalid strategy"):
        keras.ops.ctc_decode(logits, lengths, strategy="prefix")
