"""``RemoteMonitor``: posts each epoch's logs to an HTTP server (``keras.callbacks``).

Keras sends them with the ``requests`` package; Lamina uses the standard library's
``urllib.request`` and sends the same request: a ``POST`` to ``root + path`` whose body is
either the form ``field=<the logs as JSON>`` or, with ``send_as_json=True``, the JSON itself.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

from lamina.callbacks.core import Callback

#: Seconds to wait for the server (``requests`` waits forever; a dead server should not stall
#: training for longer than this).
TIMEOUT_S = 30.0


def _plain(value):
    """A JSON-ready Python value: NumPy and JAX scalars (and one-element arrays) unwrapped."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.item()
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple, dict, str)):
        return np.asarray(value).item()
    return value


class RemoteMonitor(Callback):
    """Streams each epoch's logs to a server as an HTTP ``POST`` (Keras 3's callback).

    The payload is ``{"epoch": epoch, **logs}``, sent to ``root + path``: as a form with the
    JSON string under ``field`` (``Content-Type: application/x-www-form-urlencoded``) or, with
    ``send_as_json=True``, as ``application/json``.  A server that cannot be reached only
    warns (``UserWarning``) and training goes on, as in Keras; an HTTP error status is
    ignored, as ``requests`` ignores it.

    Args:
        root: the server's root URL.
        path: the path under ``root`` the events go to.
        field: the form field holding the JSON (form posts only).
        headers: extra HTTP headers, a dict.
        send_as_json: post ``application/json`` instead of a form.

    >>> from lamina.callbacks import RemoteMonitor
    >>> monitor = RemoteMonitor(root="http://localhost:9000", send_as_json=True)
    >>> monitor.root + monitor.path
    'http://localhost:9000/publish/epoch/end/'
    """

    def __init__(
        self,
        root="http://localhost:9000",
        path="/publish/epoch/end/",
        field="data",
        headers=None,
        send_as_json=False,
    ):
        super().__init__()
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json

    def _request(self, send: dict) -> urllib.request.Request:
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send, allow_nan=False).encode("utf-8")  # as requests' json=
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("ascii")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return urllib.request.Request(self.root + self.path, data=body, headers=headers)

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            send[k] = _plain(v)
        try:
            request = self._request(send)
        except ValueError as e:  # NaN/inf in JSON mode, or a URL urllib cannot read
            warnings.warn(
                f"RemoteMonitor could not send the logs to {self.root}: {e}", stacklevel=2
            )
            return
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # the server answered (with an error status): requests does not raise either
        except (OSError, http.client.HTTPException):  # URLError, refused, timeout, bad reply
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
