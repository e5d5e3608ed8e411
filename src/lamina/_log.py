"""The ``"lamina"`` logger, for the library's informational messages (never for results).

Like every library, Lamina only adds a ``NullHandler``: nothing is shown until the program
configures logging, e.g. ``logging.basicConfig(level=logging.INFO)`` or
``logging.getLogger("lamina").setLevel(logging.DEBUG)``.  Problems the user should act on stay
warnings (``lamina.GuardrailWarning`` ...), so they can be filtered by category.

>>> import logging
>>> logger.name
'lamina'
>>> isinstance(logger.handlers[0], logging.NullHandler)
True
"""

from __future__ import annotations

import logging

logger = logging.getLogger("lamina")
if not logger.handlers:
    logger.addHandler(logging.NullHandler())
