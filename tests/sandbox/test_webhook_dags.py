"""The sms_campaign example DAG with dag.test(): clean list minus suppression list, sent over
HTTPS to the sandbox with callback_url="airflow", receipts stored by the webhook plugin."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from airflow_provider_sms.assets import DELIVERY_RECEIPTS
from airflow_provider_sms.plugins.store import MetadataEventStore
from airflow_provider_sms.plugins.webhooks import URL_PREFIX, SecretRedactingApp, SecretSource, create_app
from tests.airflow_env import REPO_ROOT
from tests.compat import dag_test
from tests.support.runs import use_sandbox
from tests.support.servers import serve_asgi

SECRET = "campaign-test-secret-0123456789"
CAMPAIGN_DAG = REPO_ROOT / "example_dags" / "sms_campaign.py"
DELIVERED, SUPPRESSED = "+447911123401", "+447911123402"
UNDELIVERED, REJECTED = "+447911123499", "+447911123498"  # magic endings of the sandbox


def load_dag(path: Path, dag_id: str) -> Any:
    from tests.compat import DagBag

    bag = DagBag(dag_folder=str(path), safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


@pytest.fixture
def plugin_url(airflow_db: Any) -> Iterator[str]:
    root = FastAPI()
    app = create_app(secrets=SecretSource(lambda: SECRET, ttl=0), store=MetadataEventStore())
    root.mount(URL_PREFIX, SecretRedactingApp(app))
    with serve_asgi(root) as base_url:
        yield base_url


def receipt_statuses(request_ids: list[str]) -> dict[str, list[str]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        extras = session.scalars(
            sa.select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == DELIVERY_RECEIPTS.name)
            .order_by(AssetEvent.id)
        ).all()
    out: dict[str, list[str]] = {rid: [] for rid in request_ids}
    for extra in extras:
        if extra.get("requestId") in out:
            out[extra["requestId"]].append(extra["status"])
    return out


def test_campaign_skips_suppressed_numbers_and_its_receipts_become_asset_events(
    plugin_url, sandbox_factory, monkeypatch, tmp_path
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "suppression.csv").write_text(f"e164,added_at,reason\n{SUPPRESSED},2025-01-01,inbound STOP\n")
    clean = tmp_path / "june.clean.csv"
    clean.write_text(
        "number,e164,status\n"
        + "".join(f"{n},{n},ok\n" for n in (DELIVERED, SUPPRESSED, UNDELIVERED, REJECTED, DELIVERED))
    )
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", str(data))
    monkeypatch.setenv("AIRFLOW__SMS_API__JOURNAL_PATH", str(tmp_path / "journal"))
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", plugin_url)
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", SECRET)
    campaign_id = f"june-{uuid.uuid4().hex[:8]}"
    with sandbox_factory() as sandbox:  # fresh request ids: the session database is shared
        use_sandbox(monkeypatch, sandbox)  # also as a DB row: dag.test() re-imports tests/airflow_env.py
        run = dag_test(
            load_dag(CAMPAIGN_DAG, "sms_campaign"),
            run_conf={"clean_list": str(clean), "message": "Our shop opens at 9", "campaign_id": campaign_id},
        )
        assert str(run.state) == "success"
        sms = [entry for entry in sandbox.ledger() if entry["product"] == "sms"]
        # SENT + final for two numbers, REJECTED alone for the third.
        sandbox.wait_for_deliveries(5, timeout=20, kind="receipt")
    assert sorted(entry["number"] for entry in sms) == sorted([DELIVERED, UNDELIVERED, REJECTED])
    record = json.loads((data / "campaigns" / f"{campaign_id}.json").read_text())
    assert record["campaign_id"] == campaign_id
    assert sorted(record["request_ids"]) == sorted(entry["request_id"] for entry in sms)
    by_number = {entry["number"]: entry["request_id"] for entry in sms}
    statuses = receipt_statuses(record["request_ids"])
    assert statuses[by_number[DELIVERED]] == ["SENT", "DELIVERED"]
    assert statuses[by_number[UNDELIVERED]] == ["SENT", "UNDELIVERED"]
    assert statuses[by_number[REJECTED]] == ["REJECTED"]
