"""Client-side pacing: one adaptive limiter per account, shared by every thread of the process.

The API admits 30 requests per account in any sliding one-second window (only admitted
requests count). Smooth pacing — one start every ``1/rate`` seconds, never a burst after an
idle spell — keeps any one-second window of *starts* at or under ``rate``; a small headroom
absorbs the jitter between the client's starts and the server's arrivals.

Other processes may share the account, and they cannot see our limiter. A 429 says the
server's window is full, and the limiter knows how many of *its own* requests the server
admitted during the last second: its share of that full window. So on a 429 it slows, in one
step, to just under that share (never below a quarter of its pace at once), voids the slots
it had booked at the old pace, and starts again only when its oldest request in the window
turns one second old, since the window cannot free up earlier. 429s to requests sent before
that slow-down only correct its estimate. A fixed cut per 429 (x0.7, as TCP or AWS SDKs do)
needs seconds of 429 storms to get from 30/s down to a quarter of it when four processes
start together; the share gets there in one round trip.

Afterwards the pace climbs back to the share (time constant 1.5 s), then probes beyond it,
slowly at first and faster the longer no 429 comes (doubling every 6 s), to take up what
other processes leave. Against the sandbox (``benchmarks/hook_throughput.py``) four processes
on one account settle together just under the limit with a few percent of their requests
answered 429, most of them in the first two seconds. The split between them is not
equalised: nothing here sees the other processes, only the server's verdicts.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable

HEADROOM = 0.97  # pace at 97 % of the limit: ~30 ms of jitter per second stays under it
WINDOW = 1.0  # seconds: the server's sliding window
SHARE_FACTOR = 0.95  # after a 429, pace just under the share the server admitted in the last window
MAX_CUT = 0.25  # one 429 never lowers the pace below a quarter of what it was
CUT_COOLDOWN = 1.0  # seconds: one slow-down per window; later 429s only pause or correct it
MIN_RATE = 0.5  # requests per second: never stall completely
RECOVERY_TIME_CONSTANT = 1.5  # seconds to close ~63 % of the gap back up to the share
PROBE_SLOPE = 0.15  # requests/s gained per second beyond the share, at first...
DOUBLING_TIME = 6.0  # ...doubling every 6 quiet seconds, to take up capacity others left
_CLOSE_ENOUGH = 0.05  # requests/s: where the approach to the share ends and probing begins
_MAX_DOUBLINGS = 10.0


class AdaptiveRateLimiter:
    """Thread-safe smooth pacer that slows to its admitted share on a 429, then recovers.

    :param rate_limit: the account's limit in requests per second.
    :param headroom: fraction of the limit to pace at.
    :param clock: monotonic clock in seconds (injectable for tests).
    :param sleep: how :meth:`acquire` waits (injectable for tests, with ``clock``).
    """

    def __init__(
        self,
        rate_limit: float,
        *,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        self._ceiling = rate_limit * headroom
        self._rate = self._ceiling
        self._share = self._ceiling  # where quick recovery aims; probing goes on beyond it
        self._next_start = -math.inf
        self._generation = 0  # bumped on every slow-down: slots booked before are void
        self._starts: deque[float] = deque()  # our starts in the last window
        self._throttles: deque[float] = deque()  # our 429s in the last window
        self._last_update = clock()
        self._cut_time = -math.inf
        self._cut_start = -math.inf
        self._floor = MIN_RATE
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.throttled_count = 0

    @property
    def rate(self) -> float:
        """The current pace in requests per second."""
        with self._lock:
            self._recover(self._clock())
            return self._rate

    def acquire(self) -> float:
        """Block the calling thread until it may start a request; return the start time."""
        while True:
            start, generation, now = self._book()
            if start > now:
                self._sleep(start - now)
            if self._confirm(start, generation):
                return start

    async def acquire_async(self) -> float:
        """Wait, without blocking the event loop, until a request may start; return the start time."""
        while True:
            start, generation, now = self._book()
            if start > now:
                await asyncio.sleep(start - now)
            if self._confirm(start, generation):
                return start

    def on_throttled(self, started_at: float | None = None) -> None:
        """The server answered 429: the account's window is full, slow down to our share of it.

        :param started_at: when the refused request started (what :meth:`acquire` returned).
            Requests started after it are still in flight and left out of the share; a request
            started before the last slow-down corrects that slow-down instead of adding one.
            Without it, every start counts and one slow-down per window is made.
        """
        with self._lock:
            now = self._clock()
            self.throttled_count += 1
            self._recover(now)
            self._throttles.append(now)
            self._forget_before(now - WINDOW)
            started = [start for start in self._starts if start <= now]
            if started_at is not None and started_at < self._cut_time and now - self._cut_time < WINDOW:
                # Sent before the last slow-down and refused: the share estimated then counted
                # it as admitted. Correct that estimate; the pause is already on.
                known = [start for start in started if start <= self._cut_start]
                admitted = max(0, len(known) - len(self._throttles))
                self._rate = min(self._rate, max(SHARE_FACTOR * admitted, self._floor))
                self._share = min(self._share, max(self._rate, float(admitted)))
                return
            if now - self._cut_time >= CUT_COOLDOWN:
                known = started if started_at is None else [s for s in started if s <= started_at]
                admitted = max(0, len(known) - len(self._throttles))
                before = self._rate
                self._floor = max(MAX_CUT * before, MIN_RATE)
                self._rate = max(min(before, SHARE_FACTOR * admitted), self._floor)
                self._share = max(self._rate, float(admitted))
                self._cut_time = now
                self._cut_start = started_at if started_at is not None else now
            # Slots booked at the old pace are void. The server's window frees up as the
            # requests in it turn one second old: start again when our oldest one does.
            self._generation += 1
            self._next_start = now
            if started:
                self._next_start = max(now, started[-1] + 1.0 / self._rate, started[0] + WINDOW)

    # --- internals ---------------------------------------------------------------------------

    def _book(self) -> tuple[float, int, float]:
        with self._lock:
            now = self._clock()
            self._recover(now)
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self._rate
            return start, self._generation, now

    def _confirm(self, start: float, generation: int) -> bool:
        with self._lock:
            if generation != self._generation:
                return False
            self._starts.append(start)
            self._forget_before(start - WINDOW)
            return True

    def _forget_before(self, horizon: float) -> None:
        for events in (self._starts, self._throttles):
            while events and events[0] <= horizon:
                events.popleft()

    def _recover(self, now: float) -> None:
        """Advance the pace from the last update to ``now`` (the same curve however often called)."""
        start, self._last_update = self._last_update, now
        if now <= start or self._rate >= self._ceiling:
            return  # below the ceiling only after a cut: _cut_time is set from here on
        gap = self._share - self._rate
        if gap > _CLOSE_ENOUGH:
            # First an exponential approach to the share, until close enough to it...
            to_share = RECOVERY_TIME_CONSTANT * math.log(gap / _CLOSE_ENOUGH)
            if now - start <= to_share:
                self._rate += gap * -math.expm1(-(now - start) / RECOVERY_TIME_CONSTANT)
                self._rate = min(self._rate, self._ceiling)
                return
            self._rate = self._share - _CLOSE_ENOUGH
            start += to_share
        # ...then the probe, at PROBE_SLOPE doubling every DOUBLING_TIME since the cut (integrated;
        # the doubling stops after _MAX_DOUBLINGS, by when the ceiling is long reached).
        x_start = (start - self._cut_time) / DOUBLING_TIME
        x_now = (now - self._cut_time) / DOUBLING_TIME
        curved = 2.0 ** min(x_now, _MAX_DOUBLINGS) - 2.0 ** min(x_start, _MAX_DOUBLINGS)
        straight = (
            2.0**_MAX_DOUBLINGS * math.log(2) * (max(x_now, _MAX_DOUBLINGS) - max(x_start, _MAX_DOUBLINGS))
        )
        gained = PROBE_SLOPE * DOUBLING_TIME / math.log(2) * (curved + straight)
        self._rate = min(self._ceiling, self._rate + gained)


_registry: dict[tuple[str, float], AdaptiveRateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, rate_limit: float) -> AdaptiveRateLimiter:
    """The process-wide limiter of one account (``key``) at ``rate_limit``; created on first use."""
    with _registry_lock:
        limiter = _registry.get((key, rate_limit))
        if limiter is None:
            limiter = _registry[(key, rate_limit)] = AdaptiveRateLimiter(rate_limit)
        return limiter
