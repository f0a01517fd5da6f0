"""Timestamps: as the API writes them (epoch seconds or milliseconds, numbers or numeric strings),
and as the provider writes them itself (ISO-8601, in XCom, trigger arguments and the journal)."""

from __future__ import annotations

import math

import pendulum

# Epoch seconds pass 1e11 only in the year 5138; epoch milliseconds passed it in 1973.
_MILLISECONDS_THRESHOLD = 100_000_000_000
_SHOWN = 40  # characters of a refused value quoted in the error (a number can be 4,000 digits long)


def parse_timestamp(value: object) -> pendulum.DateTime | None:
    """Return a UTC :class:`pendulum.DateTime` for an API timestamp, ``None`` for null/empty.

    ``createdAt`` comes in milliseconds, ``timestamp``/``callEndedAt`` in seconds, and
    ``expiresAt``/``callReceivedAt`` as numeric strings: all are understood.

    :raises ValueError: for a value that is not a number of any of those forms, or one out of
        range: negative, NaN, infinite, or beyond the year 9999 (``1`` followed by 400 zeros too,
        whose conversion to a float would overflow).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise ValueError(f"not a timestamp: {_shown(value)}") from None
    except OverflowError:  # an int too large for a float
        raise ValueError(f"not a timestamp: {_shown(value)} is out of range") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"not a timestamp: {_shown(value)}")
    if number >= _MILLISECONDS_THRESHOLD:
        number /= 1000.0
    try:
        return pendulum.from_timestamp(number, tz="UTC")
    except (OverflowError, OSError, ValueError):  # beyond the platform's time_t or the year 9999
        raise ValueError(f"not a timestamp: {_shown(value)} is out of range") from None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def parse_iso(value: str) -> pendulum.DateTime:
    """An ISO-8601 date-time (``pendulum.parse``); one without a time zone is UTC.

    :raises ValueError: for a string that is not a date-time.
    """
    parsed = pendulum.parse(value)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"not a date-time: {value[:40]!r}")
    return parsed
