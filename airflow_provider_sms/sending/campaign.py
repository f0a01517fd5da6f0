"""A campaign: the rows of a list turned into one personal message per row, each with its verdict.

:func:`plan` streams the rows (:class:`RowSource`: a CSV read through ``ObjectStoragePath``,
never held in memory) and decides, row by row and before anything is paid for:

==============  =================================================================================
``send``        the message goes out now (or is already in the journal: it is reported again)
``invalid``     the number is not a possible phone number
``suppressed``  the number is on the suppression list
``refused``     a placeholder's column is missing or empty, the text is longer than
                ``max_segments``, the local time is unknown, or its window cannot open before
                ``send_deadline``
``deferred``    the recipient's local time is in quiet hours: sent once the window opens
``duplicate``   the same text to the same number earlier in the list (one message per content)
==============  =================================================================================

Repeats are found in a small SQLite file of message digests (like the hygiene engine's
``seen`` table), so memory does not grow with the list. The counts (:class:`CampaignCounts`)
are what a dry run returns and what a real run logs before it sends; :class:`PreviewWriter`
writes the per-row preview of a dry run.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import hashlib
import io
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.numbers import mask_number, normalize_number
from airflow_provider_sms.api.segments import measure
from airflow_provider_sms.api.templates import MessageTemplate, Rendered
from airflow_provider_sms.compat import iter_lines
from airflow_provider_sms.exceptions import CampaignInputError, InvalidNumberError
from airflow_provider_sms.sending.quiet_hours import QuietHours

PREVIEW_FIELDS = ("row", "number", "verdict", "reason", "encoding", "segments", "text")


class Verdict(str, enum.Enum):
    """What happens to one row (see the module's table)."""

    SEND = "send"
    INVALID = "invalid"
    SUPPRESSED = "suppressed"
    REFUSED = "refused"
    DEFERRED = "deferred"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class PlannedRow:
    """One row's message and verdict.

    :param row: the row's position in the list (1 = first row after the header).
    :param given: the number as written.
    :param number: the E.164 number (``None`` when invalid).
    :param text: the rendered message (``None`` when it could not be rendered).
    :param encoding: ``GSM-7`` or ``UCS-2`` (``""`` without a text).
    :param segments: the segments the message costs (0 without a text).
    :param verdict: what happens to it.
    :param reason: why it is not sent now.
    :param opens_at: for ``deferred``, when the recipient's window opens.
    """

    row: int
    given: str
    number: str | None
    text: str | None
    encoding: str
    segments: int
    verdict: Verdict
    reason: str = ""
    opens_at: datetime | None = None


@dataclass
class CampaignCounts:
    """The counts of a plan: what a dry run returns and a real run logs before sending.

    ``recipients`` are the messages to send now or after quiet hours (``send`` + ``deferred``);
    ``segments`` and ``by_encoding`` count those messages' segments and messages.
    """

    rows: int = 0
    recipients: int = 0
    send_now: int = 0
    deferred: int = 0
    invalid: int = 0
    suppressed: int = 0
    refused: int = 0
    duplicates: int = 0
    segments: int = 0
    by_encoding: dict[str, int] = field(default_factory=dict)
    earliest_opening: datetime | None = None

    def add(self, planned: PlannedRow) -> None:
        self.rows += 1
        verdict = planned.verdict
        if verdict in (Verdict.SEND, Verdict.DEFERRED):
            self.recipients += 1
            self.segments += planned.segments
            self.by_encoding[planned.encoding] = self.by_encoding.get(planned.encoding, 0) + 1
            if verdict is Verdict.SEND:
                self.send_now += 1
            else:
                self.deferred += 1
                opens = planned.opens_at
                if opens is not None and (self.earliest_opening is None or opens < self.earliest_opening):
                    self.earliest_opening = opens
        elif verdict is Verdict.INVALID:
            self.invalid += 1
        elif verdict is Verdict.SUPPRESSED:
            self.suppressed += 1
        elif verdict is Verdict.REFUSED:
            self.refused += 1
        else:
            self.duplicates += 1

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "earliest_opening"}
        data["by_encoding"] = dict(sorted(self.by_encoding.items()))
        data["earliest_opening"] = self.earliest_opening.isoformat() if self.earliest_opening else None
        return data


class RowSource:
    """The rows of a list, streamed: a CSV with a header row, or a text file of one number per line.

    :param location: an ``ObjectStoragePath`` URL or local path.
    :param number_column: the CSV column holding the numbers (a text file's lines are that column).
    """

    def __init__(self, location: str, number_column: str) -> None:
        self.path = ObjectStoragePath(location)
        self.location = location
        self.number_column = number_column
        self.is_csv = self.path.suffix.lower() == ".csv"
        self.fieldnames: list[str] = [number_column]
        if self.is_csv:
            with self.path.open("r", newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(iter_lines(fh)), None)
            self.fieldnames = [name.strip() for name in header or []]
            if number_column not in self.fieldnames:
                raise CampaignInputError(
                    f"{location}: no column {number_column!r} in the header {self.fieldnames!r} "
                    "(set number_column)"
                )

    def check_template(self, template: MessageTemplate) -> None:
        """Refuse a template naming a column the list does not have (before anything is sent)."""
        missing = [name for name in template.fields if name not in self.fieldnames]
        if missing:
            raise CampaignInputError(
                f"message_template uses {', '.join('{' + m + '}' for m in missing)}, which "
                f"{self.location} does not have (its columns: {', '.join(self.fieldnames)})"
            )

    def __iter__(self) -> Iterator[dict[str, str]]:
        with self.path.open("r", newline="", encoding="utf-8-sig") as fh:
            if self.is_csv:
                reader = csv.reader(iter_lines(fh))
                header = [name.strip() for name in next(reader, [])]
                for values in reader:
                    if any(v.strip() for v in values):
                        yield dict(zip(header, values, strict=False))
            else:
                for line in iter_lines(fh):
                    line = line.strip()
                    if line and not line.startswith("#"):
                        yield {self.number_column: line}


#: The most of the ``seen`` table's pages SQLite keeps in memory (KiB; its default is 2000).
SEEN_CACHE_KIB = 1024


class SeenMessages:
    """Digests of the (number, text) pairs met so far, in a temporary SQLite file (flat memory).

    The table grows on disk (about 24 bytes per message); at most :data:`SEEN_CACHE_KIB` of
    its pages are held in memory, whatever the list's length.
    """

    def __init__(self) -> None:
        handle, self._file = tempfile.mkstemp(prefix="sms-campaign-", suffix=".sqlite")
        os.close(handle)
        self._db = sqlite3.connect(self._file)
        pragmas = ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{SEEN_CACHE_KIB}", "temp_store=FILE")
        for pragma in pragmas:
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY) WITHOUT ROWID")

    def first_time(self, number: str, text: str) -> bool:
        digest = hashlib.blake2b(f"{number}\0{text}".encode(), digest_size=16).digest()
        return self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (digest,)).rowcount == 1

    def close(self) -> None:
        self._db.close()
        with contextlib.suppress(OSError):
            os.unlink(self._file)


@dataclass(frozen=True)
class CampaignRules:
    """What a row must pass to be sent now.

    :param render: the text of a row, or why there is none.
    :param max_segments: the longest message allowed, in segments.
    :param suppressed: numbers never to text (E.164).
    :param quiet_hours: the window in the recipient's local time, or ``None``.
    :param deadline: nothing is sent after it (``None``: no deadline).
    :param sent_before: whether this (number, text) is already sent (the journal): a message
        already sent is reported again rather than deferred.
    """

    render: Callable[[dict[str, str]], Rendered]
    max_segments: int = 3
    suppressed: frozenset[str] = frozenset()
    quiet_hours: QuietHours | None = None
    deadline: datetime | None = None
    sent_before: Callable[[str, str], bool] | None = None


def plan(
    rows: Iterable[dict[str, str]], number_column: str, rules: CampaignRules, now: datetime
) -> Iterator[PlannedRow]:
    """Each row's message and verdict, in the list's order (streamed).

    :param rows: the list (:class:`RowSource`, or dicts).
    :param number_column: the column holding the numbers.
    :param rules: what a row must pass.
    :param now: the current time (UTC, timezone-aware): the quiet hours and the deadline are
        judged against it.
    """
    seen = SeenMessages()
    try:
        for index, row in enumerate(rows, start=1):
            yield _plan_row(index, row, number_column, rules, now, seen)
    finally:
        seen.close()


def _plan_row(
    index: int, row: dict[str, str], column: str, rules: CampaignRules, now: datetime, seen: SeenMessages
) -> PlannedRow:
    given = (row.get(column) or "").strip()
    try:
        number = normalize_number(given)
    except InvalidNumberError as exc:
        return PlannedRow(
            index, given, None, None, "", 0, Verdict.INVALID, str(exc) if given else "no number"
        )
    if number in rules.suppressed:
        return PlannedRow(index, given, number, None, "", 0, Verdict.SUPPRESSED, "on the suppression list")
    rendered = rules.render(row)
    if rendered.text is None:
        return PlannedRow(index, given, number, None, "", 0, Verdict.REFUSED, rendered.reason or "no text")
    text = rendered.text
    size = measure(text)
    encoding = size.encoding.value

    def planned(verdict: Verdict, reason: str = "", opens_at: datetime | None = None) -> PlannedRow:
        return PlannedRow(index, given, number, text, encoding, size.segments, verdict, reason, opens_at)

    if size.segments > rules.max_segments:
        return planned(
            Verdict.REFUSED,
            f"{size.segments} segments ({size.units} {encoding} units) is more than max_segments="
            f"{rules.max_segments}",
        )
    if not seen.first_time(number, text):
        return planned(Verdict.DUPLICATE, "the same text to the same number earlier in the list")
    if rules.sent_before is not None and rules.sent_before(number, text):
        return planned(Verdict.SEND)  # the journal reports it again; no window needed
    if rules.deadline is not None and now >= rules.deadline:
        return planned(Verdict.REFUSED, "send_deadline has passed")
    if rules.quiet_hours is None:
        return planned(Verdict.SEND)
    opens = rules.quiet_hours.opens_at(number, now)
    if opens is None:
        return planned(Verdict.REFUSED, "quiet hours: the number's local time is unknown")
    if opens <= now:
        return planned(Verdict.SEND)
    if rules.deadline is not None and opens >= rules.deadline:
        return planned(Verdict.REFUSED, f"quiet hours until {opens.isoformat()}, after send_deadline")
    return planned(Verdict.DEFERRED, f"quiet hours until {opens.isoformat()}", opens)


class PreviewWriter:
    """The dry run's preview: one CSV row per list row, numbers masked, written as it goes.

    The rendered texts are personal data: the file is as private as the list it comes from.
    """

    #: Rows gathered before one write to the file (each write of an ObjectStoragePath file costs).
    BATCH = 2000

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._buffer = io.StringIO()
        self._pending = 0
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._writer.writerow(PREVIEW_FIELDS)

    def write(self, planned: PlannedRow) -> None:
        number = mask_number(planned.number or planned.given) if (planned.number or planned.given) else ""
        self._writer.writerow(
            [
                planned.row,
                number,
                planned.verdict.value,
                planned.reason,
                planned.encoding,
                planned.segments,
                planned.text or "",
            ]
        )
        self._pending += 1
        if self._pending >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        self._fh.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()
        self._pending = 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._fh.close()


def read_preview(path: ObjectStoragePath | str) -> list[dict[str, str]]:
    """The preview's rows (for a test or a downstream task)."""
    with ObjectStoragePath(path).open("r", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(iter_lines(fh)))


__all__ = [
    "PREVIEW_FIELDS",
    "CampaignCounts",
    "CampaignRules",
    "PlannedRow",
    "PreviewWriter",
    "RowSource",
    "Verdict",
    "plan",
    "read_preview",
]
