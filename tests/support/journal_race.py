"""One of two live copies of a task instance, for the two-process journal test.

``python -m tests.support.journal_race <root> <folder> <rounds>`` sends one SMS to every number
of ``<folder>/numbers.json`` through the send journal at ``<root>``, once per round (round r is
the DAG run ``race-r``), exactly as :class:`SendSmsOperator` does (``send_sms_to_all``). Before
each round it writes ``<folder>/ready-<pid>-<r>`` and waits for ``<folder>/go-<r>``, so that the
two copies start each round together; it writes each round's outcomes to
``<folder>/result-<pid>-<r>.json``. The connection comes from ``AIRFLOW_CONN_SMS_API_DEFAULT``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sending.journal import SendJournal, TaskScope
from airflow_provider_sms.sending.sms import SmsMessage, send_sms_to_all

TEXT = "Your parcel is on its way"


def scope(round_number: int, try_number: int = 2) -> TaskScope:
    return TaskScope("race_dag", f"race-{round_number}", "send", -1, try_number=try_number)


def main(root: str, folder: str, rounds: int) -> None:
    work = Path(folder)
    numbers = json.loads((work / "numbers.json").read_text())
    hook = SmsApiHook()
    for r in range(rounds):
        (work / f"ready-{os.getpid()}-{r}").touch()
        deadline = time.monotonic() + 120
        while not (work / f"go-{r}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"round {r}: no go")
            time.sleep(0.005)
        journal = SendJournal(ObjectStoragePath(root), scope(r))
        results = send_sms_to_all(hook, journal, numbers, SmsMessage(TEXT), max_workers=8)
        outcomes = {r.number: r.outcome.value for r in results}
        (work / f"result-{os.getpid()}-{r}.json").write_text(json.dumps(outcomes))
        print(r, dict(Counter(outcomes.values())), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
