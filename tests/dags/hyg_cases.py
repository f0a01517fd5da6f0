"""Test DAGs for NumberHygieneOperator with its defaults (tests/sandbox/test_hygiene_bad_lists.py,
test_hygiene_outputs.py and test_hygiene_resume.py run them with dag.test()).

Paths come from the run's conf; every setting not named here is the operator's default, so a
test of these DAGs tests what a user gets.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_sms.operators.hygiene import NumberHygieneOperator

PATHS = {
    "input_path": "{{ dag_run.conf['input_path'] }}",
    "output_path": "{{ dag_run.conf['output_path'] }}",
    "number_column": "{{ dag_run.conf.get('number_column', 'phone') }}",
}

with DAG("hyg_defaults", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    NumberHygieneOperator(task_id="hygiene", **PATHS)

with DAG("hyg_streaming", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    NumberHygieneOperator(task_id="hygiene", count_rows=False, **PATHS)

with DAG("hyg_utf16", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    NumberHygieneOperator(task_id="hygiene", encoding="utf-16-le", **PATHS)

with DAG("hyg_for_programs", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    NumberHygieneOperator(task_id="hygiene", spreadsheet_safe=False, **PATHS)
