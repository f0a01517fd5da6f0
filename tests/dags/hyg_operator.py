"""Test DAG for NumberHygieneOperator (run by tests/sandbox/test_hygiene_dags.py with dag.test()).

The list and output paths come from the run's conf, the clean list is declared as an Asset.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset

from airflow_provider_sms.operators.hygiene import NumberHygieneOperator

HYGIENE_CLEAN_LIST = Asset("sms-api://tests/hygiene-clean-list")

with DAG("hyg_operator", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    NumberHygieneOperator(
        task_id="hygiene",
        input_path="{{ dag_run.conf['input_path'] }}",
        output_path="{{ dag_run.conf['output_path'] }}",
        number_column="phone",
        max_api_calls="{{ dag_run.conf.get('budget', 1000) }}",
        clean_asset=HYGIENE_CLEAN_LIST,
        workers=4,
    )
