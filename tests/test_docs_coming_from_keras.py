"""The "Coming from Keras" table (docs/coming-from-keras.md) cannot drift from the code: every
supported row runs its check, every "not supported" row raises an error naming the API."""

import pathlib
import re
import tempfile
import warnings

import numpy as np
import pytest

import lamina

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "coming-from-keras.md"
STATUSES = ("supported", "differs", "not supported")


def _rows():
    rows = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"a table row needs 4 cells: {line}"
        api, status, _, check = cells
        assert status in STATUSES, f"unknown status {status!r} in: {line}"
        assert check.startswith("`") and check.endswith("`"), f"no check code in: {line}"
        rows.append(pytest.param(api, status, check[1:-1], id=re.sub(r"\W+", "_", api)[:60]))
    return rows


ROWS = _rows()


def _namespace(tmp):
    X = np.random.default_rng(0).random((20, 3)).astype("float32")
    y = (X[:, 0] > 0.5).astype("int64")
    m = lamina.models.Sequential(
        [lamina.layers.Input((3,)), lamina.layers.Dense(1, activation="sigmoid")]
    )
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    # ``__name__`` as in a script: classes made with type() take their module from it.
    return {"__name__": "__main__", "lamina": lamina, "np": np, "X": X, "y": y, "m": m, "tmp": tmp}


def _named(api: str) -> str:
    """The name an error must mention: the last dotted part of the row's first code span."""
    first = re.search(r"`([^`]+)`", api).group(1)
    first = re.sub(r"\(.*?\)", "", first).split("/")[0].strip()
    return first.split(".")[-1].strip()


def test_the_page_has_rows_of_every_kind():
    statuses = {p.values[1] for p in ROWS}
    assert statuses == set(STATUSES) and len(ROWS) >= 40


@pytest.mark.parametrize("api, status, check", ROWS)
def test_row(api, status, check):
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns = _namespace(tmp)
        if status == "not supported":
            with pytest.raises(Exception) as e:
                exec(check, ns)
            assert _named(api) in str(e.value), f"{api}: the error does not name it: {e.value}"
        else:
            exec(check, ns)
