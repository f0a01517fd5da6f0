"""Number normalisation and masking (no network): what is accepted, what is refused and why."""

from __future__ import annotations

import pytest

from airflow_provider_sms.api.numbers import ParsedNumber, mask_number, normalize_number, parse_number
from airflow_provider_sms.exceptions import InvalidNumberError


@pytest.mark.parametrize(
    "raw",
    [
        "+44 7700 900000",
        "+447700900000",
        "0044 7700 900000",
        "0044-7700-900000",
        "447700900000",  # the API's own examples write numbers without "+"
        447700900000,
        "  +44 (0)7700 900000 ",
    ],
)
def test_ways_of_writing_one_uk_mobile_give_one_e164(raw: object) -> None:
    assert normalize_number(raw) == "+447700900000"


def test_the_references_flash_call_number_without_plus_is_read_as_international() -> None:
    # Possible but not 'valid' per the metadata: sent anyway, the API has the last word.
    assert normalize_number("18800000000") == "+18800000000"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07700 900000", "GB", "+447700900000"),
        ("2025550123", "US", "+12025550123"),
        ("447700900000", "GB", "+447700900000"),  # a leading country code is still understood
        ("+447700900000", "US", "+447700900000"),  # an explicit "+" wins over the region
    ],
)
def test_default_region_reads_national_numbers(raw: str, region: str, expected: str) -> None:
    assert normalize_number(raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "note"),
    [
        ("tel:+44-7700-900000", ""),  # RFC 3966: the scheme and visual separators
        ("TEL:+447700900000", ""),
        ("tel:+44-7700-900000;ext=5", "extension ;ext=5 dropped"),
        ("+44 7700 900000;ext=123", "extension ;ext=123 dropped"),
        ("+\u0664\u0664\u0667\u0667\u0660\u0660\u0669\u0660\u0660\u0660\u0660\u0660", ""),  # Arabic-Indic
        ("\u0660\u0660\u0664\u0664 7700 900000", ""),  # Arabic-Indic "00" as the international prefix
        ("+\u06f4\u06f4\u06f7\u06f7\u06f0\u06f0\u06f9\u06f0\u06f0\u06f0\u06f0\u06f0", ""),  # Persian
        ("\uff0b\uff14\uff14\uff17\uff17\uff10\uff10\uff19\uff10\uff10\uff10\uff10\uff10", ""),  # full-width
    ],
)
def test_rfc3966_forms_and_digits_of_other_scripts(raw: str, note: str) -> None:
    assert parse_number(raw) == ParsedNumber("+447700900000", note)
    assert normalize_number(raw) == "+447700900000"  # the signature every operator uses is unchanged


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("+44 7700 9000AB", "contains letters"),
        ("tel:+447700900000;phone-context=example.com", "parameter ;phone-context"),
        ("+447700900000;isub=5", "parameter ;isub"),
        ("tel:", "empty"),
        ("+44 77", "too short"),
        ("+4477009000001234", "too long"),
        ("+47463562200", "too long"),  # the reference's HLR example: one digit too many for Norway
        ("+999 1234567", "unknown country code"),
        ("07700 900000", "national"),
        ("", "empty"),
        ("   ", "empty"),
        ("+", "cannot be parsed"),
    ],
)
def test_impossible_numbers_are_refused_before_any_request(raw: str, says: str) -> None:
    with pytest.raises(InvalidNumberError, match=says) as info:
        normalize_number(raw)
    assert info.value.http_status is None  # refused locally: no answer from the API involved


@pytest.mark.parametrize("raw", [None, True, 4.47e11, ["+447700900000"]])
def test_non_string_numbers_are_refused(raw: object) -> None:
    with pytest.raises(InvalidNumberError, match="must be a string"):
        normalize_number(raw)


def test_refusals_mask_the_number_they_name() -> None:
    with pytest.raises(InvalidNumberError) as info:
        normalize_number("+4477009000001234")
    assert "4477009000001234" not in str(info.value)
    assert "+4477**********34" in str(info.value)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+47463562200", "+4746*****00"),
        ("+447700900000", "+4477******00"),
        ("447700900001", "4477******01"),
        ("+1234567", "+1234*67"),
        ("+123456", "+******"),  # too short to show anything
        ("", ""),
    ],
)
def test_mask_keeps_country_prefix_and_last_two_digits(number: str, masked: str) -> None:
    assert mask_number(number) == masked


def test_mask_reveal_and_none() -> None:
    assert mask_number("+447700900000", reveal=True) == "+447700900000"
    assert mask_number(None) == "<none>"
