"""pyarrow for the file streams: imported on first use, and what the readers, the dataset and
the sharding plan share besides reading: the errors pyarrow raises for an unreadable file, their
translation into messages naming the file, and the numeric-column test.

>>> _explain(OSError("Parquet magic bytes not found"), "d.parquet", [])
OSError('d.parquet: cannot read the file; it may be damaged or truncated (Parquet magic bytes not found).')
"""

from __future__ import annotations

import re
import sys

import numpy as np

_NUMERIC = "biuf"


def _pyarrow():
    loaded = sys.modules.get("pyarrow")
    needed = ("pyarrow.compute", "pyarrow.csv", "pyarrow.parquet")
    if loaded is not None and all(m in sys.modules for m in needed):
        # Already imported: no import at all (at interpreter exit, a stream closed by the garbage
        # collector must not try one: it fails and would blame a missing pyarrow).
        return loaded
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
        import pyarrow.csv  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError(
            'lamina.data.from_csv/from_parquet need pyarrow: pip install "lamina[data]".'
        ) from None
    return pyarrow


def _is_numeric(t) -> bool:
    try:
        return np.dtype(t.to_pandas_dtype()).kind in _NUMERIC
    except (NotImplementedError, TypeError):
        return False


def _read_errors():
    """The exceptions pyarrow raises for unreadable, damaged or undecodable files."""
    pa = _pyarrow()
    return (pa.ArrowException, OSError, UnicodeDecodeError, KeyError, IndexError)


def _explain(e, path, columns):
    msg = str(e)
    m = re.search(r"column #(\d+)", msg)
    if m and "conversion error" in msg.lower():
        return TypeError(f"{path}: CSV column #{m.group(1)} holds a non-numeric value ({msg}).")
    if isinstance(e, OSError):  # pyarrow's damaged-file errors (and missing files)
        return OSError(f"{path}: cannot read the file; it may be damaged or truncated ({msg}).")
    if isinstance(e, UnicodeDecodeError | KeyError | IndexError):
        msg = f"the file is damaged or not UTF-8 text ({type(e).__name__}: {msg})"
    return ValueError(f"{path}: {msg}")
