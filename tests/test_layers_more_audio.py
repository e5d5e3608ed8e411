"""STFTSpectrogram and MelSpectrogram against real Keras 3 (issue #19)."""

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref

L = lamina.layers

STFT_CASES = [
    dict(frame_length=16),
    dict(mode="magnitude", frame_length=12, frame_step=4, fft_length=16),
    dict(mode="psd", frame_length=10, frame_step=3, fft_length=16, padding="same"),
    dict(mode="real", frame_length=8, scaling="spectrum"),
    dict(mode="imag", frame_length=8, scaling=None, periodic=True),
    dict(mode="angle", frame_length=8, window=None),
    dict(mode="stft", frame_length=8, expand_dims=True, window="hamming"),
    dict(mode="log", frame_length=8, data_format="channels_first"),
    dict(mode="stft", frame_length=8, expand_dims=True, data_format="channels_first"),
]


@pytest.mark.parametrize("kwargs", STFT_CASES, ids=[str(i) for i in range(len(STFT_CASES))])
def test_stft_spectrogram_matches_keras(keras, kwargs):
    x = np.random.default_rng(0).normal(size=(2, 60, 2)).astype("float32")
    if kwargs.get("data_format") == "channels_first":
        x = x.transpose(0, 2, 1)
    shape = (None, *x.shape[1:])
    with keras_ref():
        klayer = keras.layers.STFTSpectrogram(**kwargs)
        want = np.asarray(klayer(x))
        names = [w.path.split("/")[-1] for w in klayer.weights]
        kweights = klayer.get_weights()
        kshape = tuple(klayer.compute_output_shape(shape))
        kconf = klayer.get_config()
    layer = L.STFTSpectrogram(**kwargs)
    params, state = layer.init(jax.random.key(0), shape)
    assert list(params) == names
    for got, ref in zip(params.values(), kweights):
        np.testing.assert_allclose(got, ref, atol=1e-6)  # Keras's STFT initializer
    y, _ = layer.apply(params, state, x)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    assert layer.compute_output_shape(shape) == kshape == (None, *y.shape[1:])
    config = layer.get_config()
    assert set(config) == set(kconf)
    for key, value in kconf.items():
        if key not in ("name", "dtype"):
            assert config[key] == value, key
    assert L.deserialize(L.serialize(layer)).get_config() == config


MEL_CASES = [
    dict(fft_length=64, sequence_stride=16, num_mel_bins=10),
    dict(fft_length=64, sequence_length=48, sequence_stride=20, window="hamming",
         power_to_db=False, mag_exp=1.0, num_mel_bins=12, sampling_rate=8000, max_freq=3000),
    dict(fft_length=32, sequence_stride=8, num_mel_bins=6, top_db=20.0, ref_power=2.0,
         window=None, min_freq=100.0),
]  # fmt: skip


@pytest.mark.parametrize("kwargs", MEL_CASES, ids=[str(i) for i in range(len(MEL_CASES))])
def test_mel_spectrogram_matches_keras(keras, kwargs):
    x = np.random.default_rng(1).normal(size=(3, 300)).astype("float32")
    with keras_ref():
        klayer = keras.layers.MelSpectrogram(**kwargs)
        want = np.asarray(klayer(x))
        kconf = klayer.get_config()
    layer = L.MelSpectrogram(**kwargs)
    got = np.asarray(layer(x))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert layer.compute_output_shape((None, 300)) == (None, *got.shape[1:])
    assert set(layer.get_config()) == set(kconf)
    for key, value in kconf.items():
        if key not in ("name", "dtype"):
            assert layer.get_config()[key] == value, key


def test_spectrogram_argument_errors():
    with pytest.raises(ValueError, match="`frame_step` should be a positive integer"):
        L.STFTSpectrogram(frame_length=8, frame_step=9)
    with pytest.raises(ValueError, match="`fft_length` should be not less than"):
        L.STFTSpectrogram(frame_length=8, fft_length=4)
    with pytest.raises(ValueError, match="Output mode is invalid"):
        L.STFTSpectrogram(mode="power")
    with pytest.raises(ValueError, match="Padding is invalid"):
        L.STFTSpectrogram(padding="causal")
    with pytest.raises(ValueError, match="`fft_length` must be greater than or equal"):
        L.MelSpectrogram(fft_length=32, sequence_length=64)
    with pytest.raises(ValueError, match='must be one of `"hann"`, `"hamming"`'):
        L.MelSpectrogram(window="blackman")


def _audio_model(mod):
    M = mod.layers
    return [
        M.STFTSpectrogram(mode="magnitude", frame_length=16, frame_step=8),
        M.GlobalAveragePooling1D(),
        M.Dense(2),
    ]


@pytest.mark.slow
def test_stft_fit_and_keras_file_match_keras(keras, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 64, 1)).astype("float32")
    y = rng.normal(size=(12, 2)).astype("float32")
    with keras_ref():
        km = keras.Sequential([keras.Input((64, 1)), *_audio_model(keras)])
        km.save(tmp_path / "k.keras")
        km.compile(keras.optimizers.Adam(0.01), "mse")
        kh = km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        kw = km.get_weights()
    lm = lamina.models.load_model(tmp_path / "k.keras")
    lm.compile(lamina.optimizers.Adam(0.01), "mse")
    lh = lm.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(lh.history["loss"], kh.history["loss"], rtol=1e-4, atol=1e-6)
    for a, b in zip(lm.get_weights(), kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    lm.save(tmp_path / "l.keras")
    with keras_ref():
        back = keras.models.load_model(tmp_path / "l.keras")
        np.testing.assert_allclose(
            back.predict(x, verbose=0), lm.predict(x, verbose=0), rtol=1e-4, atol=1e-5
        )
