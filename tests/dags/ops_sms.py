"""Test DAGs for SendSmsOperator (run by tests/sandbox/test_operators*.py with dag.test())."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta
from typing import Any

import httpx
from airflow.sdk import DAG, BaseHook, task

from airflow_provider_sms.operators.sms import SendSmsOperator

START = datetime(2024, 1, 1)
GOOD = ["+447911123411", "+447911123412", "+447911123413"]


def restore_sandbox_rate_limit(context: Any) -> None:
    """on_retry_callback: give the sandbox back its normal rate limit before the next try.

    The test starves the sandbox (rate limit 1/s) so that the first try gets 429s for most
    numbers; the sandbox is reached through its loopback control route, found from the
    ``sms_api_default`` connection.
    """
    conn = BaseHook.get_connection("sms_api_default")
    tls = ssl.create_default_context(cafile=conn.extra_dejson["verify"])
    httpx.post(f"{conn.host}/_sandbox/settings", json={"rate_limit": 30}, verify=tls, timeout=10)


with DAG("ops_sms_mixed", schedule=None, start_date=START, catchup=False):
    # One invalid number and one duplicate (other formatting) in the list; mapped over two
    # senders, the second of which the account may not use. Each with its own text: the same
    # text would be one message per person for the whole task (whichever instance sends first).
    SendSmsOperator.partial(
        task_id="send",
        numbers=[GOOD[0], "+44 7911 123412", "+4479", GOOD[1]],
        max_failure_ratio=0.5,
    ).expand_kwargs(
        [
            {"sender": "InfoSMS", "text": "Your order #29211 was received"},
            {"sender": "NotValidated", "text": "Your order #29211 was received (copy)"},
        ]
    )


with DAG("ops_sms_retry", schedule=None, start_date=START, catchup=False):
    SendSmsOperator(
        task_id="send",
        numbers=[f"+4479111234{i:02d}" for i in range(20, 30)],
        text="Maintenance tonight at 22:00",
        retries=2,
        retry_delay=timedelta(0),
        on_retry_callback=restore_sandbox_rate_limit,
    )


with DAG("ops_sms_stall", schedule=None, start_date=START, catchup=False):
    SendSmsOperator(
        task_id="send",
        numbers=GOOD,
        text="Your code is 4711",
        retries=1,
        retry_delay=timedelta(0),
    )


with DAG(
    "ops_sms_templated",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"numbers": GOOD[:2], "who": "Ada"},
    render_template_as_native_obj=True,
):
    SendSmsOperator(
        task_id="send",
        numbers="{{ params.numbers }}",
        text="Hello {{ params.who }}",
        sender="Alerts",
    )


with DAG("ops_sms_receipts", schedule=None, start_date=START, catchup=False):
    SendSmsOperator(task_id="send", numbers=GOOD[:2], text="Receipts please", callback_url="airflow")


REMAP = ["+447911123421", "+447911123422", "+447911123423"]

with DAG("ops_sms_remap", schedule=None, start_date=START, catchup=False, params={"order": "forward"}):

    @task
    def batches(params: dict[str, Any] | None = None) -> list[list[str]]:
        """The list, split for mapping; another order on request (an upstream that changed)."""
        assert params is not None
        numbers = REMAP if params["order"] == "forward" else REMAP[::-1]
        return [numbers[:2], numbers[2:]]

    SendSmsOperator.partial(task_id="send", text="Your table is booked").expand(numbers=batches())
