"""Data sets: Keras's ``keras.datasets`` modules, and small real tables shipped inside Lamina.

Keras's modules (``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``imdb``,
``reuters``, ``boston_housing``, ``california_housing``) keep Keras's ``load_data``
signatures, shapes and dtypes.  Lamina never downloads: each reads the file Keras caches
(``$KERAS_HOME/datasets``, ``~/.keras/datasets`` by default), and without it returns
deterministic, learnable stand-in data of the same shapes, with a one-time ``UserWarning``
saying which file to place where.  Stand-in results say nothing about the real data set.

The shipped UCI classics (``load_pima``, ``load_iris``, ``load_sonar``, ``load_wine``) return
``(X, y)`` as NumPy arrays; ``path(name)`` gives the CSV file itself.

>>> from lamina.datasets import load_pima
>>> X, y = load_pima()
>>> X.shape, y.shape
((768, 8), (768,))
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

from lamina.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = [
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "load_iris",
    "load_pima",
    "load_sonar",
    "load_wine",
    "mnist",
    "path",
    "reuters",
]

_FILES = {
    "pima": "pima-indians-diabetes.csv",
    "iris": "iris.csv",
    "sonar": "sonar.csv",
    "wine": "winequality-red.csv",
}


def path(name: str) -> str:
    """The file system path of a shipped CSV (``'pima'``, ``'iris'``, ``'sonar'``, ``'wine'``)."""
    if name not in _FILES:
        from lamina._naming import unknown_name_error

        raise unknown_name_error("data set", name, _FILES)
    return str(resources.files("lamina.datasets") / "_data" / _FILES[name])


def _rows(name):
    with open(path(name), newline="") as f:
        return [r for r in csv.reader(f) if r]


def load_pima():
    """Pima Indians diabetes: 768 rows, 8 numeric inputs, binary ``Outcome``."""
    rows = _rows("pima")[1:]
    data = np.array(rows, dtype=np.float64)
    return data[:, :8].astype(np.float32), data[:, 8].astype(np.int64)


def load_iris():
    """Iris: 150 rows, 4 inputs, 3 classes; ``y`` holds integers, ``classes`` their names."""
    rows = _rows("iris")[1:]
    X = np.array([r[:4] for r in rows], dtype=np.float32)
    classes, y = np.unique([r[4] for r in rows], return_inverse=True)
    load_iris.classes = list(classes)
    return X, y.astype(np.int64)


def load_sonar():
    """Sonar: 208 rows, 60 inputs, label ``M`` (mine) = 1 and ``R`` (rock) = 0. No header."""
    rows = _rows("sonar")
    X = np.array([r[:60] for r in rows], dtype=np.float32)
    y = np.array([1 if r[60].strip() == "M" else 0 for r in rows], dtype=np.int64)
    return X, y


def load_wine():
    """Red wine quality: 1598 rows, 11 inputs, ``quality`` score (3..8) as regression target."""
    rows = _rows("wine")[1:]
    data = np.array(rows, dtype=np.float32)
    return data[:, :11], data[:, 11]
