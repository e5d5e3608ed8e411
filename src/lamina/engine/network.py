"""Keras 2.2's ``keras.engine.network``: ``Network``, its functional-model base class.

Lamina's functional models are :class:`~lamina.models.Functional`, which ``Network`` names.
"""

from lamina.models import Functional as Network
from lamina.utils import get_source_inputs

__all__ = ["Network", "get_source_inputs"]
