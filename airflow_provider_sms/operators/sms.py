"""SendSmsOperator: one text to one number or to many, each person reached at most once."""

from __future__ import annotations

import ast
import csv
import io
import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.numbers import mask_number, normalize_number
from airflow_provider_sms.callbacks import resolve_callback_url_or_fail
from airflow_provider_sms.compat import AirflowException, AirflowFailException
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.journal import Outcome, SendJournal, SendResult, send_once

if TYPE_CHECKING:
    from airflow.sdk import Context

KIND = "sms"
LARGE_LIST = 1000  # above this many numbers, the XCom holds the counts and the path of the full report
MAX_LOGGED_FAILURES = 50


class SendSmsOperator(BaseOperator):
    """Send one SMS text to one number or to a list of numbers.

    Numbers are normalised to E.164 and deduplicated (nobody gets the text twice from one
    task), then sent concurrently at the connection's pace. A send journal (see
    :mod:`airflow_provider_sms.journal`) makes retries and re-runs skip every number already
    sent, and never resend one whose outcome is unknown.

    Returns (XCom) ``{"sent": {number: request_id}, "failed": {number: reason},
    "unknown": [number, ...], "already_sent": n, "counts": {...}}``; ``sent`` includes the
    numbers an earlier try sent (``already_sent`` counts them). The task fails at the end, after
    every good number is sent and journalled, when failed + unknown numbers exceed
    ``max_failure_ratio`` of all numbers.

    :param numbers: one number, a list of numbers (or an XCom of them), or a string of
        numbers separated by commas / newlines. Templated.
    :param text: the message. Templated; keep it the same across retries (it is part of the
        journal key).
    :param sender: sender id (must be validated for the account); default: the connection's
        ``default_sender``. Templated.
    :param callback_url: where delivery receipts go; ``"airflow"`` means this deployment's
        webhook (``[sms_api] webhook_base_url`` / ``webhook_secret``). Templated.
    :param numbers_file: a CSV (with a header row) or text file (one number per line) as an
        ``ObjectStoragePath`` URL or local path, read in addition to ``numbers``. Templated.
    :param number_column: the CSV column holding the numbers.
    :param max_failure_ratio: fraction (0-1) of numbers allowed to fail or be unknown
        without failing the task.
    :param journal_path: root of the send journal; default ``[sms_api] journal_path``, else
        ``$AIRFLOW_HOME/sms_journal``. Templated.
    :param max_workers: concurrent sends (the hook's limiter keeps them under the rate limit).
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    template_fields: Sequence[str] = (
        "numbers",
        "text",
        "sender",
        "callback_url",
        "numbers_file",
        "journal_path",
        "sms_api_conn_id",
    )
    ui_color = "#d8f0e4"

    def __init__(
        self,
        *,
        numbers: str | Iterable[str] | None = None,
        text: str,
        sender: str | None = None,
        callback_url: str | None = None,
        numbers_file: str | None = None,
        number_column: str = "number",
        max_failure_ratio: float = 0.0,
        journal_path: str | None = None,
        max_workers: int = 8,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= max_failure_ratio <= 1.0:
            raise ValueError(f"max_failure_ratio must be between 0 and 1, got {max_failure_ratio!r}")
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
        self.numbers = numbers
        self.text = text
        self.sender = sender
        self.callback_url = callback_url
        self.numbers_file = numbers_file
        self.number_column = number_column
        self.max_failure_ratio = max_failure_ratio
        self.journal_path = journal_path
        self.max_workers = max_workers
        self.sms_api_conn_id = sms_api_conn_id

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        raw = list(numbers_from_value(self.numbers))
        if self.numbers_file:
            raw.extend(numbers_from_file(self.numbers_file, self.number_column))
        targets, invalid = normalize_all(raw)
        reveal = self.hook.settings.log_full_numbers  # fetch the connection once, before any thread
        callback_url = resolve_callback_url_or_fail(self.callback_url)  # never stored: it holds a secret
        if targets:
            self._check_message(targets[0], callback_url)
        for number, reason in invalid.items():
            self.log.warning("Not sending to %s: %s", mask_number(number, reveal=reveal), reason)
        self.log.info(
            "Sending an SMS to %d number(s) (%d duplicate(s) dropped, %d invalid)",
            len(targets),
            len(raw) - len(targets) - len(invalid),
            len(invalid),
        )
        if not targets and not invalid:
            self.log.warning("No numbers to send to: nothing to do")
        journal = SendJournal.for_task(context, self.journal_path)
        results = self._send_all(journal, targets, callback_url, reveal)
        report = build_report(results, invalid)
        xcom = report
        if report["counts"]["numbers"] > LARGE_LIST:
            # XCom lives in the metadata database: keep it small, the full report beside the journal.
            path = journal.write_report(report)
            self.log.info("Full report (request id per number): %s", path)
            xcom = {
                "counts": report["counts"],
                "already_sent": report["already_sent"],
                "report_path": str(path),
            }
        self._log_results(results, reveal)
        counts = report["counts"]
        bad = counts["failed"] + counts["unknown"]
        total = counts["numbers"]
        self.log.info(
            "SMS done: %d sent now, %d already sent earlier, %d failed, %d unknown (of %d numbers)",
            counts["sent"] - counts["already_sent"],
            counts["already_sent"],
            counts["failed"],
            counts["unknown"],
            total,
        )
        if total and bad / total > self.max_failure_ratio:
            # Only unknown outcomes left: a retry would find them in the journal and stop again.
            error = AirflowFailException if counts["failed"] == 0 else AirflowException
            raise error(
                f"{bad} of {total} numbers were not sent ({counts['failed']} failed, {counts['unknown']} "
                f"with an unknown outcome), more than max_failure_ratio={self.max_failure_ratio}. Every "
                "number that could be sent was sent and journalled: a retry sends only the failed "
                "ones, never the unknown ones."
            )
        return xcom

    def _check_message(self, number: str, callback_url: str | None) -> None:
        """Refuse a bad text / sender / callback before anything is sent or journalled."""
        try:
            endpoints.send_sms(number, self.text, self.sender, callback_url)
        except SmsApiError as exc:
            raise AirflowFailException(f"Cannot send this SMS: {exc}") from exc

    def _send_all(
        self, journal: SendJournal, targets: list[str], callback_url: str | None, reveal: bool
    ) -> list[SendResult]:
        if not targets:
            return []
        known = journal.existing_keys()
        self.log.info("Send journal: %s (%d earlier entries)", journal.folder, len(known))
        hook, text, sender = self.hook, self.text, self.sender

        def send_to(number: str) -> SendResult:
            return send_once(
                journal,
                number=number,
                kind=KIND,
                content={"text": text},
                send=lambda: hook.send_sms(number, text, sender, callback_url),
                log=self.log,
                masked=mask_number(number, reveal=reveal),
                known_keys=known,
            )

        workers = min(self.max_workers, len(targets))
        if workers == 1:
            return [send_to(number) for number in targets]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send-sms") as pool:
            return list(pool.map(send_to, targets))

    def _log_results(self, results: list[SendResult], reveal: bool) -> None:
        bad = [r for r in results if not r.ok]
        for result in bad[:MAX_LOGGED_FAILURES]:
            # The error messages already carry masked numbers.
            self.log.warning(
                "%s %s: %s", mask_number(result.number, reveal=reveal), result.outcome.value, result.error
            )
        if len(bad) > MAX_LOGGED_FAILURES:
            self.log.warning("... and %d more numbers not sent", len(bad) - MAX_LOGGED_FAILURES)


def numbers_from_value(value: object) -> Iterable[str]:
    """The numbers in an operator argument: a number, a list, an XCom sequence, or a string list."""
    if value is None:
        return []
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value).strip()
        if text.startswith("["):  # a list rendered as text: JSON, or Python's repr of a list
            parsed: object = None
            for parse in (json.loads, ast.literal_eval):
                try:
                    parsed = parse(text)
                    break
                except (ValueError, SyntaxError):
                    continue
            if isinstance(parsed, (list, tuple)):
                return [str(item) for item in parsed]
        return [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    if isinstance(value, dict):
        raise TypeError("numbers must be a number or a list of numbers, not a dict")
    if isinstance(value, Iterable):
        out: list[str] = []
        for item in value:
            out.extend(numbers_from_value(item))
        return out
    raise TypeError(f"numbers must be a number or a list of numbers, got {type(value).__name__}")


def numbers_from_file(location: str, column: str = "number") -> list[str]:
    """Read numbers from a CSV file with a header row (``column``) or a text file (one per line).

    :param location: an ``ObjectStoragePath`` URL (``s3://...``, ``file://...``) or a local path.
    """
    path = ObjectStoragePath(location)
    content = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(content))
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise AirflowFailException(
                f"{location}: no column {column!r} in the header {reader.fieldnames!r} (set number_column)"
            )
        return [row[column].strip() for row in reader if (row.get(column) or "").strip()]
    return [
        line.strip() for line in content.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def normalize_all(raw: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """(E.164 numbers without duplicates, in first-seen order; {given number: why it is invalid})."""
    seen: dict[str, None] = {}
    invalid: dict[str, str] = {}
    for number in raw:
        try:
            seen.setdefault(normalize_number(number), None)
        except SmsApiError as exc:
            invalid[str(number)] = str(exc)
    return list(seen), invalid


def load_report(xcom: dict[str, Any]) -> dict[str, Any]:
    """The full report of a :class:`SendSmsOperator` from its XCom, in either form.

    Up to ``LARGE_LIST`` numbers the XCom is the report; above, it names the JSON file
    (``report_path``) that holds it.
    """
    if "report_path" in xcom:
        return json.loads(ObjectStoragePath(xcom["report_path"]).read_text())
    return xcom


def build_report(results: list[SendResult], invalid: dict[str, str]) -> dict[str, Any]:
    """The operator's full report: JSON-serialisable, one entry per number."""
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


__all__ = ["SendSmsOperator", "load_report"]
