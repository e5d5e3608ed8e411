"""Data inputs: in-memory arrays, and streams from files, generators and datasets.

* ``lamina.data.from_csv`` / ``from_parquet``: tables streamed from disk in bounded memory;
* ``lamina.utils.PyDataset``: batches by index (Keras's protocol);
* generators, DataLoader-like iterables and memory-mapped arrays go straight to ``fit``.

>>> import lamina
>>> ds = lamina.data.from_csv(lamina.datasets.path('pima'), target='Outcome', batch_size=64)
>>> ds.target
'Outcome'
"""

from lamina.data.files import FileDataset, from_csv, from_parquet
from lamina.data.pydataset import PyDataset

__all__ = ["FileDataset", "PyDataset", "from_csv", "from_parquet"]
