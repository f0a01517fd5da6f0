"""Resume state: every paid answer, saved beside the output so a killed run does not pay twice.

The state lives in ``<output>.state/`` (never inside the output file), on the same
filesystem as the output, as small CSV chunk files written whole: each ends with a
``#complete,<rows>`` line, so a chunk cut short by a kill is recognised and ignored.
Object stores cannot append, hence chunks rather than one growing file. A chunk is
written after ``every`` new answers or ``interval`` seconds, whichever comes first, and
whenever the run stops (failure, SIGTERM from Airflow). The directory is removed once
the output is published.

Only answers that cost calls are saved: local INVALID verdicts are free to recompute,
ERROR and UNCHECKED verdicts are meant to be checked again.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.verdicts import FINAL_VERDICTS, NumberCheck, Verdict

STATE_COLUMNS = list(NumberCheck._fields)
_FOOTER = "#complete"


class CheckpointLog:
    """Buffered log of paid answers, flushed to chunk files in ``state_dir``.

    :param state_dir: the directory (any filesystem ``ObjectStoragePath`` supports).
    :param every: flush after this many buffered answers.
    :param interval: flush after this many seconds with something buffered.
    :param clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        state_dir: ObjectStoragePath,
        *,
        every: int,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state_dir = state_dir
        self.every = every
        self.interval = interval
        self._clock = clock
        self._buffer: list[NumberCheck] = []
        self._last_flush = clock()
        self._token = uuid.uuid4().hex[:12]  # this try's chunks never overwrite another try's
        self._sequence = 0
        self.saved = 0

    def load(self, max_age: timedelta | None, now: datetime | None = None) -> Iterator[NumberCheck]:
        """Answers saved by earlier tries (complete chunks only, none older than ``max_age``)."""
        if not self.state_dir.exists():
            return
        for chunk in sorted(self.state_dir.iterdir(), key=lambda p: p.name):
            if chunk.name.endswith(".csv"):
                yield from _read_chunk(chunk, max_age, now or datetime.now(timezone.utc))

    def add(self, check: NumberCheck) -> None:
        if check.verdict in FINAL_VERDICTS and check.e164:
            self._buffer.append(check)

    def due(self) -> bool:
        if not self._buffer:
            return False
        return len(self._buffer) >= self.every or self._clock() - self._last_flush >= self.interval

    def flush(self) -> None:
        """Write the buffered answers as one chunk (nothing when the buffer is empty)."""
        self._last_flush = self._clock()
        if not self._buffer:
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(STATE_COLUMNS)
        writer.writerows((c.e164, c.verdict.value, *c[2:]) for c in self._buffer)
        out.write(f"{_FOOTER},{len(self._buffer)}\n")
        self._sequence += 1
        self.state_dir.mkdir(parents=True, exist_ok=True)
        chunk = self.state_dir / f"part-{self._token}-{self._sequence:06d}.csv"
        chunk.write_text(out.getvalue(), encoding="utf-8")
        self.saved += len(self._buffer)
        self._buffer.clear()

    def clear(self) -> None:
        """Remove the state: the output it served is complete."""
        self._buffer.clear()
        if self.state_dir.exists():
            for chunk in self.state_dir.iterdir():
                chunk.unlink()
            # On an object store (S3, GCS) the "directory" vanishes with its last file, and
            # rmdir would then raise NotADirectoryError after the output was published.
            if self.state_dir.is_dir():
                self.state_dir.rmdir()


def _read_chunk(chunk: ObjectStoragePath, max_age: timedelta | None, now: datetime) -> Iterator[NumberCheck]:
    try:
        lines = chunk.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    if len(lines) < 2 or lines[0].split(",") != STATE_COLUMNS:
        return
    footer = lines[-1].split(",")
    if footer[0] != _FOOTER or footer[1:] != [str(len(lines) - 2)]:
        return  # cut short by a kill while it was written
    for fields in csv.reader(lines[1:-1]):
        check = check_from_fields(fields, max_age, now)
        if check is not None:
            yield check


def check_from_fields(fields: list[str], max_age: timedelta | None, now: datetime) -> NumberCheck | None:
    """A reusable :class:`NumberCheck` from saved fields, or ``None`` (unusable or too old)."""
    if len(fields) != len(STATE_COLUMNS) or not fields[0]:
        return None
    try:
        verdict = Verdict(fields[1])
    except ValueError:
        return None
    if verdict not in FINAL_VERDICTS:
        return None
    checked_at = parse_checked_at(fields[8])
    if checked_at is None or (max_age is not None and now - checked_at > max_age):
        return None
    return NumberCheck(fields[0], verdict, *fields[2:9])


def parse_checked_at(text: str) -> datetime | None:
    """An ISO-8601 time (``Z`` accepted); a time without zone is read as UTC."""
    text = text.strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
