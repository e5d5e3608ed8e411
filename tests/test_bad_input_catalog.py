"""docs/bad_input_catalog.md stays true: regenerating it gives the committed file."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool():
    path = os.path.join(ROOT, "tools", "make_bad_input_catalog.py")
    spec = importlib.util.spec_from_file_location("make_bad_input_catalog", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_catalog_is_up_to_date(tmp_path):
    tool = _tool()
    out = tmp_path / "catalog.md"
    tool.main(["--out", str(out)])
    with open(os.path.join(ROOT, "docs", "bad_input_catalog.md")) as f:
        committed = f.read()
    assert out.read_text() == committed, (
        "docs/bad_input_catalog.md is out of date: run python tools/make_bad_input_catalog.py"
    )


def test_every_mistake_raises_a_clear_error(tmp_path):
    rows = _tool().run_all()
    assert len(rows) >= 35
    for title, _call, kind, msg in rows:
        assert kind in {
            "ValueError",
            "TypeError",
            "RuntimeError",
            "FileFormatError",
            "FileNotFoundError",
            "OSError",
        }, (title, kind, msg)
        assert len(msg) > 20 and "jax" not in msg.lower(), (title, msg)
