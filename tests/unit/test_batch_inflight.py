"""The adaptive in-flight controller and its loops, driven by synthetic latencies (no network)."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time

import pytest
import tenacity

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.batch.inflight import (
    HEADROOM,
    MAX_IN_FLIGHT,
    MIN_IN_FLIGHT,
    RISE,
    SPARE,
    STARVED_AFTER,
    InFlightController,
    run_adaptive,
    run_adaptive_async,
)
from airflow_provider_sms.exceptions import RateLimitError
from airflow_provider_sms.hooks.pacing import AdaptiveRateLimiter, LimiterWaits, measure_waits
from airflow_provider_sms.hooks.retrying import retry_arguments


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(seconds, 0.0)


def settled(controller: InFlightController, latency: float, answers: int = 200) -> int:
    for _ in range(answers):
        controller.observe(latency)
    return controller.limit()


def test_in_flight_grows_with_the_answer_time_as_littles_law_says() -> None:
    limits = {}
    for latency in (0.05, 0.2, 1.0, 3.0):
        controller = InFlightController(30)
        limits[latency] = settled(controller, latency)
        assert controller.latency() == pytest.approx(latency, rel=0.01)
    assert limits[0.05] == MIN_IN_FLIGHT or limits[0.05] == math.ceil(30 * 0.05 * HEADROOM) + SPARE
    assert limits[0.2] == math.ceil(30 * 0.2 * HEADROOM) + SPARE  # 11
    assert limits[1.0] == math.ceil(30 * 1.0 * HEADROOM) + SPARE  # 47
    assert limits[3.0] == math.ceil(30 * 3.0 * HEADROOM) + SPARE  # 137
    assert limits[0.05] < limits[0.2] < limits[1.0] < limits[3.0]
    # The count covers what the rate needs at that latency (rate x latency), with room to spare.
    for latency, limit in limits.items():
        assert limit >= 30 * latency * HEADROOM


def test_in_flight_follows_a_slowdown_quickly_and_a_speedup_slowly() -> None:
    controller = InFlightController(30)
    fast = settled(controller, 0.2)
    for _ in range(10):
        controller.observe(2.0)
    assert controller.latency() > 1.5  # ten slow answers: most of the way there
    slow = controller.limit()
    assert slow > 3 * fast
    controller.observe(0.2)
    assert controller.limit() > 0.9 * slow  # one fast answer does not starve the pace
    assert settled(controller, 0.2) <= fast + 1  # back down (the estimate approaches 0.2 s from above)


def test_one_stalled_answer_is_not_taken_for_a_slowdown() -> None:
    """A stall of one answer (3 s where they take 0.2 s) raises the count by 30 % at most, not
    fifteen-fold; a real slowdown is still followed within a few answers."""
    controller = InFlightController(300)
    fast = settled(controller, 0.2)
    controller.observe(3.0)
    assert controller.latency() == pytest.approx(0.2 * (1 + RISE))
    assert controller.limit() <= math.ceil(300 * 0.2 * (1 + RISE) * HEADROOM) + SPARE
    for _ in range(15):
        controller.observe(3.0)
    assert controller.latency() > 2.0  # sixteen slow answers: most of the way to 3 s
    assert controller.limit() > 5 * fast


def test_bounds_maximum_minimum_and_the_pool() -> None:
    assert settled(InFlightController(300), 10.0) == MAX_IN_FLIGHT
    assert settled(InFlightController(300, maximum=8), 10.0) == 8  # an operator's upper bound
    assert settled(InFlightController(300, maximum=10_000), 10.0) == MAX_IN_FLIGHT
    assert settled(InFlightController(1, maximum=2), 0.001) == 2  # the floor never exceeds the maximum
    assert settled(InFlightController(1), 0.001) == MIN_IN_FLIGHT
    with pytest.raises(ValueError, match="rate_limit"):
        InFlightController(0)
    with pytest.raises(ValueError, match="at least 1"):
        InFlightController(30, maximum=0)


def test_work_without_requests_is_no_measure() -> None:
    controller = InFlightController(30, initial_latency=0.2)
    controller.observe(5.0, requests=0)  # a journal hit: nothing was asked of the API
    assert controller.latency() == 0.2


def test_limiter_waits_are_not_taken_for_a_slow_api() -> None:
    """Work that queues at the limiter must not read as slow answers, or the count would run away."""
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(10, headroom=1.0, clock=clock, sleep=clock.sleep)
    controller = InFlightController(10, clock=clock)

    def one_request(_: int) -> None:
        limiter.acquire()  # later and later turns: 0.1 s apart
        clock.sleep(0.3)  # the API's answer time

    for item in range(50):
        controller.measure(one_request, item)
    assert controller.latency() == pytest.approx(0.3)

    def two_requests(_: int) -> None:  # a hygiene check: HLR look-up, then the fraud check
        one_request(0)
        one_request(0)

    for item in range(50):
        controller.measure(two_requests, item)
    assert controller.latency() == pytest.approx(0.3)  # per request, not per piece of work
    with measure_waits() as waits:
        one_request(0)
    assert waits.requests == 1


def test_a_retry_after_a_429_is_not_taken_for_a_slow_api() -> None:
    """A 429 answered with ``Retry-After: 1`` and retried: the pause is a wait, as the limiter's are.

    Counted as answer time, each 429 raised the estimate by 0.3 s at 0.2 s answers: a few of
    them took a 300/s batch to its maximum of threads, whose CPU made later starts, more 429s.
    """
    clock = FakeClock()
    controller = InFlightController(300, clock=clock)
    limiter = AdaptiveRateLimiter(300, headroom=1.0, clock=clock, sleep=clock.sleep)
    request = endpoints.hlr_lookup("+447911123456")
    attempts = 0

    def answer() -> str:
        nonlocal attempts
        attempts += 1
        limiter.acquire()
        clock.sleep(0.2)  # the API's answer time, 429 or not
        if attempts % 2:
            error = RateLimitError("429", http_status=429)
            error.retry_after = 1.0
            raise error
        return "ok"

    def look_up(_: int) -> str:
        retrying = tenacity.Retrying(sleep=clock.sleep, **retry_arguments(request, 3, logging.getLogger("t")))
        return retrying(answer)

    for item in range(20):
        assert controller.measure(look_up, item) == "ok"
    assert attempts == 40
    assert controller.latency() == pytest.approx(0.2)  # was 0.7 with the pause counted
    assert controller.limit() <= math.ceil(300 * 0.2 * HEADROOM) + SPARE + 1  # not 300 * 0.7 * 1.5


def test_a_process_short_of_cpu_holds_its_count_instead_of_growing_it() -> None:
    """Turns taken late (the limiter's sleepers woke after their slot) mean this process is slow,
    not the API: its answers look slower, and more threads would only make that worse."""
    clock = FakeClock()
    controller = InFlightController(300, clock=clock)
    settled(controller, 0.2)
    grown = []
    for late in (0.0, 0.1):
        for _ in range(50):
            controller.observe_lateness(late)
        tokens = [controller._begin() for _ in range(60)]
        for _ in range(200):
            controller.observe(1.0)  # the answers look five times slower
        grown.append(controller.limit())
        for token, began in tokens:
            controller._end(token, began, LimiterWaits())
        settled(controller, 0.2)
    assert grown[0] == MAX_IN_FLIGHT or grown[0] >= math.ceil(300 * 1.0 * HEADROOM)  # on time: it grows
    fresh = InFlightController(300, clock=clock)
    settled(fresh, 0.2)
    for _ in range(STARVED_AFTER - 1):
        fresh.observe_lateness(1.0)
    assert not fresh.starved()  # a few stalls are not a verdict
    fresh.observe_lateness(1.0)
    assert fresh.starved()
    assert grown[1] == 60  # late: it holds the 60 in flight


def test_the_limiter_reports_how_late_its_sleepers_woke() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(10, headroom=1.0, clock=clock, sleep=lambda s: clock.sleep(s + 0.05))
    limiter.acquire()
    with measure_waits() as waits:
        limiter.acquire()  # sleeps until its turn, and wakes 50 ms after it
    assert waits.late == pytest.approx(0.05)
    with measure_waits() as waits:
        clock.sleep(1.0)
        limiter.acquire()  # due at once: not late
    assert waits.late == 0.0


def test_before_the_first_answer_the_oldest_wait_bounds_the_latency() -> None:
    """A 3 s API: the count climbs while nobody has answered yet, instead of staying at the guess."""
    clock = FakeClock()
    controller = InFlightController(30, clock=clock, initial_latency=0.2)
    guess = controller.limit()
    started = threading.Event()
    release = threading.Event()

    def slow(_: int) -> None:
        started.set()
        release.wait(10)

    worker = threading.Thread(target=controller.measure, args=(slow, 0))
    worker.start()
    started.wait(10)
    climbed = []
    for _ in range(3):
        clock.sleep(1.0)
        climbed.append(controller.limit())
    release.set()
    worker.join()
    assert guess < climbed[0] < climbed[1] < climbed[2]
    assert climbed[2] >= 30 * 3.0 * HEADROOM  # by 3 s, enough for a 3 s API


def test_run_adaptive_keeps_the_count_and_every_item() -> None:
    controller = InFlightController(1000, maximum=6)
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        if item == 7:
            raise ValueError("seven")
        return item * 2

    seen = {}
    for item, future in run_adaptive(range(40), work, controller=controller):
        seen[item] = future.exception() if item == 7 else future.result()
    assert sorted(seen) == list(range(40))
    assert isinstance(seen[7], ValueError)
    assert seen[3] == 6
    assert 1 < peak <= 6
    assert controller.peak <= 6


def test_leaving_the_loop_early_starts_nothing_more_and_waits_for_work_under_way() -> None:
    controller = InFlightController(1000, maximum=4)
    started: list[int] = []
    finished: list[int] = []

    def work(item: int) -> int:
        started.append(item)
        time.sleep(0.05)
        finished.append(item)
        return item

    for _item, _future in run_adaptive(range(1000), work, controller=controller):
        break  # a breaker opening, say
    assert len(started) <= 4 + 4  # what was in flight, and at most the next round
    assert sorted(started) == sorted(finished)  # nothing abandoned midway


def test_run_adaptive_async_keeps_the_count_and_every_item() -> None:
    controller = InFlightController(1000, maximum=5)
    running = 0
    peak = 0

    async def work(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002)
        running -= 1
        return item + 1

    async def main() -> dict[int, int]:
        return {
            item: task.result()
            async for item, task in run_adaptive_async(range(30), work, controller=controller)
        }

    results = asyncio.run(main())
    assert results == {i: i + 1 for i in range(30)}
    assert 1 < peak <= 5


def test_async_work_is_measured_per_task() -> None:
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(10, headroom=1.0, clock=clock, sleep=clock.sleep)
    controller = InFlightController(10, clock=clock)

    async def one_request(_: int) -> None:
        limiter.acquire()
        clock.sleep(0.7)

    async def main() -> None:
        async for _item, task in run_adaptive_async(range(20), one_request, controller=controller):
            task.result()

    asyncio.run(main())
    assert controller.latency() == pytest.approx(0.7)
