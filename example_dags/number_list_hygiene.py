"""Nightly number-list hygiene: which numbers of a list are worth paying to message?

1. ``hygiene`` (:class:`NumberHygieneOperator`) checks every number of the list at
   ``input_path``: one HLR look-up and one fraud check per unique number, none for repeats,
   impossible numbers or numbers checked within ``max_age`` by an earlier night (it reuses
   the previous output, ``<output_folder>/numbers.csv``, before overwriting it). It writes
   ``numbers.csv`` (every row, with its verdict), ``numbers.clean.csv`` (valid mobiles, once
   each) and ``numbers.flagged.csv`` (everything else, with the reason).
2. ``report`` logs counts per verdict and the share of bad numbers, compares that share
   with the previous night's (kept in ``<output_folder>/last_summary.json``) and warns when
   it jumps by more than ``bad_share_jump``.
3. ``route`` branches: ``clean_list_ready`` updates the ``CLEAN_LIST`` asset (a campaign DAG
   can be scheduled on it; the event's extra names the file), or ``needs_review`` when the
   bad share jumped or some numbers could not be checked (ERROR / UNCHECKED verdicts).

With no conf it checks the provider's bundled sample list (``python -m
airflow_provider_sms.demo`` runs it against the local sandbox). The output folder defaults to
``<[sms_api] data_path>/hygiene``: with workers on several hosts, set ``data_path`` to a place
they all share (``s3://aws_default@bucket/sms``), or a retry on another host would not find the
resume state the first try left beside the output.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, Param, dag, get_current_context, task

import airflow_provider_sms
from airflow_provider_sms import config
from airflow_provider_sms.hygiene.paths import storage_path
from airflow_provider_sms.hygiene.verdicts import BAD_VERDICTS, Verdict
from airflow_provider_sms.operators.hygiene import NumberHygieneOperator

log = logging.getLogger(__name__)

SAMPLE_LIST = str(Path(airflow_provider_sms.__file__).parent / "demo_data" / "sample_numbers.csv")
HYGIENE_FOLDER = "hygiene"
#: Updated when a night's clean list is ready for a campaign; the event's extra names the file.
CLEAN_LIST = Asset("sms-api://example/clean-list")
LAST_SUMMARY = "last_summary.json"


def output_folder(params: dict[str, Any]) -> str:
    """The ``output_folder`` param, else ``<[sms_api] data_path>/hygiene``.

    A local default folder under an executor that runs tasks on several hosts is warned about
    once per task. Also the DAG's macro ``output_folder(params)``.
    """
    folder = str(params.get("output_folder") or "").strip()
    if folder:
        return folder
    folder = f"{config.data_path().rstrip('/')}/{HYGIENE_FOLDER}"
    config.warn_if_local_on_distributed(folder, "the hygiene output folder (and its resume state)", log)
    return folder


def bad_share(verdicts: dict[str, int]) -> float:
    """Share of bad numbers among the rows that were judged (ERROR and UNCHECKED rows were not)."""
    bad = sum(verdicts.get(v.value, 0) for v in BAD_VERDICTS)
    judged = bad + verdicts.get(Verdict.VALID.value, 0)
    return bad / judged if judged else 0.0


@dag(
    dag_id="number_list_hygiene",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["sms-api", "example"],
    doc_md=__doc__,
    user_defined_macros={"output_folder": output_folder},
    params={
        "input_path": Param(SAMPLE_LIST, type="string", description="The CSV list (path or URI)."),
        "output_folder": Param(
            "",
            type="string",
            description="Where the results go (path or URI); empty: <[sms_api] data_path>/hygiene.",
        ),
        "number_column": Param("number", type="string", description="The column with phone numbers."),
        "conn_id": Param("sms_api_default", type="string", description="The sms_api connection."),
        "max_age": Param("7d", type="string", description="Reuse answers up to this old ('7d', '12h')."),
        "bad_share_jump": Param(
            0.05, type="number", minimum=0, description="Warn when the bad share rises by more than this."
        ),
    },
)
def number_list_hygiene() -> None:
    hygiene = NumberHygieneOperator(
        task_id="hygiene",
        input_path="{{ params.input_path }}",
        output_path="{{ output_folder(params) }}/numbers.csv",
        previous_results="{{ output_folder(params) }}/numbers.csv",
        number_column="{{ params.number_column }}",
        sms_api_conn_id="{{ params.conn_id }}",
        max_age="{{ params.max_age }}",
        progress_interval=10,
        retries=2,  # a retry resumes from the saved state: numbers already checked are not paid again
    )

    @task
    def report(summary: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        params = params or {}
        verdicts = summary["verdicts"]
        share = bad_share(verdicts)
        last = storage_path(output_folder(params)) / LAST_SUMMARY
        previous = json.loads(last.read_text()) if last.exists() else None
        previous_share = previous["bad_share"] if previous else None
        jumped = previous_share is not None and share - previous_share > float(params["bad_share_jump"])
        log.info(
            "Number hygiene: %d rows; %s; bad share %.1f%%%s; %d API calls, %d saved",
            summary["rows"],
            ", ".join(f"{name} {count}" for name, count in verdicts.items() if count),
            100 * share,
            f" (previous run {100 * previous_share:.1f}%)" if previous_share is not None else "",
            summary["api_calls"],
            summary["calls_saved"],
        )
        if jumped:
            log.warning(
                "Number hygiene: the bad share jumped from %.1f%% to %.1f%%: check where the list came from",
                100 * previous_share,  # type: ignore[operator]
                100 * share,
            )
        result = {
            **summary,
            "bad_share": round(share, 4),
            "previous_bad_share": previous_share,
            "bad_share_jumped": jumped,
        }
        last.parent.mkdir(parents=True, exist_ok=True)
        last.write_text(json.dumps(result, indent=2))
        return result

    @task.branch
    def route(result: dict[str, Any]) -> str:
        verdicts = result["verdicts"]
        if result["bad_share_jumped"] or verdicts.get("ERROR") or verdicts.get("UNCHECKED"):
            return "needs_review"
        return "clean_list_ready"

    @task(outlets=[CLEAN_LIST])
    def clean_list_ready(result: dict[str, Any]) -> str:
        outlet_events = get_current_context()["outlet_events"]
        outlet_events[CLEAN_LIST].extra = {
            "clean_path": result["clean_path"],
            "valid": result["verdicts"]["VALID"],
        }
        log.info("Clean list ready for a campaign: %s", result["clean_path"])
        return result["clean_path"]

    @task
    def needs_review(result: dict[str, Any]) -> None:
        verdicts = result["verdicts"]
        log.warning(
            "Number hygiene needs a look before any campaign: bad share jumped: %s, ERROR rows: %d, "
            "UNCHECKED rows: %d. Flagged rows with reasons: %s",
            result["bad_share_jumped"],
            verdicts.get("ERROR", 0),
            verdicts.get("UNCHECKED", 0),
            result["flagged_path"],
        )

    summary: Any = hygiene.output
    result: Any = report(summary)
    route(result) >> [clean_list_ready(result), needs_review(result)]


number_list_hygiene()
