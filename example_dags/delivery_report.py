"""Delivery report: delivered / undelivered / rejected counts per SMS campaign, kept up to date.

Runs whenever the webhook plugin stores delivery receipts (``DELIVERY_RECEIPTS``) and
whenever ``sms_campaign`` records a campaign (``CAMPAIGNS``). A receipt carries only the
request id, so the campaign is found through the files ``sms_campaign`` writes
(``<data dir>/campaigns/<campaign_id>.json``: its request ids). Receipts often arrive
*before* the campaign's send task has finished and written that file, so each run:

1. merges the receipts of its triggering events into ``<data dir>/delivery_report/receipts.json``
   (latest status per request id: a final status -- DELIVERED, UNDELIVERED, REJECTED... --
   replaces SENT, never the reverse; repeats change nothing, so re-running a run is harmless);
2. recomputes the counts of every campaign touched by those receipts, or announced by a
   ``CAMPAIGNS`` event, into ``<data dir>/delivery_report/<campaign_id>.json`` and its XCom.

One ``update_reports`` task at a time (``max_active_tis_per_dag=1``) keeps the state file
single-writer without capping the DAG's runs: every burst of receipts gets its run, and the
merge does not depend on the order the runs execute in. For millions of messages, keep
this state in a database table instead of a JSON file; the logic stays the same.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset, ObjectStoragePath, dag, task

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, delivery_receipts
from airflow_provider_sms.sending.suppression import data_dir

log = logging.getLogger(__name__)

#: Same asset as in sms_campaign.py: a campaign's request ids were recorded.
CAMPAIGNS = Asset("sms-api://example/campaigns")

IN_FLIGHT = "SENT"  # the only non-final receipt status
NO_RECEIPT = "NO_RECEIPT"


def _read_json(path: ObjectStoragePath, default: Any) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def _write_json(path: ObjectStoragePath, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


def merge_receipt(state: dict[str, dict[str, Any]], request_id: str, status: str, at: float) -> bool:
    """Record ``status`` for ``request_id`` unless a later or more final one is known; True if changed."""
    known = state.get(request_id)
    if known is not None:
        known_final, new_final = known["status"] != IN_FLIGHT, status != IN_FLIGHT
        if (known_final, known["at"]) > (new_final, at) or known["status"] == status:
            return False
    state[request_id] = {"status": status, "at": at}
    return True


def campaign_counts(request_ids: list[str], state: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Latest status of each request id of a campaign, counted (``NO_RECEIPT`` when none yet)."""
    counts = Counter(state.get(rid, {}).get("status", NO_RECEIPT) for rid in request_ids)
    return dict(sorted(counts.items()))


@dag(
    dag_id="delivery_report",
    schedule=(DELIVERY_RECEIPTS | CAMPAIGNS),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sms-api", "example"],
)
def delivery_report() -> None:
    @task(max_active_tis_per_dag=1)
    def update_reports(triggering_asset_events: Any = None) -> dict[str, dict[str, Any]]:
        """Merge this run's receipts, then rewrite the reports of the campaigns concerned."""
        root = data_dir()
        state_path = root / "delivery_report" / "receipts.json"
        state: dict[str, dict[str, Any]] = _read_json(state_path, {})
        receipts = delivery_receipts(triggering_asset_events)
        changed = {
            r.request_id
            for r in receipts
            if merge_receipt(state, r.request_id, r.status, r.timestamp.timestamp() if r.timestamp else 0.0)
        }
        if changed:
            _write_json(state_path, state)
        announced = set()
        if triggering_asset_events:
            for event in triggering_asset_events.get(CAMPAIGNS, []):
                announced.add((event.extra or {}).get("campaign_id"))
        reports: dict[str, dict[str, Any]] = {}
        campaigns_dir = root / "campaigns"
        for path in sorted(campaigns_dir.glob("*.json")) if campaigns_dir.exists() else []:
            campaign = _read_json(path, {})
            request_ids = list(campaign.get("request_ids", []))
            if campaign.get("campaign_id") not in announced and not changed.intersection(request_ids):
                continue
            report = {
                "campaign_id": campaign["campaign_id"],
                "messages": len(request_ids),
                "statuses": campaign_counts(request_ids, state),
                "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            _write_json(root / "delivery_report" / f"{campaign['campaign_id']}.json", report)
            reports[campaign["campaign_id"]] = report
            log.info("Campaign %s: %s", campaign["campaign_id"], report["statuses"])
        log.info(
            "%d receipt(s) in this run, %d new status(es); %d campaign report(s) updated",
            len(receipts),
            len(changed),
            len(reports),
        )
        return reports

    update_reports()


delivery_report()
