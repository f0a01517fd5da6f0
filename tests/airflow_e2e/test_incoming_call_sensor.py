"""The deferrable IncomingCallSensor under the real triggerer: it defers, the (simulated) user
calls, the trigger sees DELIVERED, the task resumes and succeeds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.airflow_e2e.cluster import wait_until
from tests.airflow_e2e.conftest import Deployment

pytestmark = pytest.mark.e2e

NEVER_CALLS = "+447911123450"  # the sandbox's user calls only when told to (last digit 0)


def test_deferrable_sensor_completes_in_the_triggerer(deployment: Deployment):
    airflow, sandbox = deployment.airflow, deployment.sandbox
    run_id = airflow.trigger("incoming_call_check", {"number": NEVER_CALLS})

    def sensor_state() -> str | None:
        ti = airflow.api("GET", f"/dags/incoming_call_check/dagRuns/{run_id}/taskInstances/wait_for_call")
        if ti["state"] in ("failed", "upstream_failed"):
            raise AssertionError(airflow.failed_task_logs("incoming_call_check", run_id))
        return ti["state"] if ti["state"] == "deferred" else None

    wait_until("the sensor to defer to the triggerer", sensor_state, 90)
    reservation: dict[str, Any] = airflow.xcom("incoming_call_check", run_id, "reserve")
    assert sandbox.place_incoming_call(reservation["request_id"])
    airflow.wait_for_run("incoming_call_check", run_id, timeout=90)
    info = airflow.xcom("incoming_call_check", run_id, "wait_for_call")
    assert (info["request_id"], info["status"]) == (reservation["request_id"], "DELIVERED")

    # The reservation's callback_url="airflow": its DELIVERED callback is an Asset event too.
    def callback_stored() -> bool:
        wanted = {"requestId": reservation["request_id"], "status": "DELIVERED"}
        events = airflow.asset_events("sms-api://delivery-receipts")
        return any(wanted.items() <= e["extra"].items() for e in events)

    wait_until("the incoming call's callback as an asset event", callback_stored, 30)
