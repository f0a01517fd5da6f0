"""Client-side pacing: one adaptive limiter per account, shared by every thread and, through a
state file, by every process of the host (:mod:`~airflow_provider_sms.hooks.shared_pacing`).

The API admits 30 requests per account in any sliding one-second window (only admitted
requests count). Smooth pacing — one start every ``1/rate`` seconds, never a burst after an
idle spell — keeps any one-second window of *starts* at or under ``rate``; a small headroom
absorbs the jitter between the client's starts and the server's arrivals, and a busy spell
warms up (:data:`WARM_START` of the pace, full after :data:`WARMUP`) while its first requests
open connections and so arrive late after their starts. A thread that a CPU stall wakes
after its turn books again, and so do the turns after it (:data:`LATE_AFTER`): a stall wakes
every waiting thread late, and their burst would overflow the window. The limiter's state
(:class:`PaceState`) lives in a store: :class:`LocalStore` for one process, or the host's
shared file, where every process of the host books its slots from the same schedule, so they
share the account exactly and never discover each other through 429s.

Other hosts may share the account, and they cannot see our limiter. A 429 says the server's
window is full, and the limiter knows how many of *its own* requests (its host's) the server
admitted during the last second: its share of that full window. So on a 429 it slows, in one
step, to just under that share (never below a quarter of its pace at once), voids the slots
booked at the old pace, and starts again only when its oldest request in the window turns one
second old, since the window cannot free up earlier (or later, if the answer's
``Retry-After`` asks for more). 429s to requests sent before that slow-down only correct its
estimate. A fixed cut per 429 (x0.7, as TCP or AWS SDKs do) needs seconds of 429 storms to get
from 30/s down to a quarter of it when four clients start together; the share gets there in
one round trip.

Afterwards the pace climbs back to the share (time constant 1.5 s), then probes beyond it,
slowly at first and faster the longer no 429 comes (doubling every 6 s), to take up what
other hosts leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

HEADROOM = 0.97  # pace at 97 % of the limit: ~30 ms of jitter per second stays under it
WINDOW = 1.0  # seconds: the server's sliding window
SHARE_FACTOR = 0.95  # after a 429, pace just under the share the server admitted in the last window
MAX_CUT = 0.25  # one 429 never lowers the pace below a quarter of what it was
CUT_COOLDOWN = 1.0  # seconds: one slow-down per window; later 429s only pause or correct it
MIN_RATE = 0.5  # requests per second: never stall completely
RECOVERY_TIME_CONSTANT = 1.5  # seconds to close ~63 % of the gap back up to the share
PROBE_SLOPE = 0.15  # requests/s gained per second beyond the share, at first...
DOUBLING_TIME = 6.0  # ...doubling every 6 quiet seconds, to take up capacity others left
WARMUP = 2.0  # seconds: after an idle spell the pace ramps up to full over this long...
WARM_START = 0.75  # ...from this fraction of it, while the first connections are being opened
REBOOK_CHECK = 0.5  # seconds: a thread waiting longer for its turn looks this often whether it still holds it
RESPACE_STEP = 1.25  # the pace recovering by this factor voids the turns booked at the slower pace
LATE_AFTER = 0.015  # seconds: a thread that runs this long after its turn books again
_CLOSE_ENOUGH = 0.05  # requests/s: where the approach to the share ends and probing begins
_MAX_DOUBLINGS = 10.0


@dataclass(slots=True)
class PaceState:
    """What the limiter knows, kept in a store shared by every limiter of the account.

    Times are ``time.monotonic()`` seconds (system-wide on Linux and macOS, so processes of
    one host agree on them).
    """

    rate: float  # the current pace, requests per second
    share: float  # where quick recovery aims; probing goes on beyond it
    next_start: float  # the next free slot
    generation: int  # bumped on every slow-down: slots booked before are void
    last_update: float
    cut_time: float
    cut_start: float
    floor: float
    starts: deque[float] = field(default_factory=deque)  # starts in the last window
    throttles: deque[float] = field(default_factory=deque)  # 429s in the last window
    warm_from: float = -math.inf  # when the last busy spell began
    paused_until: float = -math.inf  # no start before (a 429's pause, its Retry-After)

    def reset(self, ceiling: float, now: float) -> None:
        """Start afresh: the full pace, no history."""
        self.rate = self.share = ceiling
        self.next_start = self.cut_time = self.cut_start = self.warm_from = self.paused_until = -math.inf
        self.last_update = now
        self.floor = MIN_RATE
        self.starts.clear()
        self.throttles.clear()


@dataclass(slots=True)
class LimiterWaits:
    """What the limiters made one piece of work wait (see :func:`measure_waits`)."""

    seconds: float = 0.0  # spent in ``acquire`` / ``acquire_async``, and in retry pauses
    requests: int = 0  # requests that started
    late: float = 0.0  # the most a sleeper woke after its turn (the process short of CPU)


_waits: ContextVar[LimiterWaits | None] = ContextVar("sms_api_limiter_waits", default=None)


@contextlib.contextmanager
def measure_waits() -> Iterator[LimiterWaits]:
    """Count the requests started, and the time spent waiting for their turns, inside the block.

    Per thread and per asyncio task (a context variable): a batch runner tells the API's
    answer time (what concurrency must cover) from the pacing wait (what it must not).
    """
    waits = LimiterWaits()
    token = _waits.set(waits)
    try:
        yield waits
    finally:
        _waits.reset(token)


def count_pause(seconds: float) -> None:
    """Count time that is not the API's answer time as a wait: a retry's pause (backoff,
    ``Retry-After``), opening a connection.

    A 429 answered with ``Retry-After: 1`` would otherwise read as a one-second answer: the
    in-flight count would jump several-fold (more threads, more CPU, later starts, more 429s).
    """
    waits = _waits.get()
    if waits is not None:
        waits.seconds += max(seconds, 0.0)


def _count_wait(seconds: float, late: float = 0.0) -> None:
    waits = _waits.get()
    if waits is not None:
        waits.seconds += max(seconds, 0.0)
        waits.late = max(waits.late, late)
        waits.requests += 1


class PaceStore(Protocol):
    """Where a limiter keeps its :class:`PaceState`: in the process, or shared by the host."""

    def locked(self) -> contextlib.AbstractContextManager[PaceState | None]:
        """Hold the state exclusively; ``None`` when there is none yet (set one with :meth:`put`)."""
        ...

    def put(self, state: PaceState) -> None:
        """Make ``state`` the stored one (only inside :meth:`locked`)."""
        ...


class LocalStore:
    """The state in this process's memory, behind a thread lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: PaceState | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[PaceState | None]:
        with self._lock:
            yield self._state

    def put(self, state: PaceState) -> None:
        self._state = state


class AdaptiveRateLimiter:
    """Thread-safe smooth pacer that slows to its admitted share on a 429, then recovers.

    :param rate_limit: the account's limit in requests per second.
    :param headroom: fraction of the limit to pace at.
    :param clock: monotonic clock in seconds (injectable for tests).
    :param sleep: how :meth:`acquire` waits (injectable for tests, with ``clock``).
    :param store: where the pace is kept; by default in this limiter alone. Limiters given
        one :class:`~airflow_provider_sms.hooks.shared_pacing.HostStore` (every process of a
        host, see :func:`limiter_for`) book their slots from one schedule and slow down together.
    """

    def __init__(
        self,
        rate_limit: float,
        *,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        store: PaceStore | None = None,
    ) -> None:
        if rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        self._ceiling = rate_limit * headroom
        self._headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self._store: PaceStore = store if store is not None else LocalStore()
        self.throttled_count = 0  # 429s seen by this limiter (not by others sharing its store)
        with self._state() as _:
            pass  # a fresh store starts at the full pace from now

    @contextlib.contextmanager
    def _state(self) -> Iterator[PaceState]:
        """The shared state, held exclusively, advanced to now."""
        with self._store.locked() as state:
            now = self._clock()
            if state is None or state.last_update > now + WINDOW:
                # Nothing stored yet, or times from another clock (the host rebooted).
                state = PaceState(self._ceiling, self._ceiling, -math.inf, 0, now, -math.inf, -math.inf, 0.0)
                state.reset(self._ceiling, now)
                self._store.put(state)
            self._recover(state, now)
            yield state

    @property
    def rate(self) -> float:
        """The current pace in requests per second."""
        with self._state() as s:
            return min(s.rate, self._ceiling)

    def acquire(self) -> float:
        """Block the calling thread until it may start a request; return the start time."""
        waits = self._waits()
        try:
            while True:
                self._sleep(next(waits))
        except StopIteration as done:
            start: float = done.value
            return start

    async def acquire_async(self) -> float:
        """Wait, without blocking the event loop, until a request may start; return the start time."""
        waits = self._waits()
        try:
            while True:
                await asyncio.sleep(next(waits))
        except StopIteration as done:
            start: float = done.value
            return start

    def _waits(self) -> Generator[float, None, float]:
        """One acquisition without its sleeping: yields how long to sleep, returns the start time.

        A turn far ahead is waited for in steps of :data:`REBOOK_CHECK`: when the turns were
        voided meanwhile (a 429, or the pace recovering), the caller books again at once
        instead of sleeping until a turn spaced at a pace that no longer holds.
        """
        entered = self._clock()
        lateness = 0.0  # how late the thread came for a turn it then had to book again
        while True:
            start, generation, now = self._book()
            if start <= now:  # a turn already due was taken with the booking (one lock, not two)
                _count_wait(now - entered, late=lateness)
                return start
            while start - now > REBOOK_CHECK:
                yield REBOOK_CHECK
                now = max(self._clock(), now + REBOOK_CHECK)  # a sleep lasts at least as long
                if self._voided(generation):
                    break
            else:
                if start > now:
                    yield start - now
                taken = self._confirm(start, generation, late_ok=lateness > 0)
                woke = self._clock()
                if taken:
                    _count_wait(woke - entered, late=max(lateness, woke - start))
                    return start
                if taken is None:
                    lateness = woke - start

    def on_throttled(self, started_at: float | None = None, retry_after: float | None = None) -> None:
        """The server answered 429: the account's window is full, slow down to our share of it.

        :param started_at: when the refused request started (what :meth:`acquire` returned).
            Requests started after it are still in flight and left out of the share; a request
            started before the last slow-down corrects that slow-down instead of adding one.
            Without it, every start counts and one slow-down per window is made.
        :param retry_after: seconds the answer's ``Retry-After`` asked to wait: no request of
            the store starts sooner.
        """
        with self._state() as s:
            self.throttled_count += 1
            now = self._clock()
            s.throttles.append(now)
            self._forget_before(s, now - WINDOW)
            resume = now + max(retry_after or 0.0, 0.0)
            started = [start for start in s.starts if start <= now]
            if started_at is not None and started_at < s.cut_time:
                # Sent before the last slow-down and refused: the pace then explains it, and the
                # slow-down answered it already (a slow API answers 429s for seconds after the
                # cut; each must not cut again). Only while the window of the cut is still known
                # exactly, correct the share estimated then, which counted this one as admitted.
                if now - s.cut_time < WINDOW and now - started_at <= WINDOW:
                    known = _admitted_before(s, started, s.cut_start, now)
                    admitted = max(0.0, known - len(s.throttles))
                    s.rate = min(s.rate, max(SHARE_FACTOR * admitted, s.floor))
                    s.share = min(s.share, max(s.rate, float(admitted)))
                s.paused_until = max(s.paused_until, resume)
                s.next_start = max(s.next_start, resume)
                return
            if now - s.cut_time >= CUT_COOLDOWN:
                known = _admitted_before(s, started, started_at, now)
                admitted = max(0.0, known - len(s.throttles))
                before = min(s.rate, self._ceiling)
                s.floor = max(MAX_CUT * before, MIN_RATE)
                s.rate = max(min(before, SHARE_FACTOR * admitted), s.floor)
                s.share = max(s.rate, float(admitted))
                s.cut_time = now
                s.cut_start = started_at if started_at is not None else now
            # Slots booked at the old pace are void. The server's window frees up as the
            # requests in it turn one second old: start again when our oldest one does.
            s.generation += 1
            s.paused_until = max(s.paused_until, resume)
            s.next_start = resume
            if started:
                s.next_start = max(resume, started[-1] + 1.0 / s.rate, started[0] + WINDOW)

    # --- internals ---------------------------------------------------------------------------

    def _book(self) -> tuple[float, int, float]:
        """Book the next free slot; one that is due already is taken at once (confirmed: no
        slow-down can come between, the state is held)."""
        with self._state() as s:
            now = self._clock()
            if s.next_start < now - WINDOW:
                s.warm_from = now  # idle for a window: a busy spell begins
            start = max(now, s.next_start)
            s.next_start = start + 1.0 / (min(s.rate, self._ceiling) * self._warmth(s, start))
            if start <= now:
                s.starts.append(start)
                self._forget_before(s, start - WINDOW)
            return start, s.generation, now

    @staticmethod
    def _warmth(s: PaceState, start: float) -> float:
        """The fraction of the pace allowed at ``start``: WARM_START at the beginning of a busy
        spell, rising to 1 over WARMUP seconds.

        The first requests of a spell open connections (TCP and TLS handshakes), so they reach
        the server later after their start than the requests that follow on open connections;
        at the full pace, a second of arrivals could then hold more than the limit.
        """
        into = start - s.warm_from
        if into >= WARMUP:
            return 1.0
        return WARM_START + (1.0 - WARM_START) * max(into, 0.0) / WARMUP

    def _voided(self, generation: int) -> bool:
        """Whether the turns booked in ``generation`` were voided since."""
        with self._state() as s:
            return s.generation != generation

    def _confirm(self, start: float, generation: int, *, late_ok: bool = False) -> bool | None:
        """Take the turn booked at ``start``: ``True``; ``False`` if it was voided meanwhile;
        ``None`` if the thread came too late for it and must book again.

        A thread that runs more than :data:`LATE_AFTER` after its turn (a CPU stall: the
        garbage collector, a busy host) would start beside the turns booked after it, and a
        stall makes every waiting thread late at once: their burst overflows the server's
        window although the schedule never did. The late thread leaves its turn unused and
        books again, after the turns booked already and one pace after the last start; the
        other threads keep theirs (voiding them all made every thread of a busy batch book
        again whenever one of them woke late: at 300/s with a hundred threads, that was most
        of the time). ``late_ok``: a thread late a second time takes its turn, so that a
        starved process still makes progress.

        At a high pace a late thread may also start at once when every one-second window
        then stays under the limit (:meth:`_room_for_late`): its hole left unused is a start
        lost, and a hundred threads sharing one interpreter lock wake late often enough (one
        wake in ten at 300/s) to cost a tenth of the pace. At 30/s there is never room: the
        turns ahead fill the window.
        """
        with self._state() as s:
            if generation != s.generation:
                return False
            now = self._clock()
            late = now - start > LATE_AFTER
            if late and not late_ok and not self._room_for_late(s, now):
                s.next_start = max(s.next_start, self._free_from(s, now))
                return None
            s.starts.append(now if late else start)  # where it counts in the server's window
            self._forget_before(s, start - WINDOW)
            return True

    def _room_for_late(self, s: PaceState, now: float) -> bool:
        """Whether a start now, off its turn, keeps every one-second window that holds it under
        the limit, the schedule ahead counted full (a turn each ``1/pace`` from now on).

        A window beginning just before one of the last second's starts holds the starts since,
        this one, and the turns ahead until it ends; the bound keeps half of the headroom
        (:data:`HEADROOM`) for the jitter between starts and the server's arrivals. The turns
        ahead alone fill ``pace`` of a window: a late start fits only at a pace above ~130/s,
        or where the last second left turns unused.
        """
        pace = min(s.rate, self._ceiling)
        bound = pace * (1.0 + 1.0 / self._headroom) / 2.0
        if pace * WINDOW + 2.0 > bound:  # this start, the turns ahead, and one of rounding
            return False
        starts = sorted(t for t in s.starts if t > now - WINDOW)
        held = len(starts)
        for t in starts:
            if held + 2.0 + pace * (t + WINDOW - now) > bound:
                return False
            held -= 1
        return True

    @staticmethod
    def _forget_before(s: PaceState, horizon: float) -> None:
        for events in (s.starts, s.throttles):
            while events and events[0] <= horizon:
                events.popleft()

    def _recover(self, s: PaceState, now: float) -> None:
        """Advance the pace from the last update to ``now``; when it rose by :data:`RESPACE_STEP`,
        void the turns booked at the slower pace.

        After a cut, every waiting thread books a turn at the slow pace: hundreds of them, at a
        few per second, fill the schedule for a minute, and a pace that recovered in seconds
        would only apply after it. Voided, they book again (within :data:`REBOOK_CHECK`) at the
        pace of now, never before the pause a 429 asked for.
        """
        before = s.rate
        self._raise_pace(s, now)
        if s.rate > before and _step(s.rate) > _step(before):
            self._book_again(s, now)

    def _book_again(self, s: PaceState, now: float) -> None:
        """Void every turn booked: they are booked again from :meth:`_free_from` now."""
        s.generation += 1
        s.next_start = self._free_from(s, now)

    def _free_from(self, s: PaceState, now: float) -> float:
        """The first turn free of the starts already made: one pace (of now) after the last
        start, not before ``now``, never before a 429's pause."""
        last = s.starts[-1] if s.starts else -math.inf
        return max(now, s.paused_until, last + 1.0 / min(s.rate, self._ceiling))

    def _raise_pace(self, s: PaceState, now: float) -> None:
        """Advance the pace from the last update to ``now`` (the same curve however often called)."""
        start, s.last_update = s.last_update, now
        if now <= start or s.rate >= self._ceiling:
            return  # below the ceiling only after a cut: cut_time is set from here on
        gap = s.share - s.rate
        if gap > _CLOSE_ENOUGH:
            # First an exponential approach to the share, until close enough to it...
            to_share = RECOVERY_TIME_CONSTANT * math.log(gap / _CLOSE_ENOUGH)
            if now - start <= to_share:
                s.rate += gap * -math.expm1(-(now - start) / RECOVERY_TIME_CONSTANT)
                s.rate = min(s.rate, self._ceiling)
                return
            s.rate = s.share - _CLOSE_ENOUGH
            start += to_share
        # ...then the probe, at PROBE_SLOPE doubling every DOUBLING_TIME since the cut (integrated;
        # the doubling stops after _MAX_DOUBLINGS, by when the ceiling is long reached).
        x_start = (start - s.cut_time) / DOUBLING_TIME
        x_now = (now - s.cut_time) / DOUBLING_TIME
        curved = 2.0 ** min(x_now, _MAX_DOUBLINGS) - 2.0 ** min(x_start, _MAX_DOUBLINGS)
        straight = (
            2.0**_MAX_DOUBLINGS * math.log(2) * (max(x_now, _MAX_DOUBLINGS) - max(x_start, _MAX_DOUBLINGS))
        )
        gained = PROBE_SLOPE * DOUBLING_TIME / math.log(2) * (curved + straight)
        s.rate = min(self._ceiling, s.rate + gained)


def _step(rate: float) -> int:
    """Which of the pace's :data:`RESPACE_STEP` steps ``rate`` is on."""
    return math.floor(math.log(rate) / math.log(RESPACE_STEP))


def _admitted_before(s: PaceState, started: list[float], refused_at: float | None, now: float) -> float:
    """How many of our starts the server's window held when it refused the request started at
    ``refused_at``: those of ``started`` (our last window) up to it, plus, for the part of
    its window that is already forgotten, as many as the last window held at the same pace.

    A slow API answers its 429s slowly too: 0.8 s after the refused request, only the last
    0.2 s of its window are still known. Counting the forgotten part as empty would cut the
    pace to a quarter at once. Only a busy spell is extrapolated (not the idle time before it).
    """
    if refused_at is None:
        return float(len(started))
    seen = sum(1 for start in started if start <= refused_at)
    forgotten = (now - WINDOW) - max(refused_at - WINDOW, s.warm_from)
    return seen + len(started) * min(max(forgotten, 0.0), WINDOW) / WINDOW


_registry: dict[tuple[str, float], AdaptiveRateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, rate_limit: float) -> AdaptiveRateLimiter:
    """The process-wide limiter of one account (``key``) at ``rate_limit``; created on first use.

    Its pace is kept in the host's shared store of the account
    (:func:`~airflow_provider_sms.hooks.shared_pacing.host_store`), so the limiters of every
    process of this host that use the account book their slots from one schedule.
    """
    from airflow_provider_sms.hooks.shared_pacing import host_store  # it builds on this module

    with _registry_lock:
        limiter = _registry.get((key, rate_limit))
        if limiter is None:
            limiter = _registry[(key, rate_limit)] = AdaptiveRateLimiter(rate_limit, store=host_store(key))
        return limiter
