"""Answers from a previous run's output, reused when recent enough (incremental nightly runs)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.exceptions import HygieneInputError
from airflow_provider_sms.hygiene.checkpoint import STATE_COLUMNS, check_from_fields
from airflow_provider_sms.hygiene.reader import CsvSource
from airflow_provider_sms.hygiene.verdicts import NumberCheck


def read_previous_results(
    path: ObjectStoragePath, max_age: timedelta | None, *, now: datetime | None = None
) -> Iterator[NumberCheck]:
    """Stream the reusable answers of an earlier run's full output file.

    Rows that were not judged (ERROR, UNCHECKED), that have no E.164 number or whose
    ``checked_at`` is older than ``max_age`` are passed over. A missing file yields nothing:
    the first night has no previous run.

    :param path: the previous output (columns ``e164``, ``verdict``, ..., ``checked_at``).
    :param max_age: the oldest answer to reuse; ``None`` reuses any.
    :param now: the current time (for tests).
    """
    if not path.exists() or path.stat().st_size == 0:  # an empty file is no previous run either
        return
    now = now or datetime.now(timezone.utc)
    source = CsvSource(path, "e164")
    with source.rows() as (header, _, rows):
        missing = [name for name in STATE_COLUMNS if name not in header]
        if missing:
            raise HygieneInputError(
                f"previous_results {path} is not a hygiene output: it lacks the columns {missing}"
            )
        positions = [header.index(name) for name in STATE_COLUMNS]
        for row in rows:
            check = check_from_fields([row.values[i] for i in positions], max_age, now)
            if check is not None:
                yield check
