"""Client-side pacing: one adaptive limiter per account, shared by every thread of the process.

The API counts requests in a sliding one-second window (30 per account). Smooth pacing —
one start every ``1/rate`` seconds, never a burst after an idle spell — keeps any one-second
window of *starts* at or under ``rate``; a small headroom absorbs network jitter between
the client's starts and the server's arrivals.

Other processes may share the account, and they cannot see our limiter. When the server
still answers 429 the limiter cuts its rate multiplicatively, then recovers: quickly back
towards the rate it had before the cut, slowly beyond it (the shape of AWS SDKs' adaptive
retry mode, itself borrowed from TCP CUBIC). Several processes thus converge on sharing
the limit instead of fighting over it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable

HEADROOM = 0.97  # pace at 97 % of the limit: ~30 ms of jitter per second stays under it
CUT_FACTOR = 0.7  # multiplicative decrease on a 429
MIN_RATE = 0.5  # requests per second: never stall completely
RECOVERY_TIME_CONSTANT = 2.0  # seconds to close ~63 % of the gap back to the pre-cut rate
PROBE_SLOPE = 0.25  # requests/s gained per second beyond the pre-cut rate
CUT_COOLDOWN = 1.0  # the server's window is one second: one cut per window is enough


class AdaptiveRateLimiter:
    """Thread-safe smooth pacer with multiplicative decrease on 429 and gradual recovery.

    :param rate_limit: the account's limit in requests per second.
    :param headroom: fraction of the limit to pace at.
    :param clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        rate_limit: float,
        *,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        self._ceiling = rate_limit * headroom
        self._rate = self._ceiling
        self._rate_before_cut = self._ceiling
        self._next_start = 0.0
        self._last_update = clock()
        self._last_cut = -math.inf
        self._clock = clock
        self._lock = threading.Lock()
        self.throttled_count = 0

    @property
    def rate(self) -> float:
        """The current pace in requests per second."""
        with self._lock:
            self._recover(self._clock())
            return self._rate

    def reserve(self) -> float:
        """Book the next start slot; return how many seconds to wait before starting."""
        with self._lock:
            now = self._clock()
            self._recover(now)
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self._rate
            return start - now

    def acquire(self) -> None:
        """Block the calling thread until it may start a request."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)

    async def acquire_async(self) -> None:
        """Wait, without blocking the event loop, until a request may start."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def on_throttled(self) -> None:
        """The server answered 429: someone else shares the account, slow down."""
        with self._lock:
            now = self._clock()
            self.throttled_count += 1
            self._recover(now)
            if now - self._last_cut < CUT_COOLDOWN:
                return
            self._last_cut = now
            self._rate_before_cut = self._rate
            self._rate = max(MIN_RATE, self._rate * CUT_FACTOR)
            # The server's window is full right now: leave it a slot's worth of quiet.
            self._next_start = max(self._next_start, now + 1.0 / self._rate)

    def _recover(self, now: float) -> None:
        elapsed = now - self._last_update
        self._last_update = now
        if elapsed <= 0 or self._rate >= self._ceiling:
            return
        gap = self._rate_before_cut - self._rate
        if gap > 0.1:
            self._rate += gap * (1.0 - math.exp(-elapsed / RECOVERY_TIME_CONSTANT))
        else:  # back where the last cut happened (the approach is asymptotic): probe slowly
            self._rate += PROBE_SLOPE * elapsed
        self._rate = min(self._rate, self._ceiling)


_registry: dict[tuple[str, float], AdaptiveRateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, rate_limit: float) -> AdaptiveRateLimiter:
    """The process-wide limiter of one account (``key``) at ``rate_limit``; created on first use."""
    with _registry_lock:
        limiter = _registry.get((key, rate_limit))
        if limiter is None:
            limiter = _registry[(key, rate_limit)] = AdaptiveRateLimiter(rate_limit)
        return limiter
