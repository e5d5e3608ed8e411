"""The user's side: progress counts, file modes, export targets, guardrails through subsets and
wrappers, exported warning categories, logging, HTML reprs, ``metrics_names``."""

import io
import logging
import os
import stat
import warnings

import numpy as np
import pytest

import lamina
from lamina.callbacks import notebook as _notebook
from lamina.callbacks import progress as _progress
from lamina.layers import Dense, Input
from lamina.models import Sequential
from lamina.training.guardrails import GuardrailWarning
from tests.helpers import keras_ref


def _regressor(n_in=3):
    model = Sequential([Input((n_in,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _classifier(n_in=3):
    model = Sequential([Input((n_in,)), Dense(4, activation="relu"), Dense(1, "sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


# ------------------------------------------------------------------------------- progress
def test_evaluate_shows_the_real_number_of_steps(capsys):
    """1,599 rows in batches of 32 are 50 steps (Keras prints 50/50), not a padded 64."""
    x = np.random.default_rng(0).random((1599, 3)).astype("float32")
    model = _regressor()
    model.evaluate(x, x[:, :1], batch_size=32, verbose=1)
    line = capsys.readouterr().out.strip()
    assert line.startswith("50/50 ") and "loss:" in line and "/step" in line
    model.evaluate(x[:100], x[:100, :1], batch_size=32, verbose=2)
    assert capsys.readouterr().out.startswith("4/4 - ")


def test_generator_without_steps_counts_its_batches(capsys):
    x = np.random.default_rng(1).random((32, 3)).astype("float32")

    def batches():
        for _ in range(5):
            yield x, x[:, :1]

    model = _regressor()
    model.fit(batches(), epochs=1, verbose=2)
    assert capsys.readouterr().out.startswith("5/5 - ")  # was "0/0"; no "Epoch 1/1" (Keras 3)
    model.evaluate(batches(), verbose=1)
    assert capsys.readouterr().out.startswith("5/5 ")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_unknown_steps_show_a_running_count_like_keras():
    out = _Terminal()
    bar = _progress.ProgbarLogger(verbose=1, stream=out, backend="plain")
    bar.set_params({"epochs": 2, "steps": None})
    bar.on_epoch_begin(0)
    bar.on_train_batch_end(11, {"loss": 0.5})
    assert "\r12/Unknown " in out.getvalue() and "ETA" not in out.getvalue()
    bar.on_epoch_end(0, {"loss": 0.5})
    assert "12/12 " + "━" * 20 in out.getvalue()
    bar.on_epoch_begin(1)  # the second epoch knows the count the first one found
    bar.on_train_batch_end(5, {"loss": 0.4})
    assert "6/12 " in out.getvalue().split("Epoch 2/2")[1]


def test_live_line_in_a_notebook_is_updated_in_place(monkeypatch):
    lines = []

    class FakeLine:
        def __init__(self, text=""):
            self.texts = [text]
            lines.append(self)

        def update(self, text):
            self.texts.append(text)

    monkeypatch.setattr(_notebook, "in_notebook", lambda: True)
    monkeypatch.setattr(_notebook, "LiveLine", FakeLine)
    assert _progress.is_live()  # fit then runs in chunks so the bar can move
    bar = _progress.ProgbarLogger(verbose=1)
    bar.set_params({"epochs": 1, "steps": 10})
    bar.on_epoch_begin(0)
    bar.on_train_batch_end(4, {"loss": 1.0})
    bar.on_epoch_end(0, {"loss": 0.9})
    (line,) = lines
    assert line.texts[0] == "Epoch 1/1"
    assert line.texts[1].startswith("Epoch 1/1\n5/10 ") and "ETA" in line.texts[1]
    assert line.texts[-1].startswith("Epoch 1/1\n10/10 ") and "loss: 0.9000" in line.texts[-1]


def test_not_a_notebook_outside_a_kernel():
    assert not _notebook.in_notebook()


# ------------------------------------------------------------------------------ files
def test_saved_files_follow_the_umask(tmp_path):
    model = _regressor()
    model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)
    old = os.umask(0o022)
    try:
        for name in ("m.keras", "m.h5"):
            model.save(tmp_path / name)
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644, name
        model.save_weights(tmp_path / "m.weights.h5")
        assert stat.S_IMODE(os.stat(tmp_path / "m.weights.h5").st_mode) == 0o644
        os.umask(0o007)
        model.save(tmp_path / "g.keras")
        assert stat.S_IMODE(os.stat(tmp_path / "g.keras").st_mode) == 0o660
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    "format, message",
    [
        ("tf_saved_model", "Keras's TensorFlow export, which Lamina does not support"),
        ("openvino", "OpenVINO export"),
        ("savedmodel", "is not an export format"),
    ],
)
def test_export_refuses_other_formats_naming_them(tmp_path, format, message):
    with pytest.raises(ValueError, match=message) as e:
        _regressor().export(tmp_path / "out", format=format)
    assert "'onnx'" in str(e.value) and "'tf_saved_model'" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_directory_or_keras_default(tmp_path):
    model = _regressor()
    with pytest.raises(ValueError, match="'tf_saved_model' \\(a directory\\) is not supported"):
        model.export(tmp_path / "exported")  # Keras writes a SavedModel folder here
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match="is a directory; ONNX export writes one file"):
        model.export(tmp_path / "d", format="onnx")
    assert not (tmp_path / "exported").exists()


# ------------------------------------------------------------------------- guardrails
def _fitted(validation_split=0.0):
    X = np.random.default_rng(0).normal(size=(500, 3)).astype("float32")
    y = (X[:, 0] > 0).astype("int64")
    model = _classifier()
    model.fit(X, y, epochs=1, verbose=0, validation_split=validation_split)
    return model, X, y


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [w for w in caught if issubclass(w.category, GuardrailWarning)]


def test_evaluate_on_a_subset_of_the_training_rows_warns():
    model, X, y = _fitted()
    for rows in (slice(0, 50), slice(None, None, 3), np.random.default_rng(1).permutation(500)[:80]):
        with pytest.warns(GuardrailWarning, match="rows that fit\\(\\) trained on"):
            model.evaluate(X[rows], y[rows], verbose=0)
    fresh = np.random.default_rng(2).normal(size=(100, 3)).astype("float32")
    assert not _warnings_of(lambda: model.evaluate(fresh, y[:100], verbose=0))


def test_evaluate_on_the_rows_validation_split_trained_on_warns():
    model, X, y = _fitted(validation_split=0.2)
    with pytest.warns(GuardrailWarning, match="that fit\\(\\) trained on"):
        model.evaluate(X[:400], y[:400], verbose=0)  # exactly the rows fit trained on
    with pytest.warns(GuardrailWarning, match="validation_split"):
        model.evaluate(X[100:300], y[100:300], verbose=0)  # some of them
    assert not _warnings_of(lambda: model.evaluate(X[400:], y[400:], verbose=0))


def test_time_distributed_softmax_head_is_not_a_linear_output():
    from lamina.layers import TimeDistributed

    model = Sequential([Input((5, 3)), TimeDistributed(Dense(4, activation="softmax"))])
    compile_ = lambda: model.compile(loss="categorical_crossentropy")  # noqa: E731
    assert not _warnings_of(compile_)
    linear = Sequential([Input((5, 3)), TimeDistributed(Dense(4))])
    with pytest.warns(GuardrailWarning, match="'linear' activation"):
        linear.compile(loss="categorical_crossentropy")


def test_guardrail_warning_is_exported_for_filtering():
    assert lamina.GuardrailWarning is GuardrailWarning is lamina.config.GuardrailWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error", lamina.GuardrailWarning)
        with pytest.raises(lamina.GuardrailWarning):
            Sequential([Input((3,)), Dense(1, activation="softmax")]).compile(
                loss="binary_crossentropy"
            )


def test_informational_messages_use_the_lamina_logger(monkeypatch, caplog, tmp_path):
    from lamina.training import compilation

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("lamina").handlers)
    monkeypatch.setitem(compilation._DONE, "enabled", None)
    monkeypatch.setenv("LAMINA_COMPILATION_CACHE", "1")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the cache folder cannot be made: logged, and no JAX setting changes
    monkeypatch.setenv("LAMINA_CACHE_DIR", str(blocker))
    with caplog.at_level(logging.INFO, logger="lamina"):
        assert compilation.enable_persistent_cache() is False
    assert any(r.name == "lamina" and "compilation cache" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- notebooks
def test_html_reprs_of_model_and_history():
    model, X, y = _fitted()
    html = model._repr_html_()
    assert "<table>" in html and "(Dense)" in html
    for layer in model.layers:
        assert f"{layer.name} ({type(layer).__name__})" in html
    assert f"{model.count_params():,}" in html
    history = model.fit(X, y, epochs=3, verbose=0)
    table = history._repr_html_()
    assert table.count("<tr>") == 1 + 3
    assert f"<td>{history.history['loss'][-1]:.4f}</td>" in table


def test_html_repr_of_a_functional_model_has_its_layers():
    inputs = lamina.layers.Input((3,))
    model = lamina.models.Model(inputs, Dense(2, name="head")(inputs))
    html = model._repr_html_()
    assert "<td>head (Dense)</td>" in html and "Total params: 8" in html


# --------------------------------------------------------------------------- metrics_names
def test_metrics_names_keep_keras2_names_where_keras3_says_compile_metrics(keras):
    """A documented choice: Keras 3 reports ['loss', 'compile_metrics'], an opaque name;
    Lamina keeps Keras 2's ['loss', 'accuracy'], which the tutorials print next to scores."""
    with keras_ref():
        ref = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        ref.compile(loss="binary_crossentropy", metrics=["accuracy"])
        keras_names = ref.metrics_names
    model = _classifier()
    assert keras_names == ["loss", "compile_metrics"]
    assert model.metrics_names == ["loss", "accuracy"]
    assert len(model.metrics_names) == len(keras_names)  # same positions: scores[1] is accuracy
