"""Keras 2's enqueuers (``keras.utils.OrderedEnqueuer``, ``GeneratorEnqueuer``,
``SequenceEnqueuer``), against the meaning of Keras 2's ``keras/utils/data_utils.py``: batches
in index order (Python's ``random.shuffle`` of the same list every epoch with ``shuffle=True``),
``on_epoch_end`` between passes, endless until ``stop()``, ``__getitem__``'s exceptions raised
again from ``get()``; and a ``train_on_batch`` loop over them trains as ``fit`` does."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

import lamina
from lamina.utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence, SequenceEnqueuer


class _Indexed(Sequence):
    """Batch ``i`` of epoch ``e`` is ``(e, i)``; later indices come back sooner (workers finish
    out of order), and ``on_epoch_end`` counts the passes."""

    def __init__(self, n=6, fail_at=None):
        super().__init__()
        self.n, self.fail_at, self.epoch = n, fail_at, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"bad batch {i}")
        time.sleep(0.002 * (self.n - i))
        return (self.epoch, i)

    def on_epoch_end(self):
        self.epoch += 1


def _take(enqueuer, count):
    gen = enqueuer.get()
    return [next(gen) for _ in range(count)]


def _enqueuer_threads():
    """The live threads of enqueuers (their producers and workers)."""
    return [t for t in threading.enumerate() if "Enqueuer" in t.name and t.is_alive()]


def test_ordered_enqueuer_yields_index_order_and_calls_on_epoch_end_between_passes():
    seq = _Indexed(6)
    enqueuer = OrderedEnqueuer(seq, use_multiprocessing=False, shuffle=False)
    enqueuer.start(workers=4, max_queue_size=3)
    try:
        got = _take(enqueuer, 6 * 3 + 1)
    finally:
        enqueuer.stop()
    # Keras 2: batches 0..n-1 every epoch, on_epoch_end after each pass, endless.
    want = [(e, i) for e in range(3) for i in range(6)] + [(3, 0)]
    assert got == want
    assert seq.epoch == 3


def test_ordered_enqueuer_shuffles_every_epoch_as_keras2():
    seq = _Indexed(8)
    random.seed(123)
    enqueuer = OrderedEnqueuer(seq, shuffle=True)
    enqueuer.start(workers=3)
    try:
        got = _take(enqueuer, 8 * 3)
    finally:
        enqueuer.stop()
    # Keras 2's order: one list of the indices, ``random.shuffle``d in place every epoch.
    random.seed(123)
    order, want = list(range(8)), []
    for e in range(3):
        random.shuffle(order)
        want += [(e, i) for i in order]
    assert got == want
    for e in range(3):  # every index once per epoch, a new order each time
        assert sorted(i for ep, i in got if ep == e) == list(range(8))
    assert len({tuple(i for ep, i in got if ep == e) for e in range(3)}) == 3


def test_stop_joins_the_threads_and_get_ends():
    enqueuer = OrderedEnqueuer(_Indexed(5))
    assert not enqueuer.is_running()
    enqueuer.start(workers=3, max_queue_size=2)  # a full queue blocks the producer
    gen = enqueuer.get()
    assert next(gen) == (0, 0)
    assert enqueuer.is_running()
    time.sleep(0.05)
    enqueuer.stop()
    assert not enqueuer.is_running()
    assert not enqueuer.run_thread.is_alive()
    assert _enqueuer_threads() == []
    assert list(gen) == []  # a stopped enqueuer yields nothing more
    enqueuer.stop()  # a second stop is harmless
    OrderedEnqueuer(_Indexed(2)).stop()  # as is stopping one never started


def test_getitem_exception_is_raised_from_get_and_stops():
    enqueuer = OrderedEnqueuer(_Indexed(5, fail_at=2))
    enqueuer.start(workers=2)
    gen = enqueuer.get()
    assert [next(gen), next(gen)] == [(0, 0), (0, 1)]
    with pytest.raises(ValueError, match="bad batch 2"):
        next(gen)
    assert not enqueuer.is_running()
    assert _enqueuer_threads() == []


def test_on_epoch_end_exception_is_raised_from_get():
    class Failing(_Indexed):
        def on_epoch_end(self):
            raise RuntimeError("cannot reshuffle")

    enqueuer = OrderedEnqueuer(Failing(2))
    enqueuer.start(workers=2)
    gen = enqueuer.get()
    assert [next(gen), next(gen)] == [(0, 0), (0, 1)]
    with pytest.raises(RuntimeError, match="cannot reshuffle"):
        next(gen)
    assert not enqueuer.is_running()
    assert _enqueuer_threads() == []


def test_generator_enqueuer_keeps_the_generator_order_and_ends_with_it():
    def batches():  # not thread-safe: Keras 2 needs a lock around it for workers > 1
        for i in range(20):
            time.sleep(0.001)
            yield np.full((2,), i)

    enqueuer = GeneratorEnqueuer(batches(), use_multiprocessing=False, random_seed=1)
    enqueuer.start(workers=4, max_queue_size=5)
    try:
        got = [int(b[0]) for b in enqueuer.get()]
    finally:
        enqueuer.stop()
    assert got == list(range(20))
    assert not enqueuer.run_thread.is_alive()


def test_generator_enqueuer_reraises_the_generators_exception():
    def batches():
        yield 1
        raise KeyError("no more rows")

    enqueuer = GeneratorEnqueuer(batches())
    enqueuer.start(workers=2)
    gen = enqueuer.get()
    assert next(gen) == 1
    with pytest.raises(KeyError, match="no more rows"):
        next(gen)
    assert not enqueuer.is_running()


def test_endless_generator_runs_until_stop():
    def forever():
        i = 0
        while True:
            yield i
            i += 1

    enqueuer = GeneratorEnqueuer(forever())
    enqueuer.start(workers=2, max_queue_size=4)
    gen = enqueuer.get()
    assert [next(gen) for _ in range(50)] == list(range(50))
    enqueuer.stop()
    assert not enqueuer.run_thread.is_alive()


def test_multiprocessing_falls_back_to_threads_with_a_warning():
    with pytest.warns(UserWarning, match="threads"):
        enqueuer = OrderedEnqueuer(_Indexed(3), use_multiprocessing=True)
    enqueuer.start(workers=2)
    try:
        assert _take(enqueuer, 3) == [(0, 0), (0, 1), (0, 2)]
    finally:
        enqueuer.stop()


def test_bad_arguments_say_what_was_expected():
    enqueuer = OrderedEnqueuer(_Indexed(3))
    with pytest.raises(ValueError, match=r"workers=\.\.\.\) must be an integer >= 1"):
        enqueuer.start(workers=0)
    with pytest.raises(ValueError, match=r"max_queue_size=\.\.\.\) must be an integer >= 0"):
        enqueuer.start(max_queue_size=-1)
    with pytest.raises(NotImplementedError, match="SequenceEnqueuer is abstract"):
        SequenceEnqueuer(_Indexed(3)).get()

    class NoLen(Sequence):
        def __getitem__(self, i):
            return i

    with pytest.raises(ValueError, match=r"shuffle=True\) needs a Sequence with __len__"):
        OrderedEnqueuer(NoLen(), shuffle=True)


def test_keras_paths_name_the_same_classes():
    from lamina.utils import data_utils

    assert lamina.utils.OrderedEnqueuer is data_utils.OrderedEnqueuer is OrderedEnqueuer
    assert lamina.utils.GeneratorEnqueuer is data_utils.GeneratorEnqueuer
    assert issubclass(OrderedEnqueuer, SequenceEnqueuer)
    assert issubclass(GeneratorEnqueuer, SequenceEnqueuer)


class _Data(Sequence):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def _model():
    model = lamina.Sequential([lamina.Input((3,)), lamina.layers.Dense(2)])
    model.compile(optimizer=lamina.optimizers.SGD(0.1), loss="mse")
    return model


def test_train_on_batch_loop_matches_fit_without_shuffle():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    data = _Data(x, y, 8)
    looped, fitted = _model(), _model()
    initial = looped.get_weights()
    fitted.set_weights(initial)

    enqueuer = OrderedEnqueuer(data, use_multiprocessing=False, shuffle=False)
    enqueuer.start(workers=4, max_queue_size=10)
    gen = enqueuer.get()
    try:
        for _ in range(2 * len(data)):  # two epochs
            xb, yb = next(gen)
            looped.train_on_batch(xb, yb)
    finally:
        enqueuer.stop()
    fitted.fit(data, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(looped.get_weights(), fitted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(looped.get_weights()[0], initial[0])  # it trained
