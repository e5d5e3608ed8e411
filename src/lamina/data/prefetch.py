"""A background thread that prepares the next chunks while the current one trains.

``Prefetcher(source, transform)`` iterates ``source`` on a daemon thread, applies ``transform``
(by default ``jax.device_put``) to each item and hands the results over through a bounded queue,
so reading, converting and copying chunk ``k + 1`` overlaps the compiled work on chunk ``k``.
An exception raised by the source or the transform is re-raised in the consumer, with its
original traceback, at the point where that item would have arrived.

>>> from lamina.data.prefetch import Prefetcher
>>> with Prefetcher(iter(range(5)), transform=lambda v: v * 10) as items:
...     list(items)
[0, 10, 20, 30, 40]
"""

from __future__ import annotations

import queue
import threading

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher:
    """Iterates ``transform(item) for item in source`` on a background thread.

    Args:
        source: any iterable; it is consumed by the background thread only.
        transform: applied on the background thread (default: ``jax.device_put``).
        depth: the most prepared items waiting in the queue (memory bound: ``depth + 1`` items
            exist at a time besides the one in use).
    """

    def __init__(self, source, transform=None, depth: int = 2):
        if transform is None:
            import jax

            transform = jax.device_put
        self._source = source
        self._transform = transform
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="lamina-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self):
        try:
            for item in self._source:
                if self._stop.is_set() or not self._put(self._transform(item)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(e))
            return
        self._put(_END)

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            self._thread.join()
            raise item.error
        return item

    def close(self):
        """Stops the thread (dropping prepared items) and waits for it to finish."""
        self._stop.set()
        self._done = True
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
