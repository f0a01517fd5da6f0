"""The example DAGs parse, schedule on the provider's assets, and their helpers decide right."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from tests.airflow_env import REPO_ROOT

EXAMPLES = REPO_ROOT / "example_dags"


def load_module(name: str) -> ModuleType:
    path: Path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report() -> ModuleType:
    return load_module("delivery_report")


@pytest.fixture(scope="module")
def campaign() -> ModuleType:
    return load_module("sms_campaign")


def test_dags_schedule_on_the_provider_assets(report, campaign):
    opt_out = load_module("inbound_opt_out")
    assert opt_out.inbound_opt_out().timetable.asset_condition.objects == (INBOUND_SMS,)
    condition = report.delivery_report().timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # either kind of event starts a run
    assert sorted(a.uri for a in condition.objects) == sorted([DELIVERY_RECEIPTS.uri, report.CAMPAIGNS.uri])
    assert campaign.CAMPAIGNS == report.CAMPAIGNS
    assert campaign.sms_campaign().schedule is None


def test_campaign_uses_the_airflow_callback_and_a_templated_connection(campaign):
    dag = campaign.sms_campaign()
    send = dag.get_task("send")
    assert send.callback_url == "airflow"
    assert "sms_api_conn_id" in send.template_fields
    assert set(dag.params.keys()) == {"clean_list", "suppression_list", "message", "campaign_id", "conn_id"}


def test_campaign_id_is_the_param_or_the_run_id_and_file_safe(campaign):
    assert campaign.campaign_id_of({"campaign_id": "june opening/2025"}, "manual__x") == "june_opening_2025"
    assert campaign.campaign_id_of({"campaign_id": ""}, "manual__2025-01-01T00:00:00+00:00") == (
        "manual__2025-01-01T00_00_00_00_00"
    )


def test_a_final_status_replaces_sent_never_the_reverse(report):
    state: dict = {}
    assert report.merge_receipt(state, "r1", "SENT", 10.0)
    assert report.merge_receipt(state, "r1", "DELIVERED", 11.0)
    assert not report.merge_receipt(state, "r1", "SENT", 12.0)  # late, out-of-order SENT
    assert not report.merge_receipt(state, "r1", "DELIVERED", 11.0)  # repeat
    assert state == {"r1": {"status": "DELIVERED", "at": 11.0}}
    assert report.merge_receipt(state, "r2", "UNDELIVERED", 5.0)
    assert not report.merge_receipt(state, "r2", "SENT", 4.0)


def test_campaign_counts(report):
    state = {
        "a": {"status": "DELIVERED", "at": 1},
        "b": {"status": "DELIVERED", "at": 1},
        "c": {"status": "UNDELIVERED", "at": 1},
        "d": {"status": "SENT", "at": 1},
        "x": {"status": "DELIVERED", "at": 1},
    }
    counts = report.campaign_counts(["a", "b", "c", "d", "e"], state)
    assert counts == {"DELIVERED": 2, "NO_RECEIPT": 1, "SENT": 1, "UNDELIVERED": 1}
