"""The Keras-style progress display: a live bar on a terminal, plain lines when piped."""

import io
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lamina.callbacks.progress import ProgbarLogger, bar_text, resolve_verbose

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from lamina.layers import Dense
    from lamina.models import Sequential

    model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    X = np.random.default_rng(0).random((200, 4)).astype("float32")
    y = (X.sum(1) > 2).astype("int64")
    model.fit(X, y, epochs=3, batch_size=16, verbose=int(sys.argv[1]))
    print("DONE")
    """
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _env(backend):
    return {**os.environ, "LAMINA_PROGRESS": backend, "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}


def _run_in_pty(verbose, backend):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(verbose)], stdout=slave, stderr=slave, env=_env(backend)
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("backend", ["plain", "rich"])
def test_live_bar_in_a_terminal(backend):
    if backend == "rich":
        pytest.importorskip("rich")
    raw = _run_in_pty(1, backend)
    assert "\r" in raw.replace("\r\n", "\n")  # redrawn in place
    text = ANSI.sub("", raw)
    for epoch in (1, 2, 3):
        assert f"Epoch {epoch}/3" in text
    assert re.search(
        r"13/13 ━{20} ETA \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", text
    )
    assert re.search(
        r"13/13 ━{20} \d+s \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", text
    )
    assert "DONE" in text


@pytest.mark.slow
def test_verbose_2_in_a_terminal_is_keras_text():
    text = _run_in_pty(2, "auto").replace("\r\n", "\n")
    lines = text.split("\n")
    assert [ln for ln in lines if ln.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert "\r" not in text
    assert lines[lines.index("Epoch 1/3") + 1].startswith("13/13 - ")


@pytest.mark.parametrize("verbose", [1, 2])
def test_piped_output_has_no_carriage_returns(verbose):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(verbose)],
        capture_output=True,
        env=_env("auto"),
        timeout=120,
        check=True,
    ).stdout.decode()
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    assert lines[-1] == "DONE"
    stats = r"13/13 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}"
    if verbose == 2:  # Keras 3's text: the epoch on its own line
        assert len(lines) == 7
        for i in range(3):
            assert lines[2 * i] == f"Epoch {i + 1}/3"
            assert re.fullmatch(stats, lines[2 * i + 1])
        return
    assert len(lines) == 4
    for i, line in enumerate(lines[:3]):
        assert re.fullmatch(rf"Epoch {i + 1}/3 - {stats}", line)


def test_string_stream_gets_one_line_per_epoch():
    out = io.StringIO()
    bar = ProgbarLogger(verbose=1, stream=out)
    bar.set_params({"epochs": 2, "steps": 4})
    for epoch in range(2):
        bar.on_epoch_begin(epoch)
        bar.on_train_batch_end(1, {"loss": 0.5})
        bar.on_epoch_end(epoch, {"loss": 0.25, "val_loss": 0.5})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("Epoch 2/2 - 4/4 - ") and lines[1].endswith(
        "loss: 0.2500 - val_loss: 0.5000"
    )


def test_bar_text_and_checks():
    assert bar_text(0, 10, 10) == "─" * 10
    assert bar_text(5, 10, 10) == "━" * 5 + "─" * 5
    assert bar_text(12, 10, 4) == "━" * 4
    assert resolve_verbose("auto") == 1
    with pytest.raises(ValueError, match="verbose must be"):
        resolve_verbose(3)
    with pytest.raises(ValueError, match="backend must be"):
        ProgbarLogger(backend="fancy")


def test_predict_prints_keras_last_progress_line(capsys):
    """Keras's ``predict`` reports its batches: ``verbose=2`` a ``-`` separated line, 1 (and
    "auto") the finished bar; "auto" stays quiet for a single batch (a row at a time)."""
    import lamina

    model = lamina.Sequential([lamina.Input((4,)), lamina.layers.Dense(1)])
    x = np.ones((64, 4), "float32")
    model.predict(x, verbose=2)
    assert re.fullmatch(r"2/2 - \d+s - \d+(us|ms|s)/step\n", capsys.readouterr().out)
    model.predict(x, verbose=1)
    assert re.fullmatch(r"2/2 ━{20} \d+s \d+(us|ms|s)/step\n", capsys.readouterr().out)
    model.predict(x, batch_size=16)
    assert capsys.readouterr().out.startswith("4/4 ━")
    model.predict(x[:1])
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
