"""Recipients: numbers from operator arguments and files, normalised, each person once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sms.compat import AirflowFailException
from airflow_provider_sms.exceptions import InvalidNumberError
from airflow_provider_sms.sending.recipients import (
    e164_or_none,
    each_recipient,
    normalize_recipients,
    numbers_from_file,
    numbers_from_value,
)

A, B = "+447911123456", "+447911123457"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        (A, [A]),
        (447911123456, ["447911123456"]),
        (f"{A}, {B}\n+447911123458; ", [A, B, "+447911123458"]),
        (f'["{A}", "{B}"]', [A, B]),
        (str([A, B]), [A, B]),  # a list rendered by Jinja without native rendering
        ([A, [B]], [A, B]),
        ((n for n in (A,)), [A]),
    ],
)
def test_numbers_from_value(value: Any, expected: list[str]) -> None:
    assert list(numbers_from_value(value)) == expected


def test_numbers_from_value_refuses_a_dict() -> None:
    with pytest.raises(TypeError):
        numbers_from_value({"a": A})


def test_numbers_from_csv_and_text_files(tmp_path: Path) -> None:
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(f"name,mobile\nada,{A}\nbob,\ngrace,{B}\n", encoding="utf-8-sig")
    text_file = tmp_path / "people.txt"
    text_file.write_text(f"# on call\n{A}\n\n{B}\n")

    assert numbers_from_file(str(csv_file), "mobile") == [A, B]
    assert numbers_from_file(f"file://{text_file}") == [A, B]
    with pytest.raises(AirflowFailException, match="no column 'number'"):
        numbers_from_file(str(csv_file))


def test_normalize_recipients_dedupes_by_e164_and_reports_invalid() -> None:
    found = normalize_recipients([A, "+44 7911 123456", "0044 7911 123457", "+4479", "call me", "+4479"])
    assert found.numbers == [A, B]
    assert set(found.invalid) == {"+4479", "call me"}
    assert found.duplicates == 2  # the second spelling of A, and "+4479" again
    with pytest.raises(InvalidNumberError, match="too short"):
        found.raise_if_invalid()


def test_each_recipient_keeps_order_skips_repeats_and_reports_every_invalid_value() -> None:
    seen = [(r.given, r.e164) for r in each_recipient(["+4479", A, "447911123456", "+4479", B])]
    assert seen == [("+4479", None), (A, A), ("+4479", None), (B, B)]
    assert e164_or_none("0044 7911 123456") == A
    assert e164_or_none("call me") is None
