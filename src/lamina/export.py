"""``lamina.export`` stands for ``keras.export`` (``ExportArchive``: TensorFlow SavedModel
export), which Lamina does not support: each of its Keras names here raises
``UnsupportedKerasAPIError``.  ``model.export(path, format="onnx")`` writes an ONNX file.

>>> import lamina
>>> try:
...     lamina.export.ExportArchive
... except NotImplementedError as e:
...     print(str(e).split(":")[0])
keras.export.ExportArchive is not supported by Lamina
"""

from lamina._unsupported import namespace_getattr

__getattr__ = namespace_getattr(
    "export",
    "ExportArchive",
    "Lamina writes no TensorFlow SavedModel; model.export(path, format='onnx') exports the "
    "inference function to ONNX",
)
