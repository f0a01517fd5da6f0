"""Resume state: every paid answer, saved beside the output so a killed run does not pay twice.

The state lives in ``<output>.state/`` (never inside the output file), on the same
filesystem as the output. Each answer is one line of JSON (an array of the
:class:`NumberCheck` fields) ending in ``\\n``. JSON escapes every control and non-ASCII
character, so a line holds no other line break whatever the API answered (a network name
with ``\\x0c`` or U+2028), and the file is split on ``\\n`` only. A line cut short by a kill
has no ``\\n`` (or is not valid JSON) and is ignored; every line before it is kept.

- On a local filesystem each try appends to its own file (``answers-<token>.jsonl``),
  flushed to the operating system and ``fsync``-ed at each save.
- Object stores cannot append: each save writes a new object (``answers-<token>-<n>.jsonl``).

A save happens after ``every`` new answers or ``interval`` seconds (1 s by default), and
whenever the run stops (failure, SIGTERM from Airflow). The directory is removed once the
output is published.

Only answers that cost calls are saved: local INVALID verdicts are free to recompute,
ERROR and UNCHECKED verdicts are meant to be checked again. Each HLR answer is saved as it
arrives, *half checked* (:func:`~airflow_provider_sms.hygiene.verdicts.half_checked`), before
its number's fraud check is made; the whole answer follows. A number whose fraud check never
came (a kill, an outage) is found half checked: the retry makes only its fraud check.
"""

from __future__ import annotations

import functools
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import IO

import pendulum
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.paths import is_local, local_path
from airflow_provider_sms.hygiene.verdicts import (
    FINAL_VERDICTS,
    NumberCheck,
    Verdict,
    is_half_checked,
)

STATE_COLUMNS = list(NumberCheck._fields)
_SUFFIX = ".jsonl"


class CheckpointLog:
    """Buffered log of paid answers, saved to ``state_dir`` in small batches.

    :param state_dir: the directory (any filesystem ``ObjectStoragePath`` supports).
    :param every: save after this many buffered answers.
    :param interval: save after this many seconds with something buffered.
    :param clock: monotonic clock (injectable for tests).
    :param token: names this try's files (default: random), so tries never write the same file.
    """

    def __init__(
        self,
        state_dir: ObjectStoragePath,
        *,
        every: int,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        token: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.every = every
        self.interval = interval
        self._clock = clock
        self._buffer: list[NumberCheck] = []
        self._last_flush = clock()
        self._token = token or uuid.uuid4().hex[:12]
        self._sequence = 0
        self._log: IO[str] | None = None  # the append-only file (local filesystems)
        self.saved = 0

    def load(self, max_age: timedelta | None, now: datetime | None = None) -> Iterator[NumberCheck]:
        """Answers saved by earlier tries (whole lines only, none older than ``max_age``).

        Half-checked numbers come after every whole answer (a later step or try may have finished
        the number, and the store keeps the first answer it is given for a number): a second pass
        over the files reads them, so memory stays flat however many numbers were saved (every
        number's HLR answer is saved half checked before its fraud check is made).
        """
        if not self.state_dir.exists():
            return
        now = now or datetime.now(timezone.utc)
        parts = sorted(
            (p for p in self.state_dir.iterdir() if p.name.endswith(_SUFFIX)), key=lambda p: p.name
        )
        for halves in (False, True):
            for part in parts:
                for check in _read_part(part, max_age, now, halves=halves):
                    if (check.verdict is Verdict.ERROR) is halves:
                        yield check

    def add(self, check: NumberCheck) -> None:
        """Buffer a paid answer: a final verdict, or a half-checked number."""
        if (check.verdict in FINAL_VERDICTS or is_half_checked(check)) and check.e164:
            self._buffer.append(check)

    def due(self) -> bool:
        if not self._buffer:
            return False
        return len(self._buffer) >= self.every or self._clock() - self._last_flush >= self.interval

    def flush(self) -> None:
        """Save the buffered answers durably (nothing when the buffer is empty)."""
        self._last_flush = self._clock()
        if not self._buffer:
            return
        lines = "".join(_line(check) for check in self._buffer)
        if is_local(self.state_dir):
            if self._log is None:
                directory = local_path(self.state_dir)
                directory.mkdir(parents=True, exist_ok=True)
                self._log = (directory / f"answers-{self._token}{_SUFFIX}").open("a", encoding="ascii")
            self._log.write(lines)
            self._log.flush()
            os.fsync(self._log.fileno())
        else:
            self._sequence += 1
            self.state_dir.mkdir(parents=True, exist_ok=True)
            part = self.state_dir / f"answers-{self._token}-{self._sequence:06d}{_SUFFIX}"
            part.write_text(lines, encoding="ascii")
        self.saved += len(self._buffer)
        self._buffer.clear()

    def close(self) -> None:
        """Close this try's file (what was saved stays)."""
        if self._log is not None:
            self._log.close()
            self._log = None

    def clear(self) -> None:
        """Remove the state: the output it served is complete."""
        self.close()
        self._buffer.clear()
        if self.state_dir.exists():
            for part in self.state_dir.iterdir():
                part.unlink()
            # On an object store (S3, GCS) the "directory" vanishes with its last file, and
            # rmdir would then raise NotADirectoryError after the output was published.
            if self.state_dir.is_dir():
                self.state_dir.rmdir()


def _line(check: NumberCheck) -> str:
    # ensure_ascii (the default) escapes every non-ASCII and control character: one line each.
    return json.dumps([check.e164, check.verdict.value, *check[2:]], separators=(",", ":")) + "\n"


# A line's verdict, read without parsing it: ``["<e164>","ERROR",...`` (an E.164 number is at
# most 16 characters, and no field before the verdict holds a quote).
_ERROR_MARK = b'","' + Verdict.ERROR.value.encode("ascii") + b'","'
_VERDICT_WITHIN = 40


def _read_part(
    part: ObjectStoragePath, max_age: timedelta | None, now: datetime, *, halves: bool
) -> Iterator[NumberCheck]:
    """The answers of one file, line by line: the half-checked ones (``halves``), or the others."""
    try:
        data = part.read_bytes()  # not open(): object stores differ in what it supports
    except OSError:
        return
    for raw in io.BytesIO(data):  # one line at a time, no list of them
        if not raw.endswith(b"\n"):  # cut short by a kill: the last line, ignored
            return
        if (_ERROR_MARK in raw[:_VERDICT_WITHIN]) is not halves:
            continue
        try:
            fields = json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            continue
        if isinstance(fields, list) and all(isinstance(f, str) for f in fields):
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
    check = NumberCheck(fields[0], verdict, *fields[2:9])
    if verdict not in FINAL_VERDICTS and not is_half_checked(check):
        return None
    checked_at = parse_checked_at(fields[8])
    if checked_at is None or (max_age is not None and now - checked_at > max_age):
        return None
    return check


@functools.lru_cache(maxsize=4096)  # answers of one second share their time: parse each once
def parse_checked_at(text: str) -> datetime | None:
    """An ISO-8601 time (``Z`` accepted); a time without zone is read as UTC."""
    text = text.strip()
    if not text:
        return None
    try:
        parsed = pendulum.parse(text, tz="UTC")
    except ValueError:  # pendulum's ParserError included
        return None
    if not isinstance(parsed, datetime):
        return None  # an ISO duration (P1D) parses too
    # A plain datetime: subtracting pendulum's own builds an Interval, 10x slower per row.
    return datetime.fromtimestamp(parsed.timestamp(), timezone.utc)
