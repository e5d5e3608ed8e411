"""Small helpers shared by tests."""

import contextlib
import json
import zipfile

import jax


@contextlib.contextmanager
def keras_ref():
    """Runs real Keras code (the reference) with the rank-promotion rules it was written for."""
    with jax.numpy_rank_promotion("allow"):
        yield


def rewrite_config(src, dst, config):
    """Copies the ``.keras`` archive ``src`` to ``dst`` with ``config.json`` replaced.

    ``config`` is a JSON-able object, or the raw bytes to store (for malformed JSON).
    """
    data_out = config if isinstance(config, bytes) else json.dumps(config).encode()
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = data_out if info.filename == "config.json" else zi.read(info.filename)
            zo.writestr(info.filename, data)
    return dst
