"""Number-list hygiene against the sandbox: this operator's engine vs. the naive and generic ways.

Not a test (nothing is asserted): a script that starts the HTTPS sandbox in its own process
(100-200 ms per answer, rate limit raised from the real API's 30 to ``--rate``, default 50,
so the run stays short: the ratios are what count) and prints figures measured in this one
run:

(a) the engine (what ``NumberHygieneOperator`` runs) over a realistic list of ``--rows`` rows
    (the demo's generator: duplicates, invalids, landlines...): achieved requests/s as a
    fraction of the rate limit (target >= 0.95), API calls per unique number per the
    sandbox ledger (target exactly 2; 0 for duplicates, invalid rows and, in a second run
    with ``previous_results``, cached numbers);
(b) the naive way: one request after another with the same hook, every row, on the first
    ``--small`` rows; (c) the generic Airflow way: one mapped ``HttpOperator`` task per number
    and check (HLR, fraud) run by ``dag.test()`` in a throwaway Airflow home, same rows.
    The engine runs the same small list too: per-row times and speed-ups are printed;
(d) peak RSS (``resource.getrusage``) of a process running the engine over 1,000,000 rows
    (``--million``) and over a tenth of them: flat memory means the two are close.

Run: ``python benchmarks/hygiene_throughput.py [--rate 100] [--rows 3000] [--small 100] ...``
(needs ``pip install -e .[bench]`` for (c)).
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
from collections import Counter
from pathlib import Path
from typing import Any

# Airflow reads its home on import: never the user's ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="hygiene-bench-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hook_throughput import start_sandbox, stop_sandbox
from make_sample_numbers import HEADER, generate_rows

LATENCY_MS = "100-200"


def control(info: dict[str, Any], method: str, path: str) -> Any:
    answer = requests.request(method, info["base_url"] + path, verify=info["ca_cert"], timeout=60)
    answer.raise_for_status()
    return answer.json()


def use_sandbox(info: dict[str, Any], rate: int) -> None:
    conn = json.loads(info["airflow_conn"])
    conn["extra"]["rate_limit"] = rate
    os.environ["AIRFLOW_CONN_SMS_API_DEFAULT"] = json.dumps(conn)


def write_list(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def run_engine(source: Path, output: Path, **options: Any) -> dict[str, Any]:
    """The engine with a fresh hook; the summary plus the 429s its limiter saw."""
    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.hygiene import HygieneEngine, HygieneOptions

    hook = SmsApiHook()
    throttled_before = hook.limiter.throttled_count
    summary = HygieneEngine(hook, HygieneOptions(**options)).run(source, output).to_dict()
    summary["throttled"] = hook.limiter.throttled_count - throttled_before
    return summary


# -- (a) the engine -------------------------------------------------------------------------


def engine_run(info: dict[str, Any], rate: int, work: Path, rows: int) -> dict[str, Any]:
    source = write_list(work / "list.csv", list(generate_rows(rows, seed=7)))
    control(info, "POST", "/_sandbox/reset")
    summary = run_engine(source, work / "checked.csv")
    ledger = control(info, "GET", "/_sandbox/ledger")
    per_number = Counter((e["number"], e["product"]) for e in ledger)
    with (work / "checked.csv").open(encoding="utf-8", newline="") as handle:
        out = list(csv.DictReader(handle))
    api_numbers = {r["e164"] for r in out if r["duplicate"] == "false" and r["e164"]}
    judged = {n for n in api_numbers if (n, "fraudcheck") in per_number}  # errorCode 11: no fraud check
    calls_each = Counter(per_number[(n, "hlr")] + per_number[(n, "fraudcheck")] for n in judged)
    local_invalid = [r for r in out if r["verdict"] == "INVALID" and not r["e164"]]

    control(info, "POST", "/_sandbox/reset")
    cached = run_engine(source, work / "again.csv", previous_results=str(work / "checked.csv"))
    cached_calls = len(control(info, "GET", "/_sandbox/ledger"))
    return {
        "rows": summary["rows"],
        "duration_s": summary["duration_s"],
        "requests": len(ledger),
        "rate_fraction": len(ledger) / summary["duration_s"] / rate,
        "throttled": summary["throttled"],
        "calls_each": dict(calls_each),
        "judged_numbers": len(judged),
        "refused_numbers": len(api_numbers) - len(judged),
        "duplicate_rows": summary["duplicate_rows"],
        "calls_saved_by": summary["calls_saved_by"],
        "local_invalid_rows": len(local_invalid),
        "cached_rerun_calls": cached_calls,
        "cached_rerun_saved": cached["calls_saved_by"]["previous_results"],
    }


# -- (b) naive, (c) generic, and the engine on the same small list ------------------------


def naive_run(info: dict[str, Any], numbers: list[str]) -> dict[str, Any]:
    from airflow_provider_sms.exceptions import SmsApiError
    from airflow_provider_sms.hooks.sms_api import SmsApiHook

    control(info, "POST", "/_sandbox/reset")
    hook = SmsApiHook()
    started = time.monotonic()
    for number in numbers:
        try:
            hook.hlr_lookup(number)
            hook.fraud_check(number)
        except SmsApiError:
            pass  # an invalid number: the hook refused it or the API did
    wall = time.monotonic() - started
    return {"wall_s": wall, "requests": len(control(info, "GET", "/_sandbox/ledger"))}


GENERIC_DAG = """
import json
from datetime import datetime
from pathlib import Path

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG

NUMBERS = json.loads((Path(__file__).parent / "numbers.json").read_text())
BODIES = [json.dumps({"number": n}) for n in NUMBERS]

with DAG("generic_http_hygiene", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    for task_id, endpoint in (("hlr", "v1/insight/hlr"), ("fraud", "v1/insight/fraudcheck")):
        HttpOperator.partial(
            task_id=task_id, http_conn_id="sms_http", endpoint=endpoint, method="POST",
            headers={"Content-Type": "application/json"}, retries=0,
        ).expand(data=BODIES)
"""

GENERIC_RUNNER = """
import json, sys, time
from collections import Counter
from airflow.dag_processing.dagbag import DagBag
from airflow.utils import db

db.initdb()
dag = DagBag(dag_folder=sys.argv[1], safe_mode=False).get_dag("generic_http_hygiene")
started = time.monotonic()
run = dag.test()
wall = time.monotonic() - started
tis = run.get_task_instances()
print(json.dumps({"wall_s": wall, "task_instances": len(tis),
                  "states": Counter(str(ti.state) for ti in tis),
                  "task_seconds": sum(ti.duration or 0 for ti in tis)}))
"""


def generic_run(info: dict[str, Any], numbers: list[str], work: Path) -> dict[str, Any]:
    home = work / "generic-airflow"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "generic_http_hygiene.py").write_text(GENERIC_DAG)
    # The generic way writes numbers as users typed them: it has no normaliser.
    (dags / "numbers.json").write_text(json.dumps(numbers))
    host, port = info["base_url"].removeprefix("https://").rsplit(":", 1)
    conn = {"conn_type": "http", "host": host, "port": int(port), "schema": "https",
            "login": info["key"], "password": info["secret"]}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_SMS_HTTP": json.dumps(conn),
            "REQUESTS_CA_BUNDLE": info["ca_cert"],  # HttpHook verifies with requests' bundle
        }
    )
    control(info, "POST", "/_sandbox/reset")
    done = subprocess.run(
        [sys.executable, "-c", GENERIC_RUNNER, str(dags / "generic_http_hygiene.py")],
        env=env, capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"generic run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["requests"] = len(control(info, "GET", "/_sandbox/ledger"))
    return result


# -- (d) memory at a million rows ---------------------------------------------------------


def make_million(work: Path, rows: int) -> tuple[Path, Path, dict[str, int]]:
    """``rows`` rows: 60 % distinct numbers a previous run already checked (cached), 30 %
    repeats of them in another format, 9.9 % invalid, 0.1 % new numbers (checked via the API)."""
    cached = int(rows * 0.6)
    new = max(1, rows // 1000)
    checked_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    previous = work / f"previous-{rows}.csv"
    with previous.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "e164", "verdict", "hlr_status", "mccmnc", "network", "country",
                         "fraud_status", "duplicate", "error", "checked_at"])  # fmt: skip
        for i in range(cached):
            e164 = f"+4474{10_000_000 + i:08d}"
            answer = ["VALID", "DELIVERED", "23410", "O2", "GB", "PASSED", "false", "", checked_at]
            writer.writerow([e164, e164, *answer])
    source = work / f"million-{rows}.csv"
    counts: Counter[str] = Counter()
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "number"])
        for i in range(rows):
            slot = i % 1000
            if slot == 0 and counts["new"] < new:
                number, kind = f"+4474{90_000_000 + counts['new']:08d}", "new"
            elif slot < 100:
                number, kind = f"call me {i}", "invalid"
            elif slot < 400:
                n = 10_000_000 + (i * 7919) % cached
                number, kind = f"0044 74{str(n)[:2]} {str(n)[2:]}", "repeat"
            else:
                number, kind = f"+4474{10_000_000 + counts['cached']:08d}", "cached"
            counts[kind] += 1
            writer.writerow([f"C{i}", number])
    return source, previous, dict(counts)


def rss_child(source: str, previous: str, output: str) -> None:
    """Run in a fresh process: the engine over ``source``; print its peak RSS and summary."""
    import airflow_provider_sms.hooks.sms_api
    import airflow_provider_sms.hygiene  # noqa: F401 - Airflow and the provider, imported

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = run_engine(Path(source), Path(output), previous_results=previous, max_age="1d")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_rss_mb": peak / 1024, "rss_before_run_mb": before / 1024, "summary": summary}))


def rss_run(rows: int, work: Path) -> dict[str, Any]:
    source, previous, composition = make_million(work, rows)
    done = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(source), str(previous), str(work / f"out-{rows}.csv")],
        capture_output=True, text=True, timeout=7200, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"RSS run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["composition"] = composition
    for path in (source, previous, work / f"out-{rows}.csv"):
        path.unlink(missing_ok=True)
    return result


# -- report -------------------------------------------------------------------------------


def report_engine(a: dict[str, Any]) -> None:
    print(f"\n(a) engine, {a['rows']:,} rows: {a['requests']:,} requests in {a['duration_s']:.1f} s")
    print(
        f"    achieved rate / limit: {a['rate_fraction']:.3f} (target >= 0.95; the hook paces at 0.97 of it);"
        f" 429 answers: {a['throttled']}"
    )
    print(
        f"    API calls per judged unique number: {a['calls_each']} over {a['judged_numbers']:,} numbers"
        f" (target: all 2); refused by the API (errorCode 11, 1 call each): {a['refused_numbers']}"
    )
    print(
        f"    calls for {a['duplicate_rows']:,} duplicate rows: 0;"
        f" for {a['local_invalid_rows']:,} invalid rows: 0; rerun with previous_results:"
        f" {a['cached_rerun_calls']} calls ({a['cached_rerun_saved']:,} saved)"
    )


def compare_small(info: dict[str, Any], work: Path, size: int, skip: set[str]) -> None:
    from airflow_provider_sms.hygiene.pipeline import _normalize

    rows = list(generate_rows(size, seed=11))
    source = write_list(work / "small.csv", rows)
    # (b) and (c) get the numbers normalised where possible (a fair generic DAG would clean
    # them first); the impossible ones are sent as written and fail.
    numbers = [_normalize(row[3], None)[0] or row[3] for row in rows]
    control(info, "POST", "/_sandbox/reset")
    started = time.monotonic()
    engine = run_engine(source, work / "small-out.csv")
    wall = time.monotonic() - started
    calls = engine["api_calls"]
    print(f"\nsame {size} rows: engine {wall:.1f} s ({1000 * wall / size:.0f} ms/row, {calls} calls)")
    if "b" not in skip:
        b = naive_run(info, numbers)
        print(
            f"(b) naive sequential loop: {b['wall_s']:.1f} s ({1000 * b['wall_s'] / size:.0f} ms/row,"
            f" {b['requests']} calls); engine speed-up x{b['wall_s'] / wall:.1f}"
        )
    if "c" not in skip:
        c = generic_run(info, numbers, work)
        print(
            f"(c) mapped HttpOperator, dag.test(): {c['wall_s']:.1f} s"
            f" for {c['task_instances']} task instances ({1000 * c['wall_s'] / size:.0f} ms/row,"
            f" {c['requests']} calls, {c['states']});"
            f" engine speed-up x{c['wall_s'] / wall:.1f}"
        )


def report_rss(rows: int, d: dict[str, Any]) -> None:
    s = d["summary"]
    print(
        f"\n(d) {rows:,} rows {d['composition']}: peak RSS {d['peak_rss_mb']:.0f} MB"
        f" (after imports, before the run: {d['rss_before_run_mb']:.0f} MB);"
        f" {s['duration_s']:.0f} s, {s['api_calls']} API calls, {s['calls_saved']:,} saved"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50, help="sandbox and connection rate limit (req/s)")
    parser.add_argument("--rows", type=int, default=2000, help="rows of the list for (a)")
    parser.add_argument("--small", type=int, default=100, help="rows for (b), (c) and the engine on them")
    parser.add_argument("--million", type=int, default=1_000_000, help="rows for the memory run (d)")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: a,b,c,d")
    parser.add_argument("--rss-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    skip = set(args.skip.split(","))
    proc, info = start_sandbox(args.rate, LATENCY_MS)
    use_sandbox(info, args.rate)
    work = Path(tempfile.mkdtemp(prefix="hygiene-bench-"))
    print(f"sandbox {info['base_url']}: {LATENCY_MS} ms per answer, rate limit {args.rate}/s (conn too)")
    try:
        # The memory runs first: a child's peak RSS starts from its parent's size at fork.
        if "d" not in skip:
            for rows in (args.million // 10, args.million):
                report_rss(rows, rss_run(rows, work))
        if "a" not in skip:
            report_engine(engine_run(info, args.rate, work, args.rows))
        if "b" not in skip or "c" not in skip:
            compare_small(info, work, args.small, skip)
    finally:
        stop_sandbox(proc)


if __name__ == "__main__":
    main()
