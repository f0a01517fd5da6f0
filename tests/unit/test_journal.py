"""The send journal without any network: keys, entries, and the send-at-most-once rules."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fsspec
import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io import attach

from airflow_provider_sms.api.results import SmsResult
from airflow_provider_sms.exceptions import DeliveryUnknownError, InvalidNumberError, RateLimitError
from airflow_provider_sms.hooks.retrying import ConnectionNotMadeError
from airflow_provider_sms.journal import (
    EntryStatus,
    JournalEntry,
    JournalError,
    Outcome,
    SendJournal,
    TaskScope,
    journal_root,
    send_once,
)

LOG = logging.getLogger("test-journal")
NUMBER = "+447911123456"
SCOPE = TaskScope("dag", "manual__2024-01-01T00:00:00+00:00", "send", -1, try_number=1)


@pytest.fixture
def journal(tmp_path: Path) -> SendJournal:
    return SendJournal(ObjectStoragePath(str(tmp_path)), SCOPE)


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


def send(journal: SendJournal, sender: Sender, **kwargs: Any):
    kwargs.setdefault("content", {"text": "hi"})
    return send_once(journal, number=NUMBER, kind="sms", send=sender, log=LOG, masked="+44**56", **kwargs)


def test_key_covers_task_instance_number_and_content(journal: SendJournal) -> None:
    key = journal.key(NUMBER, "sms", {"text": "hi"})
    assert len(key) == 64
    assert key == journal.key(NUMBER, "sms", {"text": "hi"})
    assert key != journal.key("+447911123457", "sms", {"text": "hi"})
    assert key != journal.key(NUMBER, "sms", {"text": "hello"})
    assert key != journal.key(NUMBER, "flash_call", {"text": "hi"})
    for other in (
        TaskScope("dag", SCOPE.run_id, "send", 0),
        TaskScope("dag", "manual__2", "send", -1),
        TaskScope("dag2", SCOPE.run_id, "send", -1),
        TaskScope("dag", SCOPE.run_id, "send2", -1),
    ):
        assert SendJournal(journal.root, other).key(NUMBER, "sms", {"text": "hi"}) != key


def test_folder_per_task_instance_with_safe_names(journal: SendJournal, tmp_path: Path) -> None:
    assert journal.folder.path == str(tmp_path / "dag" / "manual__2024-01-01T00_00_00+00_00" / "send" / "-1")


def test_first_send_is_journalled(journal: SendJournal, tmp_path: Path) -> None:
    sender = Sender()

    result = send(journal, sender)

    assert (result.outcome, result.request_id, sender.calls) == (Outcome.SENT, "req-1", 1)
    entry = journal.read(journal.key(NUMBER, "sms", {"text": "hi"}))
    assert entry is not None
    assert (entry.status, entry.request_id, entry.number, entry.try_number) == (
        EntryStatus.SENT,
        "req-1",
        NUMBER,
        1,
    )
    assert entry.result == {"request_id": "req-1"}
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp")]


def test_sent_is_never_sent_again(journal: SendJournal) -> None:
    send(journal, Sender())
    again = Sender()

    result = send(journal, again)

    assert (result.outcome, result.request_id, again.calls) == (Outcome.ALREADY_SENT, "req-1", 0)


@pytest.mark.parametrize(
    "refusal", [InvalidNumberError("bad"), RateLimitError("slow down"), ConnectionNotMadeError("refused")]
)
def test_refused_send_is_failed_and_sent_again_next_time(journal: SendJournal, refusal: Exception) -> None:
    first = send(journal, Sender(refusal))
    assert first.outcome is Outcome.FAILED
    assert first.exception is refusal

    retry = Sender()
    assert send(journal, retry).outcome is Outcome.SENT
    assert retry.calls == 1


def test_unknown_outcome_is_never_sent_again(journal: SendJournal) -> None:
    first = send(journal, Sender(DeliveryUnknownError("lost")))
    assert first.outcome is Outcome.UNKNOWN

    retry = Sender()
    result = send(journal, retry)

    assert (result.outcome, retry.calls) == (Outcome.UNKNOWN, 0)
    assert "has no known outcome" in result.error
    assert str(journal.path(journal.key(NUMBER, "sms", {"text": "hi"}))) in result.error


def test_in_flight_entry_of_a_dead_worker_counts_as_unknown(journal: SendJournal) -> None:
    key = journal.key(NUMBER, "sms", {"text": "hi"})
    journal.record(key, EntryStatus.IN_FLIGHT, number=NUMBER, kind="sms")
    retry = Sender()

    result = send(journal, retry)

    assert (result.outcome, retry.calls) == (Outcome.UNKNOWN, 0)
    assert "interrupted mid-send" in result.error


def test_unexpected_exception_while_sending_is_unknown(journal: SendJournal) -> None:
    assert send(journal, Sender(RuntimeError("bug"))).outcome is Outcome.UNKNOWN


def test_worker_killed_mid_send_leaves_in_flight(journal: SendJournal) -> None:
    with pytest.raises(KeyboardInterrupt):
        send(journal, Sender(KeyboardInterrupt()))
    entry = journal.read(journal.key(NUMBER, "sms", {"text": "hi"}))
    assert entry is not None
    assert entry.status is EntryStatus.IN_FLIGHT


def test_expired_result_is_replaced_when_still_valid_says_so(journal: SendJournal) -> None:
    send(journal, Sender())
    again = Sender()

    result = send(journal, again, still_valid=lambda entry: False)

    assert (result.outcome, result.request_id, again.calls) == (Outcome.SENT, "req-1", 1)


def test_resend_unknown_for_requests_that_reach_nobody(journal: SendJournal) -> None:
    send(journal, Sender(DeliveryUnknownError("lost")))
    again = Sender()

    assert send(journal, again, resend_unknown=True).outcome is Outcome.SENT
    assert again.calls == 1


def test_known_keys_skip_reads_but_never_overwrite_an_entry(journal: SendJournal) -> None:
    send(journal, Sender())
    again = Sender()
    # A key missing from the listing is not read (one listing instead of a read per number), but
    # its entry is claimed, not overwritten: an entry written since the listing stops the send.
    assert send(journal, again, known_keys=set()).outcome is Outcome.UNKNOWN
    assert again.calls == 0
    assert journal.existing_keys() == {journal.key(NUMBER, "sms", {"text": "hi"})}


def test_nothing_is_sent_when_the_journal_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    journal = SendJournal(ObjectStoragePath(str(blocker)), SCOPE)
    sender = Sender()

    result = send(journal, sender)

    assert (result.outcome, sender.calls) == (Outcome.FAILED, 0)
    assert isinstance(result.exception, JournalError)


def test_unreadable_entry_reads_as_unknown(journal: SendJournal) -> None:
    key = journal.key(NUMBER, "sms", {"text": "hi"})
    journal.folder.mkdir(parents=True, exist_ok=True)
    journal.path(key).write_text("{not json")

    assert journal.read(key).status is EntryStatus.UNKNOWN
    assert send(journal, Sender()).outcome is Outcome.UNKNOWN


def test_entry_json_round_trip() -> None:
    entry = JournalEntry(
        "k", EntryStatus.SENT, NUMBER, "sms", "2024-01-01T00:00:00+00:00", 2, "req", {"a": 1}
    )
    assert JournalEntry.from_json("k", entry.to_json()) == entry
    assert json.loads(entry.to_json())["status"] == "sent"


def test_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__SMS_API__JOURNAL_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert journal_root().path == str(tmp_path / "sms_journal")
    monkeypatch.setenv("AIRFLOW__SMS_API__JOURNAL_PATH", "file:///srv/journal")
    assert str(journal_root()) == "file:///srv/journal"
    assert str(journal_root("s3://bucket/j")) == "s3://bucket/j"


def test_scope_from_context() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=3, try_number=2)
    assert TaskScope.from_context({"ti": ti}) == TaskScope("d", "r", "t", 3, 2)


@pytest.mark.parametrize("protocol", ["", "memory://"])
def test_a_second_live_copy_of_the_task_does_not_send_what_the_first_claimed(
    tmp_path: Path, protocol: str
) -> None:
    """Two copies of one task instance (a worker Airflow gave up on, still running, and its retry)
    both listed the journal before either sent: the number's entry is claimed, not overwritten,
    so only one of them sends. Local files are claimed atomically; object stores (here fsspec's
    memory filesystem) are checked just before the write."""
    if protocol:  # Airflow 3.1 has no memory:// filesystem until one is attached
        attach(protocol="memory", fs=fsspec.filesystem("memory"))
    root = ObjectStoragePath(f"{protocol}{tmp_path}" if protocol else str(tmp_path))
    first, second = SendJournal(root, SCOPE), SendJournal(root, SCOPE)
    stale_listing: set[str] = set()  # what both copies saw before anything was sent
    second_sender = Sender()
    second_results = []

    def first_sender() -> SmsResult:
        # While the first copy is sending, the second reaches the same number.
        second_results.append(send(second, second_sender, known_keys=stale_listing))
        return SmsResult(raw={}, request_id="req-first")

    result = send(first, first_sender, known_keys=stale_listing)

    assert result.outcome is Outcome.SENT
    assert second_sender.calls == 0
    (other,) = second_results
    assert other.outcome is Outcome.UNKNOWN
    assert "another copy of this task" in (other.error or "")
