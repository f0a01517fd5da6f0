"""Personalised campaigns: throughput of a real send, and memory of a dry run over a million rows.

Not a test (nothing is asserted): a script that prints figures measured in this one run.

(a) a personalised send of ``--rows`` rows (default 10,000; ``{first_name}``/``{order_id}`` per
    row) through the campaign path of ``SendSmsOperator`` (plan, journal, ``send_sms_to_all``
    with its default 8 workers) against the HTTPS sandbox in its own process, with its rate
    limit raised from the real API's 30/s to ``--rate`` (default 100) so the run stays short:
    achieved sends/s (sandbox ledger, first to last request) as a fraction of the limit
    (target >= 0.95), and how many rows the sandbox received with exactly their own text;
(b) peak RSS (``resource.getrusage``) of a fresh process dry-running a campaign over
    ``--million`` rows (default 1,000,000) and over a tenth of them: flat memory means the two
    are close (the rows are streamed; repeats are found in a temporary SQLite file).

Run: ``python benchmarks/campaign.py [--scenario a|b|ab] [--rows 10000] [--rate 100] [--million 1000000]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Airflow reads its home on import: never the user's ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="campaign-bench-airflow-")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hook_throughput import start_sandbox, stop_sandbox

TEMPLATE = "Hi {first_name}, your order {order_id} ships today"
NAMES = ("Maja", "Zoë", "Jürgen", "Ana", "Olu", "Chen", "Priya", "Sam")


def write_list(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(("number", "first_name", "order_id"))
        for i in range(rows):
            out.writerow((f"+447911{i:06d}", NAMES[i % len(NAMES)], 100000 + i))


def expected(i: int) -> str:
    return TEMPLATE.format(first_name=NAMES[i % len(NAMES)], order_id=100000 + i)


def run(folder: Path, rows: int, dry_run: bool, workers: int = 8) -> dict[str, Any]:
    """Plan (and send, unless ``dry_run``) the list of ``rows`` rows in ``folder``; counts and seconds."""
    import logging
    from datetime import datetime, timezone

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sms.api.templates import MessageTemplate
    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.sending.campaign_run import Campaign, run_campaign
    from airflow_provider_sms.sending.entries import TaskScope
    from airflow_provider_sms.sending.journal import SendJournal

    log = logging.getLogger("campaign-bench")
    campaign = Campaign(
        numbers=[],
        numbers_file=str(folder / "list.csv"),
        number_column="number",
        text=None,
        template=MessageTemplate(TEMPLATE),
    )
    scope = TaskScope("campaign_bench", f"run-{time.time_ns()}", "send")
    journal = SendJournal(ObjectStoragePath(str(folder / "journal")), scope, log)
    started = time.monotonic()
    outcome = run_campaign(
        campaign,
        journal,
        now=datetime.now(timezone.utc),
        dry_run=dry_run,
        hook=SmsApiHook,
        max_workers=workers,
        log=log,
    )
    elapsed = time.monotonic() - started
    counts = outcome.report["counts"] if outcome.report else outcome.counts.to_dict()
    return {"counts": counts, "seconds": elapsed}


def scenario_a(rows: int, rate: int, workers: int) -> None:
    import requests

    proc, info = start_sandbox(rate, "30-50")
    try:
        conn = json.loads(info["airflow_conn"])
        conn["extra"]["rate_limit"] = rate  # the hook paces at the account's limit
        os.environ["AIRFLOW_CONN_SMS_API_DEFAULT"] = json.dumps(conn)
        with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
            folder = Path(tmp)
            write_list(folder / "list.csv", rows)
            result = run(folder, rows, dry_run=False, workers=workers)
        ledger = requests.get(
            info["base_url"] + "/_sandbox/ledger", verify=info["ca_cert"], timeout=60
        ).json()
        sms = [e for e in ledger if e["product"] == "sms" and e["http_status"] == 200]
        times = sorted(e["time"] for e in sms)
        achieved = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        own_text = sum(e["text"] == expected(int(e["number"][7:])) for e in sms)
        print(f"(a) personalised send, {rows} rows, sandbox limit {rate}/s, {workers} workers")
        print(
            f"    sent {result['counts']['sent']}, accepted SMS in the ledger {len(sms)}, "
            f"with their own text {own_text}"
        )
        print(f"    achieved {achieved:.1f} sends/s = {achieved / rate:.3f} of the limit (target >= 0.95)")
        print(f"    wall time {result['seconds']:.1f} s (planning included)")
    finally:
        stop_sandbox(proc)


def scenario_b(million: int) -> None:
    print("(b) dry run, peak RSS of a fresh process (list streamed from a CSV)")
    for rows in (million // 10, million):
        out = subprocess.run(
            [sys.executable, __file__, "--dry-run-child", str(rows)],
            capture_output=True,
            text=True,
            check=True,
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"    {rows:>9,} rows: peak RSS {child['peak_mb']:.0f} MB "
            f"({child['base_mb']:.0f} MB after importing Airflow and the provider), "
            f"dry run {child['seconds']:.0f} s, {child['counts']['recipients']:,} recipients, "
            f"{child['counts']['segments']:,} segments"
        )


def dry_run_child(rows: int) -> None:
    import airflow_provider_sms.sending.campaign_run  # noqa: F401  (imports counted in the base)

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        folder = Path(tmp)
        write_list(folder / "list.csv", rows)
        result = run(folder, rows, dry_run=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "base_mb": base, **result}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="ab", choices=["a", "b", "ab"])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=8, help="max_workers (the operator's default: 8)")
    parser.add_argument("--dry-run-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dry_run_child:
        dry_run_child(args.dry_run_child)
        return 0
    if "a" in args.scenario:
        scenario_a(args.rows, args.rate, args.workers)
    if "b" in args.scenario:
        scenario_b(args.million)
    return 0


if __name__ == "__main__":
    sys.exit(main())
