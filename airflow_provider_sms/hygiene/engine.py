"""A whole hygiene run: read, check, write, publish, and keep resume state until it succeeds.

Before the first paid request a run makes sure it can finish: the input is not one of its
outputs (however either is written), the output and resume-state locations accept a test
write, no other live run is writing the same output (``claim.py``), and, with
``count_rows``, the whole list reads cleanly. After the last row it checks the accounting
(every input row is in the output, each in exactly one of the lists or a repeat of a VALID
number) before publishing anything.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_sms.batch.inflight import InFlightController, no_full_gc_pauses
from airflow_provider_sms.exceptions import (
    ApiUnavailableError,
    ErrorClass,
    HygieneAccountingError,
    HygieneInputError,
    SmsApiError,
    classify,
)
from airflow_provider_sms.hygiene.checkpoint import CheckpointLog
from airflow_provider_sms.hygiene.claim import OutputClaim
from airflow_provider_sms.hygiene.options import HygieneOptions, format_age
from airflow_provider_sms.hygiene.paths import (
    PathLike,
    claim_path_for,
    clean_path_for,
    flagged_path_for,
    location_key,
    probe_writable,
    state_dir_for,
    storage_path,
)
from airflow_provider_sms.hygiene.pipeline import CheckPipeline
from airflow_provider_sms.hygiene.previous import read_previous_results
from airflow_provider_sms.hygiene.progress import HygieneSummary, ProgressReporter, RunStats
from airflow_provider_sms.hygiene.reader import CsvSource
from airflow_provider_sms.hygiene.store import CACHE, RESUME, ResultStore
from airflow_provider_sms.hygiene.writer import ResultWriters

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sms.hooks.sms_api import SmsApiHook


class HygieneEngine:
    """Check a CSV list of phone numbers and write the output, clean and flagged lists.

    :param hook: the hook to check numbers with (shared by all checking threads).
    :param options: what to check and what may be spent.
    :param log: where progress goes (the operator's logger).
    """

    def __init__(self, hook: SmsApiHook, options: HygieneOptions, log: Any | None = None) -> None:
        self.hook = hook
        self.options = options
        self.log = log or logging.getLogger(__name__)

    def run(self, input_path: PathLike, output_path: PathLike, *, owner: str | None = None) -> HygieneSummary:
        """Run the list at ``input_path`` through the checks; write ``output_path`` and its siblings.

        Raises :class:`HygieneInputError` for an unusable input (before any request when
        ``count_rows`` is on), :class:`~airflow_provider_sms.hygiene.paths.OutputNotWritableError`
        or :class:`~airflow_provider_sms.hygiene.claim.OutputClaimedError` before any request,
        :class:`HygieneAccountingError` instead of publishing rows that do not add up, and the
        API's own error, after saving the resume state, when the connection is refused (wrong
        credentials, inactive account).

        :param input_path: the CSV list.
        :param output_path: the full output; the clean and flagged lists go beside it.
        :param owner: who runs this (an Airflow task instance), named to a concurrent run.
        """
        options = self.options
        source_path, output = storage_path(input_path), storage_path(output_path)
        destinations = {
            "output": output,
            "clean": clean_path_for(output),
            "flagged": flagged_path_for(output),
        }
        state_dir, claim_file = state_dir_for(output), claim_path_for(output)
        _refuse_aliases(source_path, [*destinations.values(), state_dir, claim_file])
        source = CsvSource(source_path, options.number_column, encoding=options.encoding)
        probe_writable(output.parent, "output files")
        probe_writable(state_dir, "resume state")
        run_token = uuid.uuid4().hex[:12]
        claim = OutputClaim(claim_file, token=run_token, owner=owner or f"process {os.getpid()}")
        claim.acquire()
        if claim.taken_over is not None:
            self.log.warning(
                "Number hygiene: took over %s from a run that is gone (%s)", claim_file, claim.taken_over
            )
        try:
            return self._run_claimed(source, destinations, state_dir, run_token, claim)
        finally:
            claim.release()

    def _run_claimed(
        self,
        source: CsvSource,
        destinations: dict[str, ObjectStoragePath],
        state_dir: ObjectStoragePath,
        run_token: str,
        claim: OutputClaim,
    ) -> HygieneSummary:
        options = self.options
        stats = RunStats()
        progress = ProgressReporter(stats, self.log, options.progress_interval)
        if options.count_rows:
            stats.total_rows, _ = source.count()
            self.log.info("Number hygiene: %s has %s data rows", source.path, f"{stats.total_rows:,}")

        settings = self.hook.settings  # a broken connection fails here, before any work
        self.hook.get_conn()  # build the shared session and limiter before threads race for them
        controller = InFlightController(settings.rate_limit, maximum=options.workers)
        checkpoint = CheckpointLog(
            state_dir, every=options.checkpoint_every, interval=options.checkpoint_interval, token=run_token
        )
        workdir = Path(tempfile.mkdtemp(prefix="sms-hygiene-"))
        store = ResultStore(workdir)
        try:
            self._load_reusable(store, checkpoint)
            with (
                source.rows() as (header, number_index, rows),
                ResultWriters(workdir, header, spreadsheet_safe=options.spreadsheet_safe) as writers,
            ):
                pipeline = CheckPipeline(
                    hook=self.hook,
                    options=options,
                    controller=controller,
                    store=store,
                    checkpoint=checkpoint,
                    writers=writers,
                    stats=stats,
                    progress=progress,
                )
                self.log.info(
                    "Number hygiene: requests in flight follow the answer time (at most %d), "
                    "pace %.0f requests/s",
                    pipeline.max_in_flight,
                    self.hook.limiter.rate,
                )
                try:
                    with no_full_gc_pauses(collect=True):
                        pipeline.run(rows, number_index)
                except SmsApiError as exc:
                    if classify(exc) is not ErrorClass.FATAL:
                        raise
                    raise _connection_refused(exc, stats, checkpoint) from None
                except ApiUnavailableError as exc:  # the breaker opened; the paid answers are saved
                    raise pipeline.breaker.unavailable(
                        f"{checkpoint.saved:,} paid answers are saved in {checkpoint.state_dir}."
                    ) from exc
                stats.blank_lines = source.blank_lines
                self.log.info(
                    "Number hygiene: up to %d requests were in flight and %d fraud checks ready "
                    "(answers took %.2f s each)",
                    controller.peak,
                    pipeline.ready_peak,
                    controller.latency(),
                )
            _check_accounting(stats, source, writers, checkpoint)
            stats.clean_rows, stats.flagged_rows = writers.clean_rows, writers.flagged_rows
            writers.publish(destinations, run_token=run_token, claim=claim)
        finally:
            checkpoint.close()
            store.close()
            shutil.rmtree(workdir, ignore_errors=True)
        checkpoint.clear()
        progress.report()
        summary = HygieneSummary.from_stats(
            stats, progress.elapsed(), {name: str(path) for name, path in destinations.items()}
        )
        self._warn_about(summary)
        return summary

    def _load_reusable(self, store: ResultStore, checkpoint: CheckpointLog) -> None:
        options = self.options
        started = time.monotonic()
        resumed = store.add_reusable(checkpoint.load(options.reuse_max_age), RESUME)
        if resumed:
            self.log.info(
                "Number hygiene: resuming; %s numbers checked by an earlier try (%s) are reused "
                "without calls",
                f"{resumed:,}",
                checkpoint.state_dir,
            )
        if options.previous_results:
            previous = storage_path(options.previous_results)
            if not previous.exists():
                self.log.info("Number hygiene: no previous results at %s yet; checking all", previous)
                return
            cached = store.add_reusable(read_previous_results(previous, options.reuse_max_age), CACHE)
            self.log.info(
                "Number hygiene: %s answers from %s are recent enough to reuse (max age %s, %.1f s)",
                f"{cached:,}",
                previous,
                format_age(options.reuse_max_age),
                time.monotonic() - started,
            )

    def _warn_about(self, summary: HygieneSummary) -> None:
        errors = summary.verdicts.get("ERROR", 0)
        if errors:
            self.log.warning(
                "Number hygiene: %d numbers could not be checked (verdict ERROR, reason in 'error'); "
                "the next run checks them again",
                errors,
            )
        if summary.unchecked_rows:
            self.log.warning(
                "Number hygiene: the max_api_calls budget (%s) was used up at data row %s: %d rows are "
                "UNCHECKED (listed in %s)",
                self.options.max_api_calls,
                summary.first_unchecked_row,
                summary.unchecked_rows,
                summary.flagged_path,
            )
        if summary.ragged_rows:
            self.log.warning(
                "Number hygiene: %d rows had more or fewer fields than the header (padded or cut to fit)",
                summary.ragged_rows,
            )


def _refuse_aliases(source: ObjectStoragePath, targets: list[ObjectStoragePath]) -> None:
    """Refuse an input that is one of the files the run writes, however either is spelled."""
    key = location_key(source)
    for target in targets:
        if location_key(target) == key:
            raise HygieneInputError(
                f"The output would overwrite the input list {source}: {target} is the same file. "
                "Choose another output_path"
            )


def _check_accounting(
    stats: RunStats, source: CsvSource, writers: ResultWriters, checkpoint: CheckpointLog
) -> None:
    """Every data row read is in the output once; each output row is clean, flagged or a VALID repeat."""
    problems = []
    if stats.total_rows is not None and stats.total_rows != source.data_rows:
        problems.append(
            f"the counting pass read {stats.total_rows:,} data rows, the checking pass {source.data_rows:,} "
            "(did the file change during the run?)"
        )
    if not source.data_rows == stats.rows == writers.output_rows:
        problems.append(f"{source.data_rows:,} data rows were read but {writers.output_rows:,} written")
    listed = writers.clean_rows + writers.flagged_rows + writers.duplicate_valid_rows
    if listed != writers.output_rows:
        problems.append(
            f"clean {writers.clean_rows:,} + flagged {writers.flagged_rows:,} + repeats of VALID numbers "
            f"{writers.duplicate_valid_rows:,} = {listed:,}, not the {writers.output_rows:,} output rows"
        )
    if problems:
        checkpoint.flush()
        raise HygieneAccountingError(
            f"Number hygiene: the rows of {source.path} do not add up, so nothing is published: "
            f"{'; '.join(problems)}. The {checkpoint.saved:,} paid answers are saved in "
            f"{checkpoint.state_dir}: the next run reuses them"
        )


def _connection_refused(exc: SmsApiError, stats: RunStats, checkpoint: CheckpointLog) -> SmsApiError:
    """The same error, saying that the run stopped and what it kept."""
    message = (
        f"{exc.message} Number hygiene stopped: the connection is refused, so every other number "
        f"would fail the same way. {checkpoint.saved:,} paid answers are saved in {checkpoint.state_dir}: "
        "fix the connection and run again (same output path), and they are not paid again."
    )
    return type(exc)(
        message, error_code=exc.error_code, error_reason=exc.error_reason, http_status=exc.http_status
    )
