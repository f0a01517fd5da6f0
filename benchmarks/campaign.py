"""Personalised campaigns: throughput and memory of a real send, memory of a dry run, the journal's listing.

Not a test (nothing is asserted): a script that prints figures measured in this one run.

(a) a personalised send of ``--rows`` rows (default 10,000; ``{first_name}``/``{order_id}`` per
    row) through the campaign path of ``SendSmsOperator`` (plan, journal, ``send_each`` with
    the operator's defaults: no ``max_workers``, the in-flight count follows the measured
    answer time) against the HTTPS sandbox in its own process at ``--rate`` (default 30/s,
    the real API's limit; 30-50 ms latency): achieved started requests per second (the
    sandbox ledger's arrivals, first to last) as a fraction of the limit (target >= 0.95),
    and how many rows the sandbox received with exactly their own text;
(b) peak RSS (``resource.getrusage``) of a fresh process dry-running a campaign over
    ``--million`` rows (default 1,000,000) and over a tenth of them: flat memory means the two
    are close (the rows are streamed; repeats are found in a temporary SQLite file);
(c) peak RSS of a fresh process running a *real* campaign (every row sent, journalled and
    reported) over ``--real`` rows (default 100,000) and over a fifth of them, against a
    sandbox with its rate limit raised to ``--real-rate`` (default 300/s) and 1 ms latency so
    that it finishes in minutes, with ``max_workers=--real-workers`` (default 32): without a
    bound, a client that is itself CPU-bound reads its own slowness as answer time and keeps
    up to 512 sends (threads, connections) in flight; two such runs here were stopped by the
    breaker after answers were lost mid-request (5 in a row). The difference over the extra
    rows is the per-row slope (0 = flat). Airflow's plugins are loaded before the base is
    taken (a task's process has them; else the first ``ObjectStoragePath`` write loads them,
    for lineage). The peak is taken when the report file is written, and again before it and
    after this script removes its temporary folder (``shutil.rmtree`` lists the journal's one
    file per message at once: ~210 bytes each, the harness's cost, not the provider's);
(d) what the send journal's one listing of its folder holds per entry (``tracemalloc``) over
    ``--entries`` fake entry files (default 100,000): the part of a retry's memory that grows
    with the messages already sent.

Run: ``python benchmarks/campaign.py [--scenario a|b|c|d|abcd] [--rows 10000] [--rate 30] ...``
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
import threading
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


def run(folder: Path, rows: int, dry_run: bool, workers: int | None = None) -> dict[str, Any]:
    """Plan (and send, unless ``dry_run``) the list of ``rows`` rows in ``folder``; counts and seconds."""
    import logging
    from datetime import datetime, timezone

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sms.api.templates import MessageTemplate
    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.sending.campaign_run import Campaign, run_campaign
    from airflow_provider_sms.sending.entries import TaskScope
    from airflow_provider_sms.sending.journal import SendJournal
    from airflow_provider_sms.sending.report import LARGE_LIST

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
    if outcome.report is None:
        return {"counts": outcome.counts.to_dict(), "seconds": elapsed}
    with outcome.report as report:
        sending_peak = _peak_mb()  # planning and sending; the report file is written next
        if report.counts["numbers"] > LARGE_LIST:  # as the operator does: the report file, streamed
            journal.write_report(report.chunks())
        # The peak of the whole task, measured here: removing the folder afterwards (the caller's
        # TemporaryDirectory) lists its one journal file per message at once (shutil.rmtree,
        # ~210 bytes each), which is this script's doing, not the provider's.
        return {
            "counts": dict(report.counts),
            "seconds": elapsed,
            "sending_peak_mb": sending_peak,
            "peak_mb": _peak_mb(),
        }


def scenario_a(rows: int, rate: int, workers: int | None) -> None:
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
        shown = f"max_workers={workers}" if workers else "default in-flight count (no max_workers)"
        print(f"(a) personalised send, {rows} rows, sandbox limit {rate}/s, {shown}; {_load()}")
        print(
            f"    sent {result['counts']['sent']}, accepted SMS in the ledger {len(sms)}, "
            f"with their own text {own_text}"
        )
        print(
            f"    achieved {achieved:.1f} started sends/s = {achieved / rate:.3f} of the limit "
            "(target >= 0.95)"
        )
        print(f"    wall time {result['seconds']:.1f} s (planning included)")
    finally:
        stop_sandbox(proc)


def _child(option: str, rows: int, env: dict[str, str] | None = None, *more: str) -> dict[str, Any]:
    """Run this script's child ``option`` over ``rows`` rows in a fresh process; its JSON line."""
    out = subprocess.run(
        [sys.executable, __file__, option, str(rows), *more],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
        raise RuntimeError(f"{option} {rows} failed with exit status {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def scenario_b(million: int) -> None:
    print(f"(b) dry run, peak RSS of a fresh process (list streamed from a CSV); {_load()}")
    for rows in (million // 10, million):
        child = _child("--dry-run-child", rows)
        print(
            f"    {rows:>9,} rows: peak RSS {child['peak_mb']:.0f} MB "
            f"({child['base_mb']:.0f} MB after importing Airflow and the provider), "
            f"dry run {child['seconds']:.0f} s, {child['counts']['recipients']:,} recipients, "
            f"{child['counts']['segments']:,} segments"
        )


def scenario_c(rows: int, rate: int, workers: int) -> None:
    print(
        f"(c) real run, peak RSS of a fresh process, sandbox at {rate}/s and 1 ms latency, "
        f"max_workers={workers}; {_load()}"
    )
    proc, info = start_sandbox(rate, "1")
    try:
        conn = json.loads(info["airflow_conn"])
        conn["extra"]["rate_limit"] = rate
        env = {**os.environ, "AIRFLOW_CONN_SMS_API_DEFAULT": json.dumps(conn)}
        peaks, sending = {}, {}
        for size in (rows // 5, rows):
            child = _child("--real-run-child", size, env, "--workers", str(workers))
            peaks[size], sending[size] = child["peak_mb"], child["sending_peak_mb"]
            print(
                f"    {size:>9,} rows: peak RSS {child['peak_mb']:.0f} MB "
                f"({child['base_mb']:.0f} MB after importing Airflow and the provider; "
                f"{child['sending_peak_mb']:.0f} MB before the report file; "
                f"{child['cleanup_peak_mb']:.0f} MB once this script removed the journal folder), "
                f"{child['counts']['sent']:,} sent in {child['seconds']:.0f} s "
                f"({size / child['seconds']:.0f} rows/s), at most {child['peak_threads']} send threads; "
                f"{_load()}"
            )
        small, large = rows // 5, rows
        for what, mb in (("peak RSS", peaks), ("peak RSS before the report file", sending)):
            slope = (mb[large] - mb[small]) * 1024 * 1024 / (large - small)
            print(f"    slope: {slope:.0f} bytes of {what} per extra row ({mb[large] / mb[small]:.3f}x)")
    finally:
        stop_sandbox(proc)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load_plugins() -> None:
    """Load Airflow's plugins, as a task's process has before its operator runs (counted in the base).

    Otherwise the first write through ``ObjectStoragePath`` (the report file) loads them, for
    lineage, and ~16 MB of imports would land in the measured run.
    """
    from airflow.sdk.lineage import get_hook_lineage_collector

    get_hook_lineage_collector()


def real_run_child(rows: int, workers: int | None) -> None:
    import airflow_provider_sms.hooks.sms_api
    import airflow_provider_sms.sending.campaign_run  # noqa: F401  (imports counted in the base)

    _load_plugins()
    base = _peak_mb()
    threads = [threading.active_count()]
    done = threading.Event()

    def sample() -> None:  # the most threads at once: one per send in flight (and its connection)
        while not done.wait(0.2):
            threads.append(threading.active_count())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        folder = Path(tmp)
        write_list(folder / "list.csv", rows)
        result = run(folder, rows, dry_run=False, workers=workers)
    done.set()
    shown = {"base_mb": base, "peak_threads": max(threads) - 2, "cleanup_peak_mb": _peak_mb()}
    print(json.dumps({**shown, **result}))


def scenario_d(entries: int) -> None:
    import tracemalloc

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sms.sending.entries import TaskScope
    from airflow_provider_sms.sending.journal import SendJournal

    print(f"(d) the send journal's listing, {entries:,} entries already in the folder; {_load()}")
    with tempfile.TemporaryDirectory(prefix="campaign-bench-journal-") as tmp:
        journal = SendJournal(ObjectStoragePath(tmp), TaskScope("campaign_bench", "run", "send"))
        folder = Path(journal.folder.path)
        folder.mkdir(parents=True)
        for i in range(entries):
            (folder / f"{journal.key(f'+447911{i:06d}', 'sms', {'text': 'x'})}.1.json").touch()
        for what, call in (
            ("use_listing() (every send)", journal.use_listing),
            ("existing_keys() (quiet hours, send_deadline)", journal.existing_keys),
        ):
            tracemalloc.start()
            held = call()
            size, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"    {what}: {size / entries:.0f} bytes held per entry "
                f"({size / 1024 / 1024:.1f} MB; {peak / entries:.0f} bytes per entry at the peak of listing)"
            )
            del held


def dry_run_child(rows: int) -> None:
    import airflow_provider_sms.sending.campaign_run  # noqa: F401  (imports counted in the base)

    base = _peak_mb()
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        folder = Path(tmp)
        write_list(folder / "list.csv", rows)
        result = run(folder, rows, dry_run=True)
    print(json.dumps({"peak_mb": _peak_mb(), "base_mb": base, **result}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="abcd", help="any of a, b, c, d (default: all)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=30, help="(a) the sandbox's limit (the real API's: 30)")
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None, help="(a) max_workers (default: none)")
    parser.add_argument("--real", type=int, default=100_000, help="(c) rows of the larger real run")
    parser.add_argument("--real-rate", type=int, default=300, help="(c) the sandbox's limit")
    parser.add_argument("--real-workers", type=int, default=32, help="(c) max_workers")
    parser.add_argument("--entries", type=int, default=100_000, help="(d) journal entries")
    parser.add_argument("--dry-run-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--real-run-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dry_run_child:
        dry_run_child(args.dry_run_child)
        return 0
    if args.real_run_child:
        real_run_child(args.real_run_child, args.workers)
        return 0
    if "a" in args.scenario:
        scenario_a(args.rows, args.rate, args.workers)
    if "b" in args.scenario:
        scenario_b(args.million)
    if "c" in args.scenario:
        scenario_c(args.real, args.real_rate, args.real_workers)
    if "d" in args.scenario:
        scenario_d(args.entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
