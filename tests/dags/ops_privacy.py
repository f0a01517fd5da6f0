"""Test DAGs for what Airflow keeps of a run: every sending operator and both notifiers (dag.test()).

``ops_privacy`` uses the defaults; ``ops_privacy_full`` asks for full numbers in XCom
(``xcom_full_numbers=True``); the test runs it with a connection that sets
``log_full_numbers``. Numbers and the code come from params, as they would from an app.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_sms.notifications import send_sms_notification, send_voice_notification
from airflow_provider_sms.operators.calls import (
    FlashCallOperator,
    IncomingCallVerificationOperator,
    NotifyVerifiedOperator,
    PinToSpeechCallOperator,
    TextToSpeechCallOperator,
)
from airflow_provider_sms.operators.insight import FraudCheckOperator, HlrLookupOperator
from airflow_provider_sms.operators.sms import SendSmsOperator

START = datetime(2024, 1, 1)
NUMBERS = ["+447911123461", "+447911123462", "+447911123463", "+447911123464"]
ONCALL = "+447911123465"
CODE = "482193"
PARAMS = {"numbers": NUMBERS[:2], "one": NUMBERS[2], "other": NUMBERS[3], "oncall": ONCALL, "code": CODE}


def build(dag_id: str, full: bool) -> None:
    switch: dict[str, Any] = {"xcom_full_numbers": True} if full else {}
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        params=PARAMS,
        render_template_as_native_obj=True,
    ):
        SendSmsOperator(
            task_id="sms_code",
            numbers="{{ params.numbers }}",
            text="Your one-time code is {{ params.code }}",
            text_is_secret=True,
            **switch,
        )
        SendSmsOperator(task_id="sms_news", numbers=NUMBERS, text="Our shop opens at 9", **switch)
        SendSmsOperator.partial(task_id="sms_mapped", text="Mapped news", **switch).expand(
            numbers=[[NUMBERS[0]], [NUMBERS[1], NUMBERS[2]]]
        )
        flash = FlashCallOperator(
            task_id="flash", number="{{ params.one }}", code="{{ params.code }}", **switch
        )
        NotifyVerifiedOperator(
            task_id="notify_verified", request_id="{{ ti.xcom_pull('flash')['request_id'] }}"
        ).set_upstream(flash)
        PinToSpeechCallOperator(
            task_id="pin", number="{{ params.other }}", code="{{ params.code }}", **switch
        )
        TextToSpeechCallOperator(
            task_id="speak", number="{{ params.one }}", text="Your code is {{ params.code }}", **switch
        )
        IncomingCallVerificationOperator(task_id="reserve", number="{{ params.other }}", **switch)
        HlrLookupOperator(task_id="hlr", numbers="{{ params.numbers }}", **switch)
        FraudCheckOperator(task_id="fraud", number="{{ params.one }}", **switch)

        @task(
            on_failure_callback=[
                send_sms_notification(numbers="{{ params.oncall }}", text="{{ ti.task_id }} failed"),
                send_voice_notification(numbers=["{{ params.oncall }}"], text="The load failed"),
            ]
        )
        def load() -> None:
            raise RuntimeError("simulated failure")

        load()


build("ops_privacy", full=False)
build("ops_privacy_full", full=True)
