"""The send journal: a person never gets the same message twice because a task ran again.

Airflow retries failed tasks and users clear and re-run them. An operator that sends SMS or
places calls therefore writes down, durably and per recipient, what it did, and reads it
back before doing anything:

1. Before a send it writes an ``in_flight`` entry. If that write fails, nothing is sent.
2. After the send it overwrites the entry with the outcome: ``sent`` (with the request id),
   ``failed`` (the API refused, or no connection could be made: nobody was reached) or
   ``unknown`` (the request went out but its answer was lost: ``DeliveryUnknownError``).
3. On the next try or re-run of the same task instance:

   ============  ===============================================================
   ``sent``      skipped; its request id (and result) is reported again
   ``failed``    sent again: the API refused it, so nobody was reached
   ``unknown``   **never sent again automatically**: reported, the task fails
   ``in_flight`` the worker died mid-send: treated exactly like ``unknown``
   ============  ===============================================================

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

:meth:`SendJournal.send_once` applies these rules to one :class:`~.entries.Contact`; the
records themselves are in :mod:`airflow_provider_sms.sending.entries`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms import config
from airflow_provider_sms.exceptions import (
    DeliveryUnknownError,
    JournalClaimedError,
    JournalError,
    SmsApiError,
)
from airflow_provider_sms.sending.entries import (
    Contact,
    EntryStatus,
    JournalEntry,
    Outcome,
    SendResult,
    Sent,
    TaskScope,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

_LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


def journal_root(journal_path: str | None = None) -> ObjectStoragePath:
    """The journal's root folder.

    ``journal_path``, else ``[sms_api] journal_path``, else ``$AIRFLOW_HOME/sms_journal``.
    """
    return ObjectStoragePath((journal_path or "").strip() or config.journal_path())


def _segment(value: object) -> str:
    # Folder names readable by a person and valid on any object store; the entry key
    # (a hash of the exact values) keeps entries apart even if two names sanitise alike.
    return _UNSAFE.sub("_", str(value)) or "_"


class SendJournal:
    """The journal folder of one task instance, and the send-at-most-once rules over it.

    :param root: the journal's root folder (see :func:`journal_root`).
    :param scope: the task instance.
    :param log: where :meth:`send_once` says what it skipped or could not record.
    """

    def __init__(self, root: ObjectStoragePath, scope: TaskScope, log: logging.Logger | Any = None) -> None:
        self.root = root
        self.scope = scope
        self.log = log or logging.getLogger(__name__)
        self.folder = (
            root
            / _segment(scope.dag_id)
            / _segment(scope.run_id)
            / _segment(scope.task_id)
            / str(scope.map_index)
        )
        self._local = (root.protocol or "") in _LOCAL_PROTOCOLS
        self._listed: frozenset[str] | None = None

    @classmethod
    def for_task(
        cls, context: Context, journal_path: str | None = None, log: logging.Logger | Any = None
    ) -> SendJournal:
        return cls(journal_root(journal_path), TaskScope.from_context(context), log)

    # --- sending at most once --------------------------------------------------------------

    def use_listing(self) -> int:
        """List the folder once: later :meth:`send_once` calls read only the entries found now.

        Saves a read per number on a long list. An entry written since the listing is still
        never overwritten: new entries are claimed (see :meth:`write`).

        :returns: how many entries the folder holds.
        """
        self._listed = frozenset(self.existing_keys())
        return len(self._listed)

    def send_once(
        self,
        contact: Contact,
        send: Callable[[], Sent],
        *,
        still_valid: Callable[[JournalEntry], bool] | None = None,
        resend_unknown: bool = False,
    ) -> SendResult:
        """Send at most once per journal key: consult, write ``in_flight``, send, record the outcome.

        :param contact: the number, kind and content (the key), and the masked number for logs.
        :param send: performs the request and returns the hook's result.
        :param still_valid: for a ``sent`` entry, whether its result may still be used (an
            incoming-call reservation expires); when it returns False the request is made again.
        :param resend_unknown: make the request again after an ``unknown``/``in_flight`` entry.
            Only for requests that reach nobody (reserving an incoming call).
        """
        key = self.key(contact.number, contact.kind, contact.content)
        try:
            entry = self.read(key) if self._listed is None or key in self._listed else None
        except JournalError as exc:
            return self._not_sent(contact, exc)
        if entry is not None:
            if entry.status is EntryStatus.SENT and (still_valid is None or still_valid(entry)):
                self.log.info(
                    "%s to %s was already sent by an earlier try (request id %s): not sending it again",
                    contact.kind,
                    contact.masked,
                    entry.request_id,
                )
                return SendResult(Outcome.ALREADY_SENT, contact.number, entry.request_id, entry.result)
            if entry.status in (EntryStatus.IN_FLIGHT, EntryStatus.UNKNOWN) and not resend_unknown:
                return self._earlier_unknown(contact, entry)
        try:
            # A new entry is claimed, not overwritten: another live copy of this task instance (a
            # worker Airflow gave up on, still running) may have reached this number since the
            # listing, and then it is the one sending.
            self.record(key, EntryStatus.IN_FLIGHT, contact, exclusive=entry is None)
        except JournalClaimedError as exc:
            error = (
                f"{contact.kind} to {contact.masked} is being sent by another copy of this task: "
                f"not sending it ({exc})"
            )
            self.log.warning("%s", error)
            return SendResult(Outcome.UNKNOWN, contact.number, error=error)
        except JournalError as exc:
            return self._not_sent(contact, exc)
        try:
            result = send()
        except DeliveryUnknownError as exc:  # sent, answer lost
            return self._record_outcome(key, contact, EntryStatus.UNKNOWN, exc)
        except SmsApiError as exc:
            # The hooks raise DeliveryUnknownError for every request of this kind that may have
            # been processed; any other API error is a refusal, or a failure before sending
            # (no connection, TLS handshake, local validation): nobody was reached.
            return self._record_outcome(key, contact, EntryStatus.FAILED, exc)
        except Exception as exc:  # a bug between sending and answering: assume the worst
            return self._record_outcome(key, contact, EntryStatus.UNKNOWN, exc)
        data, request_id = result.to_dict(), result.request_id
        try:
            self.record(key, EntryStatus.SENT, contact, request_id=request_id, result=data)
        except JournalError as exc:
            # Sent, but the journal still says in_flight: a later try treats it as unknown and
            # does not send it again, which is safe. Say so rather than fail a successful send.
            self.log.error(
                "%s to %s was sent (request id %s), but %s", contact.kind, contact.masked, request_id, exc
            )
        return SendResult(Outcome.SENT, contact.number, request_id, data)

    def _earlier_unknown(self, contact: Contact, entry: JournalEntry) -> SendResult:
        what = "was interrupted mid-send" if entry.status is EntryStatus.IN_FLIGHT else "has no known outcome"
        error = (
            f"An earlier {contact.kind} to {contact.masked} {what} ({entry.recorded_at}): it may have "
            "reached the person, so it is not sent again automatically. Check the delivery receipts; "
            f"to send it anyway, delete the journal entry {self.path(entry.key)} and clear the task."
        )
        self.log.warning("%s", error)
        return SendResult(Outcome.UNKNOWN, contact.number, entry.request_id, error=error)

    def _not_sent(self, contact: Contact, exc: JournalError) -> SendResult:
        error = f"{contact.kind} to {contact.masked} not sent: {exc}"
        self.log.error("%s", error)
        return SendResult(Outcome.FAILED, contact.number, error=error, exception=exc)

    def _record_outcome(
        self, key: str, contact: Contact, status: EntryStatus, exc: BaseException
    ) -> SendResult:
        """Record a failed (nobody reached) or unknown send; the entry stays ``in_flight`` if that fails."""
        error = str(exc) if isinstance(exc, SmsApiError) else f"{type(exc).__name__}: {exc}"
        try:
            self.record(key, status, contact, error=error)
        except JournalError as journal_error:
            # The in_flight entry stays: it reads as unknown, never as "safe to send".
            self.log.error(
                "Could not record the outcome (%s) of a %s: %s", status.value, contact.kind, journal_error
            )
        outcome = Outcome.FAILED if status is EntryStatus.FAILED else Outcome.UNKNOWN
        return SendResult(outcome, contact.number, error=error, exception=exc)

    # --- entries ---------------------------------------------------------------------------

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
        contact: Contact,
        *,
        request_id: str | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        exclusive: bool = False,
    ) -> JournalEntry:
        """Write ``contact``'s entry with ``status`` now (see :meth:`write` for ``exclusive``)."""
        entry = JournalEntry(
            key=key,
            status=status,
            number=contact.number,
            kind=contact.kind,
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


__all__ = [
    "Contact",
    "EntryStatus",
    "JournalClaimedError",
    "JournalEntry",
    "JournalError",
    "Outcome",
    "SendJournal",
    "SendResult",
    "Sent",
    "TaskScope",
    "journal_root",
]
