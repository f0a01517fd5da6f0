"""How many requests a batch keeps in flight: as many as the rate limit and the answer time need.

By Little's law a batch that should start ``rate`` requests per second while each answer
takes ``latency`` seconds must have ``rate x latency`` requests under way: 6 at 30/s and
200 ms, 90 at 30/s and 3 s. A fixed worker count is right for one latency only. The
:class:`InFlightController` measures the API's answer time as the batch runs and keeps
``rate x latency x HEADROOM + SPARE`` pieces of work in flight, between a floor and a maximum
(:data:`MAX_IN_FLIGHT`, the hook's connection pool, or the caller's own upper bound).

It never paces: the hook's limiter stays the only authority on *when* a request starts, so
work beyond what the rate needs simply waits its turn there. What the controller measures
is a piece of work's time *minus* its waits in the limiter
(:func:`~airflow_provider_sms.hooks.pacing.measure_waits`), per request it made: otherwise
the queue at the limiter would read as a slow API and the count would climb to the maximum.
Before the first answer comes back, the age of the oldest unfinished piece of work is a
lower bound of the answer time, so the count grows while a slow API keeps everyone waiting
instead of starting from a guess and staying there.

:func:`run_adaptive` (threads) and :func:`run_adaptive_async` (asyncio tasks) are the loops
every batch path uses: ``for item, future in run_adaptive(items, fn, controller=c)`` yields
each item with its finished future in completion order; leaving the loop early cancels the
work not yet started and waits for the work under way (paid requests are not abandoned).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from airflow_provider_sms.hooks.base import MAX_IN_FLIGHT
from airflow_provider_sms.hooks.pacing import LimiterWaits, measure_waits

T = TypeVar("T")
R = TypeVar("R")

HEADROOM = 1.5  # in flight = rate x latency x 1.5: jitter and slow answers do not starve the pace
SPARE = 2  # plus two: a request finishing and the next starting overlap
MIN_IN_FLIGHT = 4  # never fewer (unless the caller's maximum or the batch is smaller)
INITIAL_LATENCY = 0.2  # seconds: the guess before anything is measured (grows from the first second)
RISE = 0.3  # weight of a slower answer in the running estimate: a slowdown is followed quickly...
FALL = 0.05  # ...a speed-up slowly, so that one fast answer does not starve the pace
STRETCH = 2.0  # one answer counts as at most twice the estimate: a stall is not a slowdown...
# ...(a real one is followed within a few answers: each may raise the estimate by RISE x 1)
TICK = 0.1  # seconds: how often a runner waiting for answers looks at the count again
FIRST_ANSWER_WAIT = 0.25  # seconds: one piece of work alone first, for this long at most
STARVED = 0.02  # seconds: turns taken this late on average mean the process is short of CPU...
LATE_WEIGHT = 0.1  # ...(a running average of how late each piece's sleepers woke)...
STARVED_AFTER = 20  # ...over at least this many pieces of work: one stall is not a verdict

__all__ = [
    "MAX_IN_FLIGHT",
    "InFlightController",
    "no_full_gc_pauses",
    "run_adaptive",
    "run_adaptive_async",
]

_frozen = 0  # batches running under no_full_gc_pauses
_frozen_lock = threading.Lock()


@contextlib.contextmanager
def no_full_gc_pauses(*, collect: bool = False) -> Iterator[None]:
    """Keep the garbage collector from stalling every thread for ~100 ms mid-batch.

    A process that imported Airflow holds about a million objects; a full collection walks
    them all while holding the GIL. The batch's threads then start late and in a burst, the
    API's one-second window overflows (429) and the shared limiter slows down for seconds.
    Freezing what exists now (imports, the connection) leaves only the batch's own objects to
    collect; it is undone when the last batch running under it ends. Freezing is cheap;
    ``collect`` first frees what is garbage already (a full collection: once, before a long run,
    never mid-batch, where that very pause is what must be avoided).

    :param collect: run a full collection before freezing.
    """
    global _frozen
    with _frozen_lock:
        if _frozen == 0:
            if collect:
                gc.collect()
            gc.freeze()
        _frozen += 1
    try:
        yield
    finally:
        with _frozen_lock:
            _frozen -= 1
            if _frozen == 0:
                gc.unfreeze()


class InFlightController:
    """The number of pieces of work a batch keeps in flight, following the measured answer time.

    Thread-safe; one per batch. A piece of work is one call of the batch's function (a number
    checked with two look-ups, one SMS sent through the journal...).

    :param rate_limit: the account's requests per second (the connection's ``rate_limit``).
    :param maximum: the most pieces of work in flight, at most :data:`MAX_IN_FLIGHT` (the
        hook's connection pool); ``None`` for that. An operator's ``workers`` /
        ``max_workers`` is passed here: an upper bound, no longer a fixed count.
    :param minimum: the fewest (while below ``maximum``).
    :param initial_latency: seconds per answer assumed before the first is measured.
    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        rate_limit: float,
        *,
        maximum: int | None = None,
        minimum: int = MIN_IN_FLIGHT,
        initial_latency: float = INITIAL_LATENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_limit <= 0:
            raise ValueError(f"rate_limit must be positive, got {rate_limit!r}")
        if maximum is not None and maximum < 1:
            raise ValueError(f"the most requests in flight must be at least 1, got {maximum!r}")
        self.rate_limit = float(rate_limit)
        self.maximum = min(maximum or MAX_IN_FLIGHT, MAX_IN_FLIGHT)
        self.minimum = max(1, min(minimum, self.maximum))
        self._clock = clock
        self._lock = threading.Lock()
        self._latency = initial_latency
        self._measured = 0  # pieces of work that made requests and finished
        self._completed = 0  # pieces of work finished, with requests or without
        self._next_token = 0
        self._outstanding: dict[int, float] = {}  # token -> when the piece of work began
        self._late = 0.0  # running average of how late the limiter's sleepers woke
        self._late_samples = 0
        self.peak = 0  # the most pieces of work in flight at once

    # -- the estimate ---------------------------------------------------------------------

    def latency(self) -> float:
        """Seconds per answer as now estimated (before the first answer: at least the oldest wait)."""
        with self._lock:
            if self._measured == 0 and self._outstanding:
                return max(self._latency, self._clock() - min(self._outstanding.values()))
            return self._latency

    def limit(self) -> int:
        """How many pieces of work to keep in flight now.

        One alone until the first finishes (or for :data:`FIRST_ANSWER_WAIT` at most): wrong
        credentials or a broken connection then cost one refused request, not a round of them.
        """
        if self._completed == 0 and self._measured == 0 and self._oldest_age() < FIRST_ANSWER_WAIT:
            return 1
        wanted = math.ceil(self.rate_limit * self.latency() * HEADROOM) + SPARE
        if self.starved():
            # Short of CPU: answers look slower because this process is, and more threads would
            # only make it worse (and bunch its starts, which overflows the API's window). Hold.
            with self._lock:
                wanted = min(wanted, len(self._outstanding))
        return max(self.minimum, min(self.maximum, wanted))

    def starved(self) -> bool:
        """Whether the limiter's sleepers wake late (on average more than :data:`STARVED`, over
        :data:`STARVED_AFTER` pieces of work at least): the process, not the API, is what is slow."""
        return self._late_samples >= STARVED_AFTER and self._late > STARVED

    def observe_lateness(self, late: float) -> None:
        """Account for how late a finished piece of work's turns were taken (seconds)."""
        with self._lock:
            self._late += LATE_WEIGHT * (max(late, 0.0) - self._late)
            self._late_samples += 1

    def observe(self, seconds: float, requests: int = 1) -> None:
        """Account for a finished piece of work: ``seconds`` of answers (limiter waits left out)
        over ``requests`` requests. Work that made no request (a journal hit) is not a measure.
        """
        if requests < 1:
            return
        sample = max(seconds, 0.0) / requests
        with self._lock:
            if self._measured == 0:
                self._latency = sample
            else:
                # One answer held up by a stall (the garbage collector, a CPU-starved host) would
                # otherwise start hundreds of threads at once at a high rate, whose switching
                # costs CPU long after the stall: each answer moves the estimate by 30 % at most.
                sample = min(sample, STRETCH * self._latency)
                weight = RISE if sample > self._latency else FALL
                self._latency += weight * (sample - self._latency)
            self._measured += 1

    def _oldest_age(self) -> float:
        with self._lock:
            if not self._outstanding:
                return 0.0
            return self._clock() - min(self._outstanding.values())

    # -- measuring work -------------------------------------------------------------------

    def _begin(self) -> tuple[int, float]:
        with self._lock:
            token = self._next_token
            self._next_token += 1
            began = self._outstanding[token] = self._clock()
            self.peak = max(self.peak, len(self._outstanding))
            return token, began

    def _end(self, token: int, began: float, waits: LimiterWaits) -> None:
        elapsed = self._clock() - began
        with self._lock:
            self._outstanding.pop(token, None)
            self._completed += 1
        if waits.requests:
            self.observe_lateness(waits.late)
        self.observe(elapsed - waits.seconds, waits.requests)

    def measure(self, fn: Callable[[T], R], item: T) -> R:
        """``fn(item)``, its answer time measured (a thread's piece of work)."""
        token, began = self._begin()
        with measure_waits() as waits:
            try:
                return fn(item)
            finally:
                self._end(token, began, waits)

    async def measure_async(self, fn: Callable[[T], Awaitable[R]], item: T) -> R:
        """``await fn(item)``, its answer time measured (an asyncio task's piece of work)."""
        token, began = self._begin()
        with measure_waits() as waits:
            try:
                return await fn(item)
            finally:
                self._end(token, began, waits)


class _Source(Generic[T]):
    """The items of a batch, read lazily: :meth:`take` reads only as many as there is room for."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)
        self._exhausted = False

    def take(self, room: int) -> Iterator[T]:
        """Up to ``room`` more items (none once the items are exhausted)."""
        while room > 0 and not self._exhausted:
            try:
                item = next(self._items)
            except StopIteration:
                self._exhausted = True
                return
            room -= 1
            yield item


def run_adaptive(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    controller: InFlightController,
    thread_name_prefix: str = "sms-batch",
) -> Iterator[tuple[T, Future[R]]]:
    """Run ``fn`` over ``items`` on threads, ``controller.limit()`` at a time; yield ``(item, future)``
    as each finishes (``future.result()`` returns or raises ``fn``'s outcome).

    ``items`` is read lazily, only as far as the work in flight needs. Leaving the loop early
    (``break``, an exception) cancels the work not started and waits for the work under way.
    The batch runs under :func:`no_full_gc_pauses`.
    """
    executor = ThreadPoolExecutor(max_workers=controller.maximum, thread_name_prefix=thread_name_prefix)
    pending: dict[Future[R], T] = {}
    # Finished futures arrive here: waiting on hundreds of futures with concurrent.futures.wait
    # would install and remove a waiter on each of them for every answer.
    finished: queue.SimpleQueue[Future[R]] = queue.SimpleQueue()
    source = _Source(items)
    with no_full_gc_pauses():
        try:
            while True:
                for item in source.take(controller.limit() - len(pending)):
                    future = executor.submit(controller.measure, fn, item)
                    pending[future] = item
                    future.add_done_callback(finished.put)
                if not pending:
                    return
                try:
                    done = finished.get(timeout=TICK)
                except queue.Empty:
                    continue
                while True:
                    yield pending.pop(done), done
                    try:
                        done = finished.get_nowait()
                    except queue.Empty:
                        break
        finally:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)


async def run_adaptive_async(
    items: Iterable[T],
    fn: Callable[[T], Awaitable[R]],
    *,
    controller: InFlightController,
) -> AsyncIterator[tuple[T, asyncio.Task[R]]]:
    """:func:`run_adaptive` for coroutines on the running event loop: ``async for item, task in ...``.

    Leaving the loop early waits for the tasks under way (a send is not cancelled midway).
    """
    pending: dict[asyncio.Task[R], T] = {}
    source = _Source(items)
    with no_full_gc_pauses():
        try:
            while True:
                for item in source.take(controller.limit() - len(pending)):
                    pending[asyncio.ensure_future(controller.measure_async(fn, item))] = item
                if not pending:
                    return
                done, _ = await asyncio.wait(pending, timeout=TICK, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield pending.pop(task), task
        finally:
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
