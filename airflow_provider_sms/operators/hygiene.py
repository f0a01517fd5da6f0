"""NumberHygieneOperator: check a whole list of phone numbers before paying to message them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from airflow_provider_sms.compat import AirflowTaskTerminated
from airflow_provider_sms.failures import fails_fast
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hygiene.engine import HygieneEngine
from airflow_provider_sms.hygiene.options import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_MAX_AGE,
    DEFAULT_PROGRESS_INTERVAL,
    HygieneOptions,
    parse_max_age,
)
from airflow_provider_sms.summaries import (
    HYGIENE_SUMMARIES,
    add_summary_outlet,
    hygiene_summary,
    publish_summary,
)

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath


class NumberHygieneOperator(BaseOperator):
    """Check every number of a CSV list: valid, reachable mobile, or why not.

    Each row gets a verdict (VALID, INVALID, FRAUDULENT, SUSPICIOUS, NOT_MOBILE, UNREACHABLE,
    or ERROR / UNCHECKED when it could not be judged). Every unique E.164 number costs one
    HLR look-up and one fraud check, at most once per run; repeats, locally impossible
    numbers and reusable earlier answers cost nothing. As many checks run at once as the
    rate limit and the API's measured answer time need, paced by the hook's shared rate
    limiter. Writes ``output_path`` (every input row, in
    order, with the result columns appended) and beside it ``<stem>.clean.csv`` (VALID
    numbers, once each) and ``<stem>.flagged.csv`` (every other row, with the reason).
    A killed or retried task resumes from ``<output_path>.state/`` without paying again;
    a second live run on the same output fails before paying (``<output_path>.lock``).
    Returns a small summary (counts per verdict, API calls, calls saved, paths) as XCom.
    See docs/hygiene.md.

    :param input_path: the CSV list: a local path or any URI ``ObjectStoragePath`` opens
        (``s3://conn_id@bucket/key``...). Templated.
    :param output_path: where the result CSV goes (same forms). Templated.
    :param number_column: the input column holding phone numbers. Templated.
    :param sms_api_conn_id: the ``sms_api`` connection. Templated.
    :param default_region: ISO region (``"GB"``) for numbers written nationally (``07700...``);
        by default those are INVALID: a list should carry international numbers.
    :param encoding: the input's text encoding (a UTF-8 byte-order mark is always accepted).
    :param workers: the most checks in flight at once, an upper bound (it used to be a fixed
        thread count): their number follows the rate limit and the measured answer time;
        ``None`` (default) allows up to 512, the hook's connection pool.
    :param max_api_calls: never make more calls than this; numbers past the budget get the
        verdict UNCHECKED (reported in the output and flagged list, never dropped).
    :param previous_results: an earlier run's output (path or URI; templated); numbers it
        judged within ``max_age`` are reused without calls. A missing file is fine.
    :param max_age: how old a reused answer may be: ``"7d"``, ``"12h"``, seconds or a
        timedelta (previous results and resume state alike). Templated.
    :param skip_fraud_check_if_unreachable: skip the fraud check when the HLR look-up is
        already undelivered (saves a call per such number; the verdict is then UNREACHABLE
        even for a number the fraud check would have flagged). Off by default.
    :param clean_asset: an :class:`~airflow.sdk.Asset` standing for the clean list; added to
        ``outlets`` and its event carries the summary, so a campaign DAG can be scheduled on it.
    :param count_rows: read the input once before checking, for a total, an ETA and input
        errors before any paid request.
    :param checkpoint_every: save resume state after this many new answers...
    :param checkpoint_interval: ...or this many seconds, whichever comes first (default 1 s:
        a hard kill re-pays at most the checks in flight and about a second of answers).
    :param progress_interval: seconds between progress lines in the task log.
    :param spreadsheet_safe: in the clean and flagged lists, write a cell that starts with
        ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with a leading ``'`` so that a
        spreadsheet shows it as text rather than running it as a formula (the ``e164`` column
        is never changed). Turn off when only programs read the lists. The full output always
        keeps the original values.
    """

    template_fields: Sequence[str] = (
        "input_path",
        "output_path",
        "number_column",
        "sms_api_conn_id",
        "previous_results",
        "max_api_calls",
        "max_age",
    )
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        input_path: str | ObjectStoragePath,
        output_path: str | ObjectStoragePath,
        number_column: str = "number",
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
        default_region: str | None = None,
        encoding: str = "utf-8",
        workers: int | None = None,
        max_api_calls: int | None = None,
        previous_results: str | ObjectStoragePath | None = None,
        max_age: str | int | float | timedelta | None = DEFAULT_MAX_AGE,
        skip_fraud_check_if_unreachable: bool = False,
        clean_asset: Asset | None = None,
        count_rows: bool = True,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        spreadsheet_safe: bool = True,
        **kwargs: Any,
    ) -> None:
        if clean_asset is not None:
            kwargs["outlets"] = [*_as_list(kwargs.get("outlets")), clean_asset]
        super().__init__(**kwargs)
        self.input_path = input_path
        self.output_path = output_path
        self.number_column = number_column
        self.sms_api_conn_id = sms_api_conn_id
        self.default_region = default_region
        self.encoding = encoding
        self.workers = workers
        self.max_api_calls = max_api_calls
        self.previous_results = previous_results
        if not (isinstance(max_age, str) and "{{" in max_age):
            parse_max_age(max_age)  # a typo fails when the DAG is parsed, not at 3 a.m.
        self.max_age = max_age
        self.skip_fraud_check_if_unreachable = skip_fraud_check_if_unreachable
        self.clean_asset = clean_asset
        self.count_rows = count_rows
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self.progress_interval = progress_interval
        self.spreadsheet_safe = spreadsheet_safe
        add_summary_outlet(self, HYGIENE_SUMMARIES)

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def options(self) -> HygieneOptions:
        """The run's options, from the (rendered) arguments."""
        budget = self.max_api_calls
        return HygieneOptions(
            number_column=self.number_column,
            default_region=self.default_region,
            encoding=self.encoding,
            workers=self.workers,
            max_api_calls=int(budget) if budget not in (None, "", "None") else None,
            previous_results=str(self.previous_results) if self.previous_results else None,
            max_age=parse_max_age(self.max_age),
            skip_fraud_check_if_unreachable=self.skip_fraud_check_if_unreachable,
            count_rows=self.count_rows,
            checkpoint_every=self.checkpoint_every,
            checkpoint_interval=self.checkpoint_interval,
            progress_interval=self.progress_interval,
            spreadsheet_safe=self.spreadsheet_safe,
        )

    @fails_fast("Number hygiene")
    def execute(self, context: Context) -> dict[str, Any]:
        self._checking = True
        try:
            summary = HygieneEngine(self.hook, self.options(), log=self.log).run(
                self.input_path, self.output_path, owner=_task_instance(context)
            )
        finally:
            self._checking = False
        result = summary.to_dict()
        publish_summary(context, HYGIENE_SUMMARIES, hygiene_summary(result))
        self.log.info(
            "Number hygiene done: %d rows in %.1f s; %s; %d API calls, %d saved",
            summary.rows,
            summary.duration_s,
            ", ".join(f"{verdict} {count}" for verdict, count in summary.verdicts.items() if count),
            summary.api_calls,
            summary.calls_saved,
        )
        if self.clean_asset is not None:
            context["outlet_events"][self.clean_asset].extra = {
                "clean_path": summary.clean_path,
                "rows": summary.rows,
                "valid": summary.verdicts.get("VALID", 0),
            }
        return result

    def on_kill(self) -> None:
        """Airflow's SIGTERM handler: stop the run the way Ctrl-C does, keeping what was paid for.

        Airflow 3 calls this in the task's main thread when it terminates the task (then kills
        it after a grace period). Raising here unwinds the run: the checks under way finish,
        every paid answer is saved to the resume state, and the retry pays for none of them.
        After the run (e.g. on an execution timeout) there is nothing to stop.
        """
        if getattr(self, "_checking", False):
            raise AirflowTaskTerminated("Number hygiene terminated; the answers paid so far are saved")


def _task_instance(context: Context) -> str | None:
    """The task instance, as a concurrent run's error names it."""
    ti = context.get("ti")
    if ti is None:
        return None
    mapped = f"[{ti.map_index}]" if ti.map_index is not None and ti.map_index >= 0 else ""
    return f"task {ti.dag_id}.{ti.task_id}{mapped} of run {ti.run_id}, try {ti.try_number}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]
