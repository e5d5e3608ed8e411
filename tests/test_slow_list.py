"""The measured slow list: ids over the threshold move to the slow set, listed ids stay."""

from tests import _slow_list


def test_totals_sum_phases_and_update_keeps_listed_ids(tmp_path):
    log = tmp_path / "dur.txt"
    log.write_text(
        "0.50 setup tests/test_a.py::test_x[1]\n"
        "2.10 call tests/test_a.py::test_x[1]\n"
        "2.40 call tests/test_b.py::test_y\n"
        "0.20 teardown tests/test_b.py::test_y\n"
        "1.00 call tests/test_c.py::test_z\n",
        encoding="utf-8",
    )
    measured = _slow_list.totals(log)
    assert measured == {
        "tests/test_a.py::test_x[1]": 2.6,
        "tests/test_b.py::test_y": 2.6,
        "tests/test_c.py::test_z": 1.0,
    }
    kept = {"tests/test_old.py::test_w"}
    assert _slow_list.updated(kept, measured, 2.5) == kept | {
        "tests/test_a.py::test_x[1]",
        "tests/test_b.py::test_y",
    }


def test_read_list_skips_comments(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# header\n\ntests/test_a.py::test_x\n", encoding="utf-8")
    assert _slow_list.read_list(path) == {"tests/test_a.py::test_x"}
    assert _slow_list.read_list(tmp_path / "missing.txt") == set()


def test_conftest_marks_listed_tests_slow(request):
    listed = _slow_list.read_list()
    assert listed, "tests/slow_tests.txt is empty"
    items = [item for item in request.session.items if item.nodeid in listed]
    assert all(item.get_closest_marker("slow") for item in items)
