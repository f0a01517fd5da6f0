"""Test DAGs for IncomingCallSensor in poke, reschedule and deferrable modes (run with dag.test()).

The sandbox's user of a number ending in digit d calls after d seconds; 0 never calls by itself
(a test places the call with ``Sandbox.place_incoming_call``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG

from airflow_provider_sms.operators.calls import IncomingCallVerificationOperator, NotifyVerifiedOperator
from airflow_provider_sms.sensors.incoming_call import IncomingCallSensor

START = datetime(2024, 1, 1)
CALLS_WHEN_TOLD = "+447911123460"
NEVER_CALLS = "+447911123440"
REQUEST_ID = "{{ ti.xcom_pull('reserve')['request_id'] }}"

MODES: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke", "poke_interval": 0.2, "deferrable": False},
    "reschedule": {"mode": "reschedule", "poke_interval": 0.5, "deferrable": False},
    "deferrable": {"poke_interval": 0.2, "deferrable": True},
}

for name, sensor_args in MODES.items():
    with DAG(f"ops_verify_{name}", schedule=None, start_date=START, catchup=False):
        reserve = IncomingCallVerificationOperator(task_id="reserve", number=CALLS_WHEN_TOLD)
        wait = IncomingCallSensor(task_id="wait", request_id=REQUEST_ID, timeout=60, **sensor_args)
        verified = NotifyVerifiedOperator(task_id="verified", request_id=REQUEST_ID)
        reserve >> wait >> verified

    with DAG(f"ops_expiry_{name}", schedule=None, start_date=START, catchup=False):
        reserve = IncomingCallVerificationOperator(task_id="reserve", number=NEVER_CALLS)
        IncomingCallSensor(task_id="wait", request_id=REQUEST_ID, timeout=60, **sensor_args).set_upstream(
            reserve
        )
        IncomingCallSensor(
            task_id="wait_soft", request_id=REQUEST_ID, timeout=60, soft_fail=True, **sensor_args
        ).set_upstream(reserve)


with DAG("ops_sensor_edges", schedule=None, start_date=START, catchup=False):
    IncomingCallSensor(task_id="unknown_id", request_id="no-such-request", poke_interval=0.2, timeout=30)
    reserve = IncomingCallVerificationOperator(task_id="reserve", number=NEVER_CALLS)
    IncomingCallSensor(
        task_id="times_out", request_id=REQUEST_ID, poke_interval=0.2, timeout=1, deferrable=True
    ).set_upstream(reserve)
