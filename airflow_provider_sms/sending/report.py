"""The report of a list send: one entry per number, small enough for XCom or written beside the journal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.sending.entries import Outcome, SendResult

if TYPE_CHECKING:
    import logging

    from airflow_provider_sms.sending.journal import SendJournal

LARGE_LIST = 1000  # above this many numbers, the XCom holds the counts and the path of the full report
MAX_LOGGED_FAILURES = 50


def build_report(results: list[SendResult], invalid: dict[str, str]) -> dict[str, Any]:
    """The full report: JSON-serialisable, one entry per number.

    ``{"sent": {number: request_id}, "failed": {number: reason}, "unknown": [number, ...],
    "already_sent": n, "counts": {...}}``; ``sent`` includes the numbers an earlier try sent
    (``already_sent`` counts them), ``failed`` the invalid ones.

    :param results: the outcome of each number sent to.
    :param invalid: ``{value as given: why it is not a number}``.
    """
    sent = {r.number: r.request_id for r in results if r.ok}
    failed = dict(invalid)
    for r in results:
        if r.outcome is Outcome.FAILED:
            failed[r.number] = r.error or "failed"
    unknown = [r.number for r in results if r.outcome is Outcome.UNKNOWN]
    already = sum(r.outcome is Outcome.ALREADY_SENT for r in results)
    return {
        "sent": sent,
        "failed": failed,
        "unknown": unknown,
        "already_sent": already,
        "counts": {
            "numbers": len(results) + len(invalid),
            "sent": len(sent),
            "already_sent": already,
            "failed": len(failed),
            "unknown": len(unknown),
        },
    }


def report_for_xcom(
    report: dict[str, Any], journal: SendJournal, log: logging.Logger | Any
) -> dict[str, Any]:
    """The report itself, or above :data:`LARGE_LIST` numbers its counts and the path of its file.

    XCom lives in the metadata database: a large report goes beside the journal instead.
    """
    if report["counts"]["numbers"] <= LARGE_LIST:
        return report
    path = journal.write_report(report)
    log.info("Full report (request id per number): %s", path)
    return {"counts": report["counts"], "already_sent": report["already_sent"], "report_path": str(path)}


def load_report(xcom: dict[str, Any]) -> dict[str, Any]:
    """The full report of a :class:`~airflow_provider_sms.operators.sms.SendSmsOperator` from its XCom.

    Up to ``LARGE_LIST`` numbers the XCom is the report; above, it names the JSON file
    (``report_path``) that holds it.
    """
    if "report_path" in xcom:
        return json.loads(ObjectStoragePath(xcom["report_path"]).read_text())
    return xcom


def log_failures(log: logging.Logger | Any, results: list[SendResult], reveal: bool) -> None:
    """Log the numbers not sent (the first :data:`MAX_LOGGED_FAILURES`), masked unless ``reveal``."""
    bad = [r for r in results if not r.ok]
    for result in bad[:MAX_LOGGED_FAILURES]:
        # The error messages already carry masked numbers.
        masked = mask_number(result.number, reveal=reveal)
        log.warning("%s %s: %s", masked, result.outcome.value, result.error)
    if len(bad) > MAX_LOGGED_FAILURES:
        log.warning("... and %d more numbers not sent", len(bad) - MAX_LOGGED_FAILURES)


__all__ = ["LARGE_LIST", "build_report", "load_report", "log_failures", "report_for_xcom"]
