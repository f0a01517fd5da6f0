"""E2E DAG: NumberHygieneOperator over the list and into the folder the run's conf names."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_sms.operators.hygiene import NumberHygieneOperator

with DAG(
    "list_hygiene", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["sms-api", "e2e"]
):
    NumberHygieneOperator(
        task_id="hygiene",
        input_path="{{ dag_run.conf['input_path'] }}",
        output_path="{{ dag_run.conf['output_path'] }}",
        workers=4,
    )
