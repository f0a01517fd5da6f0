"""Two live copies of one task instance, as two processes, over a journal full of ``failed`` entries.

The case Airflow creates when it gives up on a worker that is still running and starts the
task's retry elsewhere: both copies read the journal, both find every number ``failed`` (an
earlier try was refused: nobody was reached), both go on to send. Each send attempt is claimed
exclusively, so the sandbox's ledger bills every number exactly once per round.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.sending.journal import Contact, EntryStatus, SendJournal
from airflow_provider_sms.sending.sms import SmsMessage
from tests.airflow_env import REPO_ROOT
from tests.support.hooks import connect
from tests.support.journal_race import TEXT, scope

pytestmark = pytest.mark.once

ROUNDS = 5
NUMBERS = [n for n in (f"+44791112{i:04d}" for i in range(160)) if not n.endswith(("98", "99"))][:150]


def fill_with_failed(root: Path, round_number: int) -> None:
    """Attempt 1 of every number, refused by the API (try 1 of the task)."""
    journal = SendJournal(ObjectStoragePath(str(root)), scope(round_number, try_number=1))
    message = SmsMessage(TEXT)
    for number in NUMBERS:
        contact: Contact = message.contact(number)
        key = journal.key(number, contact.kind, contact.content)
        journal.record(key, EntryStatus.FAILED, contact, attempt=1, claim=True, error="HTTP 429")


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def test_two_live_copies_over_failed_entries_bill_every_number_once(
    sandbox, monkeypatch, tmp_path: Path
) -> None:
    sandbox.set_rate_limit(100_000)  # no 429s: every send that goes out is billed
    connect(monkeypatch, sandbox, rate_limit=100_000, max_retries=0)
    root, work = tmp_path / "journal", tmp_path / "work"
    work.mkdir()
    (work / "numbers.json").write_text(json.dumps(NUMBERS))
    for r in range(ROUNDS):
        fill_with_failed(root, r)
    command = [sys.executable, "-m", "tests.support.journal_race", str(root), str(work), str(ROUNDS)]
    logs = [work / f"copy-{i}.log" for i in range(2)]
    copies = [
        subprocess.Popen(command, cwd=REPO_ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
        for log in logs
    ]

    def ready(r: int) -> bool:
        for copy, log in zip(copies, logs, strict=True):
            assert copy.poll() is None, log.read_text()[-3000:]
        return len(list(work.glob(f"ready-*-{r}"))) == 2

    try:
        for r in range(ROUNDS):
            wait_for(lambda r=r: ready(r), f"round {r}: copies not ready")
            (work / f"go-{r}").touch()  # both copies start the round together
        for copy in copies:
            copy.wait(timeout=300)
    finally:
        for copy in copies:
            copy.kill()
            copy.wait()
    for copy, log in zip(copies, logs, strict=True):
        assert copy.returncode == 0, log.read_text()[-3000:]

    ledger = Counter(e["number"] for e in sandbox.ledger() if e["product"] == "sms" and e["billable"])
    assert ledger == dict.fromkeys(NUMBERS, ROUNDS)  # nobody texted twice, nobody left out
    for r in range(ROUNDS):
        first, second = (json.loads(p.read_text()) for p in sorted(work.glob(f"result-*-{r}.json")))
        for number in NUMBERS:
            # One copy sent it; the other lost the claim while it was in flight (unknown: not
            # sent) or came after it was recorded (already sent).
            assert sorted([first[number], second[number]]) in (
                ["already_sent", "sent"],
                ["sent", "unknown"],
            ), (r, number, first[number], second[number])
        journal = SendJournal(ObjectStoragePath(str(root)), scope(r))
        statuses = Counter(journal.read(k).status for k in journal.existing_keys())  # type: ignore[union-attr]
        assert statuses == {EntryStatus.SENT: len(NUMBERS)}
