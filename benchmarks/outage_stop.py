"""How fast a batch stops when the API goes down, and what the retry pays for (docs/failures.md).

Not a test (nothing is asserted): a script that starts the HTTPS sandbox in-process, sends one
SMS to ``--numbers`` numbers (``send_sms_to_all``, the list path of ``SendSmsOperator``, 8
workers) and runs number hygiene over the same numbers (``HygieneEngine``, the engine of
``NumberHygieneOperator``), each time taking the sandbox down (``Sandbox.go_down()``) once
``--after`` requests came in. It prints, per batch, the seconds from the outage's start to the
batch's ``ApiUnavailableError`` (the circuit breaker) and the requests of the first try,
then brings the sandbox back and prints what the second try paid for: SMS or look-ups per
number (target: exactly 1 each, no duplicate, no repaid look-up).

Run: ``python benchmarks/outage_stop.py [--numbers 1000] [--after 300] [--rate 500]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Airflow reads its home on import: never the user's ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="outage-bench-airflow-")

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.exceptions import ApiUnavailableError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hygiene.engine import HygieneEngine
from airflow_provider_sms.hygiene.options import HygieneOptions
from airflow_provider_sms.sandbox import Sandbox
from airflow_provider_sms.sending.entries import TaskScope
from airflow_provider_sms.sending.journal import SendJournal
from airflow_provider_sms.sending.sms import SmsMessage, send_sms_to_all


def numbers(n: int) -> list[str]:
    good = (f"+447911{i:06d}" for i in range(2 * n))
    return [x for x in good if x[-2:] not in ("66", "77", "98", "99")][:n]


def take_down_after(sb: Sandbox, after: int, marks: dict[str, float]) -> threading.Thread:
    def watch() -> None:
        while len(sb.ledger()) < after:
            time.sleep(0.005)
        marks["down"] = time.monotonic()  # go_down() returns after its drain
        sb.go_down()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def first_try(sb: Sandbox, after: int, run: Any) -> dict[str, Any]:
    marks: dict[str, float] = {}
    watcher = take_down_after(sb, after, marks)
    outcome = "finished"
    try:
        run()
    except ApiUnavailableError:
        outcome = "ApiUnavailableError"
    stopped = time.monotonic()
    watcher.join(30)
    return {
        "first try": outcome,
        "stopped s after the outage began": round(stopped - marks["down"], 1) if "down" in marks else None,
        "requests before the outage": len(sb.ledger()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--numbers", type=int, default=1000)
    parser.add_argument("--after", type=int, default=300)
    parser.add_argument("--rate", type=int, default=500)
    args = parser.parse_args()
    people = numbers(args.numbers)
    work = Path(tempfile.mkdtemp(prefix="outage-bench-"))
    with Sandbox(port=0, latency_ms=1, rate_limit=args.rate * 2) as sb:
        conn = sb.airflow_conn()
        conn["extra"]["rate_limit"] = args.rate
        os.environ["AIRFLOW_CONN_SMS_API_DEFAULT"] = json.dumps(conn)
        figures: dict[str, Any] = {}

        journal = SendJournal(ObjectStoragePath(str(work / "journal")), TaskScope("bench", "run", "send"))
        message = SmsMessage("Our shop opens at 9")

        def send() -> None:
            send_sms_to_all(SmsApiHook(), journal, people, message, max_workers=8)

        figures["send"] = first_try(sb, args.after, send)
        sb.come_back()
        send()
        sms = Counter(e["number"] for e in sb.ledger() if e["product"] == "sms" and e["billable"])
        figures["send"]["after the retry: SMS per number"] = dict(Counter(sms.values()))
        figures["send"]["numbers never sent"] = len(set(people) - set(sms))

        sb.reset()
        source = work / "list.csv"
        with source.open("w", newline="") as f:
            csv.writer(f).writerows([["phone"], *([n] for n in people)])
        output = work / "out" / "checked.csv"
        engine = HygieneEngine(SmsApiHook(), HygieneOptions(number_column="phone"))

        def hygiene() -> None:
            engine.run(source, output)

        figures["hygiene"] = first_try(sb, args.after, hygiene)
        sb.come_back()
        hygiene()
        for product in ("hlr", "fraudcheck"):
            paid = Counter(e["number"] for e in sb.ledger() if e["product"] == product and e["billable"])
            figures["hygiene"][f"after the retry: {product} per number"] = dict(Counter(paid.values()))
        with output.open(newline="") as f:
            figures["hygiene"]["verdicts"] = dict(Counter(row["verdict"] for row in csv.DictReader(f)))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
