"""Personalised campaigns in DAG runs against the HTTPS sandbox: the ledger keeps each text sent."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.sending.campaign import read_preview
from airflow_provider_sms.sending.suppression import add_to_suppression_list
from airflow_provider_sms.summaries import SMS_SUMMARIES
from tests.support.runs import OPS_DAGS, run_dag, states, use_journal, use_sandbox, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")
DAG_FILE = OPS_DAGS / "ops_campaign.py"

MAJA, ZOE, NOBODY, LONG, OPTED_OUT, JURGEN = (f"+4479111234{i}" for i in range(21, 27))
ROWS = [
    ("number", "first_name", "order_id"),
    (MAJA, "Maja", "29211"),
    (ZOE, "Zoë", "29212"),  # ë is not GSM-7: UCS-2
    (NOBODY, "", "29213"),  # empty placeholder: refused
    (MAJA, "Maja", "29214"),  # the same person, another text: sent too
    ("+44 7911 123421", "Maja", "29211"),  # the same person and text (other spelling): once
    ("+4479", "Ann", "29215"),  # not a number
    (LONG, "X" * 500, "29216"),  # 4 segments > max_segments=3: refused
    (OPTED_OUT, "Olga", "29217"),  # on the suppression list
    (JURGEN, "Jürgen", "29218"),
]


def expected_text(name: str, order: str) -> str:
    return f"Hi {name}, your order {order} ships today from Corner Shop {{ref}}"


def write_list(folder: Path) -> dict[str, str]:
    path = folder / "customers.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(ROWS)
    suppression = folder / "suppression.csv"
    add_to_suppression_list(suppression, [OPTED_OUT], reason="STOP")
    return {"list": str(path), "suppression": str(suppression)}


def sms_sent(sandbox) -> list[tuple[str, str]]:
    return sorted((e["number"], e["text"]) for e in sandbox.ledger() if e["product"] == "sms")


def test_each_person_receives_their_own_text(sandbox, monkeypatch, tmp_path: Path) -> None:
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path / "journal")
    conf = write_list(tmp_path)

    dr = run_dag(DAG_FILE, "ops_campaign_send", run_conf=conf)

    assert states(dr) == {("send", -1): "success"}
    # Every request the sandbox saw, with its text: refused, invalid, suppressed and repeated
    # rows cost nothing; Maja gets both of her texts, once each.
    assert sms_sent(sandbox) == sorted(
        [
            (MAJA, expected_text("Maja", "29211")),
            (ZOE, expected_text("Zoë", "29212")),
            (MAJA, expected_text("Maja", "29214")),
            (JURGEN, expected_text("Jürgen", "29218")),
        ]
    )
    assert all(e["billable"] for e in sandbox.ledger())
    report = xcom(dr, "send")
    counts = report["counts"]
    assert counts["numbers"] == 9
    assert counts["sent"] == 4
    assert (counts["refused"], counts["suppressed"], counts["duplicates"], counts["deferred"]) == (2, 1, 1, 0)
    assert [f["number"] for f in report["failed"]] == [mask_number("+4479")]
    reasons = {r["row"]: r["reason"] for r in report["refused"]}
    assert reasons[3] == "empty {first_name}"
    assert reasons[7].startswith("4 segments (558 GSM-7 units) is more than max_segments=3")
    assert report["suppressed"] == [mask_number(OPTED_OUT)]
    from tests.sandbox.test_run_summaries import summary_events

    [event] = summary_events(SMS_SUMMARIES.name, dr.run_id)
    extra = event["extra"]
    assert (extra["sent"], extra["refused"], extra["suppressed"], extra["deferred"]) == (4, 2, 1, 0)
    assert extra["segments"] == 4
    # Each text fits one segment ("{" and "}" cost 2 septets each; Zoë's text is UCS-2).
    assert counts["segments"] == report["segments"] == 4


def test_dry_run_pays_nothing_and_previews_what_the_real_run_sends(
    sandbox, monkeypatch, tmp_path: Path
) -> None:
    use_sandbox(monkeypatch, sandbox)
    journal = use_journal(monkeypatch, tmp_path / "journal")
    conf = write_list(tmp_path)

    dry = run_dag(DAG_FILE, "ops_campaign_dry", run_conf=conf)

    assert states(dry) == {("send", -1): "success"}
    assert sandbox.ledger() == []  # not a single request
    result = xcom(dry, "send")
    assert result["dry_run"] is True
    assert {k: result["counts"][k] for k in ("rows", "recipients", "invalid", "suppressed", "refused")} == {
        "rows": 9,
        "recipients": 4,
        "invalid": 1,
        "suppressed": 1,
        "refused": 2,
    }
    assert result["counts"]["by_encoding"] == {"GSM-7": 3, "UCS-2": 1}
    assert result["counts"]["segments"] == 4
    preview = read_preview(result["preview_path"])
    assert Path(result["preview_path"]).is_relative_to(journal)
    assert [row["verdict"] for row in preview] == [
        "send", "send", "refused", "send", "duplicate", "invalid", "refused", "suppressed", "send",
    ]  # fmt: skip
    assert not any(number in Path(result["preview_path"]).read_text() for number in (MAJA, ZOE, JURGEN))
    assert {r["encoding"] for r in preview if r["verdict"] == "send"} == {"GSM-7", "UCS-2"}

    run_dag(DAG_FILE, "ops_campaign_send", run_conf=conf)

    previewed = sorted((r["number"], r["text"]) for r in preview if r["verdict"] == "send")
    assert sorted((mask_number(n), text) for n, text in sms_sent(sandbox)) == previewed


def test_a_bad_template_fails_before_any_paid_call(sandbox, monkeypatch, tmp_path: Path) -> None:
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path / "journal")
    conf = write_list(tmp_path)
    conf["shop"] = "{shop.__class__}"  # Jinja puts it into the template: an attribute access

    dr = run_dag(DAG_FILE, "ops_campaign_send", run_conf=conf)

    assert states(dr) == {("send", -1): "failed"}
    assert sandbox.ledger() == []


# --- quiet hours ------------------------------------------------------------------------------

UK, NY, TOKYO, UNKNOWN_ZONE = "+447911123431", "+12125550131", "+819012340131", "+15551230131"
QUIET_ROWS = [("number", "first_name"), (UK, "Amy"), (NY, "Bob"), (TOKYO, "Chie"), (UNKNOWN_ZONE, "Dan")]


def set_clock(monkeypatch: pytest.MonkeyPatch, fake: datetime) -> None:
    from tests.dags.ops_campaign import CLOCK_VARIABLE

    monkeypatch.setenv(CLOCK_VARIABLE, fake.isoformat())


def quiet_conf(folder: Path) -> dict[str, str]:
    path = folder / "parcels.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(QUIET_ROWS)
    # Tokyo's window opens at 23:00 UTC, after the deadline: reported, not sent.
    return {"list": str(path), "deadline": "2026-01-15T20:00:00+00:00"}


def test_quiet_hours_defer_and_send_each_person_once(sandbox, monkeypatch, tmp_path: Path) -> None:
    """12:59:58 UTC: London open, New York (07:59:58) quiet for 2 more seconds, Tokyo (21:59:58) quiet."""
    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path / "journal")
    set_clock(monkeypatch, datetime(2026, 1, 15, 12, 59, 58, tzinfo=timezone.utc))

    dr = run_dag(DAG_FILE, "ops_campaign_quiet", run_conf=quiet_conf(tmp_path))

    assert states(dr) == {("send", -1): "success"}
    ledger = [e for e in sandbox.ledger() if e["product"] == "sms"]
    assert [e["number"] for e in ledger] == [UK, NY]  # London first, New York after the deferral
    report = xcom(dr, "send")
    assert report["counts"]["sent"] == 2
    assert report["counts"]["already_sent"] == 1  # London, sent before the deferral
    assert report["counts"]["deferred"] == 0
    reasons = sorted(r["reason"] for r in report["refused"])
    assert reasons[0] == "quiet hours until 2026-01-15T23:00:00+00:00, after send_deadline"
    assert reasons[1] == "quiet hours: the number's local time is unknown"


def test_quiet_hours_with_a_clear_in_the_middle(sandbox, monkeypatch, tmp_path: Path) -> None:
    """The worker dies when the quiet hours end; the task is cleared and run at 22:00 UTC, when
    London is quiet (already texted: not deferred again) and New York open: each person once."""
    from tests.dags.ops_campaign import CRASH_VARIABLE

    use_sandbox(monkeypatch, sandbox)
    use_journal(monkeypatch, tmp_path / "journal")
    conf = quiet_conf(tmp_path)
    same_run = {"logical_date": datetime(2024, 6, 1, tzinfo=timezone.utc)}
    same_run["run_after"] = same_run["logical_date"]
    set_clock(monkeypatch, datetime(2026, 1, 15, 12, 59, 58, tzinfo=timezone.utc))
    monkeypatch.setenv(CRASH_VARIABLE, "1")

    first = run_dag(DAG_FILE, "ops_campaign_quiet", run_conf=conf, **same_run)

    assert states(first) == {("send", -1): "failed"}
    assert [e["number"] for e in sandbox.ledger()] == [UK]

    monkeypatch.delenv(CRASH_VARIABLE)
    set_clock(monkeypatch, datetime(2026, 1, 15, 19, 0, tzinfo=timezone.utc))  # London 19:00, NY 14:00
    again = run_dag(DAG_FILE, "ops_campaign_quiet", run_conf=conf, **same_run)

    assert again.run_id == first.run_id
    assert states(again) == {("send", -1): "success"}
    assert sorted(e["number"] for e in sandbox.ledger()) == sorted([UK, NY])
    report = xcom(again, "send")
    assert (report["counts"]["sent"], report["counts"]["already_sent"]) == (2, 1)

    set_clock(monkeypatch, datetime(2026, 1, 15, 22, 0, tzinfo=timezone.utc))  # London quiet now
    third = run_dag(DAG_FILE, "ops_campaign_quiet", run_conf=conf, **same_run)

    assert states(third) == {("send", -1): "success"}
    assert sorted(e["number"] for e in sandbox.ledger()) == sorted([UK, NY])  # nobody twice
    report = xcom(third, "send")
    assert report["counts"]["deferred"] == 0  # already texted: reported, not deferred again
    assert report["counts"]["already_sent"] == 2
