"""Test DAG: a failing task pages two people by SMS and one by a Russian text-to-speech call."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_sms.notifications import send_sms_notification, send_voice_notification

ONCALL = ["+447911123461", "+447911123462"]

with DAG("ops_notify", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task(
        on_failure_callback=[
            send_sms_notification(numbers=ONCALL, text="{{ ti.task_id }} failed", sender="Alerts"),
            send_voice_notification(numbers=ONCALL[0], text="Задача {{ ti.task_id }} упала", language="ru"),
        ]
    )
    def broken() -> None:
        raise RuntimeError("boom")

    broken()
