"""API timestamps: epoch seconds or milliseconds, numbers or numeric strings, or null."""

from __future__ import annotations

import pendulum
import pytest

from airflow_provider_sms.api.timestamps import parse_iso, parse_timestamp

SECONDS = pendulum.datetime(2019, 2, 24, 2, 25, 49, tz="UTC")


@pytest.mark.parametrize(
    "value",
    [1550975149, 1550975149.0, "1550975149", " 1550975149 ", 1550975149000, "1550975149000"],
)
def test_seconds_and_milliseconds_as_numbers_or_strings(value: object) -> None:
    parsed = parse_timestamp(value)
    assert parsed == SECONDS
    assert parsed is not None
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == pendulum.duration(0)


def test_milliseconds_keep_their_fraction() -> None:
    # The reference's HLR example: createdAt in milliseconds.
    assert parse_timestamp(1550975149131) == SECONDS.add(microseconds=131_000)


def test_incoming_call_example_strings() -> None:
    assert parse_timestamp("1701792901") == pendulum.datetime(2023, 12, 5, 16, 15, 1, tz="UTC")


@pytest.mark.parametrize("value", [None, ""])
def test_null_and_empty_are_none(value: object) -> None:
    assert parse_timestamp(value) is None


@pytest.mark.parametrize("value", ["soon", "12:00", True, -1, "nan", "inf", 1e30, 10**20, [1], {}])
def test_anything_else_is_a_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_timestamp(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01T10:00:00+02:00", "2024-06-01T08:00:00+00:00"),
        ("2024-06-01T10:00:00", "2024-06-01T10:00:00+00:00"),  # naive means UTC
        ("2024-06-01T10:00:00.5Z", "2024-06-01T10:00:00.500000+00:00"),
    ],
)
def test_iso_date_times(text: str, expected: str) -> None:
    assert parse_iso(text).in_timezone("UTC").isoformat() == expected


@pytest.mark.parametrize("text", ["not a date", "P1D", ""])
def test_what_is_not_an_iso_date_time(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pendulum's ParserError, or ours
        parse_iso(text)


@pytest.mark.parametrize(
    "value",
    [
        int("1" + "0" * 400),  # float() of it overflows
        "1" + "0" * 400,
        -int("1" + "0" * 400),
        "1e400",
        float("inf"),
        1e300,
        253402300800000 + 1000,  # milliseconds just past 9999-12-31
        10**17,
    ],
)
def test_out_of_range_is_a_value_error_that_does_not_quote_the_whole_value(value: object) -> None:
    with pytest.raises(ValueError, match="not a timestamp") as caught:
        parse_timestamp(value)
    assert len(str(caught.value)) < 100


def test_the_last_representable_millisecond_is_read() -> None:
    assert parse_timestamp(253402300799000) == pendulum.datetime(9999, 12, 31, 23, 59, 59, tz="UTC")
