"""Timestamps: as the API writes them (epoch seconds or milliseconds, numbers or numeric strings),
and as the provider writes them itself (ISO-8601, in XCom, trigger arguments and the journal)."""

from __future__ import annotations

import pendulum

# Epoch seconds pass 1e11 only in the year 5138; epoch milliseconds passed it in 1973.
_MILLISECONDS_THRESHOLD = 100_000_000_000


def parse_timestamp(value: object) -> pendulum.DateTime | None:
    """Return a UTC :class:`pendulum.DateTime` for an API timestamp, ``None`` for null/empty.

    ``createdAt`` comes in milliseconds, ``timestamp``/``callEndedAt`` in seconds, and
    ``expiresAt``/``callReceivedAt`` as numeric strings: all are understood.

    :raises ValueError: for a value that is not a number of any of those forms.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, str):
        value = value.strip()
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"not a timestamp: {value[:40]!r}") from None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    if number != number or number < 0:  # NaN or negative
        raise ValueError(f"not a timestamp: {value!r}")
    if number >= _MILLISECONDS_THRESHOLD:
        number /= 1000.0
    try:
        return pendulum.from_timestamp(number, tz="UTC")
    except (OverflowError, OSError, ValueError):  # inf, or beyond the platform's time_t
        raise ValueError(f"not a timestamp: {value!r}") from None


def parse_iso(value: str) -> pendulum.DateTime:
    """An ISO-8601 date-time (``pendulum.parse``); one without a time zone is UTC.

    :raises ValueError: for a string that is not a date-time.
    """
    parsed = pendulum.parse(value)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"not a date-time: {value[:40]!r}")
    return parsed
