"""Phone-number verification: by an incoming call (deferrable wait), or by a flash call.

``phone_verification_incoming_call``
    1. ``reserve_number`` reserves a number (DID) the user must call from their phone;
    2. ``show_number`` is where your app tells the user which number to call;
    3. ``wait_for_call`` waits in the triggerer (no worker slot) until the call arrives,
       the reservation expires (the task fails) or 3 minutes pass;
    4. ``mark_verified`` tells the API the number is verified.

``phone_verification_flash_call``
    1. ``flash_call`` places a missed call whose caller id ends with the code;
    2. ``check_code`` is where your app compares the digits the user typed (the end of the
       number that rang them; here the ``entered_code`` param) with the code;
    3. ``mark_verified`` tells the API (this also ends the flash call).

The code is a one-time credential: the operators hide it in their rendered fields, mask it in
the task log and keep the caller id that carries it out of XCom (see docs/verification.md).

Run either against the sandbox (``python -m airflow_provider_sms.sandbox``, then set the
``sms_api_default`` connection it prints) with ``{"number": "+447911123451"}``: in the
sandbox the user of a number ending in digit d calls after d seconds, 0 never calls.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_sms.operators.calls import (
    FlashCallOperator,
    IncomingCallVerificationOperator,
    NotifyVerifiedOperator,
)
from airflow_provider_sms.sensors.incoming_call import IncomingCallSensor

log = logging.getLogger(__name__)

NUMBER = Param("+447911123451", type="string", description="The user's phone number (E.164).")

with DAG(
    "phone_verification_incoming_call",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sms-api", "example"],
    params={"number": NUMBER},
):
    reservation: Any = IncomingCallVerificationOperator(
        task_id="reserve_number", number="{{ params.number }}"
    )

    @task
    def show_number(reserved: dict[str, Any]) -> str:
        """In a real app: show the number to the user (web page, app screen...)."""
        log.info("Please call +%s before %s", reserved["did_number"], reserved["expires_at"])
        return reserved["request_id"]

    wait_for_call = IncomingCallSensor(
        task_id="wait_for_call",
        request_id="{{ ti.xcom_pull('reserve_number')['request_id'] }}",
        deferrable=True,
        poke_interval=2,
        timeout=180,
    )
    mark_verified = NotifyVerifiedOperator(
        task_id="mark_verified", request_id="{{ ti.xcom_pull('reserve_number')['request_id'] }}"
    )
    show_number(reservation.output) >> wait_for_call >> mark_verified


with DAG(
    "phone_verification_flash_call",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sms-api", "example"],
    params={
        "number": NUMBER,
        "code": Param("4711", type="string", pattern=r"^\d{4,6}$", description="The code your app chose."),
        "entered_code": Param("4711", type="string", description="The digits the user typed."),
    },
):
    flash: Any = FlashCallOperator(
        task_id="flash_call", number="{{ params.number }}", code="{{ params.code }}"
    )

    @task
    def check_code(call: dict[str, Any], params: dict[str, Any] | None = None) -> str:
        """In a real app: the user types the last digits of the number that rang them."""
        assert params is not None
        if str(params["entered_code"]).strip() != str(params["code"]):
            raise ValueError("The digits the user typed are not the code")
        return call["request_id"]

    code_ok = check_code(flash.output)
    NotifyVerifiedOperator(task_id="mark_verified", request_id=code_ok)
