"""Keep ``tests/slow_tests.txt``: the default-suite tests measured too slow for it.

The default suite (``pytest -n 2 -m "not slow and not multiprocess"``) must stay under ten
minutes on two cores. A test whose setup + call + teardown took ``--threshold`` seconds or more
in a measured run moves to the slow set (``tests/conftest.py`` marks every id in the list), so it
still runs in ``.ci/run``, after the default suite.

Measure, then update the list (ids already listed stay listed; ``--drop-missing`` removes ids
the current collection no longer has)::

    LAMINA_DURATIONS_LOG=/tmp/dur.txt pytest -q -n 2 -m "not slow and not multiprocess"
    python -m tests._slow_list /tmp/dur.txt
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

LIST = Path(__file__).with_name("slow_tests.txt")
HEADER = (
    "# Default-suite tests measured at or over the threshold (setup + call + teardown, two\n"
    "# pytest-xdist workers on two cores): tests/conftest.py runs them in the slow set.\n"
    "# Written by `python -m tests._slow_list DURATIONS_LOG` (see that module).\n"
)


def read_list(path: Path = LIST) -> set[str]:
    """The node ids listed in ``path`` (comments and blank lines skipped)."""
    if not path.exists():
        return set()
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def totals(log: Path) -> dict[str, float]:
    """Seconds per node id, summed over its phases, from a ``LAMINA_DURATIONS_LOG`` file."""
    seconds: dict[str, float] = defaultdict(float)
    for line in log.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            seconds[parts[2].strip()] += float(parts[0])
    return dict(seconds)


def updated(listed: set[str], measured: dict[str, float], threshold: float) -> set[str]:
    """``listed`` plus every measured id at or over ``threshold`` seconds."""
    return listed | {nodeid for nodeid, sec in measured.items() if sec >= threshold}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path, help="LAMINA_DURATIONS_LOG files")
    parser.add_argument("--threshold", type=float, default=2.5, help="seconds (default 2.5)")
    parser.add_argument("--drop-missing", action="store_true",
                        help="remove ids that pytest no longer collects")
    args = parser.parse_args(argv)
    ids = read_list()
    for log in args.logs:
        ids = updated(ids, totals(log), args.threshold)
    if args.drop_missing:
        import subprocess
        import sys

        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                              "-p", "no:cacheprovider"], capture_output=True, text=True,
                             check=False).stdout
        collected = {line.strip() for line in out.splitlines() if "::" in line}
        ids &= collected
    LIST.write_text(HEADER + "".join(f"{nodeid}\n" for nodeid in sorted(ids)), encoding="utf-8")
    print(f"{len(ids)} ids in {LIST}")


if __name__ == "__main__":
    main()
