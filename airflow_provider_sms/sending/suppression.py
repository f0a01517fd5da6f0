"""Suppression list: the numbers that asked not to be messaged again, and the opt-out keywords.

The list is a CSV file on any :class:`~airflow.sdk.ObjectStoragePath` (local path,
``file://``, ``s3://``...) with the header ``e164,added_at,reason``: one E.164 number per
row. By default it is ``<data dir>/suppression.csv``, where the data dir is ``[sms_api]
data_path`` (e.g. ``s3://aws_default@bucket/sms``), else ``$AIRFLOW_HOME/sms_api``
(:func:`airflow_provider_sms.config.data_path`): the campaign and opt-out DAGs then share one
list without configuration. The campaign DAG drops every number on it; the opt-out DAG appends the senders of
"STOP"-like inbound SMS. Writes replace the whole file (write a temporary file, then
rename where the storage allows it), so a reader never sees half a file; concurrent
*writers* must be serialised by the caller (the example opt-out DAG runs one run at a time).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms import config
from airflow_provider_sms.compat import iter_lines
from airflow_provider_sms.sending.recipients import e164_or_none, each_recipient, normalize_recipients

__all__ = [
    "DATA_DIR_VARIABLE",
    "OPT_OUT_KEYWORDS",
    "SUPPRESSION_FIELDS",
    "add_to_suppression_list",
    "data_dir",
    "is_opt_out",
    "normalize_keyword",
    "read_suppression_list",
    "split_suppressed",
    "suppression_list_path",
]

log = logging.getLogger(__name__)

DATA_DIR_VARIABLE = config.LEGACY_DATA_DIR_VARIABLE  # deprecated: [sms_api] data_path

SUPPRESSION_FIELDS = ("e164", "added_at", "reason")

#: Whole-message keywords (after :func:`normalize_keyword`) that mean "never message me again":
#: the CTIA / carrier set plus the usual spellings of "opt out".
OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "STOP ALL",
        "STOP PLEASE",
        "PLEASE STOP",
        "UNSUBSCRIBE",
        "UNSUB",
        "CANCEL",
        "END",
        "QUIT",
        "OPTOUT",
        "OPT OUT",
        "REVOKE",
        "REMOVE ME",
    }
)

_NOT_WORD = re.compile(r"[^A-Z0-9]+")


def data_dir() -> ObjectStoragePath:
    """Folder of the suppression list and the example DAGs' files: ``[sms_api] data_path``.

    Any ObjectStoragePath URL or local path; unset, ``$AIRFLOW_HOME/sms_api`` (the Airflow
    Variable ``sms_api_data_dir`` is still read, with a deprecation warning). A local folder
    under an executor that runs tasks on several hosts gets one warning per task.
    """
    location = config.data_path()
    config.warn_if_local_on_distributed(location, "the provider's data folder ([sms_api] data_path)", log)
    return ObjectStoragePath(location)


def suppression_list_path(location: str | None = None) -> ObjectStoragePath:
    """``location`` as a path, or the default list ``<data_dir()>/suppression.csv`` when empty.

    :param location: an ObjectStoragePath URL or local path (e.g. a DAG's Param), or ``None``/``""``.
    """
    if location and location.strip():
        return ObjectStoragePath(location.strip())
    return data_dir() / "suppression.csv"


def normalize_keyword(text: str) -> str:
    """Upper-case ``text``, drop accents and punctuation, collapse spaces: ``" Stop! "`` → ``"STOP"``.

    ``"opt-out"``, ``"Opt out."`` and ``"OPT_OUT"`` all become ``"OPT OUT"``.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", ascii_only.upper()).strip()


def is_opt_out(text: str | None) -> bool:
    """Whether an inbound SMS asks to stop messages: the *whole* message must be an opt-out keyword.

    Matching the whole message (case-insensitive, trimmed, punctuation ignored) is what carriers
    do; it avoids reading "don't stop, great offer" as an opt-out.

    :param text: the inbound message's text.
    """
    if not text:
        return False
    return normalize_keyword(text) in OPT_OUT_KEYWORDS


def read_suppression_list(path: ObjectStoragePath) -> set[str]:
    """The E.164 numbers on the list; an absent file is an empty list.

    :param path: the CSV file (header ``e164,added_at,reason``; other columns are ignored). A
        list with another header reads its first column; a list with no header (one number
        per line, as people paste them) reads every line.
    """
    # A value that cannot be a number is skipped: it never suppresses anything.
    return set(normalize_recipients(row["e164"] for row in _read_rows(path)).numbers)


def _read_rows(path: ObjectStoragePath) -> list[dict[str, str]]:
    # One reader for lookups and rewrites: a rewrite must keep every number the lookups honour
    # (same column, BOM tolerated), or adding one opt-out would drop others from the list.
    if not path.exists():
        return []
    with path.open("r", newline="", encoding="utf-8-sig") as fh:
        lines = list(csv.reader(iter_lines(fh)))
    if not lines or not lines[0]:
        return []
    header, body = lines[0], lines[1:]
    if e164_or_none(header[0]) is not None:  # no header line: the first line is a number too
        header, body = ["e164"], lines
    column = header.index("e164") if "e164" in header else 0
    field = {name: i for i, name in enumerate(header)}

    def cell(values: list[str], name: str) -> str:
        i = field.get(name)
        return values[i] if i is not None and i < len(values) else ""

    return [
        {"e164": values[column], "added_at": cell(values, "added_at"), "reason": cell(values, "reason")}
        for values in body
        if column < len(values) and values[column].strip()
    ]


def add_to_suppression_list(
    path: ObjectStoragePath,
    numbers: Iterable[object],
    *,
    reason: str = "opt-out",
    now: datetime | None = None,
) -> list[str]:
    """Add ``numbers`` to the list (normalised to E.164); return those that were not on it yet.

    Idempotent: a number already on the list is not added twice, and nothing is written when
    nothing is new. Values that cannot be phone numbers are ignored.

    :param path: the CSV file; created (with its parent directories) when absent.
    :param numbers: numbers in any format :func:`normalize_number` reads (inbound SMS senders
        come without ``+``).
    :param reason: what to record in the ``reason`` column (e.g. the keyword received).
    :param now: timestamp to record (defaults to the current UTC time).
    """
    rows = _read_rows(path)
    present = {e164_or_none(row["e164"]) for row in rows}
    # Inbound SMS carry numbers without "+" (447700900001): they are read as international.
    added = [e164 for e164 in normalize_recipients(numbers).numbers if e164 not in present]
    if not added:
        return []
    stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    rows.extend({"e164": e164, "added_at": stamp, "reason": reason} for e164 in added)
    _replace(path, rows)
    return added


def _replace(path: ObjectStoragePath, rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUPPRESSION_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(buffer.getvalue(), encoding="utf-8")
    try:
        temporary.rename(path)
    except (NotImplementedError, OSError):
        # Object stores without an atomic rename: write in place (object PUTs are atomic anyway).
        path.write_text(buffer.getvalue(), encoding="utf-8")
        temporary.unlink(missing_ok=True)


def split_suppressed(numbers: Iterable[object], suppressed: set[str]) -> tuple[list[str], list[str]]:
    """Split ``numbers`` into ``(to_send, dropped)``, both E.164, order kept, duplicates removed.

    A number is dropped when it is on ``suppressed``; values that are not phone numbers are
    dropped too (the hygiene step should have removed them).

    :param numbers: the campaign's recipients.
    :param suppressed: the suppression list (:func:`read_suppression_list`).
    """
    to_send: list[str] = []
    dropped: list[str] = []
    for recipient in each_recipient(numbers):
        if recipient.e164 is None:
            dropped.append(recipient.given)
        else:
            (dropped if recipient.e164 in suppressed else to_send).append(recipient.e164)
    return to_send, dropped
