"""The report of a list send: one entry per number, small enough for XCom or written beside the journal.

It names numbers masked (``+4479******56``) unless the operator's ``xcom_full_numbers`` asks
for them in full: XCom lives in the metadata database and shows in the UI. The full report of a
large list, written beside the journal, follows the same switch.
"""

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


def build_report(
    results: list[SendResult], invalid: dict[str, str], *, full_numbers: bool = False
) -> dict[str, Any]:
    """The full report: JSON-serialisable, one entry per number, numbers masked unless ``full_numbers``.

    ``{"sent": {request_id: number}, "failed": [{"number": ..., "reason": ...}], "unknown":
    [number, ...], "elsewhere": [number, ...], "already_sent": n, "counts": {...},
    "full_numbers": bool}``. ``sent`` is keyed by request id (what delivery receipts carry;
    unique, where masked numbers may collide) and includes the numbers sent before this try, by
    an earlier try or by another map index (``already_sent`` counts them); ``failed`` includes
    the invalid values; ``elsewhere`` lists the numbers another map index of the task is
    sending (it reports them).

    :param results: the outcome of each number sent to.
    :param invalid: ``{value as given: why it is not a number}`` (the reasons mask the value).
    :param full_numbers: name each number in full (the operator's ``xcom_full_numbers``).
    """

    def shown(number: str) -> str:
        return mask_number(number, reveal=full_numbers)

    sent = {str(r.request_id): shown(r.number) for r in results if r.ok}
    failed = [{"number": shown(given), "reason": reason} for given, reason in invalid.items()]
    failed += [
        {"number": shown(r.number), "reason": r.error or "failed"}
        for r in results
        if r.outcome is Outcome.FAILED
    ]
    unknown = [shown(r.number) for r in results if r.outcome is Outcome.UNKNOWN]
    elsewhere = [shown(r.number) for r in results if r.outcome is Outcome.ELSEWHERE]
    already = sum(r.outcome is Outcome.ALREADY_SENT for r in results)
    return {
        "sent": sent,
        "failed": failed,
        "unknown": unknown,
        "elsewhere": elsewhere,
        "already_sent": already,
        "full_numbers": full_numbers,
        "counts": {
            "numbers": len(results) + len(invalid),
            "sent": len(sent),
            "already_sent": already,
            "failed": len(failed),
            "unknown": len(unknown),
            "elsewhere": len(elsewhere),
        },
    }


def request_ids(report: dict[str, Any]) -> list[str]:
    """The request ids of the numbers a report counts as sent (from the XCom or the full report)."""
    return list(load_report(report)["sent"])


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
    return {
        "counts": report["counts"],
        "already_sent": report["already_sent"],
        "full_numbers": report["full_numbers"],
        "report_path": str(path),
    }


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


__all__ = ["LARGE_LIST", "build_report", "load_report", "log_failures", "report_for_xcom", "request_ids"]
