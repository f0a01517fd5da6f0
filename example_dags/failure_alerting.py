"""Page the on-call engineer by SMS and by a spoken call when a pipeline fails.

- The task ``load_orders`` carries both notifiers as ``on_failure_callback``: when it fails
  (after its retries), the on-call number gets an SMS naming the task and a text-to-speech
  call reading it out.
- The DAG itself sends one SMS when a run fails, whichever task caused it.

The ``simulate_failure`` param (default true) makes ``load_orders`` fail, so the alerting can
be tried against the sandbox; the ``oncall`` param is the number to page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_sms.notifications import send_sms_notification, send_voice_notification

with DAG(
    "failure_alerting",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sms-api", "example"],
    params={
        "oncall": Param("+447911123456", type="string", description="The on-call phone (E.164)."),
        "simulate_failure": Param(True, type="boolean"),
    },
    on_failure_callback=send_sms_notification(
        numbers="{{ params.oncall }}",
        text="Airflow: run {{ dag_run.run_id }} of {{ dag.dag_id }} failed",
    ),
):

    @task(
        on_failure_callback=[
            send_sms_notification(
                numbers="{{ params.oncall }}",
                text="Airflow: {{ dag.dag_id }}.{{ ti.task_id }} failed (try {{ ti.try_number }})",
            ),
            send_voice_notification(
                numbers="{{ params.oncall }}",
                text="Attention please. The task {{ ti.task_id }} of the pipeline {{ dag.dag_id }} failed.",
                language="en",
            ),
        ]
    )
    def load_orders(params: dict[str, Any] | None = None) -> int:
        """Stands for any task that can fail; here it fails on request."""
        assert params is not None
        if params["simulate_failure"]:
            raise RuntimeError("The orders feed is unreachable (simulated failure)")
        return 42

    load_orders()
