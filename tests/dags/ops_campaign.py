"""Test DAGs for personalised campaigns (run by tests/sandbox/test_campaign.py with dag.test())."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_sms.operators.sms import SendSmsOperator

START = datetime(2024, 1, 1)
#: Jinja renders ``{{ params.shop }}`` and the raw braces first; then each row fills {first_name}, {order_id}.
TEMPLATE = (
    "Hi {first_name}, your order {order_id} ships today from {{ params.shop }} {% raw %}{{{% endraw %}ref}}"
)
PARAMS = {"list": "", "suppression": "", "shop": "Corner Shop", "deadline": ""}
CLOCK_VARIABLE = "SMS_TEST_CAMPAIGN_CLOCK"  # a fake ISO time: what the clock says when first read
CRASH_VARIABLE = "SMS_TEST_CAMPAIGN_CRASH_ON_RESUME"
_STARTED: dict[str, float] = {}


def test_clock() -> datetime:
    """A clock that says ``$SMS_TEST_CAMPAIGN_CLOCK`` when first read, then runs at real speed."""
    fake = os.environ[CLOCK_VARIABLE]
    started = _STARTED.setdefault(fake, time.monotonic())
    return datetime.fromisoformat(fake) + timedelta(seconds=time.monotonic() - started)


class CrashingOnResume(SendSmsOperator):
    """A worker that dies right after the quiet hours end (when the test asks): the task is then cleared."""

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        if os.environ.get(CRASH_VARIABLE):
            raise RuntimeError("simulated worker crash after the deferral")
        return super().execute_complete(context, event)


for dag_id, dry_run in (("ops_campaign_send", False), ("ops_campaign_dry", True)):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, params=PARAMS):
        SendSmsOperator(
            task_id="send",
            numbers_file="{{ params.list }}",
            message_template=TEMPLATE,
            suppression_list="{{ params.suppression }}",
            dry_run=dry_run,
            max_failure_ratio=1.0,
        )


with DAG("ops_campaign_quiet", schedule=None, start_date=START, catchup=False, params=PARAMS):
    CrashingOnResume(
        task_id="send",
        numbers_file="{{ params.list }}",
        message_template="Hi {first_name}, your parcel arrives tomorrow",
        quiet_hours=("21:00", "08:00"),
        send_deadline="{{ params.deadline }}",
        clock=test_clock,
        max_failure_ratio=1.0,
    )


__all__ = ["CLOCK_VARIABLE", "CRASH_VARIABLE", "TEMPLATE"]
