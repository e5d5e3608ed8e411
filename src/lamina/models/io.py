"""Saving methods of ``Sequential``: ``save``, ``save_weights``, ``load_weights``, ``to_json``,
``export``.  The work happens in :mod:`lamina.saving`.

Example:

>>> import os, tempfile
>>> from lamina.models import Sequential, load_model
>>> from lamina.layers import Input, Dense
>>> model = Sequential([Input((3,)), Dense(2)])
>>> folder = tempfile.mkdtemp()
>>> model.save(os.path.join(folder, "m.keras"))
>>> model.save_weights(os.path.join(folder, "m.weights.h5"))
>>> model.load_weights(os.path.join(folder, "m.weights.h5"))
>>> load_model(os.path.join(folder, "m.keras")).output_shape
(None, 2)
"""

from __future__ import annotations

import json


class SavingMixin:
    """Adds Keras's saving methods to a model class."""

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True, **kwargs):
        """Saves the model: ``.keras`` (Keras 3 archive) or ``.h5`` (legacy HDF5).

        The file is written atomically: if the process dies, the previous file stays intact.
        """
        from lamina import saving

        saving.save_model(
            self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs
        )

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Saves the weights to ``*.weights.h5`` (Keras 3) or ``*.h5`` (legacy layout)."""
        from lamina import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, by_name: bool = False, skip_mismatch: bool = False) -> None:
        """Loads weights from ``.weights.h5``, ``.h5`` or ``.keras`` files (Lamina or Keras)."""
        from lamina import saving

        saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs) -> str:
        """The architecture as Keras's JSON (no weights); see ``lamina.models.model_from_json``."""
        from lamina.saving import keras_archive

        return json.dumps(keras_archive.model_config(self, include_compile=False), **kwargs)

    def export(self, filepath, format: str = "onnx", **kwargs) -> None:
        """Exports the inference function; ``format="onnx"`` writes an ONNX model.

        Needs the ``onnx`` package.  Supported layers: Dense, Activation, Flatten, Reshape,
        Conv1D/2D, depthwise/separable convolutions, max/average/global pooling,
        Batch/LayerNormalization, Normalization, Rescaling, ZeroPadding, Cropping, Permute,
        Embedding and the inference-identity layers (Dropout, noise); others raise a ValueError
        naming the layer.  See :mod:`lamina.saving.onnx_export`.
        """
        if format != "onnx":
            raise ValueError(f"export(format={format!r}) is not supported; use format='onnx'.")
        from lamina.saving import onnx_export

        onnx_export.export(self, filepath, **kwargs)
