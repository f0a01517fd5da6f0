"""The adaptive limiter with an injected clock: no burst, no window over the limit, cut and recovery."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import stat
import threading
from pathlib import Path

import pytest

from airflow_provider_sms.hooks import pacing, shared_pacing
from airflow_provider_sms.hooks.pacing import AdaptiveRateLimiter, limiter_for
from airflow_provider_sms.hooks.shared_pacing import HostStore
from tests.support.pacing import max_in_any_window


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


def warmed_up(lim: AdaptiveRateLimiter, clock: FakeClock) -> None:
    """Take slots until the busy spell's warm-up is over (the full pace from then on)."""
    began = lim.acquire()
    while clock.now < began + pacing.WARMUP:
        lim.acquire()


def test_paces_smoothly_under_the_limit(clock: FakeClock) -> None:
    lim = limiter(clock)
    starts = [lim.acquire() for _ in range(200)]
    assert max_in_any_window(starts) <= 30
    steady = [start for start in starts if start >= starts[0] + pacing.WARMUP]
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(steady)}
    assert gaps == {round(1 / (30 * pacing.HEADROOM), 6)}  # one start every 1/29.1 s, never two at once


def test_a_busy_spell_starts_below_the_pace_and_ramps_up_to_it(clock: FakeClock) -> None:
    lim = limiter(clock)
    starts = [lim.acquire() for _ in range(100)]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    full = 1 / (30 * pacing.HEADROOM)
    assert gaps[0] == pytest.approx(full / pacing.WARM_START)  # three quarters of the pace at first...
    assert all(a >= b for a, b in itertools.pairwise(gaps))  # ...rising...
    assert gaps[-1] == pytest.approx(full)  # ...to all of it after WARMUP seconds
    assert sum(1 for start in starts if start < starts[0] + pacing.WARMUP) < 2 * 30 * pacing.HEADROOM
    clock.advance(5)  # idle again: the next spell warms up again
    again = [lim.acquire() for _ in range(2)]
    assert again[1] - again[0] == pytest.approx(full / pacing.WARM_START)


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
    assert lim.acquire() == clock() == 1000.0  # the first request starts at once
    warmed_up(lim, clock)
    first = lim.acquire()
    assert lim.acquire() - first == pytest.approx(1 / 9.7)  # the next ones wait for their slot
    assert lim.acquire() - first == pytest.approx(2 / 9.7)
    assert clock() - first == pytest.approx(2 / 9.7)  # by sleeping on the injected clock


def test_threads_a_stall_wakes_late_start_a_pace_apart_not_in_a_burst(clock: FakeClock) -> None:
    lim = limiter(clock)
    warmed_up(lim, clock)
    pace = 1 / (30 * pacing.HEADROOM)
    # Five threads booked the next five turns (what acquire() does first)...
    booked = [lim._book() for _ in range(5)]
    assert [b - a for (a, _, _), (b, _, _) in itertools.pairwise(booked)] == pytest.approx([pace] * 4)
    # ...and a CPU stall wakes them all 0.2 s after the last of those turns.
    clock.advance(booked[-1][0] + 0.2 - clock())
    stall_end = clock()
    starts = []
    for start, generation, _ in booked:
        # What acquire() does after its sleep: take the turn, or book again (and sleep until
        # the new turn) when it was voided or came too late for it.
        late = False
        taken = lim._confirm(start, generation)
        while not taken:
            late = late or taken is None
            start, generation, now = lim._book()
            if start <= now:  # due: taken with the booking
                break
            clock.sleep(start - now)
            taken = lim._confirm(start, generation, late_ok=late)
        starts.append(start)
    assert starts[0] == stall_end  # the first one late books again and starts at once...
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([pace] * 4)  # ...then a pace apart
    assert max_in_any_window(starts) <= 30
    # On time, a turn is taken as booked.
    start, generation, now = lim._book()
    clock.sleep(start - now)
    assert lim._confirm(start, generation) is True


def test_a_thread_late_again_after_booking_again_takes_its_turn(clock: FakeClock) -> None:
    """A starved process still makes progress: the second time late, the turn is taken."""
    lim = limiter(clock)
    warmed_up(lim, clock)
    pace = 1 / (30 * pacing.HEADROOM)
    first, first_generation, _ = lim._book()  # thread A's turn...
    second, second_generation, _ = lim._book()  # ...and thread B's, one pace later
    clock.advance(second - clock())
    assert lim._confirm(second, second_generation) is True  # B on time
    clock.advance(0.01)
    assert lim._confirm(first, first_generation) is None  # A woke 1.4 paces late: book again...
    start, generation, _ = lim._book()
    assert start == pytest.approx(second + pace)  # ...one pace after the last start
    clock.advance(start + 0.1 - clock())  # late again
    assert lim._confirm(start, generation, late_ok=True) is True


def test_a_late_thread_books_again_and_leaves_the_other_threads_their_turns(clock: FakeClock) -> None:
    """Voiding every turn whenever one thread woke late made every thread of a busy batch book
    again, most of the time at 300/s with a hundred threads."""
    lim = limiter(clock)
    warmed_up(lim, clock)
    pace = 1 / (30 * pacing.HEADROOM)
    (a, a_gen, _), (b, b_gen, _), (c, c_gen, _) = (lim._book() for _ in range(3))
    clock.advance(a + 0.02 - clock())
    assert lim._confirm(a, a_gen) is None  # A woke 20 ms late: it books again...
    clock.advance(b - clock())
    assert lim._confirm(b, b_gen) is True  # ...B and C keep their turns
    clock.advance(c - clock())
    assert lim._confirm(c, c_gen) is True
    again, _, _ = lim._book()
    assert again == pytest.approx(c + pace)  # A's new turn: after the turns booked already


def late_wakes(clock: FakeClock, rate: float, seconds: float = 6.0, threads: int = 64) -> list[float]:
    """Threads that take turns back to back, one wake in ten 15-40 ms late; the actual starts."""
    import heapq

    lim = limiter(clock, rate_limit=rate)
    warmed_up(lim, clock)
    began, rng, order = clock(), random.Random(7), itertools.count()
    actual: list[float] = []
    waiting: list[tuple[float, int, float, int, bool]] = []

    def book(late_ok: bool = False) -> None:
        while True:
            start, generation, now = lim._book()
            if start > now:
                late = rng.uniform(0.015, 0.04) if rng.random() < 0.1 else 0.0
                heapq.heappush(waiting, (start + late, next(order), start, generation, late_ok))
                return
            actual.append(now)  # due at once: started, and the thread books its next turn

    for _ in range(threads):
        book()
    while clock() < began + seconds:
        wake, _, start, generation, late_ok = heapq.heappop(waiting)
        clock.advance(max(0.0, wake - clock()))
        taken = lim._confirm(start, generation, late_ok=late_ok)
        if taken:
            actual.append(clock())
        book(late_ok=taken is None)
    return [t for t in actual if t >= began]


def test_at_a_high_pace_a_late_thread_starts_at_once_when_every_window_has_room(clock: FakeClock) -> None:
    """A turn left unused is a start lost: at 300/s with one wake in ten late, that was a tenth
    of the pace. Where the window has room, the late thread starts; no window goes over."""
    starts = late_wakes(clock, 300)
    assert max_in_any_window(starts) <= 296  # the limit, less half the headroom kept for jitter
    assert len(starts) / 6.0 >= 0.95 * 300 * pacing.HEADROOM  # nearly no turn lost


def test_at_30_per_second_a_late_thread_never_squeezes_in(clock: FakeClock) -> None:
    starts = late_wakes(clock, 30, threads=8)
    assert max_in_any_window(starts) <= 30
    lim = limiter(clock)
    warmed_up(lim, clock)
    start, generation, _ = lim._book()
    clock.advance(start + 0.02 - clock())
    assert lim._confirm(start, generation) is None  # the turns ahead fill the window: book again


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


def test_a_429_answered_after_a_window_cuts_to_the_pace_not_to_a_quarter(clock: FakeClock) -> None:
    """A slow API answers its 429s slowly too: the refused request's window is forgotten by then."""
    lim = limiter(clock)
    warmed_up(lim, clock)
    starts = [lim.acquire() for _ in range(90)]  # three seconds at the pace, 1.5 s answers
    lim.on_throttled(started_at=starts[-45])
    assert lim.rate >= pacing.SHARE_FACTOR * (29 - 1) * 0.99  # a window's starts, one refused
    clock.advance(0.001)
    lim.on_throttled(started_at=starts[-44])  # its neighbour, refused too, corrects the estimate
    assert lim.rate >= pacing.SHARE_FACTOR * (29 - 2) * 0.99


def test_a_429_answered_late_within_the_window_counts_the_forgotten_part_at_the_pace(
    clock: FakeClock,
) -> None:
    lim = limiter(clock)
    warmed_up(lim, clock)
    starts = [lim.acquire() for _ in range(90)]
    lim.on_throttled(started_at=starts[-24])  # answered 0.8 s later: 0.2 s of its window still known
    assert lim.rate >= pacing.SHARE_FACTOR * (29 - 1) * 0.97


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


def test_a_slow_api_s_late_429s_to_requests_sent_before_a_cut_never_cut_again(clock: FakeClock) -> None:
    """Answers in 3 s: the 429s of one crowded second keep arriving for seconds after the cut."""
    lim = limiter(clock)
    warmed_up(lim, clock)
    starts = [lim.acquire() for _ in range(120)]  # four seconds at the pace
    lim.on_throttled(started_at=starts[-90])  # answered 3 s after it started
    cut = lim.rate
    assert cut >= pacing.SHARE_FACTOR * (29 - 1) * 0.99
    for neighbour in (89, 88, 87, 86):  # the neighbours' 429s, over the next two and a half seconds
        clock.advance(0.6)
        lim.on_throttled(started_at=starts[-neighbour])
    assert lim.rate >= cut  # recovering; each late 429 cutting again would end at the floor
    assert lim.throttled_count == 5


def test_turns_booked_at_a_slow_pace_are_booked_again_as_the_pace_recovers(clock: FakeClock) -> None:
    lim = limiter(clock)
    lim.on_throttled()  # nothing of ours admitted: a quarter of the pace
    slow = lim.rate
    # 150 waiting threads book a turn each at the slow pace: twenty seconds of turns...
    booked = [lim._book() for _ in range(150)]
    assert booked[-1][0] - clock.now > 19
    began = clock.now
    started = lim.acquire()  # ...and one more thread: its first turn would come after all of them.
    # As the pace recovered by a step, the turns were voided and it booked again, at the new pace.
    assert started - began < 10
    assert lim.rate > slow
    following = lim.acquire()
    assert following - started == pytest.approx(1 / lim.rate, rel=0.05)


def test_booking_again_never_ends_a_retry_after_pause_early(clock: FakeClock) -> None:
    lim = limiter(clock)
    throttled_at = clock.now
    lim.on_throttled(retry_after=20.0)
    slow = lim.rate
    assert lim.acquire() == pytest.approx(throttled_at + 20.0)
    assert pacing._step(lim.rate) > pacing._step(slow)  # the pace recovered meanwhile: turns were voided


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
    warmed_up(lim, clock)

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


def test_a_retry_after_pauses_every_start_until_it_is_over(clock: FakeClock) -> None:
    lim = limiter(clock)
    started = lim.acquire()
    clock.advance(0.1)
    throttled_at = clock.now
    lim.on_throttled(started_at=started, retry_after=5.0)
    assert lim.acquire() == pytest.approx(throttled_at + 5.0)
    lim.on_throttled(retry_after=None)  # without one: only the share-based pause
    assert lim.acquire() < clock.now + 5.0


# --- one pace per host: limiters over one state file ------------------------------------------


def host_limiter(clock: FakeClock, path: Path, rate_limit: float = 30) -> AdaptiveRateLimiter:
    """A limiter as another process would make it: its own open file, the same state."""
    return AdaptiveRateLimiter(rate_limit, clock=clock, sleep=clock.sleep, store=HostStore(path))


def test_the_state_file_round_trips_and_refuses_what_it_cannot_trust() -> None:
    state = pacing.PaceState(29.1, 25.0, 1002.5, 7, 1001.0, 990.0, 989.5, 7.3)
    state.starts.extend([1000.1, 1000.2])
    state.throttles.append(1000.15)
    data = shared_pacing.encode(state)
    assert shared_pacing.decode(data) == state
    assert shared_pacing.decode(b"") is None
    assert shared_pacing.decode(b"x" * len(data)) is None
    assert shared_pacing.decode(data[:-1]) is None  # torn write
    boot = shared_pacing._BOOT_ID
    assert shared_pacing.decode(data.replace(boot, bytes(b ^ 0xFF for b in boot), 1)) is None  # rebooted


def test_limiters_of_several_processes_interleave_into_one_evenly_spaced_schedule(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "pace"
    limiters = [host_limiter(clock, path) for _ in range(3)]
    starts: dict[int, list[float]] = {i: [] for i in range(3)}
    order = random.Random(5)
    for _ in range(300):
        which = order.randrange(3)  # an irregular order of asking
        starts[which].append(limiters[which].acquire())
    every = sorted(s for got in starts.values() for s in got)
    alone = limiter(FakeClock())
    assert every == [alone.acquire() for _ in range(300)]  # one schedule, as if one limiter
    assert max_in_any_window(every) <= 30
    assert all(len(got) >= 60 for got in starts.values())


def test_separate_processes_without_the_host_store_would_overrun_the_limit(clock: FakeClock) -> None:
    # What the host store fixes: two processes pacing alone each start 29 per second.
    alone = [limiter(clock), limiter(clock)]
    starts = [lim.acquire() for _ in range(60) for lim in alone]
    assert max_in_any_window(starts) > 30


def simulate(
    limiters: list[AdaptiveRateLimiter], clock: FakeClock, joins: list[float], until: float
) -> list[list[float]]:
    """Busy processes with 8 workers each: a worker asks for a slot, its request takes 0.2 s,
    then it asks again. Process ``i`` starts at ``joins[i]``. Their granted starts."""
    until += clock.now
    ready = [(clock.now + join, i, w) for i, join in enumerate(joins) for w in range(8)]
    granted: list[list[float]] = [[] for _ in limiters]
    while ready:
        ready.sort()
        at, i, w = ready.pop(0)
        if at > until:
            break
        clock.now = max(clock.now, at)
        start = limiters[i].acquire()
        granted[i].append(start)
        ready.append((start + 0.2, i, w))
    return granted


def test_busy_processes_on_one_host_converge_to_equal_shares_and_fill_the_limit(
    clock: FakeClock, tmp_path: Path
) -> None:
    def never_sleep(seconds: float) -> None:
        pass  # simulated time: a worker's slot is where the schedule put it

    path = tmp_path / "pace"
    limiters = [
        AdaptiveRateLimiter(30, clock=clock, sleep=never_sleep, store=HostStore(path)) for _ in range(4)
    ]
    t0 = clock.now
    # One process alone for 5 s, the others join one after the other.
    granted = simulate(limiters, clock, joins=[0.0, 5.0, 7.0, 9.0], until=40.0)
    together = [[s for s in got if t0 + 11 <= s < t0 + 40] for got in granted]
    shares = [len(got) for got in together]
    # Equal shares once all are busy: the slots go round the 32 workers in turn, so the shares
    # differ only by the last round, which the window's edges cut (at most 8, one process's workers).
    assert max(shares) - min(shares) <= 8
    assert sum(shares) == pytest.approx(29 * 30 * pacing.HEADROOM, abs=2)  # ...filling the pace
    assert max_in_any_window([s for got in granted for s in got]) <= 30
    first_alone = [s for s in granted[0] if t0 + pacing.WARMUP <= s < t0 + 5]
    alone_for = 5 - pacing.WARMUP
    assert len(first_alone) == pytest.approx(alone_for * 30 * pacing.HEADROOM, abs=1)  # alone: all of it


def test_a_429_slows_every_process_of_the_host(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "pace"
    one, other = host_limiter(clock, path), host_limiter(clock, path)
    for _ in range(10):
        one.acquire()
        clock.advance(0.09)
    one.on_throttled(started_at=clock.now - 0.09)
    assert one.throttled_count == 1
    assert other.throttled_count == 0  # counted where it was seen...
    assert other.rate == one.rate == pytest.approx(pacing.SHARE_FACTOR * 9)  # ...but the pace is shared


def test_a_state_file_from_before_a_reboot_starts_afresh(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "pace"
    clock.now = 1_000_000.0
    old = host_limiter(clock, path)
    old.on_throttled(retry_after=60.0)
    clock.now = 50.0  # the monotonic clock restarted
    fresh = host_limiter(clock, path)
    assert fresh.rate == pytest.approx(30 * pacing.HEADROOM)
    assert fresh.acquire() == 50.0


def test_the_host_store_is_private_and_never_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_pacing.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = shared_pacing.state_dir()
    assert folder is not None
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    store = shared_pacing.host_store("api.example.com|key-id-123")
    assert isinstance(store, HostStore)
    assert store.path.parent == folder
    assert "key-id-123" not in store.path.name
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    folder.chmod(0o755)  # readable by others: not used
    assert shared_pacing.state_dir() is None
    assert isinstance(shared_pacing.host_store("api.example.com|key-id-123"), pacing.LocalStore)


class CountingStore(pacing.LocalStore):
    """A local store that counts how often the state is held (each a lock of the pace file)."""

    def __init__(self) -> None:
        super().__init__()
        self.holds = 0

    def locked(self):  # type: ignore[no-untyped-def]
        self.holds += 1
        return super().locked()


def test_a_turn_already_due_takes_the_state_once_a_later_one_twice(clock: FakeClock) -> None:
    """Booking and confirming a slot each held the host's pace file (flock, read, write): a
    thread whose turn is due takes it with the booking; a sleeper confirms after its sleep, in
    case a 429 voided the slot meanwhile."""
    store = CountingStore()
    lim = AdaptiveRateLimiter(30, clock=clock, sleep=clock.sleep, store=store)
    store.holds = 0
    first = lim.acquire()  # idle limiter: due at once
    assert store.holds == 1
    second = lim.acquire()  # the next slot is 1/pace later: sleep, then confirm
    assert store.holds == 3
    assert second > first
    clock.advance(5.0)
    store.holds = 0
    starts = [lim.acquire() for _ in range(100)]
    assert max_in_any_window(starts) <= 30  # still never above the limit
    assert store.holds == 1 + 2 * 99
