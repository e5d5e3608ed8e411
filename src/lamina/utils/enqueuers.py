"""Keras 2's enqueuers: batches of a ``Sequence`` or a generator, made ahead by worker threads.

Keras 2 scripts drive them in hand-written loops (``keras.utils.OrderedEnqueuer`` and
``GeneratorEnqueuer``, from ``keras/utils/data_utils.py``):

>>> import numpy as np
>>> from lamina.utils import OrderedEnqueuer, Sequence
>>> class Squares(Sequence):
...     def __len__(self):
...         return 3
...     def __getitem__(self, i):
...         return np.full((2, 1), i * i, "float32"), np.zeros((2, 1), "float32")
>>> enqueuer = OrderedEnqueuer(Squares())
>>> enqueuer.start(workers=2, max_queue_size=4)
>>> batches = enqueuer.get()
>>> [float(next(batches)[0][0, 0]) for _ in range(4)]  # endless: epoch 2 starts at batch 0
[0.0, 1.0, 4.0, 0.0]
>>> enqueuer.stop()
>>> enqueuer.is_running()
False

Workers are threads: ``use_multiprocessing=True`` runs threads too and warns so (NumPy and
JAX release the GIL in their array work, and no user code runs in another process).
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["GeneratorEnqueuer", "OrderedEnqueuer", "SequenceEnqueuer"]

#: How often a blocked producer or consumer looks whether ``stop()`` was called (seconds).
_POLL = 0.05


class SequenceEnqueuer:
    """Base class of the enqueuers (Keras 2's abstract ``SequenceEnqueuer``).

    A subclass implements ``_run`` (the producer thread: it puts futures of batches on
    ``self.queue``) and ``get`` (a generator of the batches, in the queue's order).

    Args:
        sequence: the ``keras.utils.Sequence`` (or generator) to read batches from.
        use_multiprocessing: Keras 2's choice of processes; the workers are threads either way
            (``True`` warns).

    >>> from lamina.utils import SequenceEnqueuer
    >>> try:
    ...     SequenceEnqueuer([]).get()
    ... except NotImplementedError as e:
    ...     print(str(e).split(":")[0])
    SequenceEnqueuer is abstract
    """

    def __init__(self, sequence, use_multiprocessing=False):
        self.sequence = sequence
        self.use_multiprocessing = bool(use_multiprocessing)
        self.workers = 0
        self.queue = None
        self.run_thread = None
        self.stop_signal = None
        self._executor = None
        if self.use_multiprocessing:
            warnings.warn(
                f"{type(self).__name__}(use_multiprocessing=True): Lamina runs the workers as "
                "threads in this process (no process pool). Pass use_multiprocessing=False to "
                "silence this warning.",
                UserWarning,
                stacklevel=3,
            )

    def is_running(self) -> bool:
        """Whether ``start`` was called and ``stop`` not yet."""
        return self.stop_signal is not None and not self.stop_signal.is_set()

    def start(self, workers=1, max_queue_size=10):
        """Starts the producer thread and ``workers`` worker threads.

        Args:
            workers: the number of threads making batches (at least 1).
            max_queue_size: how many batches may wait ready or in the making (``0``: no bound).
        """
        name = type(self).__name__
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(
                f"{name}.start(workers=...) must be an integer >= 1. Received: workers={workers!r}."
            )
        if (
            isinstance(max_queue_size, bool)
            or not isinstance(max_queue_size, int)
            or max_queue_size < 0
        ):
            raise ValueError(
                f"{name}.start(max_queue_size=...) must be an integer >= 0. Received: "
                f"max_queue_size={max_queue_size!r}."
            )
        if self.is_running() or self.run_thread is not None and self.run_thread.is_alive():
            raise RuntimeError(
                f"{name} is already running (or still stopping): call stop() and let it "
                "finish before start() again."
            )
        self.workers = workers
        self.queue = queue.Queue(max_queue_size)
        self.stop_signal = threading.Event()
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self.run_thread = threading.Thread(
            target=self._run_and_close, name=f"{name}-producer", daemon=True
        )
        self.run_thread.start()

    def stop(self, timeout=None):
        """Stops the threads: drops the batches waiting in the queue and joins the producer
        (which shuts the workers down), waiting at most ``timeout`` seconds."""
        if self.stop_signal is None:
            return
        self.stop_signal.set()
        with self.queue.mutex:  # unblock a producer waiting on a full queue, as Keras does
            for future in self.queue.queue:
                future.cancel()
            self.queue.queue.clear()
            self.queue.unfinished_tasks = 0
            self.queue.not_full.notify_all()
            self.queue.all_tasks_done.notify_all()
        if self.run_thread is not None and self.run_thread is not threading.current_thread():
            self.run_thread.join(timeout)

    def __del__(self):
        if self.is_running():
            self.stop()

    def _run_and_close(self):
        try:
            self._run()
        except Exception as error:  # e.g. from on_epoch_end: get() raises it, not hangs
            failed = Future()
            failed.set_exception(error)
            self._put(failed)
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _put(self, future) -> bool:
        """Puts ``future`` on the queue, blocking while it is full; False once stopped."""
        while not self.stop_signal.is_set():
            try:
                self.queue.put(future, timeout=_POLL)
                return True
            except queue.Full:
                continue
        future.cancel()
        return False

    def _next_future(self):
        """The next future of the queue, or None once stopped."""
        while self.is_running():
            try:
                return self.queue.get(timeout=_POLL)
            except queue.Empty:
                continue
        return None

    def _task_done(self):
        if self.is_running():
            try:
                self.queue.task_done()
            except ValueError:  # stop() reset the count meanwhile
                pass

    def _run(self):
        raise NotImplementedError(_abstract_message())

    def get(self):
        """A generator of the batches (implemented by the subclasses)."""
        raise NotImplementedError(_abstract_message())


class OrderedEnqueuer(SequenceEnqueuer):
    """Batches of a ``keras.utils.Sequence`` in index order, made ahead by worker threads.

    ``get()`` yields ``sequence[0]``, ``sequence[1]``, ... (a fresh random order of the indices
    every epoch with ``shuffle=True``), calls ``sequence.on_epoch_end()`` after each pass and
    starts the next: it runs until ``stop()``.  An exception raised by ``__getitem__`` stops
    the enqueuer and is raised again from ``get()``.

    Args:
        sequence: a ``keras.utils.Sequence`` (``PyDataset``): ``__len__`` and ``__getitem__``.
            One without ``__len__`` is read at indices 0, 1, 2, ... without end.
        use_multiprocessing: accepted for Keras 2; the workers are threads (``True`` warns).
        shuffle: whether to visit the indices in a new random order every epoch (Python's
            ``random``, as Keras 2).

    >>> import numpy as np
    >>> from lamina.utils import OrderedEnqueuer, Sequence
    >>> class Rows(Sequence):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return np.array([i])
    >>> enqueuer = OrderedEnqueuer(Rows(), shuffle=True)
    >>> enqueuer.start()
    >>> batches = enqueuer.get()
    >>> sorted(int(next(batches)[0]) for _ in range(4))  # one epoch: every index once
    [0, 1, 2, 3]
    >>> enqueuer.stop()
    """

    def __init__(self, sequence, use_multiprocessing=False, shuffle=False):
        super().__init__(sequence, use_multiprocessing)
        self.shuffle = bool(shuffle)
        if self.shuffle and not hasattr(sequence, "__len__"):
            raise ValueError(
                "OrderedEnqueuer(shuffle=True) needs a Sequence with __len__ (the number of "
                f"batches); received {type(sequence).__name__}, which has none. Define "
                "__len__ or pass shuffle=False."
            )

    def _epoch_indices(self, indices):
        """This epoch's order: Keras 2 shuffles the previous epoch's list again, in place, so a
        script seeding Python's ``random`` gets Keras 2's batch order."""
        if not hasattr(self.sequence, "__len__"):
            return itertools.count()
        n = len(self.sequence)
        if indices is None or len(indices) != n:  # on_epoch_end may change the length
            indices = list(range(n))
        if self.shuffle:
            random.shuffle(indices)
        return indices

    def _run(self):
        indices = None
        while True:
            indices = self._epoch_indices(indices)
            for i in indices:
                if self.stop_signal.is_set():
                    return
                if not self._put(self._executor.submit(self.sequence.__getitem__, i)):
                    return
            # The epoch's batches are all queued: wait until the consumer took them, then
            # let the sequence change (Keras 2 calls on_epoch_end between passes).
            while self.queue.unfinished_tasks and not self.stop_signal.is_set():
                time.sleep(_POLL)
            if self.stop_signal.is_set():
                return
            self.sequence.on_epoch_end()

    def get(self):
        """Yields the batches while the enqueuer runs, raising ``__getitem__``'s exceptions."""
        while self.is_running():
            future = self._next_future()
            if future is None:
                return
            try:
                inputs = future.result()
            except Exception:
                self.stop()
                raise
            self._task_done()
            if inputs is not None:
                yield inputs


class GeneratorEnqueuer(SequenceEnqueuer):
    """Items of a Python generator, drawn ahead by worker threads (Keras 2's class).

    The workers take turns calling ``next(generator)`` (one at a time, in order), so any
    generator works, thread-safe or not, and ``get()`` yields its items in the generator's
    order.  A finite generator ends ``get()`` when it ends; an exception it raises stops the
    enqueuer and is raised again from ``get()``.

    Args:
        generator: a generator (or any iterator) of batches.
        use_multiprocessing: accepted for Keras 2; the workers are threads (``True`` warns).
        random_seed: Keras 2's seed of the worker processes' NumPy generator; threads share
            this process's random state, so it is kept but not used.

    >>> from lamina.utils import GeneratorEnqueuer
    >>> enqueuer = GeneratorEnqueuer((i * 10 for i in range(3)))
    >>> enqueuer.start(workers=2)
    >>> list(enqueuer.get())
    [0, 10, 20]
    >>> enqueuer.stop()
    """

    def __init__(self, generator, use_multiprocessing=False, random_seed=None):
        super().__init__(generator, use_multiprocessing)
        self.random_seed = random_seed
        self._iterator = iter(generator)
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._exhausted = False

    def _draw(self, ticket):
        """``next(generator)`` for the ``ticket``-th item: calls run one at a time, in order."""
        with self._turn:
            while self._next_ticket != ticket:
                if self.stop_signal.is_set():  # an earlier ticket was cancelled by stop()
                    return None
                self._turn.wait(_POLL)
            try:
                return next(self._iterator)
            except StopIteration:
                self._exhausted = True
                raise
            finally:
                self._next_ticket += 1
                self._turn.notify_all()

    def _run(self):
        self._next_ticket = 0  # this run's tickets (a restart after stop() counts anew)
        for ticket in itertools.count():
            if self.stop_signal.is_set() or self._exhausted:
                return
            if not self._put(self._executor.submit(self._draw, ticket)):
                return

    def get(self):
        """Yields the generator's items while the enqueuer runs; ends when the generator does."""
        while self.is_running():
            future = self._next_future()
            if future is None:
                return
            try:
                inputs = future.result()
            except StopIteration:  # a finite generator: its items are all out
                return
            except Exception:
                self.stop()
                raise
            self._task_done()
            if inputs is not None:
                yield inputs


def _abstract_message() -> str:
    return (
        "SequenceEnqueuer is abstract: use OrderedEnqueuer (a keras.utils.Sequence) or "
        "GeneratorEnqueuer (a generator)."
    )
