"""The streaming core: rows in, checks on an adaptive thread pool, rows out in input order.

Rows are read one at a time. Each becomes a *slot* in an ordered window:

- decided at once: locally INVALID, a repeat of a number already written (``seen``), a
  reusable answer (resume state or previous results), or UNCHECKED (budget used up);
- a repeat of a number whose first row is still in the window: it takes that row's
  outcome when written (the first row is always written before it);
- a paid check submitted to the pool (HLR look-up + fraud check on a worker thread).

The head of the window is written as soon as it is decided, so the output keeps input
order while checks finish in any order. As many checks are unfinished as the rate limit and
the measured answer time need (:class:`~airflow_provider_sms.batch.inflight.InFlightController`,
at most its ``maximum``), and the window holds at most ``max_window`` rows: memory does not
depend on the list's length. Answers go to the resume state as they arrive, in whatever order.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from airflow_provider_sms.api.numbers import parse_number
from airflow_provider_sms.batch.breaker import CircuitBreaker
from airflow_provider_sms.batch.inflight import InFlightController
from airflow_provider_sms.compat import AirflowTaskTerminated
from airflow_provider_sms.exceptions import ErrorClass, HygieneInputError, InvalidNumberError, classify
from airflow_provider_sms.hygiene.checker import (
    CheckOutcome,
    CheckStopped,
    check_number,
    now_iso,
)
from airflow_provider_sms.hygiene.progress import CALLS_PER_NUMBER
from airflow_provider_sms.hygiene.reader import InputRow
from airflow_provider_sms.hygiene.store import CACHE, RESUME
from airflow_provider_sms.hygiene.verdicts import (
    NumberCheck,
    Verdict,
    half_checked,
    hlr_of,
    invalid,
    is_half_checked,
    paid_half,
    unchecked,
)

# How a run is stopped from outside, as opposed to failing.
_TERMINATION = (KeyboardInterrupt, SystemExit, AirflowTaskTerminated)

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


class _Slot:
    """One input row on its way to the output."""

    __slots__ = ("check", "e164", "first", "future", "note", "origin", "row")

    def __init__(
        self,
        row: InputRow,
        e164: str,
        origin: str,
        *,
        check: NumberCheck | None = None,
        future: Future[CheckOutcome] | None = None,
        first: _Slot | None = None,
        note: str = "",
    ) -> None:
        self.row = row
        self.e164 = e164
        self.origin = origin
        self.check = check
        self.future = future
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
        self._pending: set[Future[CheckOutcome]] = set()
        self._finished: queue.SimpleQueue[Future[CheckOutcome]] = queue.SimpleQueue()
        self._calls_reserved = 0  # calls made, plus CALLS_PER_NUMBER per unfinished check
        self._budget_spent = False

    def run(self, rows: Iterator[InputRow], number_index: int) -> None:
        """Check and write every row; on any failure, save the finished answers, then re-raise."""
        try:
            for row in rows:
                self._window.append(self._classify(row, row.values[number_index]))
                self._write_ready()
                while len(self._window) >= self.max_window:
                    self._wait_for_head()
                self._tick()
            while self._window:
                self._wait_for_head()
        except HygieneInputError:
            # The list is bad, the connection is fine: let the checks under way finish (they
            # are paid for) and save them, so the run after the fix does not pay again.
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._collect(raise_fatal=False)
            self.checkpoint.flush()
            raise
        except BaseException as exc:
            if not isinstance(exc, _TERMINATION):
                # A refused connection (or a bug): running checks make no further request.
                self._stop.set()
            # Terminated (Ctrl-C, Airflow's SIGTERM): the checks under way finish both their
            # calls, a few seconds at most, so that no half-paid number is lost and paid again.
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._collect(raise_fatal=False)
            self.checkpoint.flush()
            raise
        self._executor.shutdown(wait=True)
        self._collect()
        self.checkpoint.flush()

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
            slot = _Slot(row, e164, _API, future=self._submit(e164, known_hlr), note=note)
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

    def _submit(self, e164: str, known_hlr: HlrResult | None = None) -> Future[CheckOutcome]:
        while len(self._pending) >= self.controller.limit():
            wait(self._pending, timeout=self._tick_seconds, return_when=FIRST_COMPLETED)
            self._tick()
            self._write_ready()
        check = functools.partial(
            check_number,
            self.hook,
            skip_fraud_check_if_unreachable=self.options.skip_fraud_check_if_unreachable,
            stop=self._stop,
            breaker=self.breaker,
            known_hlr=known_hlr,
        )
        future = self._executor.submit(self.controller.measure, check, e164)
        self._pending.add(future)
        self._calls_reserved += CALLS_PER_NUMBER
        future.add_done_callback(self._finished.put)
        return future

    # -- answers coming back ------------------------------------------------------------

    def _tick(self) -> None:
        self._raise_if_api_down()
        self._collect()
        if self.checkpoint.due():
            self.checkpoint.flush()
        self.progress.maybe_report()

    def _collect(self, *, raise_fatal: bool = True) -> None:
        """Account for finished checks and log their answers in the resume state."""
        while True:
            try:
                future = self._finished.get_nowait()
            except queue.Empty:
                return
            self._pending.discard(future)
            if future.cancelled():
                self._calls_reserved -= CALLS_PER_NUMBER
                continue
            exc = future.exception()
            if exc is None:
                outcome = future.result()
                self.stats.api_calls += outcome.calls
                self.stats.checked_numbers += 1
                self._calls_reserved -= CALLS_PER_NUMBER - outcome.calls
                self.checkpoint.add(paid_half(outcome.check) or outcome.check)
            elif isinstance(exc, CheckStopped):
                self._calls_reserved -= CALLS_PER_NUMBER
                if exc.hlr is not None:  # its HLR look-up was paid: saved for the retry
                    self.stats.api_calls += 1
                    self.checkpoint.add(half_checked(exc.args[0], exc.hlr, checked_at=now_iso()))
            elif classify(exc) is ErrorClass.FATAL:
                self.stats.api_calls += 1
                if raise_fatal:
                    raise exc
            elif raise_fatal:  # a bug, not an API answer: stop rather than guess a verdict
                raise exc

    # -- writing in order ---------------------------------------------------------------

    def _wait_for_head(self) -> None:
        head = self._window[0]
        if head.future is not None and head.check is None:
            wait([head.future], timeout=self._tick_seconds)
            self._tick()
        self._write_ready()

    def _raise_if_api_down(self) -> None:
        if self.breaker.outage is not None:  # run() saves what was paid, then re-raises
            raise self.breaker.unavailable()

    def _write_ready(self) -> None:
        while self._window:
            slot = self._window[0]
            if slot.check is None:
                if slot.first is not None:
                    slot.check = slot.first.check  # written before this row: decided
                elif slot.future is not None and slot.future.done():
                    self._raise_if_api_down()  # a check stopped by the breaker has no verdict
                    slot.check = slot.future.result().check  # a fatal error raises here too
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
        slot.first = slot.future = None  # a later repeat keeps only the decided check alive
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
