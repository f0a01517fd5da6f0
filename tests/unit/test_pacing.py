"""The adaptive limiter with an injected clock: no burst, no window over the limit, cut and recovery."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from airflow_provider_sms.hooks import pacing
from airflow_provider_sms.hooks.pacing import AdaptiveRateLimiter, limiter_for


class FakeClock:
    """A clock that only moves when told to, or when the limiter sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limiter(clock: FakeClock, rate_limit: float = 30) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(rate_limit, clock=clock, sleep=clock.sleep)


def max_in_any_window(starts: list[float], window: float = 1.0) -> int:
    starts = sorted(starts)
    best, first = 0, 0
    for last, start in enumerate(starts):
        while start - starts[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_paces_smoothly_under_the_limit(clock: FakeClock) -> None:
    lim = limiter(clock)
    starts = [lim.acquire() for _ in range(200)]
    assert max_in_any_window(starts) <= 30
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(starts)}
    assert gaps == {round(1 / (30 * pacing.HEADROOM), 6)}  # one start every 1/29.1 s, never two at once


def test_no_burst_after_an_idle_spell(clock: FakeClock) -> None:
    lim = limiter(clock)
    first = [lim.acquire() for _ in range(10)]
    clock.advance(60)  # idle: a token bucket would now let a burst through
    idle_end = clock.now
    after = [lim.acquire() for _ in range(40)]
    assert after[0] == idle_end  # the first one at once...
    assert max_in_any_window(first + after) <= 30  # ...the rest paced as usual


def test_many_threads_still_get_paced_slots(clock: FakeClock) -> None:
    lim = limiter(clock, rate_limit=50)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            start = lim.acquire()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(starts) == 200
    assert len(set(starts)) == 200
    assert max_in_any_window(starts) <= 50


def test_acquire_waits_for_the_next_slot(clock: FakeClock) -> None:
    lim = limiter(clock, rate_limit=10)
    first = lim.acquire()
    assert first == clock() == 1000.0  # the first request starts at once
    assert lim.acquire() - first == pytest.approx(1 / 9.7)  # the next ones wait for their slot
    assert lim.acquire() - first == pytest.approx(2 / 9.7)
    assert clock() - first == pytest.approx(2 / 9.7)  # by sleeping on the injected clock


def test_a_429_cuts_to_the_admitted_share_voids_booked_slots_and_pauses(clock: FakeClock) -> None:
    lim = limiter(clock)
    # Another process holds most of the window: we started 10 requests in the last second.
    starts = []
    for _ in range(10):
        starts.append(lim.acquire())
        clock.advance(0.09)
    refused = starts[-1]
    lim.on_throttled(started_at=refused)
    assert lim.throttled_count == 1
    assert lim.rate == pytest.approx(pacing.SHARE_FACTOR * 9)  # 10 started, 1 refused
    # Nothing starts before our oldest request of the window turns one second old.
    assert lim.acquire() >= starts[0] + 1.0


def test_429s_within_a_window_of_a_cut_do_not_compound(clock: FakeClock) -> None:
    lim = limiter(clock)
    starts = [lim.acquire() for _ in range(20)]
    clock.advance(0.05)
    lim.on_throttled(started_at=clock.now - 0.04)
    cut = lim.rate
    fresh = lim.acquire()
    clock.advance(0.05)
    lim.on_throttled(started_at=fresh)  # sent after the cut, refused again: pause, no second cut
    assert lim.rate >= cut  # still recovering towards the share, not cut again
    assert lim.throttled_count == 2
    # ...but paused again: until the oldest of our requests still in the window leaves it.
    oldest = min(start for start in [*starts, fresh] if start > clock.now - 1.0)
    assert lim.acquire() == pytest.approx(oldest + 1.0)


def test_a_cut_never_goes_below_a_quarter_at_once_nor_below_the_minimum(clock: FakeClock) -> None:
    lim = limiter(clock)
    lim.on_throttled()  # nothing of ours admitted in the window
    assert lim.rate == pytest.approx(30 * pacing.HEADROOM * pacing.MAX_CUT)
    slow = limiter(clock, rate_limit=1)
    slow.on_throttled()
    assert slow.rate == pacing.MIN_RATE


def test_recovery_back_to_the_share_then_beyond_up_to_the_ceiling(clock: FakeClock) -> None:
    lim = limiter(clock)
    for _ in range(10):
        lim.acquire()
        clock.advance(0.09)
    lim.on_throttled(started_at=clock.now - 0.09)
    cut = lim.rate
    clock.advance(pacing.RECOVERY_TIME_CONSTANT)
    one_tau = lim.rate
    assert cut < one_tau < 9  # climbing back to the share (9 admitted)...
    assert one_tau == pytest.approx(9 - (9 - cut) / 2.718281828, rel=0.02)
    clock.advance(10)
    assert 9 < lim.rate < 30 * pacing.HEADROOM  # ...then probing beyond it...
    clock.advance(120)
    assert lim.rate == pytest.approx(30 * pacing.HEADROOM)  # ...up to the ceiling, not past it


def test_under_repeated_429s_no_window_exceeds_the_limit(clock: FakeClock) -> None:
    lim = limiter(clock)
    starts = []
    for i in range(300):
        starts.append(lim.acquire())
        if i % 37 == 36:
            lim.on_throttled(started_at=starts[-1])
    assert max_in_any_window(starts) <= 30


def test_acquire_async(clock: FakeClock) -> None:
    lim = limiter(clock)

    async def two() -> list[float]:
        return [await lim.acquire_async(), await lim.acquire_async()]

    first, second = asyncio.run(two())
    assert second - first == pytest.approx(1 / (30 * pacing.HEADROOM))


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        AdaptiveRateLimiter(0)
    with pytest.raises(ValueError, match="headroom"):
        AdaptiveRateLimiter(30, headroom=1.5)


def test_one_limiter_per_account_and_rate_per_process() -> None:
    a = limiter_for("api.example.com|key-test-pacing", 30.0)
    assert limiter_for("api.example.com|key-test-pacing", 30.0) is a
    assert limiter_for("api.example.com|other-key-test-pacing", 30.0) is not a
    assert limiter_for("api.example.com|key-test-pacing", 10.0) is not a
