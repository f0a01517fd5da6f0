"""Quiet hours in the recipient's local time: when a number may be texted, and when it may next.

The local time comes from the number itself (``phonenumbers``' time-zone data, by country and
prefix). A number that maps to several zones (``+1`` numbers without a known area, the UK
with its Crown Dependencies...) may be texted only when the window is open in **all** of
them. A number whose zone is unknown to ``phonenumbers`` is not texted while quiet hours are
set (its local time cannot be known): it is reported with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_timezones

from airflow_provider_sms.exceptions import CampaignInputError

UNKNOWN_ZONE = "Etc/Unknown"
#: How far ahead a common open moment of several zones is searched for.
SEARCH_HORIZON = timedelta(days=3)


def parse_clock(value: str | time) -> time:
    """``"21:00"`` (or a :class:`datetime.time`) as a time of day."""
    if isinstance(value, time):
        return value
    try:
        hours, minutes = str(value).strip().split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError) as exc:
        raise CampaignInputError(f"quiet_hours: {value!r} is not a time of day like '21:00'") from exc


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in local time, during which nobody is texted: ``[start, end)``.

    ``QuietHours(time(21), time(8))`` crosses midnight: quiet from 21:00 to 08:00.
    """

    start: time
    end: time

    @classmethod
    def of(cls, value: object) -> QuietHours | None:
        """From an operator argument: ``("21:00", "08:00")``, ``"21:00-08:00"`` or ``None``."""
        if value is None or value == "" or value == ():
            return None
        if isinstance(value, QuietHours):
            return value
        if isinstance(value, str):
            value = value.split("-")
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise CampaignInputError(f"quiet_hours must be a pair like ('21:00', '08:00'), got {value!r}")
        start, end = parse_clock(value[0]), parse_clock(value[1])
        if start == end:
            raise CampaignInputError("quiet_hours: start and end are the same time")
        return cls(start, end)

    def is_quiet(self, local: time) -> bool:
        """Whether ``local`` (a time of day) falls in the window."""
        local = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def quiet_in(self, zone: ZoneInfo, moment: datetime) -> bool:
        return self.is_quiet(moment.astimezone(zone).time())

    def next_open_in(self, zone: ZoneInfo, moment: datetime) -> datetime:
        """The first moment at or after ``moment`` when the window is open in ``zone`` (UTC)."""
        if not self.quiet_in(zone, moment):
            return moment
        local = moment.astimezone(zone)
        day = local.date()
        for offset in range(3):
            candidate = datetime.combine(day + timedelta(days=offset), self.end, tzinfo=zone)
            candidate = candidate.astimezone(timezone.utc)
            if candidate > moment and not self.quiet_in(zone, candidate):
                return candidate
        raise AssertionError("unreachable: a quiet window ends within two days")  # pragma: no cover

    def opens_at(self, number: str, now: datetime) -> datetime | None:
        """When ``number`` may be texted: ``now`` if it may now, a later moment, or ``None`` if unknown.

        ``None`` means its time zone is unknown, or no moment within :data:`SEARCH_HORIZON`
        is open in all of its zones.
        """
        zones = zones_of(number)
        if not zones:
            return None
        moment = now
        deadline = now + SEARCH_HORIZON
        while moment <= deadline:
            later = max(self.next_open_in(zone, moment) for zone in zones)
            if later == moment:
                return moment
            moment = later
        return None


@lru_cache(maxsize=4096)
def zones_of(number: str) -> tuple[ZoneInfo, ...]:
    """The time zones of an E.164 number (empty when unknown)."""
    try:
        names = number_timezones.time_zones_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return ()
    zones: list[ZoneInfo] = []
    for name in names:
        if name == UNKNOWN_ZONE:
            continue
        try:
            zones.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:
            return ()  # a zone this host does not know: the local time cannot be known
    return tuple(zones)


__all__ = ["QuietHours", "parse_clock", "zones_of"]
