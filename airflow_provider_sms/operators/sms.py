"""SendSmsOperator: one text to one number or to many, each person reached at most once.

The work is done by :mod:`airflow_provider_sms.sending`: reading and normalising the numbers
(:mod:`~airflow_provider_sms.sending.recipients`), sending through the journal
(:mod:`~airflow_provider_sms.sending.sms`), the report (:mod:`~airflow_provider_sms.sending.report`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.templates import MessageTemplate
from airflow_provider_sms.compat import AirflowException, AirflowFailException
from airflow_provider_sms.exceptions import CampaignInputError, SmsApiError
from airflow_provider_sms.failures import fails_fast
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.privacy import PrivateRenderingMixin
from airflow_provider_sms.sending.callbacks import resolve_callback_url_or_fail
from airflow_provider_sms.sending.campaign_run import Campaign, run_campaign
from airflow_provider_sms.sending.journal import SendJournal
from airflow_provider_sms.sending.quiet_hours import QuietHours
from airflow_provider_sms.sending.recipients import (
    Recipients,
    normalize_recipients,
    numbers_from_file,
    numbers_from_value,
)
from airflow_provider_sms.sending.report import SendReport, load_report, report_for_xcom
from airflow_provider_sms.sending.report import build_report as build_report  # re-exported (older imports)
from airflow_provider_sms.sending.sms import SmsMessage, send_sms_to_all
from airflow_provider_sms.summaries import SMS_SUMMARIES, add_summary_outlet, publish_summary, sms_summary
from airflow_provider_sms.triggers.quiet_hours import wait_until

if TYPE_CHECKING:
    from airflow.sdk import Context


class SendSmsOperator(PrivateRenderingMixin, BaseOperator):
    """Send one SMS text to one number or to a list of numbers.

    Numbers are normalised to E.164 and deduplicated (nobody gets the text twice from one
    task), then sent concurrently at the connection's pace. A send journal (see
    :mod:`airflow_provider_sms.sending.journal`) makes retries, re-runs and the other mapped
    instances of the task skip every number already sent, and never resend one whose outcome is
    unknown.

    Returns (XCom) ``{"sent": {request_id: number}, "failed": [{"number", "reason"}],
    "unknown": [number, ...], "elsewhere": [number, ...], "already_sent": n, "counts": {...},
    "full_numbers": bool}``, numbers masked unless ``xcom_full_numbers``; ``sent`` includes the
    numbers sent before this try (``already_sent`` counts them). The task fails at the end,
    after every good number is sent and journalled, when failed + unknown numbers exceed
    ``max_failure_ratio`` of all numbers. A fatal error (credentials, connection, TLS) or the
    API going down stops the list early whatever ``max_failure_ratio`` says (docs/failures.md).
    The rendered ``numbers`` show masked unless the connection sets ``log_full_numbers``.

    :param numbers: one number, a list of numbers (or an XCom of them), or a string of
        numbers separated by commas / newlines. Templated.
    :param text: the message. Templated; keep it the same across retries (it is part of the
        journal key).
    :param text_is_secret: the text carries a one-time code: hide it in the rendered fields and
        mask it in the task log.
    :param xcom_full_numbers: name full numbers in the XCom (and the report file of a large
        list), for a downstream task that needs them; by default they are masked.
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
        ``<[sms_api] data_path>/journal``. Templated.
    :param max_workers: the most sends in flight at once, an upper bound: the count follows
        the rate limit and the measured answer time (the hook's limiter keeps them under the
        rate limit); ``None`` (default): up to 512.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    :param message_template: a personal text per row of ``numbers_file`` (exclusive with
        ``text``): ``"Hi {first_name}, your order {order_id} ships today"``, plain ``{column}``
        placeholders only. Templated (Jinja first). See docs/sending.md, "Campaigns".
    :param max_segments: refuse (per row, before sending) a message longer than this many SMS
        segments.
    :param dry_run: read, render, validate and count, write a preview beside the report, send
        nothing; returns the counts and the preview's path.
    :param suppression_list: a CSV of numbers never to text (e.g. the opt-out list). Templated.
    :param quiet_hours: ``("21:00", "08:00")``: nobody is texted while their local time (from the
        number) is in that window; the task defers until the window opens and sends them then.
    :param send_deadline: a datetime (or ISO-8601 string, UTC when naive) after which nothing is
        sent: recipients whose window opens later are reported not sent. Templated.
    :param clock: returns the current time (UTC, aware); for tests. Default: the system clock.
    """

    template_fields: Sequence[str] = (
        "numbers",
        "text",
        "sender",
        "callback_url",
        "numbers_file",
        "journal_path",
        "sms_api_conn_id",
        "message_template",
        "suppression_list",
        "send_deadline",
    )
    ui_color = "#d8f0e4"
    number_fields = ("numbers",)

    def __init__(
        self,
        *,
        numbers: str | Iterable[str] | None = None,
        text: str | None = None,
        text_is_secret: bool = False,
        xcom_full_numbers: bool = False,
        sender: str | None = None,
        callback_url: str | None = None,
        numbers_file: str | None = None,
        number_column: str = "number",
        max_failure_ratio: float = 0.0,
        journal_path: str | None = None,
        max_workers: int | None = None,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
        message_template: str | None = None,
        max_segments: int = 3,
        dry_run: bool = False,
        suppression_list: str | None = None,
        quiet_hours: tuple[str, str] | str | None = None,
        send_deadline: datetime | str | None = None,
        clock: Callable[[], datetime] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (text is None) == (message_template is None):
            raise ValueError("give exactly one of text and message_template")
        if message_template is not None and not numbers_file:
            raise ValueError("message_template needs numbers_file (its rows fill the placeholders)")
        if message_template is not None and numbers is not None:
            raise ValueError("message_template takes its numbers from numbers_file, not numbers")
        if max_segments < 1:
            raise ValueError(f"max_segments must be at least 1, got {max_segments!r}")
        self.message_template = message_template
        self.max_segments = max_segments
        self.preview_only = dry_run
        self.suppression_list = suppression_list
        self.quiet_hours = QuietHours.of(quiet_hours)
        self.send_deadline = send_deadline
        self.clock = clock
        if not 0.0 <= max_failure_ratio <= 1.0:
            raise ValueError(f"max_failure_ratio must be between 0 and 1, got {max_failure_ratio!r}")
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}")
        self.numbers = numbers
        self.text = text
        self.text_is_secret = text_is_secret
        self.xcom_full_numbers = xcom_full_numbers
        self.sender = sender
        self.callback_url = callback_url
        self.numbers_file = numbers_file
        self.number_column = number_column
        self.max_failure_ratio = max_failure_ratio
        self.journal_path = journal_path
        self.max_workers = max_workers
        self.sms_api_conn_id = sms_api_conn_id
        add_summary_outlet(self, SMS_SUMMARIES)

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def secret_field_names(self) -> tuple[str, ...]:
        return ("text",) if self.text_is_secret else ()

    @property
    def is_campaign(self) -> bool:
        """Whether this task plans its rows first (personal texts, preview, suppression, quiet hours)."""
        return bool(
            self.message_template is not None
            or self.preview_only
            or self.suppression_list
            or self.quiet_hours is not None
            or self.send_deadline
        )

    @fails_fast("Sending the SMS")
    def execute(self, context: Context) -> dict[str, Any]:
        if self.is_campaign:
            return self._execute_campaign(context)
        recipients = self._recipients()
        reveal = self.hook.settings.log_full_numbers  # fetch the connection once, before any thread
        callback_url = resolve_callback_url_or_fail(self.callback_url)  # never stored: it holds a secret
        message = SmsMessage(self.rendered("text"), self.sender, callback_url)
        if recipients.numbers:
            try:  # refuse a bad text / sender / callback before anything is sent or journalled
                message.request(recipients.numbers[0])
            except SmsApiError as exc:
                raise AirflowFailException(f"Cannot send this SMS: {exc}") from exc
        for number, reason in recipients.invalid.items():
            self.log.warning("Not sending to %s: %s", mask_number(number, reveal=reveal), reason)
        self.log.info(
            "Sending an SMS to %d number(s) (%d duplicate(s) dropped, %d invalid)",
            len(recipients.numbers),
            recipients.duplicates,
            len(recipients.invalid),
        )
        if not recipients.given:
            self.log.warning("No numbers to send to: nothing to do")
        journal = SendJournal.for_task(context, self.journal_path, log=self.log)
        results = send_sms_to_all(
            self.hook, journal, recipients.numbers, message, max_workers=self.max_workers, reveal=reveal
        )
        report = SendReport.of(results, recipients.invalid, full_numbers=self.xcom_full_numbers)
        return self._finish(context, report, journal, reveal)

    def _finish(
        self, context: Context, report: SendReport, journal: SendJournal, reveal: bool
    ) -> dict[str, Any]:
        """Publish the summary, log the failures, fail above ``max_failure_ratio``; the XCom."""
        with report:
            publish_summary(context, SMS_SUMMARIES, sms_summary(report.summary_source()))
            xcom = report_for_xcom(report, journal, self.log)
            report.log_failures(self.log, reveal)
        counts = report.counts
        bad = counts["failed"] + counts["unknown"]
        total = counts["numbers"]
        self.log.info(
            "SMS done: %d sent now, %d already sent earlier, %d failed, %d unknown, %d being sent by "
            "another map index (of %d numbers)",
            counts["sent"] - counts["already_sent"],
            counts["already_sent"],
            counts["failed"],
            counts["unknown"],
            counts["elsewhere"],
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

    @fails_fast("Sending the SMS")
    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after quiet hours: plan again; the journal skips whoever was sent before."""
        return self._execute_campaign(context)

    def _execute_campaign(self, context: Context) -> dict[str, Any]:
        now = self.clock() if self.clock else system_clock()
        try:
            campaign = self._campaign()
            journal = SendJournal.for_task(context, self.journal_path, log=self.log)
            outcome = run_campaign(
                campaign,
                journal,
                now=now,
                dry_run=self.preview_only,
                hook=lambda: self.hook,
                max_workers=self.max_workers,
                log=self.log,
                reveal=lambda: self.hook.settings.log_full_numbers,
            )
        except CampaignInputError as exc:  # a bad template, list or option: no retry can fix it
            raise AirflowFailException(str(exc)) from exc
        if outcome.report is None:
            return {"dry_run": True, "counts": outcome.counts.to_dict(), "preview_path": outcome.preview_path}
        report = outcome.report
        if outcome.resume_at is not None:
            report.close()
            # Real time to wait: the clock may be a test's, ahead of or behind the system clock.
            resume = datetime.now(timezone.utc) + (outcome.resume_at - now)
            self.log.info(
                "%d recipient(s) in quiet hours: deferring until %s (sent now: %d)",
                report.counts["deferred"],
                outcome.resume_at.isoformat(),
                report.counts["sent"] - report.counts["already_sent"],
            )
            self.defer(trigger=wait_until(resume), method_name="execute_complete")
        return self._finish(context, report, journal, outcome.reveal)

    def _campaign(self) -> Campaign:
        template = self.rendered("message_template")
        deadline = self.rendered("send_deadline")
        if isinstance(deadline, str) and deadline.strip():
            try:
                deadline = datetime.fromisoformat(deadline.strip())
            except ValueError as exc:
                raise CampaignInputError(f"send_deadline {deadline!r} is not an ISO-8601 datetime") from exc
        if isinstance(deadline, datetime) and deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=timezone.utc)
        return Campaign(
            numbers=numbers_from_value(self.rendered("numbers")),
            numbers_file=self.rendered("numbers_file") or None,
            number_column=self.number_column,
            text=self.rendered("text"),
            template=MessageTemplate(template) if template is not None else None,
            sender=self.rendered("sender"),
            callback_url=None if self.preview_only else resolve_callback_url_or_fail(self.callback_url),
            max_segments=self.max_segments,
            suppression_list=self.rendered("suppression_list") or None,
            quiet_hours=self.quiet_hours,
            deadline=deadline or None,
            full_numbers=self.xcom_full_numbers,
        )

    def _recipients(self) -> Recipients:
        raw = numbers_from_value(self.rendered("numbers"))
        if self.numbers_file:
            raw.extend(numbers_from_file(self.numbers_file, self.number_column))
        return normalize_recipients(raw)


def system_clock() -> datetime:
    """The current time (UTC): the quiet hours' clock unless the operator is given ``clock=``."""
    return datetime.now(timezone.utc)


__all__ = ["SendSmsOperator", "load_report"]
