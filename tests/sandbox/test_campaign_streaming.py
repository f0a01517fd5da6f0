"""A campaign's real run streams: the rows to send flow into the send loop a bounded window ahead
of the sends, each outcome is folded into the report as it arrives, and the large report is
assembled from spill files; an outage stops it and a second run sends the rest once.

Checked by counting what is held while the list is sent (rows taken but not yet reported, rows
and results still alive), never by timing or by RSS.
"""

from __future__ import annotations

import csv
import logging
import threading
import weakref
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.templates import MessageTemplate
from airflow_provider_sms.exceptions import ApiUnavailableError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sending import campaign_run
from airflow_provider_sms.sending.campaign import PlannedRow
from airflow_provider_sms.sending.entries import SendResult, TaskScope
from airflow_provider_sms.sending.journal import SendJournal
from airflow_provider_sms.sending.report import LARGE_LIST, MAX_LOGGED_FAILURES, load_report, report_for_xcom
from tests.support.hooks import connect, ledger

pytestmark = pytest.mark.usefixtures("fresh_limiters")

TEMPLATE = "Hi {first_name}, your order {order_id} ships today"
ROWS = 1500  # above LARGE_LIST: the report goes to its file, assembled from the spill files
WINDOW = 12  # max_workers: the most sends in flight
log = logging.getLogger(__name__)


def write_list(path: Path, rows: int) -> dict[str, str]:
    """The list; every 100th row has no first name (refused). Returns {number: text} of the rest."""
    expected = {}
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(("number", "first_name", "order_id"))
        for i in range(rows):
            number, name = f"+447911{i:06d}", "" if i % 100 == 99 else f"Name{i}"
            out.writerow((number, name, 500000 + i))
            if name:
                expected[number] = TEMPLATE.format(first_name=name, order_id=500000 + i)
    return expected


def campaign(path: Path) -> campaign_run.Campaign:
    return campaign_run.Campaign(
        numbers=[],
        numbers_file=str(path),
        number_column="number",
        text=None,
        template=MessageTemplate(TEMPLATE),
    )


def run(path: Path, journal: SendJournal, max_workers: int | None = WINDOW) -> campaign_run.CampaignOutcome:
    return campaign_run.run_campaign(
        campaign(path),
        journal,
        now=datetime.now(timezone.utc),
        dry_run=False,
        hook=SmsApiHook,
        max_workers=max_workers,
        log=log,
    )


class Alive:
    """How many of the objects given to :meth:`track` are still alive (weak references)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def track(self, obj: object) -> None:
        with self._lock:
            self.count += 1
        weakref.finalize(obj, self._gone)

    def _gone(self) -> None:
        with self._lock:
            self.count -= 1


class Watch:
    """Counts, at each outcome folded into the report, what the run holds."""

    def __init__(self) -> None:
        self.taken = 0  # rows the send loop took from the planned rows
        self.folded = 0  # outcomes folded into the report
        self.most_ahead = 0  # the most rows taken but not yet folded
        self.rows = Alive()
        self.results = Alive()
        self.most_rows_alive = 0
        self.most_results_alive = 0


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    watch = Watch()
    plan, queue, report = campaign_run.plan, campaign_run._SendQueue, campaign_run.SendReport

    def watched_plan(*args: Any, **kwargs: Any) -> Iterator[PlannedRow]:
        for row in plan(*args, **kwargs):
            watch.rows.track(row)
            yield row

    class WatchedQueue(queue):  # type: ignore[misc,valid-type]
        def __iter__(self) -> Iterator[tuple[str, str, int]]:
            for item in super().__iter__():
                watch.taken += 1
                yield item

    class WatchedReport(report):  # type: ignore[misc,valid-type]
        def add(self, result: SendResult) -> None:
            watch.results.track(result)
            super().add(result)
            # This outcome's row was taken; the others taken are in flight (or just finished).
            watch.most_ahead = max(watch.most_ahead, watch.taken - watch.folded)
            watch.folded += 1
            watch.most_rows_alive = max(watch.most_rows_alive, watch.rows.count)
            watch.most_results_alive = max(watch.most_results_alive, watch.results.count)

    monkeypatch.setattr(campaign_run, "plan", watched_plan)
    monkeypatch.setattr(campaign_run, "_SendQueue", WatchedQueue)
    monkeypatch.setattr(campaign_run, "SendReport", WatchedReport)
    return watch


def test_a_real_run_holds_only_what_is_in_flight(sandbox, monkeypatch, tmp_path: Path, watch: Watch) -> None:
    sandbox.set_rate_limit(1000)
    connect(monkeypatch, sandbox, rate_limit=1000)
    expected = write_list(tmp_path / "list.csv", ROWS)
    journal = SendJournal(ObjectStoragePath(str(tmp_path / "journal")), TaskScope("d", "stream", "send"))

    outcome = run(tmp_path / "list.csv", journal)

    assert outcome.report is not None
    with outcome.report as report:
        xcom = report_for_xcom(report, journal, log)
    # Each person got exactly their own text, once.
    sms = ledger(sandbox, "sms")
    assert Counter((e["number"], e["text"]) for e in sms) == Counter(expected.items())
    # Streamed: never more rows taken than the sends in flight allow, and neither the planned
    # rows nor the results pile up (only those in flight, and the first failures kept for the log).
    assert watch.folded == len(expected)
    assert watch.taken == len(expected)
    assert 1 <= watch.most_ahead <= WINDOW
    assert watch.most_rows_alive <= 2  # the row being planned (the planning pass is over) and the last
    assert watch.most_results_alive <= WINDOW + MAX_LOGGED_FAILURES
    # The report, assembled from its spill files into the file beside the journal.
    assert set(xcom) == {"counts", "already_sent", "full_numbers", "report_path"}
    counts = xcom["counts"]
    assert counts["numbers"] == ROWS > LARGE_LIST
    assert (counts["sent"], counts["refused"], counts["failed"]) == (len(expected), ROWS - len(expected), 0)
    assert counts["segments"] == len(expected)
    full = load_report(xcom)
    assert sorted(full["sent"]) == sorted(e["request_id"] for e in sms)
    assert len(full["refused"]) == ROWS - len(expected)
    assert full["refused"][0] == {
        "row": 100,
        "number": "+4479******99",
        "reason": full["refused"][0]["reason"],
    }
    assert "first_name" in full["refused"][0]["reason"]
    assert (full["deferred"], full["suppressed"], full["segments"]) == ([], [], len(expected))


def test_an_outage_stops_a_campaign_and_a_second_run_sends_the_rest_once(
    sandbox_factory, monkeypatch, tmp_path: Path
) -> None:
    expected = write_list(tmp_path / "list.csv", 400)
    journal_root = ObjectStoragePath(str(tmp_path / "journal"))
    with sandbox_factory(rate_limit=1000) as sb:
        connect(monkeypatch, sb, rate_limit=1000)
        down = _down_after(sb, 150)
        with pytest.raises(ApiUnavailableError, match="the API looks down"):
            run(
                tmp_path / "list.csv",
                SendJournal(journal_root, TaskScope("d", "outage", "send", try_number=1)),
            )
        down.join()
        first = Counter((e["number"], e["text"]) for e in ledger(sb, "sms"))
        assert 150 <= sum(first.values()) < len(expected)  # stopped mid-list
        sb.come_back()

        outcome = run(
            tmp_path / "list.csv", SendJournal(journal_root, TaskScope("d", "outage", "send", try_number=2))
        )

        assert outcome.report is not None
        with outcome.report as report:
            counts = dict(report.counts)
        assert Counter((e["number"], e["text"]) for e in ledger(sb, "sms")) == Counter(expected.items())
        assert counts["sent"] == len(expected)
        assert counts["already_sent"] >= sum(first.values()) - WINDOW  # at most those in flight unanswered
        assert counts["failed"] == counts["unknown"] == 0


def _down_after(sandbox: Any, requests: int) -> Any:
    """A thread taking the sandbox down once it has ``requests`` ledger entries."""
    import time

    def watch() -> None:
        deadline = time.monotonic() + 120
        while len(sandbox.ledger()) < requests and time.monotonic() < deadline:
            time.sleep(0.01)
        sandbox.go_down()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
