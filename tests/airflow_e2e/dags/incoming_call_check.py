"""E2E DAG: reserve an incoming-call verification, then wait for the call in the triggerer."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_provider_sms.operators.calls import IncomingCallVerificationOperator
from airflow_provider_sms.sensors.incoming_call import IncomingCallSensor

with DAG(
    "incoming_call_check",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"number": Param("+447911123450", type="string")},
    tags=["sms-api", "e2e"],
):
    reserve = IncomingCallVerificationOperator(
        task_id="reserve", number="{{ params.number }}", callback_url="airflow"
    )
    wait = IncomingCallSensor(
        task_id="wait_for_call",
        request_id="{{ ti.xcom_pull(task_ids='reserve')['request_id'] }}",
        deferrable=True,
        poke_interval=1,
        timeout=120,
    )
    reserve >> wait
