"""Quiet hours in the recipient's local time, from the number's time zones."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from airflow_provider_sms.exceptions import CampaignInputError
from airflow_provider_sms.sending.quiet_hours import QuietHours, zones_of

UK = "+447911123411"  # Europe/London (and the Crown Dependencies: same offset)
JP = "+819012345678"  # Asia/Tokyo
NY = "+12125551234"  # America/New_York
QUIET = QuietHours(time(21), time(8))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_parsing() -> None:
    assert QuietHours.of(("21:00", "08:00")) == QUIET
    assert QuietHours.of("21:00-08:00") == QUIET
    assert QuietHours.of(None) is None
    for bad in (("21:00",), ("9pm", "8am"), ("08:00", "08:00")):
        with pytest.raises(CampaignInputError):
            QuietHours.of(bad)


def test_window_crossing_midnight_and_within_a_day() -> None:
    assert [QUIET.is_quiet(time(h)) for h in (20, 21, 3, 7, 8)] == [False, True, True, True, False]
    lunch = QuietHours(time(12), time(14))
    assert [lunch.is_quiet(time(h)) for h in (11, 12, 13, 14)] == [False, True, True, False]


def test_open_now_or_the_next_opening_in_local_time() -> None:
    now = utc(2026, 1, 15, 12, 0)  # 12:00 London, 21:00 Tokyo, 07:00 New York
    assert QUIET.opens_at(UK, now) == now
    assert QUIET.opens_at(JP, now) == utc(2026, 1, 15, 23, 0)  # 08:00 in Tokyo the next day
    assert QUIET.opens_at(NY, now) == utc(2026, 1, 15, 13, 0)  # 08:00 EST


def test_summer_time_is_the_zone_s() -> None:
    now = utc(2026, 7, 15, 6, 30)  # 07:30 BST in London: quiet until 08:00 BST = 07:00 UTC
    assert QUIET.opens_at(UK, now) == utc(2026, 7, 15, 7, 0)


def test_several_zones_must_all_be_open() -> None:
    # A +1 number without a known area maps to every North American zone.
    zones = zones_of("+18005550123")
    assert len(zones) > 3
    now = utc(2026, 1, 15, 12, 0)  # 07:00 in New York, 04:00 in Los Angeles
    opens = QUIET.opens_at("+18005550123", now)
    assert opens is not None
    assert all(not QUIET.quiet_in(zone, opens) for zone in zones)
    assert opens > now


def test_unknown_zone() -> None:
    assert zones_of("+15551234567") == ()
    assert QUIET.opens_at("+15551234567", utc(2026, 1, 15, 12)) is None
