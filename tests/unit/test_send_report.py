"""SendReport: the report folded as outcomes arrive, read back whole or streamed into its file."""

from __future__ import annotations

import json
import logging

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.sending.entries import Outcome, SendResult, TaskScope
from airflow_provider_sms.sending.journal import SendJournal
from airflow_provider_sms.sending.report import (
    LARGE_LIST,
    MAX_LOGGED_FAILURES,
    SendReport,
    load_report,
    report_for_xcom,
)


def results(n: int) -> list[SendResult]:
    outcomes = [Outcome.SENT, Outcome.ALREADY_SENT, Outcome.FAILED, Outcome.UNKNOWN, Outcome.ELSEWHERE]
    return [
        SendResult(outcomes[i % 5], f"+447911{i:06d}", f"r{i}" if i % 5 < 2 else None, error=f"e{i}")
        for i in range(n)
    ]


def test_the_streamed_report_file_is_the_report(tmp_path) -> None:
    journal = SendJournal(ObjectStoragePath(str(tmp_path)), TaskScope("d", "r", "t"))
    with SendReport(lists=("refused", "deferred")) as report:
        report.add_invalid("+4479", "too short")
        for result in results(LARGE_LIST + 5):
            report.add(result)
        report.add_listed("refused", {"row": 7, "number": "+4479******07", "reason": "no {name}"})
        report.figures["segments"] = 9
        whole = report.to_dict()
        xcom = report_for_xcom(report, journal, logging.getLogger(__name__))

    assert set(xcom) == {"counts", "already_sent", "full_numbers", "report_path"}
    text = ObjectStoragePath(xcom["report_path"]).read_text()
    # The same JSON as the report written whole (its keys sorted), but `sent` in the order added.
    assert json.loads(text) == whole
    assert list(json.loads(text)) == sorted(whole)
    assert list(json.loads(text)["sent"]) == list(whole["sent"])
    assert load_report(xcom) == whole
    assert whole["counts"] == {
        "numbers": LARGE_LIST + 6,
        "sent": 402,
        "already_sent": 201,
        "failed": 202,
        "unknown": 201,
        "elsewhere": 201,
    }
    assert whole["failed"][0] == {"number": "+****", "reason": "too short"}
    assert whole["refused"] == [{"row": 7, "number": "+4479******07", "reason": "no {name}"}]
    assert (whole["deferred"], whole["segments"]) == ([], 9)


def test_a_small_report_stays_in_xcom_and_the_log_names_the_first_failures(tmp_path, caplog) -> None:
    journal = SendJournal(ObjectStoragePath(str(tmp_path)), TaskScope("d", "r", "t"))
    with SendReport() as report:
        for result in results(200):
            report.add(result)
        xcom = report_for_xcom(report, journal, logging.getLogger(__name__))
        with caplog.at_level(logging.WARNING):
            report.log_failures(logging.getLogger("failures"), reveal=False)
        summary = report.summary_source()
    assert "report_path" not in xcom
    assert len(xcom["sent"]) == 80
    assert not journal.report_path.exists()
    warnings = [r.getMessage() for r in caplog.records if r.name == "failures"]
    assert len(warnings) == MAX_LOGGED_FAILURES + 1
    assert warnings[-1] == f"... and {120 - MAX_LOGGED_FAILURES} more numbers not sent"
    assert summary["counts"] is report.counts
    assert len(summary["sent"]) == 80
