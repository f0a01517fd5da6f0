"""The streaming core: rows in, checks on an adaptive thread pool, rows out in input order.

Rows are read one at a time. Each becomes a *slot* in an ordered window:

- decided at once: locally INVALID, a repeat of a number already written (``seen``), a
  reusable answer (resume state or previous results), or UNCHECKED (budget used up);
- a repeat of a number whose first row is still in the window: it takes that row's
  outcome when written (the first row is always written before it);
- a paid check: two steps on the pool, an HLR look-up, then (usually) a fraud check.

The head of the window is written as soon as it is decided, so the output keeps input
order while checks finish in any order. As many steps are in flight as the rate limit and
the measured answer time need (:class:`~airflow_provider_sms.batch.inflight.InFlightController`,
at most its ``maximum``), and the window holds at most ``max_window`` rows: memory does not
depend on the list's length. Answers go to the resume state as they arrive, in whatever order.

**Which step starts next.** A fraud check can only start once its number's HLR look-up has
been answered, one answer time later. Run each number's two steps back to back and, once the
last look-up has started, the last answer time has only the fraud checks of the look-ups
still out to start: about half the pace (3 % of a 30-second list at 1 s answers). So the
pipeline keeps a backlog of *ready* fraud checks (look-up answered, fraud check not started):
when there is room in flight, a waiting look-up starts first while fewer fraud checks than
the in-flight target are ready, and a ready fraud check first once as many are. When the
look-ups run out, one in-flight target of fraud checks (at least ``rate x answer time``) is
ready to start and the limiter stays busy to the last request. The backlog is bounded by
that target (at most ``maximum``) plus the window; each look-up's answer is saved in the
resume state as it arrives (*half checked*), so a number waiting in the backlog is not lost
to a kill: its retry makes only the fraud check.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

from airflow_provider_sms.api.numbers import parse_number
from airflow_provider_sms.batch.breaker import CircuitBreaker
from airflow_provider_sms.batch.inflight import InFlightController
from airflow_provider_sms.compat import AirflowTaskTerminated
from airflow_provider_sms.exceptions import ErrorClass, HygieneInputError, InvalidNumberError, classify
from airflow_provider_sms.hygiene.checker import (
    CheckOutcome,
    CheckStopped,
    check_number,
    look_up,
    now_iso,
    wants_fraud_check,
)
from airflow_provider_sms.hygiene.progress import CALLS_PER_NUMBER
from airflow_provider_sms.hygiene.reader import InputRow
from airflow_provider_sms.hygiene.store import CACHE, RESUME
from airflow_provider_sms.hygiene.verdicts import (
    NumberCheck,
    Verdict,
    decide,
    half_checked,
    hlr_of,
    invalid,
    is_half_checked,
    paid_half,
    unchecked,
)

# How a run is stopped from outside, as opposed to failing; like a bad input line, it lets the
# numbers whose HLR look-up was paid finish their fraud check before it ends the run.
_TERMINATION = (KeyboardInterrupt, SystemExit, AirflowTaskTerminated)
_FINISH_PAID = (HygieneInputError, *_TERMINATION)

if TYPE_CHECKING:
    from airflow_provider_sms.api.results import HlrResult
    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.hygiene.checkpoint import CheckpointLog
    from airflow_provider_sms.hygiene.options import HygieneOptions
    from airflow_provider_sms.hygiene.progress import ProgressReporter, RunStats
    from airflow_provider_sms.hygiene.store import ResultStore
    from airflow_provider_sms.hygiene.writer import ResultWriters

# Rows the stream may run ahead of the oldest unwritten one. Generous, so that new numbers
# sparse among cached or repeated ones still keep every worker busy (one in a thousand
# rows: ten checks under way), yet a few megabytes at most.
MIN_WINDOW = 10_000
TICK_SECONDS = 0.5  # how often a blocked wait looks up to save state and log progress

_API = "api"
_INVALID = "invalid"
_DUPLICATE = "duplicate"
_UNCHECKED = "unchecked"

_LOOK_UP = "hlr"  # a check's first step
_FRAUD_CHECK = "fraud"  # its second


class _Check:
    """One number's paid check on its way: the HLR look-up, then (usually) the fraud check.

    Only the streaming thread touches it; ``outcome`` or ``error`` is set once it is decided.
    """

    __slots__ = ("calls", "e164", "error", "hlr", "outcome")

    def __init__(self, e164: str, hlr: HlrResult | None = None) -> None:
        self.e164 = e164
        self.hlr = hlr  # the paid HLR answer, once the first step is done (or from the resume state)
        self.calls = 0  # requests this run made for it
        self.outcome: CheckOutcome | None = None
        self.error: BaseException | None = None

    def done(self) -> bool:
        return self.outcome is not None or self.error is not None

    def result(self) -> CheckOutcome:
        """The outcome; the error that stopped the check is raised."""
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


class _Slot:
    """One input row on its way to the output."""

    __slots__ = ("check", "e164", "first", "job", "note", "origin", "row")

    def __init__(
        self,
        row: InputRow,
        e164: str,
        origin: str,
        *,
        check: NumberCheck | None = None,
        job: _Check | None = None,
        first: _Slot | None = None,
        note: str = "",
    ) -> None:
        self.row = row
        self.e164 = e164
        self.origin = origin
        self.check = check
        self.job = job
        self.first = first
        self.note = note


@functools.lru_cache(maxsize=65_536)
def _normalize(raw: str, default_region: str | None) -> tuple[str, str, str]:
    """``(e164, "", note)`` or ``("", reason, "")``; cached because lists repeat numbers verbatim.

    ``note`` says what normalisation dropped from this row's number (an extension).
    """
    try:
        parsed = parse_number(raw, default_region=default_region)
    except InvalidNumberError as exc:
        return "", str(exc), ""
    return parsed.e164, "", parsed.note


class CheckPipeline:
    """Checks a stream of rows with an adaptive pool and writes them in order.

    The streaming thread (the one calling :meth:`run`) reads, decides which step starts next,
    accounts for the answers and writes; the pool's threads only make requests.

    :param hook: the shared, thread-safe hook.
    :param options: the run's options.
    :param controller: how many checks to keep in flight (follows the answer time).
    :param store: the run's on-disk map of numbers.
    :param checkpoint: the resume state.
    :param writers: the result files.
    :param stats: counters to update.
    :param progress: the progress reporter.
    """

    def __init__(
        self,
        *,
        hook: SmsApiHook,
        options: HygieneOptions,
        controller: InFlightController,
        store: ResultStore,
        checkpoint: CheckpointLog,
        writers: ResultWriters,
        stats: RunStats,
        progress: ProgressReporter,
    ) -> None:
        self.hook = hook
        self.options = options
        self.store = store
        self.checkpoint = checkpoint
        self.writers = writers
        self.stats = stats
        self.progress = progress
        self.controller = controller
        self.max_in_flight = controller.maximum
        self.max_window = max(MIN_WINDOW, 8 * self.max_in_flight)
        # Answers are collected and saved on ticks: a quarter of the save interval keeps each
        # paid answer's way to the resume state near checkpoint_interval.
        self._tick_seconds = min(TICK_SECONDS, options.checkpoint_interval / 4, options.progress_interval)
        # Threads start as checks need them, up to the controller's maximum.
        self._executor = ThreadPoolExecutor(max_workers=controller.maximum, thread_name_prefix="sms-hygiene")
        self._stop = threading.Event()
        # Opens when the API looks down: no new check starts, run() raises ApiUnavailableError.
        self.breaker = CircuitBreaker("Number hygiene")
        self._window: deque[_Slot] = deque()
        self._first_in_window: dict[str, _Slot] = {}
        self._pending: dict[Future[object], tuple[_Check, str]] = {}  # steps in flight
        self._finished: queue.SimpleQueue[Future[object]] = queue.SimpleQueue()
        self._lookups: deque[_Check] = deque()  # checks whose HLR look-up waits for room
        self._ready: deque[_Check] = deque()  # look-up answered, fraud check waits for room
        self.ready_peak = 0  # the most ready fraud checks at once
        self._lookup_next = False  # whether the stream is about to read a row that needs a look-up
        self._look_up = functools.partial(look_up, self.hook, stop=self._stop, breaker=self.breaker)
        self._calls_reserved = 0  # calls made, plus CALLS_PER_NUMBER per unfinished check
        self._budget_spent = False

    def run(self, rows: Iterator[InputRow], number_index: int) -> None:
        """Check and write every row; on any failure, save the finished answers, then re-raise."""
        try:
            self._stream(rows, number_index)
        except BaseException as exc:
            finish_paid = isinstance(exc, _FINISH_PAID)
            if not finish_paid:
                # A refused connection, the API down (or a bug): running checks make no further
                # request; numbers whose look-up was answered stay saved half checked.
                self._stop.set()
            try:
                if finish_paid:
                    # The list is bad and the connection fine, or the run is terminated (Ctrl-C,
                    # Airflow's SIGTERM): what is paid is saved first (a SIGKILL may follow),
                    # then the steps under way finish and every number whose look-up was paid
                    # gets its fraud check (a few seconds at most), so the retry pays for none.
                    self.checkpoint.flush()
                    self._finish_paid()
            finally:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._collect(raise_fatal=False)
                self.checkpoint.flush()
            raise
        self._executor.shutdown(wait=True)
        self._collect()
        self.checkpoint.flush()

    def _stream(self, rows: Iterator[InputRow], number_index: int) -> None:
        for row in rows:
            self._window.append(self._classify(row, row.values[number_index]))
            # A row that needed a look-up is likely followed by another: room left after its start
            # is kept for the next one rather than given to a fraud check the backlog still needs.
            self._lookup_next = bool(self._lookups)
            if self._lookups:
                self._start_steps()
            self._write_ready()
            # Read on only once every look-up read so far has started: the reading waits for the API.
            while self._lookups or len(self._window) >= self.max_window:
                if not self._lookups:  # held up by the window: no look-up comes before its head
                    self._lookup_next = False
                self._await_step()
                self._write_ready()
            self._tick()
        self._lookup_next = False
        while self._window:  # no look-up left: the ready fraud checks start as room allows
            self._start_steps()
            self._write_ready()
            if self._window:
                self._await_step()

    def _finish_paid(self) -> None:
        """Start no new look-up; let every number whose look-up is paid (or under way) finish."""
        self._lookups.clear()
        self._lookup_next = False
        while self._pending or self._ready:
            self._start_steps()
            try:
                future = self._finished.get(timeout=self._tick_seconds)
            except queue.Empty:
                continue
            self._account(future, raise_fatal=False)
            self._collect(raise_fatal=False)

    # -- deciding what a row needs -----------------------------------------------------

    def _classify(self, row: InputRow, raw: str) -> _Slot:
        e164, problem, note = _normalize(raw, self.options.default_region)
        if problem:
            return _Slot(row, "", _INVALID, check=invalid("", problem, checked_at=now_iso()))
        first = self._first_in_window.get(e164)
        if first is not None:
            return _Slot(row, e164, _DUPLICATE, first=first, note=note)
        known = self.store.seen(e164)
        if known is not None:
            return _Slot(row, e164, _DUPLICATE, check=known, note=note)
        reusable = self.store.reusable(e164)
        # An earlier try paid for the HLR look-up, an outage stopped the fraud check: finish it.
        known_hlr = hlr_of(reusable[0]) if reusable is not None and is_half_checked(reusable[0]) else None
        if reusable is not None and known_hlr is None:
            slot = _Slot(row, e164, reusable[1], check=reusable[0], note=note)
        elif self._affordable():
            slot = _Slot(row, e164, _API, job=self._new_check(e164, known_hlr), note=note)
        else:
            reason = f"not checked: the max_api_calls budget ({self.options.max_api_calls}) was used up"
            slot = _Slot(row, e164, _UNCHECKED, check=unchecked(e164, reason), note=note)
        self._first_in_window[e164] = slot
        return slot

    def _affordable(self) -> bool:
        budget = self.options.max_api_calls
        if budget is not None and not self._budget_spent:
            # Stop for good at the first number that might overspend: later rows must not
            # be checked while earlier ones were refused.
            self._budget_spent = self._calls_reserved + CALLS_PER_NUMBER > budget
        return not self._budget_spent

    def _new_check(self, e164: str, known_hlr: HlrResult | None) -> _Check:
        check = _Check(e164, known_hlr)
        self._calls_reserved += CALLS_PER_NUMBER
        if known_hlr is None:
            self._lookups.append(check)
        else:  # an earlier try paid for the look-up: only the fraud check is left
            self._ready.append(check)
        return check

    # -- which step starts next -----------------------------------------------------------

    def _start_steps(self) -> None:
        """Fill the room in flight: a waiting look-up first while fewer fraud checks than the
        in-flight target are ready, a ready fraud check first once as many are (module doc)."""
        target = self.controller.limit()
        room = target - len(self._pending)
        while room > 0:
            if self._ready and (len(self._ready) >= target or not (self._lookups or self._lookup_next)):
                self._start(self._ready.popleft(), _FRAUD_CHECK)
            elif self._lookups:
                self._start(self._lookups.popleft(), _LOOK_UP)
            else:
                return
            room -= 1

    def _start(self, check: _Check, step: str) -> None:
        if step == _LOOK_UP:
            work: Callable[[str], object] = self._look_up
        else:
            work = functools.partial(
                check_number,
                self.hook,
                skip_fraud_check_if_unreachable=self.options.skip_fraud_check_if_unreachable,
                stop=self._stop,
                breaker=self.breaker,
                known_hlr=check.hlr,
            )
        future: Future[object] = self._executor.submit(self.controller.measure, work, check.e164)
        self._pending[future] = (check, step)
        future.add_done_callback(self._finished.put)

    # -- answers coming back ------------------------------------------------------------

    def _tick(self) -> None:
        self._raise_if_api_down()
        self._collect()
        if self._ready or self._lookups:
            self._start_steps()
        if self.checkpoint.due():
            self.checkpoint.flush()
        self.progress.maybe_report()

    def _await_step(self) -> None:
        """Wait for a step to finish (a tick at most), account for it, and fill the room it left."""
        try:
            future = self._finished.get(timeout=self._tick_seconds)
        except queue.Empty:
            pass
        else:
            self._account(future)
        self._tick()

    def _collect(self, *, raise_fatal: bool = True) -> None:
        """Account for every finished step."""
        while True:
            try:
                future = self._finished.get_nowait()
            except queue.Empty:
                return
            self._account(future, raise_fatal=raise_fatal)

    def _account(self, future: Future[object], *, raise_fatal: bool = True) -> None:
        """Log a finished step's answer in the resume state; queue the fraud check a look-up needs."""
        check, step = self._pending.pop(future)
        if future.cancelled():
            self._calls_reserved -= CALLS_PER_NUMBER - check.calls
            check.error = CheckStopped(check.e164)
            return
        exc = future.exception()
        if exc is None:
            answer = future.result()
            if step == _LOOK_UP:
                hlr = cast("HlrResult | Exception", answer)
                check.calls += 1
                self.stats.api_calls += 1
                skip = self.options.skip_fraud_check_if_unreachable
                if wants_fraud_check(hlr, skip_fraud_check_if_unreachable=skip):
                    check.hlr = cast("HlrResult", hlr)
                    # Paid: saved now, so a kill while the number waits does not lose it.
                    self.checkpoint.add(half_checked(check.e164, check.hlr, checked_at=now_iso()))
                    self._ready.append(check)
                    self.ready_peak = max(self.ready_peak, len(self._ready))
                    return
                outcome = CheckOutcome(decide(check.e164, hlr, None, checked_at=now_iso()), 1)
            else:
                fraud = cast("CheckOutcome", answer)
                check.calls += fraud.calls
                self.stats.api_calls += fraud.calls
                outcome = fraud._replace(calls=check.calls)
            check.outcome = outcome
            self.stats.checked_numbers += 1
            self._calls_reserved -= CALLS_PER_NUMBER - outcome.calls
            self.checkpoint.add(paid_half(outcome.check) or outcome.check)
            return
        check.error = exc
        if isinstance(exc, CheckStopped):
            # Nothing more is paid for it; a paid look-up is in the resume state already.
            self._calls_reserved -= CALLS_PER_NUMBER - check.calls
        elif classify(exc) is ErrorClass.FATAL:
            self.stats.api_calls += 1
            if raise_fatal:
                raise exc
        elif raise_fatal:  # a bug, not an API answer: stop rather than guess a verdict
            raise exc

    # -- writing in order ---------------------------------------------------------------

    def _raise_if_api_down(self) -> None:
        if self.breaker.outage is not None:  # run() saves what was paid, then re-raises
            raise self.breaker.unavailable()

    def _write_ready(self) -> None:
        while self._window:
            slot = self._window[0]
            if slot.check is None:
                if slot.first is not None:
                    slot.check = slot.first.check  # written before this row: decided
                elif slot.job is not None and slot.job.done():
                    self._raise_if_api_down()  # a check stopped by the breaker has no verdict
                    slot.check = slot.job.result().check  # a fatal error raises here too
                else:
                    return
            self._window.popleft()
            self._write(slot)

    def _write(self, slot: _Slot) -> None:
        check = slot.check
        assert check is not None
        duplicate = slot.origin == _DUPLICATE
        self.writers.write(slot.row.values, check, duplicate=duplicate, note=slot.note)
        s = self.stats
        s.rows += 1
        s.verdicts[check.verdict.value] += 1
        if slot.row.width_mismatch:
            s.ragged_rows += 1
        if check.verdict is Verdict.UNCHECKED and s.first_unchecked_row is None:
            s.first_unchecked_row = slot.row.number
        if duplicate:
            s.duplicate_rows += 1
            if check.verdict is not Verdict.UNCHECKED:
                s.saved_by_duplicates += CALLS_PER_NUMBER
            return
        if slot.origin == _INVALID:
            s.saved_by_invalid += CALLS_PER_NUMBER
            return
        s.unique_numbers += 1
        self.store.remember(check)
        self._first_in_window.pop(slot.e164, None)
        slot.first = slot.job = None  # a later repeat keeps only the decided check alive
        if slot.origin == CACHE:
            s.saved_by_cache += CALLS_PER_NUMBER
        elif slot.origin == RESUME:
            s.saved_by_resume += CALLS_PER_NUMBER
        elif (
            self.options.skip_fraud_check_if_unreachable
            and check.verdict is Verdict.UNREACHABLE
            and not check.fraud_status
        ):
            s.saved_by_skipped_fraud += 1
