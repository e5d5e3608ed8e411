"""``lamina.config`` (as ``keras.config``): Keras's switches and the fit caps."""

import warnings

import numpy as np
import pytest

import lamina
import lamina.config as config
from lamina import backend


def _public(module):
    return {n for n in dir(module) if not n.startswith("_")}


def test_every_keras_config_name_exists(keras):
    assert _public(keras.config) <= _public(config)


def test_shared_state_with_backend(keras):
    try:
        config.set_floatx("float16")
        assert backend.floatx() == "float16" == config.floatx()
        config.set_epsilon(1e-5)
        assert backend.epsilon() == 1e-5
        config.set_image_data_format("channels_first")
        assert backend.image_data_format() == "channels_first"
    finally:
        config.set_floatx("float32")
        config.set_epsilon(1e-7)
        config.set_image_data_format("channels_last")
    assert config.floatx() == keras.config.floatx()
    assert config.epsilon() == keras.config.epsilon()
    assert config.image_data_format() == keras.config.image_data_format()
    with pytest.raises(ValueError, match="Unknown `floatx`"):
        config.set_floatx("int8")


def test_backend_and_switches(keras):
    assert config.backend() == keras.config.backend() == "jax"
    config.set_backend("jax")
    with pytest.raises(ValueError, match="only on the JAX backend"):
        config.set_backend("torch")
    assert config.is_nnx_enabled() is False
    assert config.is_flash_attention_enabled() is keras.config.is_flash_attention_enabled()
    config.disable_flash_attention()
    assert config.is_flash_attention_enabled() is False
    config.enable_flash_attention()
    assert config.is_flash_attention_enabled() is None
    config.disable_traceback_filtering()
    assert config.is_traceback_filtering_enabled() is False
    config.enable_traceback_filtering()
    assert config.is_traceback_filtering_enabled() is True
    config.disable_interactive_logging()
    assert config.is_interactive_logging_enabled() is False
    assert lamina.utils.is_interactive_logging_enabled() is False
    config.enable_interactive_logging()
    assert config.is_interactive_logging_enabled() is True


def test_caps_validate():
    with pytest.raises(ValueError, match="positive integer or None"):
        config.set_max_epochs(0)
    with pytest.raises(ValueError, match="positive integer or None"):
        config.set_max_steps_per_epoch("3")


def test_max_epochs_and_steps_cap_fit():
    """Keras's trainer_test.test_max_epochs_and_steps: 4 epochs x 10 batches -> 2 x 3."""
    from lamina.callbacks import Callback

    class Counter(Callback):
        def __init__(self):
            super().__init__()
            self.epochs = self.batches = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs += 1

        def on_train_batch_begin(self, batch, logs=None):
            self.batches += 1

    x, y = np.ones((80, 4), "float32"), np.ones((80, 1), "float32")
    model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    seen = Counter()
    model.fit(x, y, batch_size=8, epochs=4, callbacks=[seen], verbose=0)
    assert (seen.epochs, seen.batches) == (4, 40)
    try:
        config.set_max_epochs(2)
        config.set_max_steps_per_epoch(3)
        seen = Counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(x, y, batch_size=8, epochs=4, callbacks=[seen], verbose=0)
        assert (seen.epochs, seen.batches) == (2, 6)
        assert len(history.history["loss"]) == 2
        assert any("Limiting epochs to 2" in str(w.message) for w in caught)
    finally:
        config.set_max_epochs(None)
        config.set_max_steps_per_epoch(None)


def test_dtype_policy_delegates_or_says_missing():
    try:
        import lamina.dtype_policies  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(NotImplementedError, match="lamina.dtype_policies"):
            config.set_dtype_policy("mixed_bfloat16")
        with pytest.raises(NotImplementedError, match="lamina.dtype_policies"):
            config.dtype_policy()
    else:
        config.set_dtype_policy("float32")
        assert "float32" in str(getattr(config.dtype_policy(), "name", config.dtype_policy()))


def test_lambda_bytecode_never_runs_even_unsafe():
    """Keras runs a saved lambda's bytecode after ``enable_unsafe_deserialization()``; Lamina
    never runs code from a config: the function comes from ``custom_objects`` by layer name."""
    from lamina.layers.lambda_layer import Lambda

    layer = Lambda(lambda t: t * 2, name="double")
    cfg = layer.get_config()
    with pytest.raises(ValueError, match="Python lambda.*never runs code"):
        Lambda.from_config(cfg)
    try:
        config.enable_unsafe_deserialization()
        with pytest.raises(ValueError, match="never runs code.*custom_objects=\\{'double'"):
            Lambda.from_config(cfg)
        restored = Lambda.from_config(cfg, custom_objects={"double": lambda t: t * 2})
        assert float(restored.function(3.0)) == 6.0
    finally:
        config._STATE["safe_mode"] = None
