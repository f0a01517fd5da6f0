"""Bad and unusual input lists through NumberHygieneOperator in DAG runs (dag.test()) against the sandbox.

Each test checks the outcome (task state, the message naming line and column, rows and verdicts)
and the cost (the sandbox ledger): a list that cannot be read costs nothing; an unusual but
readable one is read whole, each number paid for once.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.runs import OPS_DAGS, run_dag, states, use_sandbox, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")
RATE = 1000
CASES = OPS_DAGS / "hyg_cases.py"
QUOTE = '"'


@pytest.fixture
def fast(sandbox, monkeypatch):
    sandbox.set_rate_limit(RATE)
    use_sandbox(monkeypatch, sandbox, rate_limit=RATE)
    return sandbox


def run(tmp_path: Path, data: bytes, dag_id: str = "hyg_defaults", **conf: Any) -> Any:
    source = tmp_path / "list.csv"
    source.write_bytes(data)
    conf = {"input_path": str(source), "output_path": str(tmp_path / "out" / "checked.csv"), **conf}
    return run_dag(CASES, dag_id, run_conf=conf)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def paid(sandbox) -> Counter[str]:
    """Billable requests per number (2 per checked number: HLR look-up and fraud check)."""
    return Counter(e["number"] for e in sandbox.ledger() if e["billable"])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def numbered(count: int, stray_at: int = 0, closed_at: int = 0) -> str:
    """``id,name,phone`` rows; row ``stray_at`` is named ``"Bob`` (a stray quote), closed on ``closed_at``."""
    names = {stray_at: QUOTE + "Bob", closed_at: "Cat" + QUOTE}
    return "id,name,phone\n" + "".join(
        f"{i},{names.get(i, 'Ann')},{number(i)}\n" for i in range(1, count + 1)
    )


def number(i: int) -> str:
    return f"+4474001{i:05d}"


UNREADABLE = [
    pytest.param(
        numbered(1000, stray_at=10).encode(),
        "line 11, column 4: a quote opens a value here and is never closed, so the rest of the file "
        "(lines 11-1001) would be read as one cell",
        id="unclosed-quote",
    ),
    pytest.param(
        numbered(1000, stray_at=10, closed_at=13).encode(),
        "line 11, column 4: a quoted value runs over lines 11-14, and lines 11 and 12 each look like a row",
        id="stray-quote-closed-later",
    ),
    pytest.param(
        b'id,name,phone\n1,Ann,+447400100001\n2,Bob,"+44 7400\n100002"\n',
        "line 3, column 7: the number cell ('phone') holds a line break",
        id="line-break-in-number",
    ),
    pytest.param(
        b'id,name,phone,city\n1,"Bob,+447400100001,Oslo\n2,Cat,+447400100002",Rome\n',
        "line 2, column 3: a quoted value runs over lines 2-3 and leaves a row of 3 fields where the "
        "header has 4",
        id="rows-merged-into-a-ragged-one",
    ),
    pytest.param(
        b'id,name,phone\n1,"Bob"by,+447400100001\n',
        "line 2, column 8: text follows the closing quote of a quoted value",
        id="text-after-a-closing-quote",
    ),
    pytest.param(
        "id,name,phone\n1,Ann,+447400100001\n".encode("utf-16-le"),
        "looks like UTF-16 without a byte-order mark: set encoding='utf-16-le'",
        id="utf16-without-bom",
    ),
]


@pytest.mark.parametrize(("data", "message"), UNREADABLE)
def test_a_list_that_cannot_be_read_fails_before_any_paid_request(
    fast, tmp_path, capfd, data: bytes, message: str
) -> None:
    dr = run(tmp_path, data)

    assert states(dr) == {("hygiene", -1): "failed"}
    assert message in capfd.readouterr().out
    assert fast.ledger() == []
    assert leftovers(tmp_path / "out") == []  # no output, no state, no claim left behind


def test_a_stray_quote_no_longer_swallows_the_rest_of_the_list(fast, tmp_path, capfd) -> None:
    """The reported case: 1,000 rows, an unclosed quote on row 10. It used to succeed with 10 rows."""
    dr = run(tmp_path, numbered(1000, stray_at=10).encode())
    assert states(dr) == {("hygiene", -1): "failed"}
    assert "line 11, column 4" in capfd.readouterr().out

    dr = run(tmp_path, numbered(1000).encode())  # the quote removed

    summary = xcom(dr, "hygiene")
    rows = read_csv(tmp_path / "out" / "checked.csv")
    assert summary["rows"] == len(rows) == 1000
    assert [r["id"] for r in rows] == [str(i) for i in range(1, 1001)]
    assert summary["clean_rows"] + summary["flagged_rows"] == 1000  # no repeats in this list
    assert paid(fast) == {number(i): 2 for i in range(1, 1001)}


def test_without_the_counting_pass_the_bad_row_fails_the_run_and_nothing_is_paid_twice(
    fast, tmp_path, capfd
) -> None:
    """count_rows=False: the rows before the stray quote are checked, then the run fails at it,
    naming it; the answers are kept, so the run after the fix pays for none of them again."""
    dr = run(tmp_path, numbered(100, stray_at=40).encode(), dag_id="hyg_streaming")

    assert states(dr) == {("hygiene", -1): "failed"}
    assert "line 41, column 4: a quote opens a value here and is never closed" in capfd.readouterr().out
    assert not (tmp_path / "out" / "checked.csv").exists()
    before = paid(fast)
    assert set(before) <= {number(i) for i in range(1, 40)}  # nothing from the merged rows

    dr = run(tmp_path, numbered(100).encode(), dag_id="hyg_streaming")

    assert xcom(dr, "hygiene")["calls_saved_by"]["resume"] == sum(before.values())
    assert paid(fast) == {number(i): 2 for i in range(1, 101)}


@pytest.mark.parametrize("ending", ["\r", "\r\n"])
def test_cr_only_and_crlf_files_are_read_whole(fast, tmp_path, ending: str) -> None:
    text = ending.join(["id,phone", "1,+447400100001", "2,+447400100066", "3,0044 7400 100001", ""])

    dr = run(tmp_path, text.encode())

    rows = read_csv(tmp_path / "out" / "checked.csv")
    assert [(r["id"], r["verdict"], r["duplicate"]) for r in rows] == [
        ("1", "VALID", "false"), ("2", "FRAUDULENT", "false"), ("3", "VALID", "true"),
    ]  # fmt: skip
    assert xcom(dr, "hygiene")["rows"] == 3
    assert paid(fast) == {"+447400100001": 2, "+447400100066": 2}


def test_utf16_without_a_byte_order_mark_reads_once_its_encoding_is_set(fast, tmp_path) -> None:
    data = "id,name,phone\n1,Zoë,+447400100001\n".encode("utf-16-le")

    run(tmp_path, data, dag_id="hyg_utf16")

    (row,) = read_csv(tmp_path / "out" / "checked.csv")
    assert (row["name"], row["verdict"]) == ("Zoë", "VALID")
    assert paid(fast) == {"+447400100001": 2}


def test_cells_of_up_to_ten_megabytes_are_read(fast, tmp_path) -> None:
    big = "n" * (10 * 1024 * 1024)  # the csv module alone stops at 128 KiB
    text = f'id,phone,notes\n1,+447400100001,"{"m" * 1024 * 1024}"\n2,+447400100002,{big}\n3,+447400100003,\n'

    dr = run(tmp_path, text.encode())

    rows = read_csv(tmp_path / "out" / "checked.csv")
    assert [len(r["notes"]) for r in rows] == [1024 * 1024, 10 * 1024 * 1024, 0]
    assert xcom(dr, "hygiene")["verdicts"]["VALID"] == 3
    assert paid(fast) == {f"+44740010000{i}": 2 for i in (1, 2, 3)}


def test_tel_uris_extensions_and_other_scripts_digits_are_normalised(fast, tmp_path) -> None:
    arabic = "+٤٤٧٤٠٠١٠٠٠٠١"  # +447400100001 in Arabic-Indic digits
    numbers = ["tel:+44-7400-100001;ext=5", "+447400100002;ext=12", arabic, "tel:+447400100002"]
    numbers.append("+44 7400 100003")
    text = "id,phone\n" + "".join(f"{i},{n}\n" for i, n in enumerate(numbers, start=1))

    run(tmp_path, text.encode())

    rows = read_csv(tmp_path / "out" / "checked.csv")
    assert [(r["e164"], r["verdict"], r["duplicate"]) for r in rows] == [
        ("+447400100001", "VALID", "false"),
        ("+447400100002", "VALID", "false"),
        ("+447400100001", "VALID", "true"),
        ("+447400100002", "VALID", "true"),
        ("+447400100003", "VALID", "false"),
    ]
    assert [r["error"] for r in rows] == ["extension ;ext=5 dropped", "extension ;ext=12 dropped", "", "", ""]
    clean = read_csv(tmp_path / "out" / "checked.clean.csv")
    assert [r["e164"] for r in clean] == ["+447400100001", "+447400100002", "+447400100003"]
    assert paid(fast) == {"+447400100001": 2, "+447400100002": 2, "+447400100003": 2}


def test_answers_saved_with_any_character_are_reused(fast, tmp_path) -> None:
    """A try killed after saving answers whose network names hold a form feed, U+2028, NEL or a
    line break (str.splitlines() splits on all of them): the next try reuses every one of them."""
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sms.hygiene.checker import now_iso
    from airflow_provider_sms.hygiene.checkpoint import CheckpointLog
    from airflow_provider_sms.hygiene.verdicts import NumberCheck, Verdict

    odd = ["Net\x0cwork", "Net\u2028work", "Net\x85work", "Net\nwork", 'Net"work,']
    checks = [
        NumberCheck(number(i), Verdict.VALID, "DELIVERED", "23410", name, "GB", "PASSED", "", now_iso())
        for i, name in enumerate(odd, start=1)
    ]
    state = CheckpointLog(ObjectStoragePath(str(tmp_path / "out" / "checked.csv.state")), every=1, interval=1)
    for check in checks:
        state.add(check)
    state.flush()
    state.close()
    text = "id,phone\n" + "".join(f"{i},{number(i)}\n" for i in range(1, 7))

    dr = run(tmp_path, text.encode())

    rows = read_csv(tmp_path / "out" / "checked.csv")
    assert [r["network"] for r in rows[:5]] == odd  # each answer whole, read back as written
    assert xcom(dr, "hygiene")["calls_saved_by"]["resume"] == 2 * len(odd)
    assert paid(fast) == {number(6): 2}  # only the number no earlier try had paid for
