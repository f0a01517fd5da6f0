"""Reading an answer's bytes and headers safely: JSON with bounds, and ``Retry-After``.

Every answer is untrusted input: a proxy, a broken deployment or a hostile server may send
JSON nested thousands of levels deep, numbers of thousands of digits, ``1e999`` or ``NaN``.
:func:`loads_answer` turns each of those into :class:`UnreadableJson` (a ``ValueError``
saying what was wrong, never quoting the value), so that callers meet no bare
``RecursionError`` or ``OverflowError``, and no accepted answer holds a value that
something downstream (XCom, a database, a log line) cannot serialise.
"""

from __future__ import annotations

import email.utils
import json
import math
import sys
from typing import Any

MAX_ANSWER_DEPTH = 32
"""How deeply an answer's JSON may nest (the API's answers nest two levels)."""

_INT_DIGITS_DEFAULT = 4300  # CPython's default int_max_str_digits (3.11+)


class UnreadableJson(ValueError):
    """JSON that parses but holds what an answer must not: says what, never the value."""


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 reads as infinity
        raise UnreadableJson("a number out of range")
    return number


def _bounded_int(text: str) -> int:
    limit = getattr(sys, "get_int_max_str_digits", lambda: _INT_DIGITS_DEFAULT)()
    if limit and len(text.lstrip("-")) > limit:
        raise UnreadableJson(f"a number of more than {limit} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise UnreadableJson(f"{name}, which JSON does not allow")


def depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` nests deeper than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def loads_answer(body: bytes | str) -> Any:
    """``json.loads`` for an answer, within bounds.

    :raises UnreadableJson: nested more than :data:`MAX_ANSWER_DEPTH` levels (or beyond the
        interpreter's recursion limit), a number of more digits than Python converts, a number
        that overflows a float, or ``NaN``/``Infinity``.
    :raises ValueError: not JSON at all (``UnicodeDecodeError`` for bytes that are not text).
    """
    try:
        data = json.loads(
            body, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant
        )
    except RecursionError:
        raise UnreadableJson("values nested too deeply") from None
    if depth_exceeds(data, MAX_ANSWER_DEPTH):
        raise UnreadableJson(f"values nested more than {MAX_ANSWER_DEPTH} levels deep")
    return data


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """How long a ``Retry-After`` header asks to wait, in seconds from ``now``; ``None`` without one.

    Both forms of RFC 9110 are read: delta-seconds (``"2"``) and an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``; one already past means 0). A value that is neither
    is ignored (``None``), as if absent.

    :param value: the header's value, or ``None``.
    :param now: the current time in epoch seconds (``time.time()``), for an HTTP-date.
    """
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and len(text) <= 12 and text.replace(".", "", 1).isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


__all__ = ["MAX_ANSWER_DEPTH", "UnreadableJson", "depth_exceeds", "loads_answer", "retry_after_seconds"]
