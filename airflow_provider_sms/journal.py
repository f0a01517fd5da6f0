"""The send journal: a person never gets the same message twice because a task ran again.

Airflow retries failed tasks and users clear and re-run them. An operator that sends SMS or
places calls therefore writes down, durably and per recipient, what it did, and reads it
back before doing anything:

1. Before a send it writes an ``in_flight`` entry. If that write fails, nothing is sent.
2. After the send it overwrites the entry with the outcome: ``sent`` (with the request id),
   ``failed`` (the API refused, or no connection could be made: nobody was reached) or
   ``unknown`` (the request went out but its answer was lost: ``DeliveryUnknownError``).
3. On the next try or re-run of the same task instance:

   =============  ===============================================================
   ``sent``       skipped; its request id (and result) is reported again
   ``failed``     sent again: the API refused it, so nobody was reached
   ``unknown``    **never sent again automatically**: reported, the task fails
   ``in_flight``  the worker died mid-send: treated exactly like ``unknown``
   =============  ===============================================================

An entry's key is the SHA-256 of (dag_id, run_id, task_id, map_index, E.164 number, kind of
contact, content). The content is what reaches the person (the SMS text, the spoken text, the
code), not the sender, language or callback URL. A new DAG run, or a changed text, is a new
message. To send an ``unknown`` one again on purpose, delete its entry file (its path is in
the task log) and clear the task.

Entries live under an :class:`~airflow.sdk.ObjectStoragePath`: by default the local folder
``$AIRFLOW_HOME/sms_journal``; set ``[sms_api] journal_path`` (e.g. ``s3://bucket/sms-journal``
with an ``aws_conn_id`` in the URL's ``conn_id``) for a place every worker shares, or
``journal_path=`` on one operator. One small JSON file per entry, in one folder per task
instance: ``<root>/<dag_id>/<run_id>/<task_id>/<map_index>/<key>.json``. Local writes go
through a temporary file and a rename, object-store writes are single PUTs: a reader sees
a whole entry or none.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.compat import conf
from airflow_provider_sms.exceptions import DeliveryUnknownError, SmsApiError

if TYPE_CHECKING:
    import logging

    from airflow.sdk import Context

CONFIG_SECTION = "sms_api"
CONFIG_KEY = "journal_path"
DEFAULT_FOLDER = "sms_journal"
_LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


class JournalError(Exception):
    """The journal cannot be read or written: nothing is sent without it."""


class JournalClaimedError(JournalError):
    """Another copy of the task instance wrote the entry first: it is sending, or has sent."""


class EntryStatus(str, enum.Enum):
    """What the journal knows about one message or call."""

    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Outcome(str, enum.Enum):
    """What happened to one recipient in this try."""

    SENT = "sent"
    ALREADY_SENT = "already_sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class JournalEntry:
    """One recipient's record (the JSON file's content)."""

    key: str
    status: EntryStatus
    number: str
    kind: str
    recorded_at: str
    try_number: int | None = None
    request_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, key: str, text: str) -> JournalEntry:
        """Parse an entry; an unreadable one reads as ``unknown`` (never as "safe to send")."""
        try:
            data = json.loads(text)
            return cls(
                key=key,
                status=EntryStatus(data["status"]),
                number=str(data.get("number") or ""),
                kind=str(data.get("kind") or ""),
                recorded_at=str(data.get("recorded_at") or ""),
                try_number=data.get("try_number"),
                request_id=data.get("request_id"),
                result=data.get("result") if isinstance(data.get("result"), dict) else None,
                error=data.get("error"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(key, EntryStatus.UNKNOWN, "", "", "", error="unreadable journal entry")


@dataclass(frozen=True)
class TaskScope:
    """The task instance whose sends a journal folder holds."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int | None = None

    @classmethod
    def from_context(cls, context: Context) -> TaskScope:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=-1 if map_index is None else int(map_index),
            try_number=getattr(ti, "try_number", None),
        )


@dataclass
class SendResult:
    """One recipient's outcome in this try.

    :param outcome: sent now, already sent by an earlier try, failed, or unknown.
    :param number: the E.164 number.
    :param request_id: the API's request id (sent and already sent).
    :param result: the hook result as a dict (``to_dict()``), for XCom.
    :param error: why it failed or is unknown (safe to log: masked number).
    :param exception: the exception of this try, if one was raised.
    """

    outcome: Outcome
    number: str
    request_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SENT, Outcome.ALREADY_SENT)


def journal_root(journal_path: str | None = None) -> ObjectStoragePath:
    """The journal's root folder.

    ``journal_path``, else ``[sms_api] journal_path``, else ``$AIRFLOW_HOME/sms_journal``.
    """
    path = (journal_path or "").strip() or (conf.get(CONFIG_SECTION, CONFIG_KEY, fallback="") or "").strip()
    if not path:
        home = os.environ.get("AIRFLOW_HOME") or os.path.join("~", "airflow")
        path = os.path.join(os.path.expanduser(home), DEFAULT_FOLDER)
    return ObjectStoragePath(path)


def _segment(value: object) -> str:
    # Folder names readable by a person and valid on any object store; the entry key
    # (a hash of the exact values) keeps entries apart even if two names sanitise alike.
    return _UNSAFE.sub("_", str(value)) or "_"


class SendJournal:
    """The journal folder of one task instance.

    :param root: the journal's root folder (see :func:`journal_root`).
    :param scope: the task instance.
    """

    def __init__(self, root: ObjectStoragePath, scope: TaskScope) -> None:
        self.root = root
        self.scope = scope
        self.folder = (
            root
            / _segment(scope.dag_id)
            / _segment(scope.run_id)
            / _segment(scope.task_id)
            / str(scope.map_index)
        )
        self._local = (root.protocol or "") in _LOCAL_PROTOCOLS

    @classmethod
    def for_task(cls, context: Context, journal_path: str | None = None) -> SendJournal:
        return cls(journal_root(journal_path), TaskScope.from_context(context))

    def key(self, number: str, kind: str, content: Mapping[str, Any]) -> str:
        """The entry key of sending ``content`` as ``kind`` to ``number`` in this task instance."""
        s = self.scope
        material = [s.dag_id, s.run_id, s.task_id, s.map_index, number, kind, dict(content)]
        canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def path(self, key: str) -> ObjectStoragePath:
        return self.folder / f"{key}.json"

    def existing_keys(self) -> set[str]:
        """Keys with an entry in this task instance's folder (one listing)."""
        try:
            if not self.folder.exists():
                return set()
            return {p.name[: -len(".json")] for p in self.folder.iterdir() if _is_entry(p.name)}
        except FileNotFoundError:
            return set()
        except Exception as exc:
            raise JournalError(f"Cannot list the send journal at {self.folder}: {exc}") from exc

    def read(self, key: str) -> JournalEntry | None:
        try:
            text = self.path(key).read_text()
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise JournalError(f"Cannot read the send journal entry {self.path(key)}: {exc}") from exc
        return JournalEntry.from_json(key, text)

    @property
    def report_path(self) -> ObjectStoragePath:
        """Where the full report goes when it is too large for XCom: beside the entries, not among them."""
        return self.folder.parent / f"{self.folder.name}.report.json"

    def write_report(self, report: Mapping[str, Any]) -> ObjectStoragePath:
        """Write the full report of this task instance (the latest try's replaces an earlier one)."""
        target = self.report_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.parent / f".{target.name}.{uuid.uuid4().hex}"
            partial.write_text(json.dumps(report, sort_keys=True))
            partial.rename(target)
        except Exception as exc:
            raise JournalError(f"Cannot write the send report {target}: {exc}") from exc
        return target

    def write(self, entry: JournalEntry, *, exclusive: bool = False) -> None:
        """Write ``entry`` whole or not at all.

        :param exclusive: only if no entry exists yet (a claim): raise
            :class:`JournalClaimedError` otherwise. Atomic on a local filesystem; on an object
            store a check just before the write narrows the race to one round trip.
        """
        target = self.path(entry.key)
        try:
            if self._local:
                self.folder.mkdir(parents=True, exist_ok=True)
                temporary = self.folder / f".tmp-{entry.key}-{uuid.uuid4().hex}"
                temporary.write_text(entry.to_json())
                if exclusive:
                    try:
                        os.link(temporary.path, target.path)  # fails if the entry exists
                    finally:
                        temporary.unlink()
                else:
                    temporary.rename(target)  # atomic on one local filesystem
            else:
                if exclusive and target.exists():
                    raise FileExistsError(target.path)
                target.write_text(entry.to_json())  # one PUT: atomic on object stores
        except FileExistsError:
            raise JournalClaimedError(f"The send journal entry {target} was written by another try") from None
        except Exception as exc:
            raise JournalError(f"Cannot write the send journal entry {target}: {exc}") from exc

    def record(
        self,
        key: str,
        status: EntryStatus,
        *,
        number: str,
        kind: str,
        request_id: str | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        exclusive: bool = False,
    ) -> JournalEntry:
        entry = JournalEntry(
            key=key,
            status=status,
            number=number,
            kind=kind,
            recorded_at=datetime.now(timezone.utc).isoformat(),
            try_number=self.scope.try_number,
            request_id=request_id,
            result=result,
            error=error,
        )
        self.write(entry, exclusive=exclusive)
        return entry


def _is_entry(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")


def send_once(
    journal: SendJournal,
    *,
    number: str,
    kind: str,
    content: Mapping[str, Any],
    send: Callable[[], Any],
    log: logging.Logger | Any,
    masked: str,
    known_keys: Collection[str] | None = None,
    still_valid: Callable[[JournalEntry], bool] | None = None,
    resend_unknown: bool = False,
) -> SendResult:
    """Send at most once per journal key: consult, write ``in_flight``, send, record the outcome.

    :param number: the E.164 number (part of the key; ``masked`` is what logs show).
    :param kind: the kind of contact (``sms``, ``flash_call``...), part of the key.
    :param content: what reaches the person (text, code...), part of the key.
    :param send: performs the request and returns a hook result (with ``request_id``).
    :param known_keys: keys listed beforehand; a key not in it is not read (saves a read per number).
    :param still_valid: for a ``sent`` entry, whether its result may still be used (an
        incoming-call reservation expires); when it returns False the request is made again.
    :param resend_unknown: make the request again after an ``unknown``/``in_flight`` entry.
        Only for requests that reach nobody (reserving an incoming call).
    """
    key = journal.key(number, kind, content)
    try:
        entry = journal.read(key) if known_keys is None or key in known_keys else None
    except JournalError as exc:
        return _not_sent(number, kind, masked, exc, log)
    if entry is not None:
        if entry.status is EntryStatus.SENT and (still_valid is None or still_valid(entry)):
            log.info(
                "%s to %s was already sent by an earlier try (request id %s): not sending it again",
                kind,
                masked,
                entry.request_id,
            )
            return SendResult(Outcome.ALREADY_SENT, number, entry.request_id, entry.result)
        if entry.status in (EntryStatus.IN_FLIGHT, EntryStatus.UNKNOWN) and not resend_unknown:
            what = (
                "was interrupted mid-send"
                if entry.status is EntryStatus.IN_FLIGHT
                else "has no known outcome"
            )
            error = (
                f"An earlier {kind} to {masked} {what} ({entry.recorded_at}): it may have reached "
                "the person, so it is not sent again automatically. Check the delivery receipts; "
                f"to send it anyway, delete the journal entry {journal.path(key)} and clear the task."
            )
            log.warning("%s", error)
            return SendResult(Outcome.UNKNOWN, number, entry.request_id, error=error)
    try:
        # A new entry is claimed, not overwritten: another live copy of this task instance (a
        # worker Airflow gave up on, still running) may have reached this number since the
        # listing, and then it is the one sending.
        journal.record(key, EntryStatus.IN_FLIGHT, number=number, kind=kind, exclusive=entry is None)
    except JournalClaimedError as exc:
        error = f"{kind} to {masked} is being sent by another copy of this task: not sending it ({exc})"
        log.warning("%s", error)
        return SendResult(Outcome.UNKNOWN, number, error=error)
    except JournalError as exc:
        return _not_sent(number, kind, masked, exc, log)
    try:
        result = send()
    except DeliveryUnknownError as exc:  # sent, answer lost
        return _record_unknown(journal, key, number, kind, exc, log)
    except SmsApiError as exc:
        # The hooks raise DeliveryUnknownError for every request of this kind that may have
        # been processed; any other API error is a refusal, or a failure before sending
        # (no connection, TLS handshake, local validation): nobody was reached.
        return _record_failed(journal, key, number, kind, exc, log)
    except Exception as exc:  # a bug between sending and answering: assume the worst
        return _record_unknown(journal, key, number, kind, exc, log)
    data = result.to_dict() if hasattr(result, "to_dict") else None
    request_id = getattr(result, "request_id", None)
    try:
        journal.record(key, EntryStatus.SENT, number=number, kind=kind, request_id=request_id, result=data)
    except JournalError as exc:
        # Sent, but the journal still says in_flight: a later try treats it as unknown and
        # does not send it again, which is safe. Say so rather than fail a successful send.
        log.error("%s to %s was sent (request id %s), but %s", kind, masked, request_id, exc)
    return SendResult(Outcome.SENT, number, request_id, data)


def _not_sent(number: str, kind: str, masked: str, exc: JournalError, log: Any) -> SendResult:
    error = f"{kind} to {masked} not sent: {exc}"
    log.error("%s", error)
    return SendResult(Outcome.FAILED, number, error=error, exception=exc)


def _record_failed(
    journal: SendJournal, key: str, number: str, kind: str, exc: BaseException, log: Any
) -> SendResult:
    error = str(exc)
    _record_quietly(journal, key, EntryStatus.FAILED, number, kind, error, log)
    return SendResult(Outcome.FAILED, number, error=error, exception=exc)


def _record_unknown(
    journal: SendJournal, key: str, number: str, kind: str, exc: BaseException, log: Any
) -> SendResult:
    error = str(exc) if isinstance(exc, SmsApiError) else f"{type(exc).__name__}: {exc}"
    _record_quietly(journal, key, EntryStatus.UNKNOWN, number, kind, error, log)
    return SendResult(Outcome.UNKNOWN, number, error=error, exception=exc)


def _record_quietly(
    journal: SendJournal, key: str, status: EntryStatus, number: str, kind: str, error: str, log: Any
) -> None:
    try:
        journal.record(key, status, number=number, kind=kind, error=error)
    except JournalError as exc:
        # The in_flight entry stays: it reads as unknown, never as "safe to send".
        log.error("Could not record the outcome (%s) of a %s: %s", status.value, kind, exc)


__all__ = [
    "EntryStatus",
    "JournalClaimedError",
    "JournalEntry",
    "JournalError",
    "Outcome",
    "SendJournal",
    "SendResult",
    "TaskScope",
    "journal_root",
    "send_once",
]
