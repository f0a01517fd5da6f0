"""The knobs of a hygiene run, validated once, before any file is opened."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

DEFAULT_MAX_AGE = timedelta(days=7)
DEFAULT_CHECKPOINT_EVERY = 500
DEFAULT_CHECKPOINT_INTERVAL = 1.0  # every paid answer is saved within about a second
DEFAULT_PROGRESS_INTERVAL = 30.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_max_age(value: str | int | float | timedelta | None) -> timedelta | None:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, seconds as a number, or a timedelta.

    :param value: the age; ``None`` means no limit.
    """
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"max_age must be a duration, not {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"max_age {value!r} is not a duration like '7d', '12h', '30m' or seconds")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise ValueError(f"max_age must be positive, got {value!r}")
    return timedelta(seconds=seconds)


def format_age(age: timedelta | None) -> str:
    """``timedelta(days=7)`` → ``"7d"`` (for log lines); ``None`` → ``"any age"``."""
    if age is None:
        return "any age"
    seconds = age.total_seconds()
    for unit in ("w", "d", "h", "m"):
        if seconds >= _UNIT_SECONDS[unit] and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{int(seconds // _UNIT_SECONDS[unit])}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class HygieneOptions:
    """How a hygiene run checks and what it may spend (see :class:`NumberHygieneOperator`).

    :param number_column: the input column holding phone numbers.
    :param default_region: ISO region for national numbers (``"GB"``); ``None`` refuses them.
    :param encoding: the input's text encoding.
    :param workers: the most checks in flight at once (an upper bound: the count follows the
        rate limit and the measured answer time); ``None``: up to
        :data:`~airflow_provider_sms.batch.inflight.MAX_IN_FLIGHT`.
    :param max_api_calls: stop checking new numbers before making more calls than this.
    :param previous_results: an earlier output whose answers may be reused.
    :param max_age: answers older than this are never reused (previous results and resume state).
    :param skip_fraud_check_if_unreachable: no fraud check after an undelivered HLR look-up.
    :param count_rows: read the input once first, for a total, an ETA and early input errors.
    :param checkpoint_every: save resume state after this many paid answers...
    :param checkpoint_interval: ...or after this many seconds, whichever comes first.
    :param progress_interval: seconds between progress lines in the task log.
    :param spreadsheet_safe: write formula-like cells of the clean and flagged lists as text
        (a leading ``'``); off for lists read only by programs.
    """

    number_column: str = "number"
    default_region: str | None = None
    encoding: str = "utf-8"
    workers: int | None = None
    max_api_calls: int | None = None
    previous_results: str | None = None
    max_age: timedelta | str | float | None = DEFAULT_MAX_AGE
    skip_fraud_check_if_unreachable: bool = False
    count_rows: bool = True
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    spreadsheet_safe: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_age", parse_max_age(self.max_age))
        if not self.number_column or not self.number_column.strip():
            raise ValueError("number_column must name a column")
        if self.workers is not None and self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.max_api_calls is not None and self.max_api_calls < 0:
            raise ValueError("max_api_calls must be 0 or more")
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        if self.checkpoint_interval <= 0 or self.progress_interval <= 0:
            raise ValueError("checkpoint_interval and progress_interval must be positive")

    @property
    def reuse_max_age(self) -> timedelta | None:
        """``max_age`` as the timedelta it was parsed into on construction (``None``: any age)."""
        return cast("timedelta | None", self.max_age)
