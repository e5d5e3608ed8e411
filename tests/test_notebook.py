"""A real Jupyter kernel runs a fit: the live bar is one display updated in place, the model and
its History render as HTML tables, and ``History.plot()`` shows one inline figure."""

import os
import textwrap

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

CELLS = [
    """
    import numpy as np
    from lamina.layers import Dense, Input
    from lamina.models import Sequential
    X = np.random.default_rng(0).random((200, 4)).astype("float32")
    y = (X.sum(1) > 2).astype("int64")
    model = Sequential([Input((4,)), Dense(8, activation="relu", name="hidden"),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model
    """,
    "history = model.fit(X, y, epochs=2, batch_size=16, verbose=1)",
    "history",
    "history.plot()",
]


def _run_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in CELLS]
    updates = []

    class Client(nbclient.NotebookClient):
        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] == "update_display_data":
                updates.append(msg["content"]["data"]["text/plain"])
            return super().process_message(msg, cell, cell_index)

    env_backup = dict(os.environ)
    os.environ.update({"LAMINA_COMPILATION_CACHE": "0", "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    try:
        Client(nb, timeout=240, kernel_name="python3").execute()
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return nb, updates


@pytest.mark.slow
def test_notebook_live_bar_and_html_tables():
    nb, updates = _run_notebook()
    summary, fit, history, plot = (c.outputs for c in nb.cells)

    html = [o for o in summary if o.output_type == "execute_result"][0].data["text/html"]
    assert "<table>" in html and "hidden (Dense)" in html and "Total params" in html

    # One display per epoch, updated in place (never a stream of carriage returns).
    displays = [o for o in fit if o.output_type == "display_data"]
    assert len(displays) == 2, fit
    final = displays[-1].data["text/plain"]
    assert final.startswith("Epoch 2/2\n13/13 ━") and "accuracy:" in final
    assert not any("\r" in o.get("text", "") for o in fit if o.output_type == "stream")
    assert any(u.startswith("Epoch 1/2\n") for u in updates)

    table = [o for o in history if o.output_type == "execute_result"][0].data["text/html"]
    assert "<th>epoch</th>" in table and "<th>loss</th>" in table and table.count("<tr>") == 3

    pytest.importorskip("matplotlib")
    images = [o for o in plot if "image/png" in o.get("data", {})]
    assert len(images) == 1, [o.output_type for o in plot]
