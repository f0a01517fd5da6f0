"""One real Airflow (API server, scheduler, DAG processor, triggerer) and one HTTPS sandbox
for all end-to-end tests of the session; both always torn down.

The sandbox calls back into Airflow's API server: delivery receipts through the
``callback_url="airflow"`` URL the operators build from ``[sms_api]`` configuration, inbound
SMS through its ``webhook_url``. The DAGs folder holds the three example DAGs,
``dags/incoming_call_check.py`` and ``dags/list_hygiene.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_provider_sms.sandbox import Sandbox
from tests.airflow_e2e.cluster import AirflowCluster
from tests.airflow_env import REPO_ROOT

E2E_DAGS = [
    REPO_ROOT / "example_dags" / "sms_campaign.py",
    REPO_ROOT / "example_dags" / "delivery_report.py",
    REPO_ROOT / "example_dags" / "inbound_opt_out.py",
    Path(__file__).parent / "dags" / "incoming_call_check.py",
    Path(__file__).parent / "dags" / "list_hygiene.py",
]
DAG_IDS = ["sms_campaign", "delivery_report", "inbound_opt_out", "incoming_call_check", "list_hygiene"]


@dataclass
class Deployment:
    airflow: AirflowCluster
    sandbox: Sandbox
    data_dir: Path

    @property
    def webhook_base(self) -> str:
        return f"{self.airflow.base_url}/sms-api/webhooks/{self.airflow.webhook_secret}"


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    airflow = AirflowCluster(dags=E2E_DAGS, parallelism=3)
    data_dir = airflow.home / "data"
    data_dir.mkdir()
    inbound_url = f"{airflow.base_url}/sms-api/webhooks/{airflow.webhook_secret}/inbound-sms"
    with Sandbox(port=0, latency_ms=1, seed=20250101, webhook_url=inbound_url) as sandbox:
        airflow.env.update(
            {
                "AIRFLOW_CONN_SMS_API_DEFAULT": sandbox.airflow_conn_json(),
                "AIRFLOW__SMS_API__DATA_PATH": str(data_dir),
            }
        )
        with airflow:
            airflow.wait_for_dags(DAG_IDS)
            yield Deployment(airflow, sandbox, data_dir)
