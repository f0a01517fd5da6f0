"""How long the "SMS & Voice" page takes to load with 100,000 delivery receipts in the database,
on SQLite and on PostgreSQL.

For each backend, in a fresh process: a throw-away Airflow metadata database (SQLite in a
temporary AIRFLOW_HOME; PostgreSQL from a throw-away cluster started from the binaries on PATH,
or the empty database of ``--postgres-url``) is filled with a month of activity -- ``--receipts``
receipt events (SENT then a final status per message), the send-run summaries those messages
came from (1,000 receipt keys each, so every run gets a funnel), a nightly hygiene summary, and
inbound SMS. The events are inserted in bulk; the page's count tables are then built from them
the way an upgraded deployment builds them on first use (timed: it reads every event, which is
what each page load cost when the page counted the events themselves). Then:

- the write path: ``--saves`` webhook events stored through the plugin's store, with the count
  tables kept in the same transaction and without (ms per event);
- the page, as the browser loads it with a signed-in user through Airflow's own auth manager:
  ``GET /sms-api/dashboard/`` and its stylesheet and script, then ``GET .../api/sections`` (the
  charts); and ``GET .../api/data`` (the same numbers as JSON); medians of ``--repeat`` loads,
  the sections split into reading, aggregating and rendering.

    python benchmarks/dashboard_load.py                       # SQLite and PostgreSQL
    python benchmarks/dashboard_load.py --backend sqlite --receipts 20000 --repeat 3

It prints the database's plans of the page's two main queries. Not a test: numbers vary with
the machine; docs quote one run's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DAY = timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--receipts", type=int, default=100_000, help="receipt events to insert")
    parser.add_argument("--days", type=int, default=30, help="days the activity spreads over")
    parser.add_argument("--repeat", type=int, default=7, help="page loads to time")
    parser.add_argument("--saves", type=int, default=300, help="events stored through the webhook store")
    parser.add_argument(
        "--postgres-url", help="an existing, empty PostgreSQL database (postgresql+psycopg://...)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the database URL, in the measuring process
    args = parser.parse_args(argv)
    if args.child:
        return measure(args, args.child)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for backend in backends:
        print(f"\n=== {backend} ===", flush=True)
        if backend == "sqlite":
            code = child(argv, "sqlite")
        elif args.postgres_url:
            code = child(argv, args.postgres_url)
        else:
            with postgres_cluster() as url:
                code = child(argv, url)
        if code:
            return code
    return 0


def child(argv: list[str] | None, url: str) -> int:
    """Measure in a fresh process: Airflow reads its database settings when first imported."""
    command = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--child", url]
    return subprocess.run(command, check=False).returncode


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on loopback (as the ``postgres`` user when run as root)."""
    binaries = [shutil.which(name) for name in ("initdb", "postgres")]
    if None in binaries:
        raise SystemExit("PostgreSQL binaries (initdb, postgres) are not on PATH: pass --postgres-url")
    home = tempfile.mkdtemp(prefix="sms-dashboard-bench-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(home, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = os.path.join(home, "data")
    server = None
    try:
        subprocess.run(
            [*as_user, str(binaries[0]), "-D", data, "-U", "airflow", "-A", "trust"],
            check=True,
            capture_output=True,
        )
        settings = ["-p", str(port), "-h", "127.0.0.1", "-k", home]
        server = subprocess.Popen(
            [*as_user, str(binaries[1]), "-D", data, *settings],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        socket_file = os.path.join(home, f".s.PGSQL.{port}")
        deadline = time.monotonic() + 60
        while not os.path.exists(socket_file):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.2)
        time.sleep(0.5)
        yield f"postgresql+psycopg://airflow@127.0.0.1:{port}/postgres"
    finally:
        if server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


# -- in the measuring process -------------------------------------------------------------------


def measure(args: argparse.Namespace, url: str) -> int:
    home = Path(tempfile.mkdtemp(prefix="sms-dashboard-bench-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    conn = f"sqlite:///{home}/airflow.db" if url == "sqlite" else url
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = conn
    if conn.startswith("postgresql+psycopg://"):
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = conn.replace(
            "+psycopg://", "+psycopg_async://"
        )
    os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = "benchmark-" + "x" * 60
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"  # the figures, not Airflow's notices
    try:
        run(args)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


def run(args: argparse.Namespace) -> None:
    from airflow.utils import db
    from airflow.utils.session import create_session

    from airflow_provider_sms.plugins.dashboard_rollup import ensure_tables

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
    with create_session(scoped=False) as session:
        bind = session.get_bind()
    started = time.perf_counter()
    ensure_tables(bind)
    print(
        f"Count tables built from the {counts['receipts'] + counts['inbound']:,} stored receipts and inbound "
        f"SMS (once, on first use): {time.perf_counter() - started:.2f} s"
    )
    print_plans(args.days)
    time_page(args.repeat, args.days)
    time_saves(args.saves)


def fill(receipts: int, days: int) -> dict[str, int]:
    """Insert a month of activity with bulk INSERTs (no DAG runs: the page reads events only)."""
    import sqlalchemy as sa
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
    from airflow_provider_sms.summaries import HYGIENE_SUMMARIES, SMS_SUMMARIES, receipt_key

    rnd = random.Random(7)
    now = datetime.now(timezone.utc)
    start = now - (days - 1) * DAY
    ids = {}
    with create_session() as session:
        # The DAG the summaries name: the page shows a user the summaries of the DAGs they may read.
        session.add(DagBundleModel(name="bench"))
        session.flush()
        session.add(
            DagModel(
                dag_id="bench",
                bundle_name="bench",
                max_active_tasks=16,
                max_consecutive_failed_dag_runs=0,
                has_task_concurrency_limits=False,
            )
        )
        for asset in (DELIVERY_RECEIPTS, INBOUND_SMS, HYGIENE_SUMMARIES, SMS_SUMMARIES):
            model = AssetModel(name=asset.name, uri=asset.uri, group=asset.group, extra={})
            session.add(model)
            session.flush()
            ids[asset.name] = model.id

    messages = receipts // 2
    per_run = 1000
    runs = max(1, messages // per_run)
    sends, events = [], []
    for run in range(runs):
        at = start + (days - 1) * DAY * run / runs
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
        _row(ids[INBOUND_SMS.name], start + (now - start) * rnd.random(), {"from": "447911000000", "text": t})
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


def _row(asset_id: int, at: datetime, extra: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
    return {
        "asset_id": asset_id,
        "timestamp": at,
        "extra": extra,
        "source_dag_id": "bench" if run_id else None,
        "source_task_id": "task" if run_id else None,
        "source_run_id": run_id,
        "source_map_index": -1,
    }


def _receipt(request_id: str, number: str, status: str, at: datetime) -> dict[str, Any]:
    stamp = int(at.timestamp())
    return {"requestId": request_id, "number": number, "status": status, "billable": True, "timestamp": stamp}


def print_plans(days: int) -> None:
    """The database's plans of the page's summaries query and counts query."""
    import sqlalchemy as sa
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    from airflow_provider_sms.plugins.dashboard_data import Window, summaries_query
    from airflow_provider_sms.plugins.dashboard_rollup import counts_table
    from airflow_provider_sms.summaries import SMS_SUMMARIES

    window = Window.last_days(days)
    with create_session() as session:
        dialect = session.get_bind().dialect
        prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "postgresql": "EXPLAIN "}.get(dialect.name)
        if prefix is None:
            return
        asset_id = session.scalar(sa.select(AssetModel.id).where(AssetModel.name == SMS_SUMMARIES.name))
        summaries = summaries_query([asset_id], window.since, window.until)
        counts = sa.select(counts_table).where(
            counts_table.c.day >= window.first, counts_table.c.day <= window.last
        )
        for what, query in (("run summaries", summaries), ("daily counts", counts)):
            compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            rows = session.execute(sa.text(prefix + str(compiled))).fetchall()
            print(f"Plan of the {what} query: " + " | ".join(str(row[-1]).strip() for row in rows))


def time_saves(saves: int) -> None:
    """ms per webhook event stored through the plugin's store, with and without the counts."""
    from unittest import mock

    from airflow_provider_sms.assets import DELIVERY_RECEIPTS
    from airflow_provider_sms.plugins import dashboard_rollup
    from airflow_provider_sms.plugins.store import EventKey, MetadataEventStore

    store = MetadataEventStore()
    store.ensure_schema()

    def one(i: int, tag: str) -> float:
        payload = {
            "requestId": f"{tag}-{i}",
            "number": "+447911123456",
            "status": "DELIVERED",
            "billable": True,
        }
        key = EventKey(
            f"receipt:{payload['requestId']}:DELIVERED",
            request_id=payload["requestId"],
            number=payload["number"],
        )
        started = time.perf_counter()
        store.save(DELIVERY_RECEIPTS, key, payload)
        return time.perf_counter() - started

    one(0, "warm-up")
    with_counts, without = [], []
    for i in range(saves):  # interleaved: both see the same load on a shared machine
        with_counts.append(one(i, "with"))
        with mock.patch.object(dashboard_rollup, "record"):
            without.append(one(i, "without"))
    median = statistics.median
    print(
        f"Storing a webhook event: median {median(with_counts) * 1000:.1f} ms with the counts kept in its "
        f"transaction, {median(without) * 1000:.1f} ms without ({saves} events each)"
    )


def time_page(repeat: int, days: int) -> None:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.utils.session import create_session
    from fastapi.testclient import TestClient

    from airflow_provider_sms.plugins.dashboard import create_dashboard_app
    from airflow_provider_sms.plugins.dashboard_data import Window, build_dashboard, load_sources
    from airflow_provider_sms.plugins.dashboard_view import render

    manager = create_auth_manager()
    manager.init()
    token = manager.generate_jwt(SimpleAuthManagerUser(username="bench", role="viewer"))
    client = TestClient(create_dashboard_app())
    headers = {"Authorization": f"Bearer {token}"}
    client.get("/api/sections", headers=headers)  # warm-up: imports, first connection

    def get(path: str) -> Any:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response

    pages, sections, datas, reads, aggregates, renders = [], [], [], [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for path in ("/", "/static/dashboard.css", "/static/dashboard.js"):
            get(path)
        t1 = time.perf_counter()
        html = get(f"/api/sections?days={days}").text
        t2 = time.perf_counter()
        pages.append(t2 - t0)
        sections.append(t2 - t1)
        t0 = time.perf_counter()
        shown = get(f"/api/data?days={days}").json()
        datas.append(time.perf_counter() - t0)
        window = Window.last_days(days)
        t0 = time.perf_counter()
        with create_session(scoped=False) as session:
            sources = load_sources(session, window)
        t1 = time.perf_counter()
        data = build_dashboard(sources, window)
        t2 = time.perf_counter()
        render(data)
        reads.append(t1 - t0)
        aggregates.append(t2 - t1)
        renders.append(time.perf_counter() - t2)
    median = statistics.median
    print(
        f"Page load ({days} days: GET / + stylesheet + script + /api/sections, "
        f"{len(html) // 1024} KiB of charts): median {median(pages):.3f} s of {repeat} "
        f"(min {min(pages):.3f}, max {max(pages):.3f})"
    )
    print(
        f"  of which /api/sections {median(sections):.3f} s: read {median(reads):.3f} s "
        f"({len(sources.counts)} count rows, {len(sources.statuses):,} message statuses), "
        f"aggregate {median(aggregates):.3f} s, render {median(renders):.3f} s (medians)"
    )
    print(
        f"GET /api/data ({days} days): median {median(datas):.3f} s "
        f"(min {min(datas):.3f}, max {max(datas):.3f})"
    )
    assert shown == data, "the endpoint and the direct read disagree"
    delivery, hygiene = shown["delivery"], shown["hygiene"]["tasks"]
    print(
        f"  shows {delivery['receipts']:,} SMS receipts, {len(delivery['funnels'])} send-run funnels, "
        f"{shown['inbound']['messages']:,} inbound SMS, {sum(len(t['runs']) for t in hygiene)} hygiene runs"
    )


if __name__ == "__main__":
    sys.exit(main())
