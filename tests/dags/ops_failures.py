"""Test DAGs for failure semantics (docs/failures.md), run by tests/sandbox/test_failures*.py with dag.test().

``fail_<name>``: one task per operator form, each with ``retries=2``: a fatal error must fail it
at try 1. ``outage_<name>``: a 1,000-number task whose first try meets an API outage; its
``on_retry_callback`` ends the outage (``tests.support.outage``) before the retry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, BaseOperator

from airflow_provider_sms.operators.calls import (
    FlashCallOperator,
    IncomingCallVerificationOperator,
    NotifyVerifiedOperator,
    PinToSpeechCallOperator,
    TextToSpeechCallOperator,
)
from airflow_provider_sms.operators.hygiene import NumberHygieneOperator
from airflow_provider_sms.operators.insight import FraudCheckOperator, HlrLookupOperator
from airflow_provider_sms.operators.sms import SendSmsOperator
from airflow_provider_sms.sensors.incoming_call import IncomingCallSensor
from tests.support.outage import OUTAGE_NUMBERS, end_outage

START = datetime(2024, 1, 1)
ONE = "+447911123451"
LIST = [f"+4479111235{i:02d}" for i in range(40)]
RETRIES: dict[str, Any] = {"retries": 2, "retry_delay": timedelta(0)}

TASKS: dict[str, Callable[[], BaseOperator]] = {
    "sms_one": lambda: SendSmsOperator(task_id="t", numbers=ONE, text="Hi", **RETRIES),
    # max_failure_ratio=1.0 absorbs per-item failures only, never a fatal error
    "sms_list": lambda: SendSmsOperator(
        task_id="t", numbers=LIST, text="Hi", max_failure_ratio=1.0, **RETRIES
    ),
    "flash_call": lambda: FlashCallOperator(task_id="t", number=ONE, code="4711", **RETRIES),
    "pin_call": lambda: PinToSpeechCallOperator(task_id="t", number=ONE, code="4711", **RETRIES),
    "tts_call": lambda: TextToSpeechCallOperator(task_id="t", number=ONE, text="Hello", **RETRIES),
    "incoming_call": lambda: IncomingCallVerificationOperator(task_id="t", number=ONE, **RETRIES),
    "notify_verified": lambda: NotifyVerifiedOperator(task_id="t", request_id="req-1", **RETRIES),
    "hlr_one": lambda: HlrLookupOperator(task_id="t", number=ONE, **RETRIES),
    "hlr_list": lambda: HlrLookupOperator(task_id="t", numbers=LIST, **RETRIES),
    "fraud_one": lambda: FraudCheckOperator(task_id="t", number=ONE, **RETRIES),
    "fraud_list": lambda: FraudCheckOperator(task_id="t", numbers=LIST, **RETRIES),
    "sensor_poke": lambda: IncomingCallSensor(
        task_id="t",
        request_id="req-1",
        mode="poke",
        poke_interval=0.2,
        timeout=60,
        deferrable=False,
        **RETRIES,
    ),
    "sensor_reschedule": lambda: IncomingCallSensor(
        task_id="t",
        request_id="req-1",
        mode="reschedule",
        poke_interval=0.5,
        timeout=60,
        deferrable=False,
        **RETRIES,
    ),
    "sensor_deferrable": lambda: IncomingCallSensor(
        task_id="t", request_id="req-1", poke_interval=0.2, timeout=60, deferrable=True, **RETRIES
    ),
    "hygiene": lambda: NumberHygieneOperator(
        task_id="t",
        input_path="{{ dag_run.conf['input_path'] }}",
        output_path="{{ dag_run.conf['output_path'] }}",
        number_column="phone",
        workers=4,
        **RETRIES,
    ),
}

for name, make in TASKS.items():
    with DAG(f"fail_{name}", schedule=None, start_date=START, catchup=False):
        make()


with DAG("outage_sms", schedule=None, start_date=START, catchup=False):
    SendSmsOperator(
        task_id="t",
        numbers=OUTAGE_NUMBERS,
        text="Our shop opens at 9",
        max_failure_ratio=1.0,
        retries=1,
        retry_delay=timedelta(0),
        on_retry_callback=end_outage,
    )

with DAG("outage_hygiene", schedule=None, start_date=START, catchup=False):
    NumberHygieneOperator(
        task_id="t",
        input_path="{{ dag_run.conf['input_path'] }}",
        output_path="{{ dag_run.conf['output_path'] }}",
        number_column="phone",
        retries=1,
        retry_delay=timedelta(0),
        on_retry_callback=end_outage,
    )
