"""The send journal without any network: keys, entries, and the send-at-most-once rules."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fsspec
import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io import attach

from airflow_provider_sms.api.results import SmsResult
from airflow_provider_sms.exceptions import (
    ConnectionNotMadeError,
    DeliveryUnknownError,
    InvalidNumberError,
    RateLimitError,
)
from airflow_provider_sms.sending.journal import (
    IN_FLIGHT_GRACE,
    Contact,
    EntryStatus,
    JournalEntry,
    JournalError,
    Outcome,
    SendJournal,
    TaskScope,
    journal_root,
)

LOG = logging.getLogger("test-journal")
NUMBER = "+447911123456"
SCOPE = TaskScope("dag", "manual__2024-01-01T00:00:00+00:00", "send", -1, try_number=1)


@pytest.fixture
def journal(tmp_path: Path) -> SendJournal:
    return SendJournal(ObjectStoragePath(str(tmp_path)), SCOPE, LOG)


class Sender:
    """Counts sends; returns a result or raises what it is given."""

    def __init__(self, outcome: Any = None) -> None:
        self.calls = 0
        self.outcome = outcome

    def __call__(self) -> SmsResult:
        self.calls += 1
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return SmsResult(raw={}, request_id=f"req-{self.calls}")


def send(journal: SendJournal, sender: Sender, content: dict[str, Any] | None = None, **kwargs: Any):
    contact = Contact(NUMBER, "sms", content or {"text": "hi"}, "+44**56")
    return journal.send_once(contact, sender, **kwargs)


def key_of(journal: SendJournal) -> str:
    return journal.key(NUMBER, "sms", {"text": "hi"})


def test_key_covers_task_run_number_and_content_but_not_the_map_index(journal: SendJournal) -> None:
    key = key_of(journal)
    assert len(key) == 64
    assert key == journal.key(NUMBER, "sms", {"text": "hi"})
    assert key != journal.key("+447911123457", "sms", {"text": "hi"})
    assert key != journal.key(NUMBER, "sms", {"text": "hello"})
    assert key != journal.key(NUMBER, "flash_call", {"text": "hi"})
    for other in (
        TaskScope("dag", "manual__2", "send", -1),
        TaskScope("dag2", SCOPE.run_id, "send", -1),
        TaskScope("dag", SCOPE.run_id, "send2", -1),
    ):
        assert SendJournal(journal.root, other).key(NUMBER, "sms", {"text": "hi"}) != key
    # Mapped instances of one task share keys (and the folder): a person is reached once per task.
    mapped = SendJournal(journal.root, TaskScope("dag", SCOPE.run_id, "send", 7, try_number=3))
    assert mapped.key(NUMBER, "sms", {"text": "hi"}) == key
    assert mapped.folder == journal.folder


def test_one_folder_per_task_with_safe_names(journal: SendJournal, tmp_path: Path) -> None:
    assert journal.folder.path == str(tmp_path / "dag" / "manual__2024-01-01T00_00_00+00_00" / "send")
    assert journal.report_path.path == str(Path(journal.folder.path) / "-1.report.json")


def test_first_send_is_claimed_then_journalled_as_attempt_1(journal: SendJournal, tmp_path: Path) -> None:
    sender = Sender()

    result = send(journal, sender)

    assert (result.outcome, result.request_id, sender.calls) == (Outcome.SENT, "req-1", 1)
    entry = journal.read(key_of(journal))
    assert entry is not None
    assert (
        entry.status,
        entry.request_id,
        entry.number,
        entry.try_number,
        entry.attempt,
        entry.map_index,
    ) == (
        EntryStatus.SENT,
        "req-1",
        NUMBER,
        1,
        1,
        -1,
    )
    assert entry.result == {"request_id": "req-1"}
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{key_of(journal)}.1.json"]


def test_sent_is_never_sent_again(journal: SendJournal) -> None:
    send(journal, Sender())
    again = Sender()

    result = send(journal, again)

    assert (result.outcome, result.request_id, again.calls) == (Outcome.ALREADY_SENT, "req-1", 0)


@pytest.mark.parametrize(
    "refusal", [InvalidNumberError("bad"), RateLimitError("slow down"), ConnectionNotMadeError("refused")]
)
def test_refused_send_is_failed_and_the_next_try_claims_a_new_attempt(
    journal: SendJournal, refusal: Exception
) -> None:
    first = send(journal, Sender(refusal))
    assert first.outcome is Outcome.FAILED
    assert first.exception is refusal

    retry = Sender()
    assert send(journal, retry).outcome is Outcome.SENT
    assert retry.calls == 1
    key = key_of(journal)
    assert journal.store.read(key, 1).status is EntryStatus.FAILED  # the failed attempt stays as it was
    assert journal.store.read(key, 2).status is EntryStatus.SENT
    assert journal.read(key).attempt == 2


def test_unknown_outcome_is_never_sent_again(journal: SendJournal) -> None:
    first = send(journal, Sender(DeliveryUnknownError("lost")))
    assert first.outcome is Outcome.UNKNOWN

    retry = Sender()
    result = send(journal, retry)

    assert (result.outcome, retry.calls) == (Outcome.UNKNOWN, 0)
    assert "has no known outcome" in result.error
    assert str(journal.path(key_of(journal), 1)) in result.error


def test_deleting_the_latest_attempt_sends_again_on_purpose(journal: SendJournal) -> None:
    send(journal, Sender(RateLimitError("slow down")))
    send(journal, Sender(DeliveryUnknownError("lost")))
    journal.path(key_of(journal), 2).unlink()  # what the message tells a person to do
    again = Sender()

    assert send(journal, again).outcome is Outcome.SENT
    assert again.calls == 1


def test_in_flight_entry_of_a_dead_worker_counts_as_unknown(journal: SendJournal) -> None:
    journal.record(
        key_of(journal), EntryStatus.IN_FLIGHT, Contact(NUMBER, "sms", {"text": "hi"}, "x"), attempt=1
    )
    retry = Sender()

    result = send(journal, retry)

    assert (result.outcome, retry.calls) == (Outcome.UNKNOWN, 0)
    assert "interrupted mid-send" in result.error


def test_unexpected_exception_while_sending_is_unknown(journal: SendJournal) -> None:
    assert send(journal, Sender(RuntimeError("bug"))).outcome is Outcome.UNKNOWN


def test_worker_killed_mid_send_leaves_in_flight(journal: SendJournal) -> None:
    with pytest.raises(KeyboardInterrupt):
        send(journal, Sender(KeyboardInterrupt()))
    entry = journal.read(key_of(journal))
    assert entry is not None
    assert entry.status is EntryStatus.IN_FLIGHT


def test_expired_result_is_replaced_when_still_valid_says_so(journal: SendJournal) -> None:
    send(journal, Sender())
    again = Sender()

    result = send(journal, again, still_valid=lambda entry: False)

    assert (result.outcome, result.request_id, again.calls) == (Outcome.SENT, "req-1", 1)
    assert journal.read(key_of(journal)).attempt == 2


def test_resend_unknown_for_requests_that_reach_nobody(journal: SendJournal) -> None:
    send(journal, Sender(DeliveryUnknownError("lost")))
    again = Sender()

    assert send(journal, again, resend_unknown=True).outcome is Outcome.SENT
    assert again.calls == 1


def test_a_stale_listing_never_sends_what_was_sent_since(journal: SendJournal) -> None:
    assert journal.use_listing() == 0
    send(journal, Sender())
    again = Sender()
    # A key missing from the listing is not read (one listing instead of a read per number), but
    # its attempt is claimed, not overwritten: the claim is lost, and the winner's entry decides.
    assert send(journal, again).outcome is Outcome.ALREADY_SENT
    assert again.calls == 0
    assert journal.existing_keys() == {key_of(journal)}


def test_nothing_is_sent_when_the_journal_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    journal = SendJournal(ObjectStoragePath(str(blocker)), SCOPE)
    sender = Sender()

    result = send(journal, sender)

    assert (result.outcome, sender.calls) == (Outcome.FAILED, 0)
    assert isinstance(result.exception, JournalError)


def test_unreadable_entry_reads_as_unknown(journal: SendJournal) -> None:
    journal.folder.mkdir(parents=True, exist_ok=True)
    journal.path(key_of(journal), 1).write_text("{not json")

    assert journal.read(key_of(journal)).status is EntryStatus.UNKNOWN
    assert send(journal, Sender()).outcome is Outcome.UNKNOWN


def test_entry_json_round_trip() -> None:
    entry = JournalEntry(
        "k", EntryStatus.SENT, NUMBER, "sms", "2024-01-01T00:00:00+00:00", 2, "req", {"a": 1}, None, 3, 4
    )
    assert JournalEntry.from_json("k", entry.to_json(), 3) == entry
    assert json.loads(entry.to_json())["status"] == "sent"


def test_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__SMS_API__JOURNAL_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", str(tmp_path / "data"))
    assert journal_root().path == str(tmp_path / "data" / "journal")
    monkeypatch.setenv("AIRFLOW__SMS_API__JOURNAL_PATH", "file:///srv/journal")
    assert str(journal_root()) == "file:///srv/journal"
    assert str(journal_root("s3://bucket/j")) == "s3://bucket/j"


def test_scope_from_context() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=3, try_number=2)
    assert TaskScope.from_context({"ti": ti}) == TaskScope("d", "r", "t", 3, 2)


# --- two live copies ------------------------------------------------------------------------


@pytest.fixture
def memory_store() -> None:
    """Let ObjectStoragePath reach fsspec's memory filesystem (an object store without a server)."""
    attach(protocol="memory", fs=fsspec.filesystem("memory"))


@pytest.mark.usefixtures("memory_store")
@pytest.mark.parametrize("protocol", ["", "memory://"])
@pytest.mark.parametrize("earlier", [None, RateLimitError("slow down")], ids=["new", "after-failed"])
def test_of_two_live_copies_only_the_one_that_claims_sends(
    tmp_path: Path, protocol: str, earlier: Exception | None
) -> None:
    """Two copies of one task instance (a worker Airflow gave up on, still running, and its retry)
    both read the journal before either sent: a new number, or one whose earlier attempt failed.
    Both claim the same next attempt; the claim is exclusive, so only one of them sends. Local
    files are claimed with a hard link, object stores (here fsspec's memory filesystem) with
    ``pipe_file(mode="create")``."""
    if protocol:
        from tests.compat import need_memory_filesystem

        need_memory_filesystem()
    root = ObjectStoragePath(f"{protocol}{tmp_path}" if protocol else str(tmp_path))
    first, second = SendJournal(root, SCOPE), SendJournal(root, SCOPE)
    if earlier is not None:
        send(first, Sender(earlier))
    assert first.use_listing() == second.use_listing() == (1 if earlier else 0)  # what both saw
    second_sender = Sender()
    second_results = []

    def first_sender() -> SmsResult:
        # While the first copy is sending, the second reaches the same number.
        second_results.append(send(second, second_sender))
        return SmsResult(raw={}, request_id="req-first")

    result = send(first, first_sender)

    assert result.outcome is Outcome.SENT
    assert second_sender.calls == 0
    (other,) = second_results
    assert other.outcome is Outcome.UNKNOWN
    assert "is being sent by another copy of this task" in (other.error or "")
    # ... and once the first copy has recorded its send, the second sees it as sent.
    assert send(second, second_sender).outcome is Outcome.ALREADY_SENT
    assert second_sender.calls == 0


def test_a_claim_lost_to_a_failed_attempt_claims_the_next_one(journal: SendJournal) -> None:
    """The copy that won the claim was refused: nobody was reached, so the loser sends."""
    other = SendJournal(journal.root, SCOPE)
    assert journal.use_listing() == 0
    send(other, Sender(RateLimitError("slow down")))  # attempt 1 claimed and failed since the listing
    sender = Sender()

    assert send(journal, sender).outcome is Outcome.SENT
    assert sender.calls == 1
    assert journal.read(key_of(journal)).attempt == 2


# --- mapped instances of one task -----------------------------------------------------------


def mapped(journal: SendJournal, map_index: int) -> SendJournal:
    return SendJournal(journal.root, TaskScope("dag", SCOPE.run_id, "send", map_index, try_number=1))


def test_another_map_index_that_sent_it_counts_as_already_sent(journal: SendJournal) -> None:
    send(mapped(journal, 0), Sender())
    sender = Sender()

    result = send(mapped(journal, 1), sender)

    assert (result.outcome, result.request_id, sender.calls) == (Outcome.ALREADY_SENT, "req-1", 0)


def test_another_map_index_that_failed_leaves_it_to_this_one(journal: SendJournal) -> None:
    send(mapped(journal, 0), Sender(RateLimitError("slow down")))
    sender = Sender()

    assert send(mapped(journal, 1), sender).outcome is Outcome.SENT
    assert sender.calls == 1


def test_another_map_index_sending_it_now_reports_it(journal: SendJournal) -> None:
    zero, one = mapped(journal, 0), mapped(journal, 1)
    seen = []

    def zero_sends() -> SmsResult:
        seen.append(send(one, Sender()))
        return SmsResult(raw={}, request_id="req-zero")

    assert send(zero, zero_sends).outcome is Outcome.SENT
    (while_sending,) = seen
    assert while_sending.outcome is Outcome.ELSEWHERE
    assert "map index 0" in (while_sending.error or "")


def test_a_long_dead_in_flight_of_another_map_index_is_unknown(journal: SendJournal) -> None:
    contact = Contact(NUMBER, "sms", {"text": "hi"}, "x")
    zero = mapped(journal, 0)
    entry = zero.record(key_of(journal), EntryStatus.IN_FLIGHT, contact, attempt=1)
    old = datetime.now(timezone.utc) - IN_FLIGHT_GRACE - timedelta(minutes=1)
    zero.store.replace(dataclasses.replace(entry, recorded_at=old.isoformat()))
    sender = Sender()

    result = send(mapped(journal, 1), sender)

    assert (result.outcome, sender.calls) == (Outcome.UNKNOWN, 0)
    assert "(map index 0)" in (result.error or "")


# --- entries of the first layout ------------------------------------------------------------


def legacy_entry(journal: SendJournal, status: str) -> Path:
    """An entry as the first layout wrote it: <task>/<map_index>/<key with map index>.json."""
    old_key = journal.store.legacy_key(NUMBER, "sms", {"text": "hi"})
    folder = Path(journal.folder.path) / str(SCOPE.map_index)
    folder.mkdir(parents=True)
    path = folder / f"{old_key}.json"
    path.write_text(json.dumps({"status": status, "number": NUMBER, "kind": "sms", "request_id": "req-old"}))
    return path


@pytest.mark.parametrize("listing", [True, False])
def test_entries_of_the_first_layout_still_count(journal: SendJournal, listing: bool) -> None:
    legacy_entry(journal, "sent")
    if listing:
        assert journal.use_listing() == 1
    sender = Sender()

    result = send(journal, sender)

    assert (result.outcome, result.request_id, sender.calls) == (Outcome.ALREADY_SENT, "req-old", 0)


def test_a_failed_entry_of_the_first_layout_is_followed_by_attempt_1(journal: SendJournal) -> None:
    legacy_entry(journal, "failed")
    sender = Sender()

    assert send(journal, sender).outcome is Outcome.SENT
    assert journal.read(key_of(journal)).attempt == 1


def test_an_unknown_entry_of_the_first_layout_names_its_file(journal: SendJournal) -> None:
    path = legacy_entry(journal, "unknown")

    result = send(journal, Sender())

    assert result.outcome is Outcome.UNKNOWN
    assert str(path) in (result.error or "")


def test_an_object_store_claim_is_one_conditional_write(tmp_path: Path) -> None:
    """On an object store the claim is fsspec's ``pipe_file(mode="create")`` (If-None-Match on
    S3, ifGenerationMatch=0 on GCS, overwrite=False on Azure), never a check and a plain write;
    the outcome then replaces the claimant's own attempt."""
    import fsspec
    from airflow.sdk.io.store import attach
    from fsspec.implementations.memory import MemoryFileSystem

    writes: list[tuple[str, str]] = []

    class RecordingStore(MemoryFileSystem):
        protocol = ("recording",)

        def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
            writes.append((path.rsplit("/", 1)[-1], mode))
            super().pipe_file(path, value, mode=mode, **kwargs)

    fsspec.register_implementation("recording", RecordingStore, clobber=True)
    attach("recording", fs=RecordingStore())
    journal = SendJournal(ObjectStoragePath(f"recording://{tmp_path}"), SCOPE, LOG)

    assert send(journal, Sender()).outcome is Outcome.SENT

    key = key_of(journal)
    assert writes[0] == (f"{key}.1.json", "create")  # the claim
    assert journal.read(key).status is EntryStatus.SENT
    assert not journal.store.local
    assert not journal.store.atomic_claims  # an unknown store: fsspec's check-then-write
