"""Parquet record batches in bounded memory, whatever the file's row-group size.

By default pyarrow's ``ParquetFile.iter_batches`` pre-buffers: it reads the column chunks of a
whole row group (often 10^6 rows, 100s of MB) before decoding the first batch, and keeps several
such reads in flight.  ``record_batches`` turns that off and reads each column chunk through a
small buffer, so the memory used is about one decoded page (and one dictionary page) per column
plus one record batch of ``PARQUET_BATCH_ROWS`` rows: tens of MB for 30-odd float columns,
independent of the file and row-group sizes.  Reading is not measurably slower.

>>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), 't.parquet')
>>> pq.write_table(pa.table({'a': list(range(10))}), path, row_group_size=4)
>>> [rb.num_rows for rb in record_batches(pa, path, ['a'], batch_rows=3)]
[3, 3, 3, 1]
"""

from __future__ import annotations

#: Rows per record batch read (a few MB for tens of float columns).
PARQUET_BATCH_ROWS = 1 << 15
#: Bytes read at a time from each column chunk (``pre_buffer=False``).
PARQUET_BUFFER_BYTES = 1 << 16


def record_batches(pa, path, columns, row_groups=None, *, batch_rows=None):
    """Yields the record batches of ``columns`` of one Parquet file (of its ``row_groups``,
    default all), decoded page by page; ``pa`` is the imported ``pyarrow``.

    Raises ``ValueError`` when a column is missing.  When the file is done (or the generator is
    closed) the file is closed and the memory pool hands its unused memory back to the system.
    """
    pf = pa.parquet.ParquetFile(path, pre_buffer=False, buffer_size=PARQUET_BUFFER_BYTES)
    try:
        missing = [c for c in columns if c not in pf.schema_arrow.names]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}.")
        yield from pf.iter_batches(
            batch_size=batch_rows or PARQUET_BATCH_ROWS,
            columns=columns,
            row_groups=row_groups,
            use_threads=False,
        )
    finally:
        pf.close()
        pa.default_memory_pool().release_unused()
