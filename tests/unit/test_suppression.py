"""Suppression list: opt-out keyword matching and the CSV list (local files, no network)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.sending.suppression import (
    add_to_suppression_list,
    data_dir,
    is_opt_out,
    normalize_keyword,
    read_suppression_list,
    split_suppressed,
    suppression_list_path,
)


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop ",
        "Stop!",
        "STOP.",
        "stop\n",
        "STOP ALL",
        "stopall",
        "Stop-All",
        "UNSUBSCRIBE",
        "Unsubscribe.",
        "unsub",
        "cancel",
        "END",
        "quit!!",
        "OPT OUT",
        "opt-out",
        "Opt_Out",
        "optout",
        "OPT  OUT",
        "Revoke",
        "stop please",
        "Please stop",
        "\uff33\uff34\uff2f\uff30",  # full-width STOP, as some phones send it
        "Stöp",
    ],
)
def test_opt_out_variants_are_recognised(text):
    assert is_opt_out(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "Hello",
        "Don't stop, great offer!",
        "STOPPED",
        "stop by tomorrow?",
        "1234",
        "STOP 2",
        "S T O P",
        "endless",
    ],
)
def test_other_messages_are_not_opt_outs(text):
    assert not is_opt_out(text)


def test_normalize_keyword():
    assert normalize_keyword("  opt-out! ") == "OPT OUT"
    assert normalize_keyword("Stop...ALL") == "STOP ALL"


def local(tmp_path: Path, name: str = "suppression.csv") -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path / name}")


def test_missing_list_is_empty(tmp_path):
    assert read_suppression_list(local(tmp_path)) == set()


def test_add_is_idempotent_and_normalises_numbers(tmp_path):
    path = local(tmp_path, "nested/dir/suppression.csv")
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    numbers = ["447911123456", "+44 7911 123457", "+447911123456", "not a number"]
    added = add_to_suppression_list(path, numbers, reason="inbound STOP", now=when)
    assert added == ["+447911123456", "+447911123457"]
    assert add_to_suppression_list(path, ["+447911123456", "00447911123457"]) == []
    assert read_suppression_list(path) == {"+447911123456", "+447911123457"}
    text = (tmp_path / "nested/dir/suppression.csv").read_text()
    assert text.splitlines() == [
        "e164,added_at,reason",
        "+447911123456,2025-01-02T03:04:05+00:00,inbound STOP",
        "+447911123457,2025-01-02T03:04:05+00:00,inbound STOP",
    ]
    assert [p.name for p in (tmp_path / "nested/dir").iterdir()] == ["suppression.csv"]  # no temp left


def test_nothing_new_writes_nothing(tmp_path):
    path = local(tmp_path)
    assert add_to_suppression_list(path, []) == []
    assert not path.exists()


def test_list_written_by_hand_is_read(tmp_path):
    (tmp_path / "suppression.csv").write_text("e164,note\n+447911123456,asked by phone\n447911123499,\n\n")
    assert read_suppression_list(local(tmp_path)) == {"+447911123456", "+447911123499"}
    added = add_to_suppression_list(local(tmp_path), ["+447911123400"])
    assert added == ["+447911123400"]
    assert len(read_suppression_list(local(tmp_path))) == 3


@pytest.mark.parametrize(
    "content",
    [
        "\ufeffe164,added_at,reason\n+447911123456,,\n",
        "number,name\n+447911123456,Ann\n",
        "+447911123456\n",
    ],
    ids=["excel-bom", "other-header", "no-header"],
)
def test_adding_keeps_every_number_the_reader_honours(tmp_path, content):
    (tmp_path / "suppression.csv").write_text(content, encoding="utf-8")
    assert read_suppression_list(local(tmp_path)) == {"+447911123456"}
    add_to_suppression_list(local(tmp_path), ["+447911123400"])
    assert read_suppression_list(local(tmp_path)) == {"+447911123456", "+447911123400"}


def test_split_suppressed_keeps_order_and_drops_duplicates():
    numbers = ["+447911123401", "447911123402", "+44 7911 123401", "+447911123403", "nonsense"]
    to_send, dropped = split_suppressed(numbers, {"+447911123402"})
    assert to_send == ["+447911123401", "+447911123403"]
    assert dropped == ["+447911123402", "nonsense"]


def test_default_list_lives_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", str(tmp_path / "data"))
    assert str(data_dir()) == str(tmp_path / "data")
    assert str(suppression_list_path("")) == str(tmp_path / "data" / "suppression.csv")
    assert str(suppression_list_path(None)) == str(tmp_path / "data" / "suppression.csv")
    assert str(suppression_list_path(" s3://bucket/list.csv ")) == "s3://bucket/list.csv"


def test_data_dir_defaults_to_airflow_home(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW_VAR_SMS_API_DATA_DIR", raising=False)
    monkeypatch.delenv("AIRFLOW__SMS_API__DATA_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr("airflow.sdk.Variable.get", lambda key, default=None: default)
    assert str(data_dir()) == str(tmp_path / "sms_api")
