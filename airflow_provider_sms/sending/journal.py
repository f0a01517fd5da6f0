"""The send journal: a person never gets the same message twice because a task ran again.

Airflow retries failed tasks, users clear and re-run them, and a worker Airflow gave up on
may still be running beside the task's retry. An operator that sends SMS or places calls
therefore writes down, durably and per recipient, what it did, and reads it back before doing
anything:

1. Every send attempt is **claimed** first: its own entry file (``<key>.<attempt>.json``) is
   created exclusively with the status ``in_flight``. Of two live copies that reach the same
   person, exactly one creates the attempt and sends; the other reads the winner's entry and
   does not send. If the claim cannot be written, nothing is sent.
2. After the send the claimant overwrites its attempt with the outcome: ``sent`` (with the
   request id), ``failed`` (the API refused, or no connection could be made: nobody was
   reached) or ``unknown`` (the request went out but its answer was lost:
   ``DeliveryUnknownError``).
3. Before any send, the latest attempt decides:

   =============  ===============================================================
   (none)         claim attempt 1 and send
   ``sent``       skipped; its request id (and result) is reported again
   ``failed``     claim the next attempt and send: nobody was reached
   ``unknown``    **never sent again automatically**: reported, the task fails
   ``in_flight``  being sent by another copy, or the worker died mid-send: treated
                  exactly like ``unknown``; when the claimant is another map index of
                  the same task (recorded less than :data:`IN_FLIGHT_GRACE` ago), that
                  instance reports the outcome: ``elsewhere`` here, not a failure
   =============  ===============================================================

An entry's key is the SHA-256 of (dag_id, run_id, task_id, E.164 number, kind of contact,
content), **without the map index**: within one DAG run, one person gets one copy of the same
content from the same task, however the upstream orders, splits or maps the list. The content
is what reaches the person (the SMS text, the spoken text, the code), not the sender, language
or callback URL. A new DAG run, or a changed text, is a new message. To send an ``unknown`` one
again on purpose, delete its latest attempt file (its path is in the task log) and clear the
task.

Entries live under an :class:`~airflow.sdk.ObjectStoragePath`: ``journal_path=`` on the
operator, else ``[sms_api] journal_path``, else ``<[sms_api] data_path>/journal``. The layout
and the exclusive write behind a claim are in :mod:`~airflow_provider_sms.sending.journal_store`;
the records in :mod:`~airflow_provider_sms.sending.entries`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
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
from airflow_provider_sms.sending.journal_store import JournalStore, canonical_key

if TYPE_CHECKING:
    from airflow.sdk import Context

#: An ``in_flight`` entry of another map index younger than this is taken for a live send.
IN_FLIGHT_GRACE = timedelta(minutes=15)
#: Claims lost in a row before a recipient is reported unknown (each loss means another copy moved on).
MAX_CLAIM_ROUNDS = 5


def journal_root(journal_path: str | None = None) -> ObjectStoragePath:
    """The journal's root folder.

    ``journal_path``, else ``[sms_api] journal_path``, else ``<[sms_api] data_path>/journal``.
    """
    return ObjectStoragePath((journal_path or "").strip() or config.journal_path())


class SendJournal:
    """The journal of one task instance, and the send-at-most-once rules over it.

    :param root: the journal's root folder (see :func:`journal_root`).
    :param scope: the task instance.
    :param log: where :meth:`send_once` says what it skipped or could not record.
    """

    def __init__(self, root: ObjectStoragePath, scope: TaskScope, log: logging.Logger | Any = None) -> None:
        self.store = JournalStore(root, scope)
        self.root = root
        self.scope = scope
        self.log = log or logging.getLogger(__name__)
        self.folder = self.store.folder
        self._listed: dict[str, int] | None = None
        self._legacy: frozenset[str] | None = None

    @classmethod
    def for_task(
        cls, context: Context, journal_path: str | None = None, log: logging.Logger | Any = None
    ) -> SendJournal:
        """The journal of the running task instance; warns once if its place is local to this worker."""
        journal = cls(journal_root(journal_path), TaskScope.from_context(context), log)
        config.warn_if_local_on_distributed(str(journal.root), "the send journal", journal.log)
        return journal

    # --- sending at most once --------------------------------------------------------------

    def use_listing(self) -> int:
        """List the folder once: later :meth:`send_once` calls read only the entries found now.

        Saves a read per number on a long list. An attempt written since the listing is still
        never overwritten: attempts are claimed (created exclusively), and a lost claim reads
        the winner's entry.

        :returns: how many recipients the folder (and this map index's old-layout folder) holds.
        """
        self._listed = self.store.listing()
        self._legacy = self.store.legacy_keys()
        return len(self._listed) + len(self._legacy)

    def send_once(
        self,
        contact: Contact,
        send: Callable[[], Sent],
        *,
        still_valid: Callable[[JournalEntry], bool] | None = None,
        resend_unknown: bool = False,
    ) -> SendResult:
        """Send at most once per journal key: consult, claim the next attempt, send, record the outcome.

        :param contact: the number, kind and content (the key), and the masked number for logs.
        :param send: performs the request and returns the hook's result.
        :param still_valid: for a ``sent`` entry, whether its result may still be used (an
            incoming-call reservation expires); when it returns False the request is made again.
        :param resend_unknown: make the request again after an ``unknown``/``in_flight`` entry.
            Only for requests that reach nobody (reserving an incoming call).
        """
        key = self.key(contact.number, contact.kind, contact.content)
        try:
            entry = self._current(key, contact)
        except JournalError as exc:
            return self._not_sent(contact, exc)
        lost_claim = False
        for _ in range(MAX_CLAIM_ROUNDS):
            if entry is not None:
                settled = self._settled(contact, entry, still_valid, resend_unknown, lost_claim)
                if settled is not None:
                    return settled
            attempt = (entry.attempt if entry is not None else 0) + 1
            try:
                claimed = self.record(key, EntryStatus.IN_FLIGHT, contact, attempt=attempt, claim=True)
            except JournalClaimedError:
                # Another live copy (or another map index) created this attempt first: read its
                # entry, which decides, as any earlier entry would.
                lost_claim = True
                try:
                    entry = self.store.latest(key, start=attempt)
                except JournalError as exc:
                    return self._not_sent(contact, exc)
                continue
            except JournalError as exc:
                return self._not_sent(contact, exc)
            return self._send_claimed(claimed, contact, send)
        error = (
            f"{contact.kind} to {contact.masked}: other copies of this task keep claiming it; not sending it"
        )
        self.log.warning("%s", error)
        return SendResult(Outcome.UNKNOWN, contact.number, error=error)

    def _current(self, key: str, contact: Contact) -> JournalEntry | None:
        """The latest attempt (a read of the listed one, else a listing of the key), else an old entry.

        A listed attempt is read, not probed for a later one: a later attempt is only claimed by
        a writer that read this one as failed, and then this journal's claim of the next attempt
        is lost and reads it.
        """
        if self._listed is None:
            entry = self.store.latest(key)
        elif key in self._listed:
            entry = self.store.read(key, self._listed[key])
            if entry is None:  # deleted since the listing (to send it again on purpose)
                entry = self.store.latest(key)
        else:
            entry = None
        if entry is not None:
            return entry
        if self._legacy is None:
            self._legacy = self.store.legacy_keys()
        if self._legacy:
            legacy = self.store.legacy_key(contact.number, contact.kind, contact.content)
            if legacy in self._legacy:
                return self.store.read_legacy(legacy)
        return None

    def _settled(
        self,
        contact: Contact,
        entry: JournalEntry,
        still_valid: Callable[[JournalEntry], bool] | None,
        resend_unknown: bool,
        lost_claim: bool,
    ) -> SendResult | None:
        """What an existing entry means for this send: a result, or ``None`` to claim the next attempt."""
        if entry.status is EntryStatus.SENT:
            if still_valid is None or still_valid(entry):
                by = "an earlier try" if self._own(entry) else f"map index {entry.map_index} of this task"
                self.log.info(
                    "%s to %s was already sent by %s (request id %s): not sending it again",
                    contact.kind,
                    contact.masked,
                    by,
                    entry.request_id,
                )
                return SendResult(Outcome.ALREADY_SENT, contact.number, entry.request_id, entry.result)
            return None
        if entry.status is EntryStatus.FAILED or resend_unknown:
            return None
        if entry.status is EntryStatus.IN_FLIGHT and not self._own(entry) and _recent(entry):
            error = (
                f"{contact.kind} to {contact.masked} is being sent by map index {entry.map_index} of this "
                "task, which reports its outcome: not sending it here"
            )
            self.log.info("%s", error)
            return SendResult(Outcome.ELSEWHERE, contact.number, error=error)
        return self._earlier_unknown(contact, entry, lost_claim)

    def _own(self, entry: JournalEntry) -> bool:
        return entry.map_index is None or entry.map_index == self.scope.map_index

    def _send_claimed(self, claimed: JournalEntry, contact: Contact, send: Callable[[], Sent]) -> SendResult:
        try:
            result = send()
        except DeliveryUnknownError as exc:  # sent, answer lost
            return self._record_outcome(claimed, contact, EntryStatus.UNKNOWN, exc)
        except SmsApiError as exc:
            # The hooks raise DeliveryUnknownError for every request of this kind that may have
            # been processed; any other API error is a refusal, or a failure before sending
            # (no connection, TLS handshake, local validation): nobody was reached.
            return self._record_outcome(claimed, contact, EntryStatus.FAILED, exc)
        except Exception as exc:  # a bug between sending and answering: assume the worst
            return self._record_outcome(claimed, contact, EntryStatus.UNKNOWN, exc)
        data, request_id = result.to_dict(), result.request_id
        try:
            self.record(
                claimed.key,
                EntryStatus.SENT,
                contact,
                attempt=claimed.attempt,
                request_id=request_id,
                result=data,
            )
        except JournalError as exc:
            # Sent, but the journal still says in_flight: a later try treats it as unknown and
            # does not send it again, which is safe. Say so rather than fail a successful send.
            self.log.error(
                "%s to %s was sent (request id %s), but %s", contact.kind, contact.masked, request_id, exc
            )
        return SendResult(Outcome.SENT, contact.number, request_id, data)

    def _earlier_unknown(self, contact: Contact, entry: JournalEntry, lost_claim: bool) -> SendResult:
        if entry.status is EntryStatus.IN_FLIGHT and lost_claim:
            what = "is being sent by another copy of this task"
        elif entry.status is EntryStatus.IN_FLIGHT:
            what = "was interrupted mid-send, or is being sent by another copy of this task"
        else:
            what = "has no known outcome"
        if not self._own(entry):
            what += f" (map index {entry.map_index})"
        if entry.attempt:
            path = self.store.path(entry.key, entry.attempt)
        else:  # an entry of the first layout
            path = self.store.legacy_folder / f"{entry.key}.json"
        error = (
            f"An earlier {contact.kind} to {contact.masked} {what} ({entry.recorded_at}): it may have "
            "reached the person, so it is not sent again automatically. Check the delivery receipts; "
            f"to send it anyway, delete the journal entry {path} and clear the task."
        )
        self.log.warning("%s", error)
        return SendResult(Outcome.UNKNOWN, contact.number, entry.request_id, error=error)

    def _not_sent(self, contact: Contact, exc: JournalError) -> SendResult:
        error = f"{contact.kind} to {contact.masked} not sent: {exc}"
        self.log.error("%s", error)
        return SendResult(Outcome.FAILED, contact.number, error=error, exception=exc)

    def _record_outcome(
        self, claimed: JournalEntry, contact: Contact, status: EntryStatus, exc: BaseException
    ) -> SendResult:
        """Record a failed (nobody reached) or unknown send; the entry stays ``in_flight`` if that fails."""
        error = str(exc) if isinstance(exc, SmsApiError) else f"{type(exc).__name__}: {exc}"
        try:
            self.record(claimed.key, status, contact, attempt=claimed.attempt, error=error)
        except JournalError as journal_error:
            # The in_flight entry stays: it reads as unknown, never as "safe to send".
            self.log.error(
                "Could not record the outcome (%s) of a %s: %s", status.value, contact.kind, journal_error
            )
        outcome = Outcome.FAILED if status is EntryStatus.FAILED else Outcome.UNKNOWN
        return SendResult(outcome, contact.number, error=error, exception=exc)

    # --- entries ---------------------------------------------------------------------------

    def key(self, number: str, kind: str, content: Mapping[str, Any]) -> str:
        """The entry key of sending ``content`` as ``kind`` to ``number`` in this task and DAG run."""
        s = self.scope
        return canonical_key([s.dag_id, s.run_id, s.task_id, number, kind, dict(content)])

    def path(self, key: str, attempt: int = 1) -> ObjectStoragePath:
        """The file of ``key``'s ``attempt``."""
        return self.store.path(key, attempt)

    def read(self, key: str) -> JournalEntry | None:
        """The latest attempt of ``key`` (one listing of the key)."""
        return self.store.latest(key)

    def existing_keys(self) -> set[str]:
        """Keys with at least one attempt in the task's folder (one listing)."""
        return set(self.store.listing())

    @property
    def report_path(self) -> ObjectStoragePath:
        """Where the full report of this map index goes when it is too large for XCom."""
        return self.store.report_path

    def write_report(self, report: Mapping[str, Any] | Iterable[str]) -> ObjectStoragePath:
        """Write the full report of this task instance (the latest try's replaces an earlier one).

        :param report: the report, or its JSON text in pieces (written as they come).
        """
        return self.store.write_report(report)

    def record(
        self,
        key: str,
        status: EntryStatus,
        contact: Contact,
        *,
        attempt: int,
        request_id: str | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        claim: bool = False,
    ) -> JournalEntry:
        """Write ``contact``'s ``attempt`` with ``status`` now.

        :param claim: create the attempt (only if nobody did): raise
            :class:`JournalClaimedError` otherwise. Without it, overwrite the attempt this
            journal claimed.
        """
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
            attempt=attempt,
            map_index=self.scope.map_index,
        )
        if claim:
            self.store.claim(entry)
        else:
            self.store.replace(entry)
        return entry


def _recent(entry: JournalEntry) -> bool:
    try:
        recorded = datetime.fromisoformat(entry.recorded_at)
    except ValueError:
        return False
    if recorded.tzinfo is None:
        recorded = recorded.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - recorded < IN_FLIGHT_GRACE


__all__ = [
    "IN_FLIGHT_GRACE",
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
