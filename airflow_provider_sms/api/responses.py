"""Answers as data: ``(status, body)`` in, a typed result or an exception out.

Tolerant of what the reference's examples show (ids as strings or numbers, timestamps in
seconds or milliseconds, the "FRAUDLENT" spelling, unknown extra fields); strict about what
it cannot use (a body that is not a JSON object, a missing ``requestId``): those raise
:class:`ServerError` naming the status and the first bytes of the body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pendulum

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.api import results as r
from airflow_provider_sms.api.answers import UnreadableJson, loads_answer
from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.api.timestamps import parse_timestamp
from airflow_provider_sms.exceptions import (
    AccountError,
    AuthenticationError,
    InvalidNumberError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    SenderNotAllowedError,
    ServerError,
    SmsApiError,
)

T = TypeVar("T")

_BODY_PREVIEW = 200
_DIGIT_RUN = re.compile(r"\+?\d{7,}")
# What a database column, pandas or a JVM holds: a webhook payload's integers must fit.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_ERROR_CLASSES: dict[int, type[SmsApiError]] = {
    c.ERROR_AUTHENTICATION_REQUIRED: AuthenticationError,
    c.ERROR_INACTIVE_TOKEN: AuthenticationError,
    c.ERROR_INACTIVE_ACCOUNT: AccountError,
    c.ERROR_ACCOUNT_NOT_LIVE: AccountError,
    c.ERROR_TOO_MANY_REQUESTS: RateLimitError,
    c.ERROR_INVALID_REQUEST: InvalidRequestError,
    c.ERROR_INVALID_NUMBER: InvalidNumberError,
    c.ERROR_SENDER_NOT_ALLOWED: SenderNotAllowedError,
    c.ERROR_NOT_FOUND: NotFoundError,
}

_ADVICE: dict[int, str] = {
    c.ERROR_AUTHENTICATION_REQUIRED: "check the connection's login (access key id) and password (secret)",
    c.ERROR_INACTIVE_TOKEN: "the access key is inactive: create a new one and update the connection's "
    "login and password",
    c.ERROR_INACTIVE_ACCOUNT: "the account is inactive: contact the API's support",
    c.ERROR_ACCOUNT_NOT_LIVE: "the account is not live yet: contact the API's support to activate it",
    c.ERROR_TOO_MANY_REQUESTS: "lower the connection's rate_limit extra or run fewer tasks on this account",
    c.ERROR_INVALID_REQUEST: "the request was malformed; check the operator's arguments",
    c.ERROR_INVALID_NUMBER: "give the number in international E.164 format, e.g. +447700900123",
    c.ERROR_SENDER_NOT_ALLOWED: "use a sender id validated for this account, or none (default_sender "
    "extra of the connection)",
    c.ERROR_NOT_FOUND: "the request id is unknown or its reservation expired",
}


def preview(body: bytes | str) -> str:
    """The first bytes of a body, printable and with phone-number-like digit runs masked.

    Error messages end up in task logs; an HLR answer, or half of one, carries the number.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    text = text[:_BODY_PREVIEW] + ("..." if len(text) > _BODY_PREVIEW else "")
    return mask_digit_runs(text)


def mask_digit_runs(text: str) -> str:
    """Mask every run of 7+ digits (an optional ``+`` first) as :func:`mask_number` does."""
    return _DIGIT_RUN.sub(lambda match: mask_number(match.group()), text)


def decode_json_object(status: int, body: bytes | str) -> dict[str, Any]:
    """Parse a body that must be a JSON object, or raise :class:`ServerError` saying what came.

    Never lets a bare Python exception out: JSON nested deeper than the interpreter's recursion
    limit or than :data:`~airflow_provider_sms.api.answers.MAX_ANSWER_DEPTH`, numbers beyond
    Python's integer-string limit, and numbers that overflow a float (``1e999``) or the
    ``NaN``/``Infinity`` extensions are all a :class:`ServerError` quoting the first bytes.
    """
    try:
        data = loads_answer(body)
    except UnreadableJson as exc:
        raise ServerError(
            f"The API answered HTTP {status} with JSON holding {exc}: {preview(body)!r}", http_status=status
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise ServerError(
            f"The API answered HTTP {status} with a body that is not JSON: {preview(body)!r}",
            http_status=status,
        ) from None
    if not isinstance(data, dict):
        raise ServerError(
            f"The API answered HTTP {status} with JSON that is not an object: {preview(body)!r}",
            http_status=status,
        )
    return data


def shown_location(location: str | None) -> str:
    """A redirect's ``Location`` as a message may quote it: no user info, query or fragment."""
    if not location:
        return "(no Location header)"
    text = location.strip()[:_BODY_PREVIEW]
    try:
        parts = urlsplit(text)
        text = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    except ValueError:
        text = text.split("?", 1)[0]
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return repr(mask_digit_runs(text))


def error_from_response(status: int, body: bytes | str, *, number: str | None = None) -> SmsApiError:
    """Pick the exception for a failed answer: by ``errorCode`` first, by HTTP status otherwise.

    :param number: masked number to name in the message, if the request concerned one.
    """
    try:
        data: Mapping[str, Any] = decode_json_object(status, body)
    except ServerError:
        data = {}
    code = data.get("errorCode")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    reason = data.get("errorReason") if isinstance(data.get("errorReason"), str) else None
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    cls = _ERROR_CLASSES.get(code) if code is not None else None
    if cls is None:
        cls = _class_for_status(status)
    about = f" for {number}" if number else ""
    if cls is ServerError and not data:
        message = f"The API failed{about} with HTTP {status}: {preview(body)!r}"
    else:
        advice = _ADVICE.get(code) if code is not None else None
        shown = mask_digit_runs(reason) if reason is not None else None
        message = f"The API refused the request{about}: HTTP {status}, errorCode {code}, {shown!r}"
        if advice:
            message += f" ({advice})"
    return cls(message, error_code=code, error_reason=reason, http_status=status)


def _class_for_status(status: int) -> type[SmsApiError]:
    if status >= 500:
        return ServerError
    return {
        401: AuthenticationError,
        403: AccountError,
        404: NotFoundError,
        429: RateLimitError,
    }.get(status, InvalidRequestError if 400 <= status < 500 else ServerError)


def parse_response(request: ApiRequest[T], status: int, body: bytes | str, *, number: str | None = None) -> T:
    """Turn an HTTP answer to ``request`` into its typed result, or raise its :class:`SmsApiError`.

    The result is what the request's own parser (``request.parse``) makes of the JSON object.

    :param number: masked number for messages (defaults to none).
    """
    if not 200 <= status < 300:
        raise error_from_response(status, body, number=number)
    data = decode_json_object(status, body)
    try:
        return request.parse(data)
    except (KeyError, TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise ServerError(
            f"The API answered HTTP {status} to {request.endpoint.value} without the documented "
            f"fields ({exc}): {preview(body)!r}",
            http_status=status,
        ) from None


def _str(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise KeyError(f"missing {key!r}")
        return None
    if isinstance(value, (dict, list, bool)):
        raise TypeError(f"{key!r} is not a string")
    return str(value)


def _required(data: Mapping[str, Any], key: str) -> str:
    value = _str(data, key, required=True)
    assert value is not None
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{key!r} is not a boolean")


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 200.0 from a sender whose JSON writes every number as a float
    if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
        raise TypeError(f"{key!r} is not a whole number")
    try:
        number = int(value)
    except ValueError:
        # int()'s own message quotes the value: a webhook's logs must not show what was sent.
        raise ValueError(f"{key!r} is not a whole number") from None
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"{key!r} is out of range")
    return number


def _time(data: Mapping[str, Any], key: str) -> pendulum.DateTime | None:
    try:
        return parse_timestamp(data.get(key))
    except ValueError:
        raise ValueError(f"{key!r} is not a timestamp") from None  # without the value, as above


def normalize_fraud_status(value: str) -> str:
    """Read the reference example's "FRAUDLENT" as FRAUDULENT; upper-case the rest."""
    status = value.strip().upper()
    return c.FRAUD_FRAUDULENT if status == c.FRAUD_FRAUDULENT_MISSPELLED else status


def parse_sms(d: dict[str, Any]) -> r.SmsResult:
    return r.SmsResult(raw=d, request_id=_required(d, "requestId"))


def parse_hlr(d: dict[str, Any]) -> r.HlrResult:
    return r.HlrResult(
        raw=d,
        id=_str(d, "id"),
        product=_str(d, "product"),
        number=_str(d, "number"),
        mccmnc=_str(d, "mccmnc"),
        network=_str(d, "network"),
        country=_str(d, "country"),
        status=_required(d, "status").upper(),
        created_at=parse_timestamp(d.get("createdAt")),
    )


def parse_fraud_check(d: dict[str, Any]) -> r.FraudCheckResult:
    return r.FraudCheckResult(
        raw=d, status=normalize_fraud_status(_required(d, "status")), mobile_prefix=_bool(d, "mobilePrefix")
    )


def parse_flash_call(d: dict[str, Any]) -> r.FlashCallResult:
    return r.FlashCallResult(raw=d, request_id=_required(d, "requestId"), from_number=_str(d, "from"))


def parse_call(d: dict[str, Any]) -> r.CallResult:
    return r.CallResult(raw=d, request_id=_required(d, "requestId"))


def parse_reservation(d: dict[str, Any]) -> r.IncomingCallReservation:
    return r.IncomingCallReservation(
        raw=d,
        request_id=_required(d, "requestId"),
        did_number=_required(d, "didNumber"),
        expires_at=parse_timestamp(d.get("expiresAt")),
    )


def parse_incoming_call(d: dict[str, Any]) -> r.IncomingCallInfo:
    return r.IncomingCallInfo(
        raw=d,
        request_id=_str(d, "requestId"),
        did_number=_str(d, "didNumber"),
        expires_at=parse_timestamp(d.get("expiresAt")),
        status=_required(d, "status").upper(),
        call_received_at=parse_timestamp(d.get("callReceivedAt")),
    )


def notify_parser(request_id: str) -> Callable[[dict[str, Any]], r.NotifyResult]:
    """The parser of a ``notify_verified`` answer: the reference shows no body for it, so the
    request id is the one the request was made for, unless the answer names one."""

    def parse_notify(d: dict[str, Any]) -> r.NotifyResult:
        return r.NotifyResult(raw=d, request_id=_str(d, "requestId") or request_id)

    return parse_notify


def check_storable(data: Any) -> None:
    """Refuse JSON that Airflow could store but not give back: every string (keys included) must
    be Unicode that UTF-8 can encode, without NUL, and every integer must fit in 64 bits.

    A lone UTF-16 surrogate (``"\\ud800"`` in JSON) is stored by SQLite and then breaks every
    REST API listing that includes the event; PostgreSQL refuses a NUL in text; a 400-digit
    integer is no number any consumer can hold.

    :raises ValueError: naming the field (dotted path), never the value.
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # iterative: json.loads nests ~1,000 deep, a recursion would not
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                _check_text(key, where, "field name")
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, path, "text")
        elif isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{_field(path)} is a number out of range")


def _check_text(text: str, path: str, what: str) -> None:
    if "\x00" in text:
        raise ValueError(f"{_field(path)}: {what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{_field(path)}: {what} is not valid Unicode (a lone UTF-16 surrogate)") from None


def _field(path: str) -> str:
    """A field path fit for a message: printable ASCII, short (names come from the sender)."""
    shown = path.encode("ascii", "backslashreplace").decode("ascii")
    return repr(shown if len(shown) <= 60 else shown[:60] + "...")


def parse_delivery_receipt(d: Mapping[str, Any]) -> r.DeliveryReceipt:
    """Validate a delivery-receipt callback payload (raises ``KeyError``/``TypeError``/``ValueError``)."""
    check_storable(d)
    status = _required(d, "status").upper()
    if status not in c.RECEIPT_STATUSES:
        raise ValueError("'status' is not a receipt status of the reference")
    return r.DeliveryReceipt(
        raw=dict(d),
        request_id=_required(d, "requestId"),
        number=_str(d, "number"),
        status=status,
        sip_status=_int(d, "sipStatus"),
        billable=_bool(d, "billable"),
        timestamp=_time(d, "timestamp"),
        call_created_at=_time(d, "callCreatedAt"),
        call_ended_at=_time(d, "callEndedAt"),
    )


def parse_inbound_sms(d: Mapping[str, Any]) -> r.InboundSms:
    """Validate an inbound-SMS webhook payload (raises ``KeyError``/``TypeError``/``ValueError``)."""
    check_storable(d)
    text = d.get("text")
    if not isinstance(text, str):
        raise TypeError("'text' is not a string")
    return r.InboundSms(
        raw=dict(d),
        from_number=_required(d, "from"),
        to_number=_required(d, "to"),
        message_id=_required(d, "messageId"),
        text=text,
        timestamp=_time(d, "timestamp"),
        parts=_int(d, "parts"),
    )
