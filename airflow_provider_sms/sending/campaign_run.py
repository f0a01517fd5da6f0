"""One execution of a campaign (``SendSmsOperator`` with ``message_template``, ``dry_run``,
``suppression_list``, ``quiet_hours`` or ``send_deadline``): plan every row, then preview or send.

A real run plans the whole list first (counts logged before the first paid request; the rows to
send go to a local spill file), then streams those rows into the send loop
(:func:`~.sms.send_each`, a bounded window ahead of the sends) and folds each outcome into the
report as it arrives (:class:`~.report.SendReport`): nothing per row stays in memory but the
sends in flight (the journal's one listing of its folder aside: docs/sending.md). When rows
were deferred by quiet hours, :class:`CampaignOutcome` says when the earliest window opens; the
operator defers until then and runs again: the rows sent before are in the journal (reported as
already sent, not sent again), the deferred ones go out now.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.templates import MessageTemplate, Rendered
from airflow_provider_sms.exceptions import CampaignInputError, SmsApiError
from airflow_provider_sms.sending.campaign import (
    CampaignCounts,
    CampaignRules,
    PlannedRow,
    PreviewWriter,
    RowSource,
    Verdict,
    plan,
)
from airflow_provider_sms.sending.entries import EntryStatus
from airflow_provider_sms.sending.quiet_hours import QuietHours
from airflow_provider_sms.sending.report import SendReport
from airflow_provider_sms.sending.sms import KIND, Addressed, SmsMessage, send_each
from airflow_provider_sms.sending.suppression import read_suppression_list, suppression_list_path

CAMPAIGN_LISTS = ("refused", "deferred", "suppressed")  # the report's lists a campaign adds

if TYPE_CHECKING:
    import logging

    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.sending.journal import SendJournal


@dataclass(frozen=True)
class Campaign:
    """A campaign's rendered settings (the operator's arguments after Jinja).

    :param numbers: numbers given directly (only with a fixed ``text``).
    :param numbers_file: the list (CSV with a header row, or one number per line).
    :param number_column: the CSV column holding the numbers.
    :param text: one text for every row, or ``None`` with ``template``.
    :param template: the personal template, or ``None`` with ``text``.
    :param sender: sender id, or ``None``.
    :param callback_url: where delivery receipts go (resolved), or ``None``.
    :param max_segments: the longest message allowed.
    :param suppression_list: the suppression list's location, or ``None``.
    :param quiet_hours: the quiet window, or ``None``.
    :param deadline: nothing is sent after it, or ``None``.
    :param full_numbers: name full numbers in the report (``xcom_full_numbers``).
    """

    numbers: list[str]
    numbers_file: str | None
    number_column: str
    text: str | None
    template: MessageTemplate | None
    sender: str | None = None
    callback_url: str | None = field(default=None, repr=False)
    max_segments: int = 3
    suppression_list: str | None = None
    quiet_hours: QuietHours | None = None
    deadline: datetime | None = None
    full_numbers: bool = False

    def rows(self) -> Iterable[dict[str, str]]:
        """The list's rows, streamed (numbers given directly first)."""
        given = ({self.number_column: n} for n in self.numbers)
        if not self.numbers_file:
            return given
        source = RowSource(self.numbers_file, self.number_column)
        if self.template is not None:
            source.check_template(self.template)
        return itertools.chain(given, source)

    def renderer(self) -> Callable[[dict[str, str]], Rendered]:
        if self.template is not None:
            return self.template.render
        fixed = Rendered(self.text)
        return lambda row: fixed


@dataclass
class CampaignOutcome:
    """What one execution did: the counts, and the report or the preview.

    :param counts: the plan's counts.
    :param report: the send report (a real run), or ``None``.
    :param preview_path: the preview file (a dry run), or ``None``.
    :param resume_at: when to run again for the deferred rows (``None``: nothing deferred).
    :param reveal: whether logs may show full numbers.

    The report's spill files are the caller's to remove (:meth:`SendReport.close`).
    """

    counts: CampaignCounts
    report: SendReport | None = None
    preview_path: str | None = None
    resume_at: datetime | None = None
    reveal: bool = False


def describe(counts: CampaignCounts) -> str:
    """The counts in one log line."""
    encodings = ", ".join(f"{n} {name}" for name, n in sorted(counts.by_encoding.items())) or "none"
    return (
        f"{counts.rows} rows: {counts.send_now} to send now, {counts.deferred} deferred by quiet hours, "
        f"{counts.invalid} invalid, {counts.suppressed} suppressed, {counts.refused} refused, "
        f"{counts.duplicates} duplicates; {counts.recipients} messages, {counts.segments} segments "
        f"({encodings})"
    )


def run_campaign(
    campaign: Campaign,
    journal: SendJournal,
    *,
    now: datetime,
    dry_run: bool,
    hook: Callable[[], SmsApiHook],
    max_workers: int | None,
    log: logging.Logger | Any,
    reveal: Callable[[], bool] = lambda: False,
) -> CampaignOutcome:
    """Plan every row, then write the preview (``dry_run``) or send and report.

    :param campaign: the settings.
    :param journal: the task instance's journal (the preview goes beside its report).
    :param now: the current time (UTC; the operator's clock).
    :param dry_run: preview only: no paid request, no journal entry.
    :param hook: the hook, fetched only for a real run.
    :param max_workers: the most sends in flight (an upper bound; ``None``: up to 512).
    :param log: the task's logger.
    :param reveal: whether logs may show full numbers (the connection's ``log_full_numbers``).
    """
    suppressed: frozenset[str] = frozenset()
    if campaign.suppression_list:
        path = suppression_list_path(campaign.suppression_list)
        if not path.exists():
            raise CampaignInputError(f"suppression_list {campaign.suppression_list!r} does not exist")
        suppressed = frozenset(read_suppression_list(path))
        log.info("Suppression list %s: %d numbers", path, len(suppressed))
    sent_before = None
    if not dry_run and (campaign.quiet_hours is not None or campaign.deadline is not None):
        sent_before = _journal_sent(journal)
    rules = CampaignRules(
        render=campaign.renderer(),
        max_segments=campaign.max_segments,
        suppressed=suppressed,
        quiet_hours=campaign.quiet_hours,
        deadline=campaign.deadline,
        sent_before=sent_before,
    )
    counts = CampaignCounts()
    planned = plan(campaign.rows(), campaign.number_column, rules, now)
    if dry_run:
        preview = PreviewWriter(journal.store.folder / f"{journal.scope.map_index}.preview.csv")
        try:
            for row in planned:
                counts.add(row)
                preview.write(row)
        finally:
            preview.close()
        log.info("Dry run, nothing sent: %s", describe(counts))
        log.info("Preview (rendered texts are personal data): %s", preview.path)
        return CampaignOutcome(counts, preview_path=str(preview.path))
    return _send(campaign, journal, planned, counts, hook, max_workers, log, reveal)


def _send(
    campaign: Campaign,
    journal: SendJournal,
    planned: Iterator[PlannedRow],
    counts: CampaignCounts,
    hook: Callable[[], SmsApiHook],
    max_workers: int | None,
    log: logging.Logger | Any,
    reveal: Callable[[], bool],
) -> CampaignOutcome:
    """Plan every row into the spill files, log the counts, then stream the sends and fold their outcomes."""
    shown = lambda number: mask_number(number, reveal=campaign.full_numbers)  # noqa: E731
    report = SendReport(full_numbers=campaign.full_numbers, lists=CAMPAIGN_LISTS)
    try:
        with _SendQueue() as queue:
            for row in planned:
                counts.add(row)
                if row.verdict is Verdict.SEND:
                    queue.add(row)
                elif row.verdict is Verdict.INVALID:
                    report.add_invalid(row.given or f"(row {row.row})", row.reason)
                elif row.verdict is Verdict.REFUSED:
                    entry = {"row": row.row, "number": shown(row.number or row.given), "reason": row.reason}
                    report.add_listed("refused", entry)
                elif row.verdict is Verdict.DEFERRED:
                    report.add_listed("deferred", shown(row.number))
                elif row.verdict is Verdict.SUPPRESSED:
                    report.add_listed("suppressed", shown(row.number))
            log.info("Campaign: %s", describe(counts))
            message = partial(SmsMessage, sender=campaign.sender, callback_url=campaign.callback_url)
            if queue.first is not None:  # a bad sender / callback: refused before anything is sent
                number, text = queue.first
                try:
                    message(text).request(number)
                except SmsApiError as exc:
                    raise CampaignInputError(f"Cannot send this SMS: {exc}") from exc
            shown_in_logs = reveal() if queue.count else False
            segments = 0
            if queue.count:
                items = (Addressed(number, message(text), size) for number, text, size in queue)
                for item, result in send_each(
                    hook(), journal, items, total=queue.count, max_workers=max_workers, reveal=shown_in_logs
                ):
                    report.add(result)
                    if result.ok:
                        segments += item.segments
    except BaseException:
        report.close()
        raise
    report.figures["segments"] = segments
    report.counts.update(
        numbers=counts.rows,
        duplicates=counts.duplicates,
        segments=segments,
        **report.listed,
    )
    resume_at = counts.earliest_opening if report.listed["deferred"] else None
    return CampaignOutcome(counts, report=report, resume_at=resume_at, reveal=shown_in_logs)


class _SendQueue:
    """The rows to send, planned before the first send: one JSON line each in a local temporary file.

    The whole list is planned (and its counts logged) before anything is paid for; the rows to
    send then stream from this file into the send loop, a bounded window ahead of the sends.
    """

    def __init__(self) -> None:
        self._file: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="sms-campaign-")  # noqa: SIM115 (closed by __exit__)
        self.count = 0
        self.first: tuple[str, str] | None = None

    def add(self, row: PlannedRow) -> None:
        number, text = str(row.number), str(row.text)
        if self.first is None:
            self.first = (number, text)
        self._file.write(json.dumps([number, text, row.segments]) + "\n")
        self.count += 1

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            number, text, segments = json.loads(line)
            yield number, text, segments

    def __enter__(self) -> _SendQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _journal_sent(journal: SendJournal) -> Callable[[str, str], bool]:
    """Whether the journal holds a ``sent`` entry for (number, text): one listing, then a read per hit."""
    existing: set[str] | None = None

    def sent(number: str, text: str) -> bool:
        nonlocal existing
        if existing is None:
            existing = journal.existing_keys()
        key = journal.key(number, KIND, {"text": text})
        if key not in existing:
            return False
        entry = journal.read(key)
        return entry is not None and entry.status is EntryStatus.SENT

    return sent


__all__ = ["Campaign", "CampaignOutcome", "describe", "run_campaign"]
