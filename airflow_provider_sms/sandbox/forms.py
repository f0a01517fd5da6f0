"""Reading and validating request bodies, independently of the client's own checks.

Bodies come as ``application/json`` or ``application/x-www-form-urlencoded`` (also
assumed when there is no Content-Type, as with ``curl -d``). A body over 1 MiB is
refused with errorCode 10 without ever being held in memory.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

from airflow_provider_sms.api import constants as c

from .outcomes import Number, parse_number

MAX_BODY = 1024 * 1024
# An oversized body is read and discarded (up to this much, for this long) before the
# 400 goes out: closing a socket with unread data makes the kernel send a RST, and the
# client (still sending) would then see "connection reset" instead of our answer.
DRAIN_LIMIT = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0

_CODE = re.compile(r"[0-9]{4,6}")


class ApiError(Exception):
    """An error answer of the API: errorCode, and its HTTP status from constants.ERRORS."""

    def __init__(self, code: int, *, close: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.status = c.ERRORS[code][0]
        self.reason = c.ERRORS[code][1]
        self.close = close  # answer with "Connection: close" (body left unread)


async def read_body(request: Request) -> bytes:
    """The body, or ApiError(10, close=True) when it exceeds MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        # A client waiting for "100 Continue" (curl does above 1 MiB) never sends the
        # body if we answer first, and a huge body is not worth draining.
        expects_continue = request.headers.get("expect", "").lower() == "100-continue"
        if expects_continue or int(declared) > DRAIN_LIMIT:
            raise ApiError(c.ERROR_INVALID_REQUEST, close=True)
    chunks: list[bytes] = []
    total = 0
    too_large = declared.isdigit() and int(declared) > MAX_BODY
    deadline = time.monotonic() + DRAIN_SECONDS
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            too_large = True
            chunks.clear()
        if too_large:
            if total > DRAIN_LIMIT or time.monotonic() > deadline:
                break
            continue
        chunks.append(chunk)
    if too_large:
        raise ApiError(c.ERROR_INVALID_REQUEST, close=True)
    return b"".join(chunks)


def parse_fields(content_type: str | None, body: bytes) -> dict[str, Any]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        if not body.strip():
            return {}
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ApiError(c.ERROR_INVALID_REQUEST) from None
        if not isinstance(data, dict):
            raise ApiError(c.ERROR_INVALID_REQUEST)
        return data
    if media_type in ("", "application/x-www-form-urlencoded"):
        try:
            text = body.decode("utf-8")
            # Last value wins for repeated keys, like most form parsers.
            return dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(c.ERROR_INVALID_REQUEST) from None
    raise ApiError(c.ERROR_INVALID_REQUEST)


class Fields:
    """Typed access to the fields of one request; every failure is an ApiError.

    Optional fields that are absent, JSON null or an empty string count as absent.
    Values must be JSON strings where the reference says string (a JSON number for
    ``number`` or ``code`` is errorCode 10), except ``ivrConfirmation``.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.number_e164: str | None = None  # for the ledger, once ``number`` parsed

    def raw(self, name: str) -> str | None:
        """The field as sent (a string), never refused: for the ledger."""
        value = self._data.get(name)
        return value if isinstance(value, str) else None

    def optional(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ApiError(c.ERROR_INVALID_REQUEST)
        return value if value.strip() else None

    def required(self, name: str) -> str:
        value = self._data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ApiError(c.ERROR_INVALID_REQUEST)
        return value

    def number(self) -> Number:
        value = self._data.get("number")
        if value is None:
            raise ApiError(c.ERROR_INVALID_REQUEST)
        if not isinstance(value, str):
            raise ApiError(c.ERROR_INVALID_REQUEST)
        number = parse_number(value)
        if number is None:
            raise ApiError(c.ERROR_INVALID_NUMBER)
        self.number_e164 = number.e164
        return number

    def code(self, required: bool) -> str | None:
        value = self.required("code") if required else self.optional("code")
        if value is None:
            return None
        if not _CODE.fullmatch(value) or not value.isascii():
            raise ApiError(c.ERROR_INVALID_REQUEST)
        return value

    def language(self, allowed: frozenset[str]) -> str:
        value = self.optional("language")
        if value is None:
            return c.DEFAULT_LANGUAGE
        if value.strip().lower() not in allowed:
            raise ApiError(c.ERROR_INVALID_REQUEST)
        return value.strip().lower()

    def callback_url(self) -> str | None:
        value = self.optional("callbackUrl")
        if value is None:
            return None
        try:
            parts = urlsplit(value.strip())
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises ValueError on a bad port
        except ValueError:
            valid = False
        if not valid:
            raise ApiError(c.ERROR_INVALID_REQUEST)
        return value.strip()

    def boolean(self, name: str) -> bool:
        value = self._data.get(name)
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ApiError(c.ERROR_INVALID_REQUEST)
