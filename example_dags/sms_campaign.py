"""SMS campaign: text every number of a clean list, except those on the suppression list.

1. ``select_recipients`` reads the clean list the hygiene DAG produced (``<stem>.clean.csv``,
   column ``e164``), drops every number on the suppression list (the ``inbound_opt_out``
   DAG adds the senders of "STOP" there) and writes the recipients to a file
   (``<data dir>/campaigns/recipients/<campaign_id>.txt``). It returns the file's path and
   counts, never the numbers: a task's return value is logged and kept in XCom, in the
   metadata database, for everyone who may see the DAG.
2. ``send`` sends the templated text to that file (``numbers_file=``) with
   :class:`SendSmsOperator`; ``callback_url="airflow"`` makes the API post the delivery
   receipts to this deployment's webhook (configured by ``[sms_api] webhook_base_url`` and
   ``webhook_secret``: no secret in the DAG). The plugin stores them as events of
   ``DELIVERY_RECEIPTS``. Its XCom names the numbers masked.
3. ``record_campaign`` writes which request ids belong to the campaign
   (``<data dir>/campaigns/<campaign_id>.json``) and updates the ``CAMPAIGNS`` asset, so the
   ``delivery_report`` DAG can attribute receipts (which carry only a request id) to the
   campaign, including receipts that arrived before the send task finished.

Trigger it with conf, e.g. ``{"clean_list": "s3://bucket/lists/june.clean.csv",
"message": "Our shop opens at 9 tomorrow", "campaign_id": "june-opening"}``.
The data dir is ``[sms_api] data_path`` (default ``$AIRFLOW_HOME/sms_api``; with workers on
several hosts, a place they all share, such as ``s3://aws_default@bucket/sms``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset, ObjectStoragePath, Param, dag, get_current_context, task

from airflow_provider_sms.operators.sms import SendSmsOperator
from airflow_provider_sms.sending.report import request_ids as sent_request_ids
from airflow_provider_sms.sending.suppression import (
    data_dir,
    read_suppression_list,
    split_suppressed,
    suppression_list_path,
)

log = logging.getLogger(__name__)

#: Updated once a campaign's request ids are recorded; ``delivery_report`` listens to it.
CAMPAIGNS = Asset("sms-api://example/campaigns")

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


def campaign_id_of(params: dict[str, Any], run_id: str) -> str:
    """The campaign's id: the ``campaign_id`` param, else the run id; safe as a file name."""
    return _SAFE_ID.sub("_", (params.get("campaign_id") or "").strip() or run_id)


@dag(
    dag_id="sms_campaign",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["sms-api", "example"],
    params={
        "clean_list": Param(
            "", type="string", description="The hygiene DAG's clean list (CSV with an e164 column)."
        ),
        "suppression_list": Param(
            "", type="string", description="Suppression list CSV; empty: <data dir>/suppression.csv."
        ),
        "message": Param("Hello from Airflow", type="string", minLength=1, description="The SMS text."),
        "campaign_id": Param("", type="string", description="Campaign id; empty: the run id."),
        "conn_id": Param("sms_api_default", type="string", description="The sms_api connection."),
    },
)
def sms_campaign() -> None:
    @task
    def select_recipients(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The clean list minus the suppression list (E.164, deduplicated, order kept), as a file."""
        assert params is not None
        context = get_current_context()
        if not params.get("clean_list"):
            raise ValueError("Param clean_list is required: the hygiene DAG's <stem>.clean.csv")
        content = ObjectStoragePath(params["clean_list"]).read_text(encoding="utf-8-sig")
        reader = csv.DictReader(io.StringIO(content))
        if not reader.fieldnames or "e164" not in reader.fieldnames:
            raise ValueError(f"{params['clean_list']} has no e164 column: {reader.fieldnames}")
        numbers = [row["e164"] for row in reader if (row.get("e164") or "").strip()]
        suppressed = read_suppression_list(suppression_list_path(params.get("suppression_list")))
        to_send, dropped = split_suppressed(numbers, suppressed)
        log.info(
            "%d recipient(s); %d dropped (suppressed or invalid) of %d on the clean list; "
            "the suppression list has %d number(s)",
            len(to_send),
            len(dropped),
            len(numbers),
            len(suppressed),
        )
        path = data_dir() / "campaigns" / "recipients" / f"{campaign_id_of(params, context['run_id'])}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{number}\n" for number in to_send), encoding="utf-8")
        return {"numbers_file": str(path), "recipients": len(to_send), "dropped": len(dropped)}

    recipients: Any = select_recipients()

    send: Any = SendSmsOperator(
        task_id="send",
        numbers_file="{{ ti.xcom_pull('select_recipients')['numbers_file'] }}",
        text="{{ params.message }}",
        callback_url="airflow",
        sms_api_conn_id="{{ params.conn_id }}",
        max_failure_ratio=1.0,  # a bad number must not fail the campaign; the report shows it
    )
    recipients >> send

    @task(outlets=[CAMPAIGNS])
    def record_campaign(report: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the campaign's request ids, then announce it on the CAMPAIGNS asset."""
        assert params is not None
        context = get_current_context()
        campaign = campaign_id_of(params, context["run_id"])
        request_ids = sorted(sent_request_ids(report))  # from the XCom, or its file for big lists
        record = {
            "campaign_id": campaign,
            "dag_run_id": context["run_id"],
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "request_ids": request_ids,
            "counts": report["counts"],
        }
        path = data_dir() / "campaigns" / f"{campaign}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1), encoding="utf-8")
        context["outlet_events"][CAMPAIGNS].extra = {"campaign_id": campaign}
        log.info("Campaign %s: %d message(s) sent, recorded in %s", campaign, len(request_ids), path)
        return {"campaign_id": campaign, "messages": len(request_ids), "counts": report["counts"]}

    record_campaign(send.output)


sms_campaign()
