"""Counters of a run, the progress line in the task log, and the summary returned as XCom."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_sms.hygiene.verdicts import Verdict

CALLS_PER_NUMBER = 2  # one HLR look-up and one fraud check


@dataclass
class RunStats:
    """What the run did so far; updated by the streaming thread only."""

    total_rows: int | None = None
    rows: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    unique_numbers: int = 0
    duplicate_rows: int = 0
    api_calls: int = 0
    checked_numbers: int = 0
    clean_rows: int = 0
    flagged_rows: int = 0
    saved_by_duplicates: int = 0
    saved_by_invalid: int = 0
    saved_by_cache: int = 0
    saved_by_resume: int = 0
    saved_by_skipped_fraud: int = 0
    ragged_rows: int = 0
    blank_lines: int = 0
    first_unchecked_row: int | None = None

    @property
    def calls_saved(self) -> int:
        return (
            self.saved_by_duplicates
            + self.saved_by_invalid
            + self.saved_by_cache
            + self.saved_by_resume
            + self.saved_by_skipped_fraud
        )


class ProgressReporter:
    """Logs ``done/total, rate, ETA, API calls`` every ``interval`` seconds.

    :param stats: the counters to report.
    :param log: a logger (the operator's).
    :param interval: seconds between lines.
    :param clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        stats: RunStats,
        log: Any,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = stats
        self.log = log
        self.interval = interval
        self._clock = clock
        self.started = clock()
        self._next = self.started + interval

    def elapsed(self) -> float:
        return self._clock() - self.started

    def maybe_report(self) -> None:
        if self._clock() >= self._next:
            self.report()

    def report(self) -> None:
        now = self._clock()
        self._next = now + self.interval
        s = self.stats
        elapsed = max(now - self.started, 1e-9)
        rate = s.rows / elapsed
        if s.total_rows:
            done = f"{s.rows:,}/{s.total_rows:,} rows ({100.0 * s.rows / s.total_rows:.1f}%)"
            left = s.total_rows - s.rows
            eta = f", ETA {_duration(left / rate)}" if rate > 0 and left > 0 else ""
        else:
            done, eta = f"{s.rows:,} rows", ""
        self.log.info(
            "Number hygiene: %s, %.0f rows/s%s; API calls %s (%.1f/s), calls saved %s",
            done,
            rate,
            eta,
            f"{s.api_calls:,}",
            s.api_calls / elapsed,
            f"{s.calls_saved:,}",
        )


@dataclass(frozen=True)
class HygieneSummary:
    """The small result of a run (what the operator returns as XCom; never the list itself)."""

    rows: int
    verdicts: dict[str, int]
    unique_numbers: int
    duplicate_rows: int
    api_calls: int
    checked_numbers: int
    calls_saved: int
    calls_saved_by: dict[str, int]
    unchecked_rows: int
    first_unchecked_row: int | None
    blank_lines: int
    ragged_rows: int
    clean_rows: int
    flagged_rows: int
    duration_s: float
    output_path: str
    clean_path: str
    flagged_path: str

    @classmethod
    def from_stats(cls, stats: RunStats, duration_s: float, paths: dict[str, str]) -> HygieneSummary:
        return cls(
            rows=stats.rows,
            verdicts={v.value: stats.verdicts.get(v.value, 0) for v in Verdict},
            unique_numbers=stats.unique_numbers,
            duplicate_rows=stats.duplicate_rows,
            api_calls=stats.api_calls,
            checked_numbers=stats.checked_numbers,
            calls_saved=stats.calls_saved,
            calls_saved_by={
                "duplicates": stats.saved_by_duplicates,
                "invalid": stats.saved_by_invalid,
                "previous_results": stats.saved_by_cache,
                "resume": stats.saved_by_resume,
                "skipped_fraud_checks": stats.saved_by_skipped_fraud,
            },
            unchecked_rows=stats.verdicts.get(Verdict.UNCHECKED.value, 0),
            first_unchecked_row=stats.first_unchecked_row,
            blank_lines=stats.blank_lines,
            ragged_rows=stats.ragged_rows,
            clean_rows=stats.clean_rows,
            flagged_rows=stats.flagged_rows,
            duration_s=round(duration_s, 3),
            output_path=paths["output"],
            clean_path=paths["clean"],
            flagged_path=paths["flagged"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
