"""``lamina.distillation`` stands for ``keras.distillation`` (``Distiller`` and its losses),
which Lamina does not support: each of its Keras names
raises ``UnsupportedKerasAPIError`` here.

>>> import lamina
>>> try:
...     lamina.distillation.Distiller
... except NotImplementedError as e:
...     print(str(e).split(":")[0])
keras.distillation.Distiller is not supported by Lamina
"""

from lamina._unsupported import namespace_getattr

__getattr__ = namespace_getattr(
    "distillation",
    "DistillationLoss Distiller FeatureDistillation LogitsDistillation",
    "write the teacher-student loss in a subclassed Model's compute_loss or train_step, "
    "calling the frozen teacher on the batch",
)
