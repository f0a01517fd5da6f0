"""How long the "SMS & Voice" page takes to load with 100,000 delivery receipts in the database.

Builds a throw-away Airflow metadata database (SQLite in a temporary AIRFLOW_HOME, or the
database of ``--sql-alchemy-conn``), fills it with a month of activity -- ``--receipts``
receipt events (SENT then a final status per message), the send-run summaries those messages
came from (1,000 receipt keys each, so every run gets a funnel), a nightly hygiene summary,
inbound SMS -- then requests the page's data the way the browser does (``GET
/sms-api/dashboard/api/sections`` with a signed-in user, through Airflow's own auth manager)
and reports the median of ``--repeat`` loads, split into reading, aggregating and rendering.

    python benchmarks/dashboard_load.py                 # 100,000 receipts, SQLite
    python benchmarks/dashboard_load.py --receipts 20000 --repeat 3

It also prints the database's plan for the receipts query (Airflow's index
``idx_asset_id_timestamp`` on ``asset_id, timestamp`` serves it). Not a test: numbers vary
with the machine; docs quote one run's figures.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

DAY = timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--receipts", type=int, default=100_000, help="receipt events to insert")
    parser.add_argument("--days", type=int, default=30, help="days the activity spreads over")
    parser.add_argument("--repeat", type=int, default=5, help="page loads to time")
    parser.add_argument("--sql-alchemy-conn", help="an existing, empty database instead of SQLite")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="sms-dashboard-bench-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = args.sql_alchemy_conn or f"sqlite:///{home}/airflow.db"
    os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = "benchmark-" + "x" * 40
    try:
        return run(args)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    from airflow.utils import db

    started = time.perf_counter()
    db.initdb()
    print(f"Metadata database ready in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    counts = fill(args.receipts, args.days)
    print(
        f"Inserted {counts['receipts']:,} receipt events ({counts['messages']:,} messages), "
        f"{counts['sends']} send-run summaries, {counts['hygiene']} hygiene summaries and "
        f"{counts['inbound']:,} inbound SMS over {args.days} days in {time.perf_counter() - started:.1f} s"
    )
    print_plan()
    time_page(args.repeat, args.days)
    return 0


def fill(receipts: int, days: int) -> dict[str, int]:
    """Insert a month of activity with bulk INSERTs (no DAG runs: the page reads events only)."""
    import sqlalchemy as sa
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
    from airflow_provider_sms.summaries import HYGIENE_SUMMARIES, SMS_SUMMARIES, receipt_key

    rnd = random.Random(7)
    now = datetime.now(timezone.utc)
    start = now - (days - 1) * DAY
    ids = {}
    with create_session() as session:
        for asset in (DELIVERY_RECEIPTS, INBOUND_SMS, HYGIENE_SUMMARIES, SMS_SUMMARIES):
            model = AssetModel(name=asset.name, uri=asset.uri, group=asset.group, extra={})
            session.add(model)
            session.flush()
            ids[asset.name] = model.id

    messages = receipts // 2
    per_run = 1000
    sends, events = [], []
    for run in range(max(1, messages // per_run)):
        at = start + (days - 1) * DAY * run / max(1, messages // per_run)
        request_ids = [f"{run:06d}{i:06d}" + "x" * 20 for i in range(per_run)]
        extra = {
            "kind": "sms", "sent": per_run, "paid": {"sms": per_run}, "started_at": at.isoformat(),
            "receipt_keys": sorted(receipt_key(r) for r in request_ids),
        }  # fmt: skip
        sends.append(_row(ids[SMS_SUMMARIES.name], at, extra, f"run_{run}"))
        for rid in request_ids:
            number = f"+44791{rnd.randint(1_000_000, 9_999_999)}"
            final = rnd.choices(["DELIVERED", "UNDELIVERED", "REJECTED"], [90, 7, 3])[0]
            sent_at = at + timedelta(seconds=rnd.randint(1, 300))
            events.append(_row(ids[DELIVERY_RECEIPTS.name], sent_at, _receipt(rid, number, "SENT", sent_at)))
            done = sent_at + timedelta(seconds=rnd.randint(1, 600))
            events.append(_row(ids[DELIVERY_RECEIPTS.name], done, _receipt(rid, number, final, done)))
    inbound = [
        _row(ids[INBOUND_SMS.name], start + DAY * rnd.random() * days, {"from": "447911000000", "text": t})
        for t in rnd.choices(["STOP", "Thanks!", "When do you open?"], [1, 5, 4], k=messages // 20)
    ]
    nightly = {
        "kind": "hygiene", "rows": 50_000, "paid": {"hlr": 900, "fraud_check": 880}, "calls_saved": 98_000,
        "verdicts": {"VALID": 44_000, "INVALID": 2_500, "NOT_MOBILE": 2_000, "UNREACHABLE": 1_500},
    }  # fmt: skip
    hygiene = [_row(ids[HYGIENE_SUMMARIES.name], start + d * DAY, nightly, f"night_{d}") for d in range(days)]
    with create_session() as session:
        for chunk in range(0, len(events), 10_000):
            session.execute(sa.insert(AssetEvent.__table__), events[chunk : chunk + 10_000])
        for rows in (sends, inbound, hygiene):
            session.execute(sa.insert(AssetEvent.__table__), rows)
    return {
        "receipts": len(events), "messages": messages, "sends": len(sends),
        "inbound": len(inbound), "hygiene": len(hygiene),
    }  # fmt: skip


def _row(asset_id: int, at: datetime, extra: dict, run_id: str | None = None) -> dict:
    return {
        "asset_id": asset_id,
        "timestamp": at,
        "extra": extra,
        "source_dag_id": "bench" if run_id else None,
        "source_task_id": "task" if run_id else None,
        "source_run_id": run_id,
        "source_map_index": -1,
    }


def _receipt(request_id: str, number: str, status: str, at: datetime) -> dict:
    stamp = int(at.timestamp())
    return {"requestId": request_id, "number": number, "status": status, "billable": True, "timestamp": stamp}


def print_plan() -> None:
    """The database's plan for the receipts query (SQLite and PostgreSQL)."""
    import sqlalchemy as sa
    from airflow.utils.session import create_session

    sql = (
        "SELECT timestamp, extra FROM asset_event WHERE asset_id IN (1) AND timestamp >= :since "
        "ORDER BY timestamp"
    )
    with create_session() as session:
        dialect = session.get_bind().dialect.name
        prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN "}.get(dialect)
        if prefix is None:
            return
        since = datetime.now(timezone.utc) - 30 * DAY
        rows = session.execute(sa.text(prefix + sql), {"since": since}).fetchall()
    print("Plan of the receipts query: " + " | ".join(str(row[-1]) for row in rows))


def time_page(repeat: int, days: int) -> None:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.utils.session import create_session
    from fastapi.testclient import TestClient

    from airflow_provider_sms.plugins.dashboard import create_dashboard_app
    from airflow_provider_sms.plugins.dashboard_data import Window, build_dashboard, load_events
    from airflow_provider_sms.plugins.dashboard_view import render

    manager = create_auth_manager()
    manager.init()
    token = manager.generate_jwt(SimpleAuthManagerUser(username="bench", role="viewer"))
    client = TestClient(create_dashboard_app())
    headers = {"Authorization": f"Bearer {token}"}
    client.get("/api/sections", headers=headers)  # warm-up: imports, first connection

    loads, reads, aggregates, renders = [], [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(f"/api/sections?days={days}", headers=headers)
        loads.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.text
        window = Window.last_days(days)
        t0 = time.perf_counter()
        with create_session(scoped=False) as session:
            events = load_events(session, window)
        t1 = time.perf_counter()
        data = build_dashboard(events, window)
        t2 = time.perf_counter()
        html = render(data)
        reads.append(t1 - t0)
        aggregates.append(t2 - t1)
        renders.append(time.perf_counter() - t2)
    median = statistics.median
    print(
        f"GET /sms-api/dashboard/api/sections ({days} days, {len(events.receipts):,} receipt events read, "
        f"{len(html) // 1024} KiB of HTML): median {median(loads):.3f} s of {repeat} "
        f"(min {min(loads):.3f}, max {max(loads):.3f})"
    )
    print(
        f"  of which: read {median(reads):.3f} s, aggregate {median(aggregates):.3f} s, "
        f"render {median(renders):.3f} s (medians)"
    )
    print(f"  funnels {len(data['delivery']['funnels'])}, delivery rate over the period shown per day")


if __name__ == "__main__":
    sys.exit(main())
