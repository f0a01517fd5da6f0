"""The hygiene engine against the HTTPS sandbox: verdicts, costs and bad input, proven by the ledger."""

from __future__ import annotations

import csv
import json
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sms.exceptions import AuthenticationError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hygiene import RESULT_COLUMNS, HygieneEngine, HygieneInputError, HygieneOptions

RATE = 1000  # pacing is not what these tests are about

VALID = "+447400123456"
FRAUD = "+447400123466"
SUSPICIOUS = "+447400123477"
UNREACHABLE = "+447400123498"
LANDLINE = "+442079460000"
API_INVALID = "+445555"  # possible for phonenumbers, but not E.164 enough for the API: errorCode 11


@pytest.fixture
def use_conn(sandbox, monkeypatch):
    """Point ``sms_api_default`` at the sandbox, with extra connection settings."""
    sandbox.set_rate_limit(RATE)

    def use(**extra: Any) -> None:
        conn = json.loads(sandbox.airflow_conn_json())
        conn["extra"].update({"rate_limit": RATE, **extra})
        monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))

    use()
    return use


def write_list(path: Path, numbers: list[str], *, header: tuple[str, ...] = ("id", "number")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([f"r{i}", number] for i, number in enumerate(numbers, start=1))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def run(tmp_path: Path, numbers: list[str], name: str = "out", **options: Any) -> tuple[dict[str, Any], list]:
    source = write_list(tmp_path / f"{name}-in.csv", numbers)
    summary = HygieneEngine(SmsApiHook(), HygieneOptions(**options)).run(source, tmp_path / f"{name}.csv")
    return summary.to_dict(), read_csv(tmp_path / f"{name}.csv")


def calls(sandbox) -> Counter[tuple[str, str | None]]:
    """Requests the sandbox answered, by (product, number)."""
    return Counter((e["product"], e["number"]) for e in sandbox.ledger())


def test_every_verdict_path_with_one_lookup_pair_per_number(sandbox, use_conn, tmp_path) -> None:
    numbers = [VALID, FRAUD, SUSPICIOUS, LANDLINE, UNREACHABLE, "+44 7400 I23456", "+44123", API_INVALID]

    summary, rows = run(tmp_path, numbers)

    assert [r["verdict"] for r in rows] == [
        "VALID", "FRAUDULENT", "SUSPICIOUS", "NOT_MOBILE", "UNREACHABLE", "INVALID", "INVALID", "INVALID",
    ]  # fmt: skip
    assert list(rows[0]) == ["id", "number", *RESULT_COLUMNS]
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(1, 9)]
    valid, fraud, _, landline, unreachable, letters, short, api_invalid = rows
    assert (valid["e164"], valid["hlr_status"], valid["fraud_status"], valid["country"]) == (
        VALID, "DELIVERED", "PASSED", "GB",
    )  # fmt: skip
    assert valid["mccmnc"]
    assert valid["network"]
    assert valid["checked_at"]
    assert valid["error"] == ""
    assert fraud["fraud_status"] == "FRAUDULENT"  # the sandbox answers the reference's "FRAUDLENT"
    assert landline["fraud_status"] == "NOT_MOBILE_PREFIX"
    assert unreachable["hlr_status"] == "UNDELIVERED"
    assert unreachable["fraud_status"] == "PASSED"
    assert "letters" in letters["error"]
    assert letters["e164"] == ""
    assert "too short" in short["error"]
    assert "errorCode 11" in api_invalid["error"]
    assert api_invalid["e164"] == API_INVALID
    # Five numbers the API could judge: one HLR look-up and one fraud check each. The
    # errorCode 11 number: one refused look-up, no fraud check. Locally invalid: nothing.
    paid = calls(sandbox)
    for number in (VALID, FRAUD, SUSPICIOUS, LANDLINE, UNREACHABLE):
        assert paid[("hlr", number)] == 1
        assert paid[("fraudcheck", number)] == 1
    assert sum(paid.values()) == 11
    assert summary["api_calls"] == 11
    assert summary["verdicts"]["INVALID"] == 3
    assert summary["verdicts"]["VALID"] == 1
    assert summary["calls_saved_by"]["invalid"] == 4


def test_clean_and_flagged_lists(sandbox, use_conn, tmp_path) -> None:
    summary, _ = run(tmp_path, [VALID, FRAUD, VALID, "nope", "+447400123457"])

    clean = read_csv(Path(summary["clean_path"]))
    flagged = read_csv(Path(summary["flagged_path"]))
    assert summary["clean_path"] == str(tmp_path / "out.clean.csv")
    assert [(r["id"], r["e164"]) for r in clean] == [("r1", VALID), ("r5", "+447400123457")]
    assert list(clean[0]) == ["id", "number", "e164"]
    assert [(r["id"], r["verdict"]) for r in flagged] == [("r2", "FRAUDULENT"), ("r4", "INVALID")]
    assert flagged[0]["reason"] == "fraud check: FRAUDULENT"
    assert "letters" in flagged[1]["reason"]


def test_same_number_in_different_formats_is_checked_once(sandbox, use_conn, tmp_path) -> None:
    formats = [VALID, "+44 7400 123456", "0044 7400 123456", "447400123456", "+44-7400-123-456"]

    summary, rows = run(tmp_path, [*formats, FRAUD, "+44 7400 123 466"])

    assert [r["e164"] for r in rows] == [VALID] * 5 + [FRAUD] * 2
    assert [r["duplicate"] for r in rows] == ["false", "true", "true", "true", "true", "false", "true"]
    assert [r["verdict"] for r in rows] == ["VALID"] * 5 + ["FRAUDULENT"] * 2
    assert calls(sandbox) == {(p, n): 1 for n in (VALID, FRAUD) for p in ("hlr", "fraudcheck")}
    assert summary["unique_numbers"] == 2
    assert summary["duplicate_rows"] == 5
    assert summary["calls_saved_by"]["duplicates"] == 10


def test_failed_checks_are_error_never_valid_nor_dropped(sandbox, use_conn, tmp_path) -> None:
    use_conn(max_retries=0)
    sandbox.set_faults("500=1.0")

    summary, rows = run(tmp_path, [VALID, UNREACHABLE, "+447400123457"])

    assert [r["verdict"] for r in rows] == ["ERROR"] * 3
    assert all(r["error"].startswith("HLR look-up failed: ServerError") for r in rows)
    assert summary["verdicts"]["ERROR"] == 3
    assert summary["verdicts"]["VALID"] == 0
    assert read_csv(Path(summary["clean_path"])) == []
    assert len(read_csv(Path(summary["flagged_path"]))) == 3
    assert not [e for e in sandbox.ledger() if e["billable"]]  # 5xx: answered before processing


def test_budget_stops_before_overspending_and_reports_unchecked_rows(sandbox, use_conn, tmp_path) -> None:
    numbers = [f"+4474001234{n}" for n in (10, 11, 12, 13, 14)]

    summary, rows = run(tmp_path, [*numbers, numbers[0], numbers[4], "bad"], max_api_calls=5)

    # 5 calls buy two numbers (2 calls each); the third would need calls 5 and 6.
    verdicts = [r["verdict"] for r in rows]
    assert verdicts == ["VALID", "VALID", *["UNCHECKED"] * 3, "VALID", "UNCHECKED", "INVALID"]
    assert rows[2]["error"] == "not checked: the max_api_calls budget (5) was used up"
    assert sum(calls(sandbox).values()) == 4 == summary["api_calls"]
    assert summary["unchecked_rows"] == 4
    assert summary["first_unchecked_row"] == 3
    flagged = read_csv(Path(summary["flagged_path"]))
    assert [r["id"] for r in flagged if r["verdict"] == "UNCHECKED"] == ["r3", "r4", "r5", "r7"]


def test_incremental_run_reuses_recent_answers(sandbox, use_conn, tmp_path) -> None:
    first, first_rows = run(tmp_path, [VALID, FRAUD, "letters!"], name="night1")
    sandbox.reset()

    second, rows = run(
        tmp_path, [FRAUD, "+447400123457", VALID], name="night2", previous_results=first["output_path"]
    )

    assert calls(sandbox) == {("hlr", "+447400123457"): 1, ("fraudcheck", "+447400123457"): 1}
    assert [r["verdict"] for r in rows] == ["FRAUDULENT", "VALID", "VALID"]
    assert rows[0]["checked_at"] == first_rows[1]["checked_at"]  # the answer keeps its age
    assert rows[0]["duplicate"] == "false"
    assert second["calls_saved_by"]["previous_results"] == 4
    assert second["api_calls"] == 2


def test_answers_older_than_max_age_are_checked_again(sandbox, use_conn, tmp_path) -> None:
    first, _ = run(tmp_path, [VALID, FRAUD], name="old")
    previous = Path(first["output_path"])
    rows = read_csv(previous)
    rows[0]["checked_at"] = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    with previous.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sandbox.reset()

    run(tmp_path, [VALID, FRAUD], name="new", previous_results=str(previous), max_age="2d")

    assert calls(sandbox) == {("hlr", VALID): 1, ("fraudcheck", VALID): 1}


def test_missing_previous_results_file_is_the_first_night(sandbox, use_conn, tmp_path) -> None:
    summary, _ = run(tmp_path, [VALID], previous_results=str(tmp_path / "nothing-yet.csv"))

    assert summary["api_calls"] == 2


def test_skip_fraud_check_if_unreachable(sandbox, use_conn, tmp_path) -> None:
    summary, rows = run(tmp_path, [UNREACHABLE, LANDLINE, VALID], skip_fraud_check_if_unreachable=True)

    # The landline's HLR look-up is undelivered too: without a fraud check it is UNREACHABLE.
    assert [r["verdict"] for r in rows] == ["UNREACHABLE", "UNREACHABLE", "VALID"]
    assert [r["fraud_status"] for r in rows] == ["", "", "PASSED"]
    assert calls(sandbox) == {
        ("hlr", UNREACHABLE): 1, ("hlr", LANDLINE): 1, ("hlr", VALID): 1, ("fraudcheck", VALID): 1,
    }  # fmt: skip
    assert summary["calls_saved_by"]["skipped_fraud_checks"] == 2


def test_missing_column_fails_before_any_call(sandbox, use_conn, tmp_path) -> None:
    source = write_list(tmp_path / "in.csv", [VALID], header=("id", "Phone"))

    with pytest.raises(HygieneInputError, match=r"no column 'number'; its header is \['id', 'Phone'\]"):
        HygieneEngine(SmsApiHook(), HygieneOptions()).run(source, tmp_path / "out.csv")

    assert sandbox.ledger() == []
    assert not (tmp_path / "out.csv").exists()


def test_empty_file_fails_with_a_clear_error(sandbox, use_conn, tmp_path) -> None:
    (tmp_path / "in.csv").write_bytes(b"")

    with pytest.raises(HygieneInputError, match="is empty: expected a CSV header line naming the column"):
        HygieneEngine(SmsApiHook(), HygieneOptions()).run(tmp_path / "in.csv", tmp_path / "out.csv")


def test_wrong_encoding_names_the_line_before_any_call(sandbox, use_conn, tmp_path) -> None:
    text = f"id,number,name\nr1,{VALID},Ann\nr2,{FRAUD},Zoë\n"
    (tmp_path / "in.csv").write_bytes(text.encode("latin-1"))

    with pytest.raises(HygieneInputError, match=r"line 3 is not valid utf-8 \(byte 0xeb"):
        HygieneEngine(SmsApiHook(), HygieneOptions()).run(tmp_path / "in.csv", tmp_path / "out.csv")
    assert sandbox.ledger() == []

    summary = HygieneEngine(SmsApiHook(), HygieneOptions(encoding="latin-1")).run(
        tmp_path / "in.csv", tmp_path / "out.csv"
    )
    assert [r["name"] for r in read_csv(tmp_path / "out.csv")] == ["Ann", "Zoë"]  # written as UTF-8
    assert summary.verdicts["FRAUDULENT"] == 1


def test_input_error_midway_keeps_the_paid_answers(sandbox, use_conn, tmp_path) -> None:
    """Without the counting pass the bad line is found mid-run: what was paid is saved, and
    the run after the fix does not pay for it again."""
    good = [f"+4474001234{n}" for n in range(20, 26)]
    lines = ["id,number", *(f"r{i},{n}" for i, n in enumerate(good))]
    (tmp_path / "in.csv").write_bytes(("\n".join(lines) + "\nr9,Zoë\n").encode("latin-1"))
    engine = HygieneEngine(SmsApiHook(), HygieneOptions(count_rows=False))

    with pytest.raises(HygieneInputError, match="line 8 is not valid utf-8"):
        engine.run(tmp_path / "in.csv", tmp_path / "out.csv")
    assert sum(calls(sandbox).values()) == 12
    assert not (tmp_path / "out.csv").exists()
    assert (tmp_path / "out.csv.state").is_dir()

    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = engine.run(tmp_path / "in.csv", tmp_path / "out.csv").to_dict()

    assert sum(calls(sandbox).values()) == 12  # nothing paid twice
    assert summary["calls_saved_by"]["resume"] == 12
    assert summary["verdicts"]["VALID"] == 6
    assert not (tmp_path / "out.csv.state").exists()


def test_blank_lines_are_not_rows_and_ragged_rows_are_kept(sandbox, use_conn, tmp_path) -> None:
    text = f"id,number,name\n\nr1,{VALID},Ann\n,,\n  \nr2,{FRAUD}\nr3,{VALID},Bo,extra\n"
    (tmp_path / "in.csv").write_text(text, encoding="utf-8-sig")  # with a byte-order mark

    summary = HygieneEngine(SmsApiHook(), HygieneOptions()).run(tmp_path / "in.csv", tmp_path / "out.csv")

    rows = read_csv(tmp_path / "out.csv")
    assert [(r["id"], r["name"], r["verdict"]) for r in rows] == [
        ("r1", "Ann", "VALID"), ("r2", "", "FRAUDULENT"), ("r3", "Bo", "VALID"),
    ]  # fmt: skip
    assert summary.blank_lines == 3
    assert summary.ragged_rows == 2
    assert summary.rows == 3


def test_input_column_named_like_a_result_column_is_kept_renamed(sandbox, use_conn, tmp_path) -> None:
    source = write_list(tmp_path / "in.csv", [VALID], header=("country", "number"))

    HygieneEngine(SmsApiHook(), HygieneOptions()).run(source, tmp_path / "out.csv")

    (row,) = read_csv(tmp_path / "out.csv")
    assert row["country_input"] == "r1"
    assert row["country"] == "GB"


def test_wrong_credentials_stop_the_run_at_once(sandbox, use_conn, monkeypatch, tmp_path) -> None:
    conn = json.loads(sandbox.airflow_conn_json())
    conn["password"] = "not-the-secret"
    conn["extra"]["rate_limit"] = RATE
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
    source = write_list(tmp_path / "in.csv", [f"+4474001{n:05d}" for n in range(300)])
    hook = CountingHook()

    with pytest.raises(AuthenticationError, match="Number hygiene stopped: the connection is refused"):
        HygieneEngine(hook, HygieneOptions(workers=4)).run(source, tmp_path / "out.csv")

    # It stopped on the first refusals (the ledger has no unauthenticated requests: the
    # hook counts them): about the 2 x 4 checks already submitted, not 300.
    assert 0 < hook.requests <= 2 * 2 * 4
    assert not (tmp_path / "out.csv").exists()


class CountingHook(SmsApiHook):
    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self._lock = threading.Lock()

    def run(self, request: Any) -> Any:
        with self._lock:
            self.requests += 1
        return super().run(request)
