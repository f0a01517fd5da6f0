"""The report of a list send: one entry per number, small enough for XCom or written beside the journal.

It names numbers masked (``+4479******56``) unless the operator's ``xcom_full_numbers`` asks
for them in full: XCom lives in the metadata database and shows in the UI. The full report of a
large list, written beside the journal, follows the same switch.

:class:`SendReport` folds each outcome in as it arrives: the counts stay in memory, the entries
go to spill files in a local temporary folder (one JSON value per line and list), and the
report is assembled from them at the end, streamed into the file beside the journal when the
list is large (:data:`LARGE_LIST`). Memory does not grow with the list.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.sending.entries import Outcome, SendResult
from airflow_provider_sms.summaries import MAX_RECEIPT_KEYS

if TYPE_CHECKING:
    import logging

    from airflow_provider_sms.sending.journal import SendJournal

LARGE_LIST = 1000  # above this many numbers, the XCom holds the counts and the path of the full report
MAX_LOGGED_FAILURES = 50

_LISTS = ("failed", "unknown", "elsewhere")
_BY_OUTCOME = {Outcome.UNKNOWN: "unknown", Outcome.ELSEWHERE: "elsewhere"}


class SendReport:
    """The report of one list send, built as the outcomes arrive (flat memory).

    ``{"sent": {request_id: number}, "failed": [{"number": ..., "reason": ...}], "unknown":
    [number, ...], "elsewhere": [number, ...], "already_sent": n, "counts": {...},
    "full_numbers": bool}`` (plus a campaign's lists and figures: :meth:`add_listed`,
    :attr:`figures`). ``sent`` is keyed by request id (what delivery receipts carry; unique,
    where masked numbers may collide) and includes the numbers sent before this try, by an
    earlier try or by another map index (``already_sent`` counts them); ``failed`` includes the
    invalid values; ``elsewhere`` lists the numbers another map index of the task is sending
    (it reports them). Entries are in the order they were added.

    :param full_numbers: name each number in full (the operator's ``xcom_full_numbers``).
    :param lists: the campaign's extra lists (``refused``, ``deferred``, ``suppressed``).
    """

    def __init__(self, *, full_numbers: bool = False, lists: Sequence[str] = ()) -> None:
        self.full_numbers = full_numbers
        self.counts: dict[str, int] = dict.fromkeys(
            ("numbers", "sent", "already_sent", "failed", "unknown", "elsewhere"), 0
        )
        #: Top-level figures beside the lists (a campaign's ``segments``).
        self.figures: dict[str, int] = {}
        self.listed = {name: 0 for name in lists}  # entries per extra list
        self._folder = tempfile.TemporaryDirectory(prefix="sms-report-")
        self._names = ("sent", *_LISTS, *lists)
        self._files: dict[str, IO[str]] = {
            name: (Path(self._folder.name) / f"{name}.jsonl").open("w+", encoding="utf-8")
            for name in self._names
        }
        self._not_sent: list[SendResult] = []  # the first MAX_LOGGED_FAILURES, for the log
        self._more_not_sent = 0

    @classmethod
    def of(
        cls, results: Iterable[SendResult], invalid: Mapping[str, str], *, full_numbers: bool = False
    ) -> SendReport:
        """The report of ``results``, the invalid values first."""
        report = cls(full_numbers=full_numbers)
        for given, reason in invalid.items():
            report.add_invalid(given, reason)
        for result in results:
            report.add(result)
        return report

    def shown(self, number: str) -> str:
        return mask_number(number, reveal=self.full_numbers)

    # --- folding outcomes in ---------------------------------------------------------------

    def add(self, result: SendResult) -> None:
        """One number's outcome in this try."""
        self.counts["numbers"] += 1
        if result.ok:
            self.counts["sent"] += 1
            if result.outcome is Outcome.ALREADY_SENT:
                self.counts["already_sent"] += 1
            self._write("sent", [str(result.request_id), self.shown(result.number)])
            return
        if len(self._not_sent) < MAX_LOGGED_FAILURES:
            self._not_sent.append(result)
        else:
            self._more_not_sent += 1
        if result.outcome is Outcome.FAILED:
            self.counts["failed"] += 1
            self._write("failed", {"number": self.shown(result.number), "reason": result.error or "failed"})
        else:
            name = _BY_OUTCOME[result.outcome]
            self.counts[name] += 1
            self._write(name, self.shown(result.number))

    def add_invalid(self, given: str, reason: str) -> None:
        """A value that is not a number (the reason masks it), reported as failed."""
        self.counts["numbers"] += 1
        self.counts["failed"] += 1
        self._write("failed", {"number": self.shown(given), "reason": reason})

    def add_listed(self, name: str, entry: Any) -> None:
        """An entry of one of the campaign's lists (given to the constructor)."""
        self.listed[name] += 1
        self._write(name, entry)

    def _write(self, name: str, value: Any) -> None:
        self._files[name].write(json.dumps(value, sort_keys=True) + "\n")

    # --- reading it back -------------------------------------------------------------------

    def _lines(self, name: str) -> Iterator[str]:
        fh = self._files[name]
        fh.flush()
        fh.seek(0)
        try:
            for line in fh:
                yield line.rstrip("\n")
        finally:
            fh.seek(0, 2)  # back to the end: more may be added

    def sent(self) -> Iterator[tuple[str, str]]:
        """``(request id, number as shown)`` of every number counted as sent."""
        for line in self._lines("sent"):
            request_id, number = json.loads(line)
            yield request_id, number

    def _scalars(self) -> dict[str, Any]:
        return {
            "already_sent": self.counts["already_sent"],
            "counts": self.counts,
            "full_numbers": self.full_numbers,
            **self.figures,
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole report in memory (a small list's, or a test's)."""
        report: dict[str, Any] = {"sent": dict(self.sent())}
        for name in self._names[1:]:
            report[name] = [json.loads(line) for line in self._lines(name)]
        report.update(self._scalars())
        return report

    def chunks(self) -> Iterator[str]:
        """The report as JSON text, piece by piece (keys sorted, as ``json.dumps(..., sort_keys=True)``)."""
        scalars = self._scalars()
        yield "{"
        for position, name in enumerate(sorted((*self._names, *scalars))):
            yield f"{', ' if position else ''}{json.dumps(name)}: "
            if name in scalars:
                yield json.dumps(scalars[name], sort_keys=True)
            elif name == "sent":
                yield "{"
                for index, (request_id, number) in enumerate(self.sent()):
                    yield f"{', ' if index else ''}{json.dumps(request_id)}: {json.dumps(number)}"
                yield "}"
            else:
                yield "["
                for index, line in enumerate(self._lines(name)):
                    yield f", {line}" if index else line
                yield "]"
        yield "}"

    def summary_source(self) -> dict[str, Any]:
        """What :func:`~airflow_provider_sms.summaries.sms_summary` reads: the counts and, for a
        run small enough to key its receipts, the request ids."""
        few = self.counts["sent"] <= MAX_RECEIPT_KEYS
        return {"counts": self.counts, "sent": dict(self.sent()) if few else {}}

    def log_failures(self, log: logging.Logger | Any, reveal: bool) -> None:
        """Log the numbers not sent (the first :data:`MAX_LOGGED_FAILURES`), masked unless ``reveal``."""
        for result in self._not_sent:
            # The error messages already carry masked numbers.
            masked = mask_number(result.number, reveal=reveal)
            log.warning("%s %s: %s", masked, result.outcome.value, result.error)
        if self._more_not_sent:
            log.warning("... and %d more numbers not sent", self._more_not_sent)

    def close(self) -> None:
        """Remove the spill files."""
        for fh in self._files.values():
            fh.close()
        self._folder.cleanup()

    def __enter__(self) -> SendReport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_report(
    results: list[SendResult], invalid: dict[str, str], *, full_numbers: bool = False
) -> dict[str, Any]:
    """The full report of ``results`` as a dict (see :class:`SendReport`), numbers masked unless
    ``full_numbers``.

    :param results: the outcome of each number sent to.
    :param invalid: ``{value as given: why it is not a number}`` (the reasons mask the value).
    :param full_numbers: name each number in full (the operator's ``xcom_full_numbers``).
    """
    with SendReport.of(results, invalid, full_numbers=full_numbers) as report:
        return report.to_dict()


def request_ids(report: dict[str, Any]) -> list[str]:
    """The request ids of the numbers a report counts as sent (from the XCom or the full report)."""
    return list(load_report(report)["sent"])


def report_for_xcom(report: SendReport, journal: SendJournal, log: logging.Logger | Any) -> dict[str, Any]:
    """The report itself, or above :data:`LARGE_LIST` numbers its counts and the path of its file.

    XCom lives in the metadata database: a large report goes beside the journal instead,
    streamed from the spill files.
    """
    if report.counts["numbers"] <= LARGE_LIST:
        return report.to_dict()
    path = journal.write_report(report.chunks())
    log.info("Full report (request id per number): %s", path)
    return {
        "counts": report.counts,
        "already_sent": report.counts["already_sent"],
        "full_numbers": report.full_numbers,
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


__all__ = ["LARGE_LIST", "SendReport", "build_report", "load_report", "report_for_xcom", "request_ids"]
