"""How close ``SmsApiHook`` gets to the account's rate limit, measured against the sandbox.

Not a test (nothing here is asserted): a script that starts the HTTPS sandbox in its own
process (default 30 requests/s per account, 30-50 ms latency) and prints ratios measured in
this one run, never absolute claims:

(a) one hook shared by 16 threads doing HLR look-ups: achieved rate / limit (target >= 0.95),
    requests lost (target 0) and 429 answers seen;
(b) four processes on the same account, each with its own hook (their limiters share the
    host's pace file), started at one instant and running together for 20 s: combined
    achieved rate / limit (target >= 0.90) and the share of HTTP attempts answered 429
    (target < 5 %);
(c) four processes of one host with a fixed batch each (150 look-ups), timed until the last
    one finishes: combined achieved rate / limit (target >= 0.93), the share of attempts
    answered 429 (target < 1 %), and how evenly they split the account.

429s are counted by the hooks' limiters (``limiter.throttled_count``: the sandbox ledger
records processed requests only); answered requests are counted both by the workers and
in the sandbox ledger.

Run: ``python benchmarks/hook_throughput.py [--scenario a|b|c|ab|all] [--requests 300] ...``
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import requests

# HLR look-ups of UK mobile numbers: answered DELIVERED, never a fault, free to repeat.
_NUMBER_BASE = 447911120000


def start_sandbox(rate_limit: int, latency_ms: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Run the sandbox CLI in its own process group; return it and the JSON line it prints."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_sms.sandbox",
            "--port",
            "0",
            "--rate-limit",
            str(rate_limit),
            "--latency-ms",
            latency_ms,
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        stop_sandbox(proc)
        raise RuntimeError("the sandbox did not start")
    return proc, json.loads(line)


def stop_sandbox(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _control(info: dict[str, Any], method: str, path: str) -> Any:
    response = requests.request(method, info["base_url"] + path, verify=info["ca_cert"], timeout=10)
    response.raise_for_status()
    return response.json()


def _lookups(
    conn_json: str, count: int | None, seconds: float | None, threads: int, offset: int, ready: Any = None
) -> dict[str, Any]:
    """HLR look-ups through one hook from ``threads`` threads: ``count`` of them, or as many as
    start within ``seconds``. Returns counts and timings (monotonic seconds)."""
    os.environ["AIRFLOW_CONN_SMS_API_DEFAULT"] = conn_json
    from airflow_provider_sms.hooks.sms_api import SmsApiHook

    hook = SmsApiHook()
    limiter = hook.limiter  # settings read and limiter made before the clock starts
    throttled_at: list[float] = []  # when this process met its 429s (monotonic seconds)
    on_throttled = limiter.on_throttled

    def recorded(*args: Any, **kwargs: Any) -> None:
        throttled_at.append(time.monotonic())
        on_throttled(*args, **kwargs)

    limiter.on_throttled = recorded  # type: ignore[method-assign]
    failures: list[str] = []
    answered = 0
    finished = 0.0
    lock = threading.Lock()
    numbers = itertools.count(offset)

    def one(i: int) -> None:
        nonlocal answered, finished
        try:
            hook.hlr_lookup(f"+{_NUMBER_BASE + i % 10_000}")
        except Exception as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
        else:
            with lock:
                answered += 1
                finished = max(finished, time.monotonic())

    def worker(quota: int | None, deadline: float) -> None:
        done = 0
        while (quota is None or done < quota) and time.monotonic() < deadline:
            one(next(numbers))
            done += 1

    if ready is not None:
        ready.wait(600)  # every process has imported Airflow and made its hook: start together
    started, started_wall = time.monotonic(), time.time()
    deadline = started + seconds if seconds is not None else math.inf
    quotas: list[int | None] = [None] * threads
    if count is not None:
        quotas = [count // threads + (t < count % threads) for t in range(threads)]
    pool = [threading.Thread(target=worker, args=(q, deadline)) for q in quotas]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    hook.close()
    return {
        "answered": answered,
        "attempted": answered + len(failures),
        "failures": failures,
        "throttled": limiter.throttled_count,
        "throttled_at": throttled_at,
        "started": started,
        "started_wall": started_wall,
        "finished": finished,
        "final_rate": limiter.rate,
    }


def _worker(queue: Any, *args: Any) -> None:
    queue.put(_lookups(*args))


def one_hook(info: dict[str, Any], limit: int, count: int, threads: int) -> dict[str, Any]:
    result = _lookups(info["airflow_conn"], count, None, threads, 0)
    elapsed = result["finished"] - result["started"]
    return {
        "rate_ratio": result["answered"] / elapsed / limit,
        "lost": count - result["answered"],
        "throttled": result["throttled"],
        "elapsed": elapsed,
        "failures": result["failures"][:3],
    }


def shared_account(
    info: dict[str, Any],
    limit: int,
    processes: int,
    threads: int,
    *,
    seconds: float | None = None,
    per_process: int | None = None,
) -> dict[str, Any]:
    """``processes`` processes with a hook each, all started at one instant, on one account."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    # Every worker imports Airflow and reads its connection first, then all start together.
    ready = ctx.Barrier(processes)
    workers = [
        ctx.Process(
            target=_worker,
            args=(queue, info["airflow_conn"], per_process, seconds, threads, p * 2_500, ready),
        )
        for p in range(processes)
    ]
    for w in workers:
        w.start()
    results = [queue.get(timeout=900) for _ in workers]
    for w in workers:
        w.join(30)
    in_window = 0
    per_second: list[int] = []
    if seconds is not None:
        # What the server admitted and answered while all of them ran: the ledger's own times.
        start_at = min(r["started_wall"] for r in results)
        ledger = _control(info, "GET", "/_sandbox/ledger")
        per_second = [0] * math.ceil(seconds)
        for e in ledger:
            if e["http_status"] == 200 and 0 <= e["time"] - start_at < seconds:
                per_second[int(e["time"] - start_at)] += 1
        in_window = sum(per_second)
    answered = sum(r["answered"] for r in results)
    throttled = sum(r["throttled"] for r in results)
    attempts = throttled + sum(r["attempted"] for r in results)
    # time.monotonic() is system-wide on Linux: the processes' clocks agree.
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return {
        "rate_ratio": (in_window / seconds if seconds is not None else answered / elapsed) / limit,
        "throttled_share": throttled / attempts,
        "throttled_at": sorted(
            round(t - min(r["started"] for r in results), 2) for r in results for t in r["throttled_at"]
        ),
        "throttled": throttled,
        "attempts": attempts,
        "answered": answered,
        "lost": sum(r["attempted"] - r["answered"] for r in results),
        "elapsed": elapsed,
        "split": sorted(r["answered"] for r in results),
        "finish_times": sorted(round(r["finished"] - r["started"], 1) for r in results),
        "failures": [f for r in results for f in r["failures"]][:3],
        "per_second": per_second if seconds is not None else None,
    }


def _ledger_answered(info: dict[str, Any]) -> int:
    return sum(1 for e in _control(info, "GET", "/_sandbox/ledger") if e["http_status"] == 200)


def _report_shared(label: str, b: dict[str, Any], ledger: int) -> None:
    print(
        f"{label}: combined achieved/limit = {b['rate_ratio']:.3f}, "
        f"429 share = {b['throttled_share']:.3f} ({b['throttled']}/{b['attempts']} attempts), "
        f"lost = {b['lost']}, answered {b['answered']} (ledger {ledger}) in {b['elapsed']:.1f} s, "
        f"split {b['split']}, finished after {b['finish_times']} s"
    )
    if b["throttled_at"]:
        print(f"    429s met at (s after the start): {b['throttled_at']}")
    if b["per_second"]:
        print(f"    answered per second (ledger): {b['per_second']}")
    for failure in b["failures"]:
        print(f"    failure: {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("a", "b", "c", "ab", "all"), default="all")
    parser.add_argument("--rate-limit", type=int, default=30, help="the sandbox's limit (30)")
    parser.add_argument("--latency-ms", default="30-50", help="the sandbox's latency (30-50)")
    parser.add_argument("--requests", type=int, default=300, help="(a): HLR look-ups by one hook (300)")
    parser.add_argument("--threads", type=int, default=16, help="(a): threads sharing the hook (16)")
    parser.add_argument("--processes", type=int, default=4, help="(b, c): processes on one account (4)")
    parser.add_argument("--seconds", type=float, default=20.0, help="(b): how long they run together (20)")
    parser.add_argument("--per-process", type=int, default=150, help="(c): look-ups per process (150)")
    parser.add_argument("--process-threads", type=int, default=8, help="(b, c): threads per process (8)")
    args = parser.parse_args(argv)
    run = {"a": "a", "b": "b", "c": "c", "ab": "ab", "all": "abc"}[args.scenario]

    proc, info = start_sandbox(args.rate_limit, args.latency_ms)
    try:
        print(f"sandbox: limit {args.rate_limit} req/s, latency {args.latency_ms} ms")
        if "a" in run:
            a = one_hook(info, args.rate_limit, args.requests, args.threads)
            ledger = _ledger_answered(info)
            print(
                f"(a) one hook, {args.threads} threads, {args.requests} HLR look-ups: "
                f"achieved/limit = {a['rate_ratio']:.3f} (target >= 0.95), lost = {a['lost']} "
                f"(ledger answered {ledger}), 429s = {a['throttled']}, {a['elapsed']:.1f} s"
            )
            for failure in a["failures"]:
                print(f"    failure: {failure}")
        for scenario in "bc":
            if scenario not in run:
                continue
            _control(info, "POST", "/_sandbox/reset")
            time.sleep(1.1)  # let the account's one-second window empty
            if scenario == "b":
                b = shared_account(
                    info, args.rate_limit, args.processes, args.process_threads, seconds=args.seconds
                )
                label = (
                    f"(b) {args.processes} processes on one account for {args.seconds:.0f} s "
                    "(targets: >= 0.90, 429 share < 0.05)"
                )
            else:
                b = shared_account(
                    info, args.rate_limit, args.processes, args.process_threads, per_process=args.per_process
                )
                label = (
                    f"(c) {args.processes} processes of one host x {args.per_process} look-ups, until the "
                    "last one finishes (targets: >= 0.93, 429 share < 0.01)"
                )
            _report_shared(label, b, _ledger_answered(info))
    finally:
        stop_sandbox(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
