"""Test DAGs for the call and insight operators, mapped tasks included (run with dag.test())."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

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
ALICE, BOB, CAROL = "+447911123431", "+447911123432", "+447911123433"

with DAG("ops_calls", schedule=None, start_date=START, catchup=False, params={"code": "1234"}):
    flash = FlashCallOperator(task_id="flash", number=ALICE, code="{{ params.code }}")
    NotifyVerifiedOperator(
        task_id="notify_verified", request_id="{{ ti.xcom_pull('flash')['request_id'] }}"
    ).set_upstream(flash)
    PinToSpeechCallOperator(task_id="pin", number=BOB, code="{{ params.code }}", language="de")
    TextToSpeechCallOperator(task_id="speak", number=CAROL, text="Your parcel arrives today", language="ru")
    HlrLookupOperator(task_id="hlr", number=ALICE)
    FraudCheckOperator(task_id="fraud", numbers=["+447911123466", "+447911123477", ALICE])


with DAG("ops_mapped", schedule=None, start_date=START, catchup=False):
    FlashCallOperator.partial(task_id="flash", code="5678").expand(number=[ALICE, BOB])
    HlrLookupOperator.partial(task_id="hlr").expand(number=[ALICE, "+447911123499"])
    FraudCheckOperator.partial(task_id="fraud").expand(number=[BOB, "+447911123466"])
    TextToSpeechCallOperator.partial(task_id="speak", text="Hello").expand(number=[CAROL])
    SendSmsOperator.partial(task_id="sms", text="Batch {{ ti.map_index }}").expand(
        numbers=[[ALICE, BOB], [CAROL]]
    )


with DAG("ops_bad_language", schedule=None, start_date=START, catchup=False):
    TextToSpeechCallOperator(task_id="speak", number=ALICE, text="Guten Tag", language="de", retries=2)


with DAG("ops_flash_stall", schedule=None, start_date=START, catchup=False):
    FlashCallOperator(task_id="flash", number=ALICE, retries=2, retry_delay=timedelta(0))


with DAG("ops_incoming_reserve", schedule=None, start_date=START, catchup=False):
    IncomingCallVerificationOperator(task_id="reserve", number=ALICE, ivr_message="Welcome")
