"""Order notifications: a personal SMS per row of a CSV produced upstream, never at night.

1. ``export_orders`` stands for the upstream step of a pipeline (a SQL query, a dbt model...):
   it writes today's shipped orders as a CSV (``number,first_name,order_id``) to
   ``<data dir>/notifications/<run id>.csv`` and returns the file's path, never the rows (a
   task's return value is kept in the metadata database, for everyone who may see the DAG).
2. ``notify`` sends each row its own text with :class:`SendSmsOperator`'s
   ``message_template``: ``{first_name}`` and ``{order_id}`` come from the row,
   ``{{ params.shop }}`` is Airflow's own Jinja, rendered first. ``quiet_hours=("21:00",
   "08:00")``: whoever's local time (from their number) is in that window is texted when it
   ends; the task defers in the meantime, freeing its worker slot, and the ``send_deadline``
   param (ISO-8601, optional) gives up on anyone who cannot be reached before it. Numbers on
   the opt-out list that the ``inbound_opt_out`` DAG maintains are skipped.

Trigger it with conf ``{"orders": [{"number": "+447700900123", "first_name": "Maja",
"order_id": "29211"}, ...]}`` (the default is a demo list of sandbox numbers). To see what
would be sent first, the same operator with ``dry_run=True`` writes a preview and sends
nothing. The data dir is ``[sms_api] data_path`` (default ``$AIRFLOW_HOME/sms_api``).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from airflow_provider_sms.operators.sms import SendSmsOperator
from airflow_provider_sms.sending.suppression import data_dir, suppression_list_path

DEMO_ORDERS = [
    {"number": "+447911123401", "first_name": "Maja", "order_id": "29211"},
    {"number": "+447911123402", "first_name": "Zoë", "order_id": "29212"},
    {"number": "+12125550101", "first_name": "Bob", "order_id": "29213"},
]


@dag(
    dag_id="order_notifications",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sms-api", "example"],
    params={
        "orders": Param(DEMO_ORDERS, type="array", description="Rows: number, first_name, order_id."),
        "shop": Param("Corner Shop", type="string", description="Who the text comes from."),
        "send_deadline": Param("", type="string", description="ISO-8601; empty: no deadline."),
        "conn_id": Param("sms_api_default", type="string", description="The sms_api connection."),
    },
)
def order_notifications() -> None:
    @task
    def export_orders(params: dict[str, Any] | None = None) -> dict[str, str]:
        """Write today's orders as a CSV; return its path and the opt-out list's (if there is one yet)."""
        assert params is not None
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=("number", "first_name", "order_id"), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: row.get(k, "") for k in writer.fieldnames} for row in params["orders"])
        run_id = get_current_context()["run_id"].replace(":", "_").replace("+", "_")
        path = data_dir() / "notifications" / f"{run_id}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buffer.getvalue(), encoding="utf-8")
        opt_outs = suppression_list_path()
        return {"orders": str(path), "opt_outs": str(opt_outs) if opt_outs.exists() else ""}

    export = export_orders()
    SendSmsOperator(
        task_id="notify",
        numbers_file="{{ ti.xcom_pull('export_orders')['orders'] }}",
        message_template=(
            "Hi {first_name}, your order {order_id} from {{ params.shop }} ships today. "
            "Reply STOP to opt out."
        ),
        suppression_list="{{ ti.xcom_pull('export_orders')['opt_outs'] }}",
        quiet_hours=("21:00", "08:00"),
        send_deadline="{{ params.send_deadline }}",
        sms_api_conn_id="{{ params.conn_id }}",
        max_failure_ratio=0.05,
    ).set_upstream(export)


order_notifications()
