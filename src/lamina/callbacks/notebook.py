"""Live progress in Jupyter: detect an IPython kernel and keep one output line updated in place.

A notebook cell's ``sys.stdout`` is not a terminal, so carriage-return bars do not apply;
instead the bar is an IPython display (``display(..., display_id=True)``) whose content is
replaced at each update, the way Jupyter widgets refresh, and which stays in the saved
notebook as the final line of each epoch.

>>> in_notebook()  # a plain Python process, not a Jupyter kernel
False
"""

from __future__ import annotations

import html
import sys


def in_notebook() -> bool:
    """Whether this process is a Jupyter (IPython) kernel that can show display updates.

    Returns:
        ``True`` inside a Jupyter kernel (notebook, JupyterLab, VS Code, nbclient), ``False``
        in a plain Python process or a terminal IPython.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:  # never import IPython ourselves: only a kernel has it loaded
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython too old or broken to ask
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


class LiveLine:
    """One output line in a notebook, replaced in place by :meth:`update`.

    Args:
        text: the first content of the line.

    Example:

    >>> line = LiveLine("1/10")  # doctest: +SKIP
    >>> line.update("2/10")      # doctest: +SKIP
    """

    def __init__(self, text: str = "") -> None:
        from IPython.display import display

        self._handle = display(self._bundle(text), raw=True, display_id=True)

    @staticmethod
    def _bundle(text: str) -> dict:
        return {
            "text/plain": text,
            "text/html": f"<pre style='margin:0'>{html.escape(text)}</pre>",
        }

    def update(self, text: str) -> None:
        """Replaces the line's content with ``text``."""
        if self._handle is not None:
            self._handle.update(self._bundle(text), raw=True)
