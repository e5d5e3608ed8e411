"""Utilities: ``to_categorical``, ``set_random_seed`` and friends."""

from lamina.data.pydataset import PyDataset as PyDataset
from lamina.utils.numerical import normalize, to_categorical
from lamina.utils.random import set_random_seed

__all__ = ["normalize", "set_random_seed", "to_categorical"]
