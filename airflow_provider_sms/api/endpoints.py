"""Requests as data: one builder per endpoint, validated before anything is sent.

A builder returns an :class:`ApiRequest` typed by its result (``send_sms`` builds an
``ApiRequest[SmsResult]``) and carrying the parser of its answer; a transport (the sync or
async hook) sends it and hands the answer to
:func:`airflow_provider_sms.api.responses.parse_response`. Nothing here does I/O, so both
transports share it unchanged, and the hooks' endpoint methods are these builders, sent.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar
from urllib.parse import quote

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.api import responses as p
from airflow_provider_sms.api import results as r
from airflow_provider_sms.api.numbers import normalize_number
from airflow_provider_sms.api.request import ApiRequest, Endpoint
from airflow_provider_sms.exceptions import InvalidRequestError

T = TypeVar("T")

_CODE = re.compile(r"^\d{4,6}$")


_TAKES_CALLBACK = frozenset(
    {
        Endpoint.SEND_SMS,
        Endpoint.FLASH_CALL,
        Endpoint.RESERVE_INCOMING_CALL,
        Endpoint.PIN_TO_SPEECH_CALL,
        Endpoint.TEXT_TO_SPEECH_CALL,
    }
)


def with_defaults(
    request: ApiRequest[T], *, sender: str | None = None, callback_url: str | None = None
) -> ApiRequest[T]:
    """Fill in the connection's defaults where the request gives none.

    ``sender`` is an SMS sender id: calls use caller ids, validated separately, so it applies
    to SMS only. ``callback_url`` applies to every request that sends a delivery receipt.
    """
    defaults: dict[str, Any] = {}
    if sender and request.endpoint is Endpoint.SEND_SMS:
        defaults["from"] = _text("default_sender", sender, required=False)
    if callback_url and request.endpoint in _TAKES_CALLBACK:
        defaults["callbackUrl"] = _text("default_callback_url", callback_url, required=False)
    given = request.body or {}
    missing = {key: value for key, value in defaults.items() if not given.get(key)}
    if not missing:
        return request
    return dataclasses.replace(request, body={**given, **missing})


def _body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _call_body(e164: str, sender: str | None, callback_url: str | None, **fields: Any) -> dict[str, Any]:
    """The body of a call: the number, what the call says, then the callback URL and the caller id.

    Validated in that order, so the first error named is the same whichever call it is.
    """
    return _body(
        number=e164,
        **fields,
        callbackUrl=_text("callback_url", callback_url, required=False),
        **{"from": _text("sender", sender, required=False)},
    )


def _text(name: str, value: object, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise InvalidRequestError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise InvalidRequestError(f"{name} must not be empty")
    return value


def _code(value: object, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    code = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(code, str) or not _CODE.match(code):
        raise InvalidRequestError(f"code must be 4 to 6 digits, got {value!r}")
    return code


def _language(value: object, allowed: frozenset[str], what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRequestError(
            f"{what} does not support language {value!r}; supported: {', '.join(sorted(allowed))}"
        )
    return value


def _request_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"request_id must be a non-empty string, got {value!r}")
    return value.strip()


def send_sms(
    number: str, text: str, sender: str | None = None, callback_url: str | None = None
) -> ApiRequest[r.SmsResult]:
    """Send ``text`` to ``number`` (``POST /sms``), optionally from ``sender``.

    Never sent again after a lost answer: that raises ``DeliveryUnknownError``.
    """
    e164 = normalize_number(number)
    body = _body(
        number=e164,
        text=_text("text", text, required=True),
        **{"from": _text("sender", sender, required=False)},
        callbackUrl=_text("callback_url", callback_url, required=False),
    )
    return ApiRequest(Endpoint.SEND_SMS, "POST", c.PATH_SMS, body, e164, parse=p.parse_sms)


def hlr_lookup(number: str) -> ApiRequest[r.HlrResult]:
    """Network (MCC/MNC), country and reachability of a mobile number (``POST /insight/hlr``)."""
    e164 = normalize_number(number)
    return ApiRequest(Endpoint.HLR_LOOKUP, "POST", c.PATH_HLR, {"number": e164}, e164, parse=p.parse_hlr)


def fraud_check(number: str) -> ApiRequest[r.FraudCheckResult]:
    """Whether a number is on fraud/suspicious lists and has a mobile prefix.

    ``POST /insight/fraudcheck``.
    """
    e164 = normalize_number(number)
    body = {"number": e164}
    return ApiRequest(Endpoint.FRAUD_CHECK, "POST", c.PATH_FRAUD_CHECK, body, e164, parse=p.parse_fraud_check)


def flash_call(
    number: str, sender: str | None = None, code: str | None = None, callback_url: str | None = None
) -> ApiRequest[r.FlashCallResult]:
    """Place a flash call (``POST /calls/flash``): a missed call whose caller id ends with ``code``.

    ``code`` is 4 to 6 digits.
    """
    e164 = normalize_number(number)
    body = _call_body(e164, sender, callback_url, code=_code(code, required=False))
    return ApiRequest(Endpoint.FLASH_CALL, "POST", c.PATH_FLASH_CALL, body, e164, parse=p.parse_flash_call)


def reserve_incoming_call(
    number: str,
    callback_url: str | None = None,
    ivr_confirmation: bool | None = None,
    ivr_message: str | None = None,
) -> ApiRequest[r.IncomingCallReservation]:
    """Reserve a DID number the user of ``number`` must call to be verified (``POST /calls/incoming``)."""
    e164 = normalize_number(number)
    if ivr_confirmation is not None and not isinstance(ivr_confirmation, bool):
        raise InvalidRequestError(f"ivr_confirmation must be a boolean, got {ivr_confirmation!r}")
    body = _body(
        number=e164,
        callbackUrl=_text("callback_url", callback_url, required=False),
        ivrConfirmation=ivr_confirmation,
        ivrMessage=_text("ivr_message", ivr_message, required=False),
    )
    return ApiRequest(
        Endpoint.RESERVE_INCOMING_CALL, "POST", c.PATH_INCOMING_CALL, body, e164, parse=p.parse_reservation
    )


def get_incoming_call(request_id: str) -> ApiRequest[r.IncomingCallInfo]:
    """Status of an incoming-call reservation (``GET /calls/incoming/{requestId}``, free, repeatable).

    PENDING, DELIVERED or EXPIRED; ``NotFoundError`` (404) once the reservation is gone.
    """
    path = c.PATH_INCOMING_CALL_INFO.format(request_id=quote(_request_id(request_id), safe=""))
    return ApiRequest(Endpoint.GET_INCOMING_CALL, "GET", path, parse=p.parse_incoming_call)


def pin_to_speech_call(
    number: str,
    code: str,
    sender: str | None = None,
    language: str | None = None,
    callback_url: str | None = None,
) -> ApiRequest[r.CallResult]:
    """Call ``number`` and speak the 4-6 digit pin ``code`` (``POST /calls/p2s``)."""
    e164 = normalize_number(number)
    spoken = _code(code, required=True)
    voice = _language(language, c.PIN_TO_SPEECH_LANGUAGES, "Pin-to-speech")
    body = _call_body(e164, sender, callback_url, code=spoken, language=voice)
    path = c.PATH_PIN_TO_SPEECH
    return ApiRequest(Endpoint.PIN_TO_SPEECH_CALL, "POST", path, body, e164, parse=p.parse_call)


def text_to_speech_call(
    number: str,
    text: str,
    sender: str | None = None,
    language: str | None = None,
    callback_url: str | None = None,
) -> ApiRequest[r.CallResult]:
    """Call ``number`` and speak ``text`` (``POST /calls/t2s``; languages ``en`` and ``ru``)."""
    e164 = normalize_number(number)
    spoken = _text("text", text, required=True)
    voice = _language(language, c.TEXT_TO_SPEECH_LANGUAGES, "Text-to-speech")
    body = _call_body(e164, sender, callback_url, text=spoken, language=voice)
    path = c.PATH_TEXT_TO_SPEECH
    return ApiRequest(Endpoint.TEXT_TO_SPEECH_CALL, "POST", path, body, e164, parse=p.parse_call)


def notify_verified(request_id: str) -> ApiRequest[r.NotifyResult]:
    """Tell the API the user of ``request_id`` is verified (``POST /requests/{requestId}``,
    ``goal=NUMBER_VERIFIED``); ends a flash call."""
    request_id = _request_id(request_id)
    path = c.PATH_REQUEST_GOAL.format(request_id=quote(request_id, safe=""))
    body = {"goal": c.GOAL_NUMBER_VERIFIED}
    return ApiRequest(Endpoint.NOTIFY_VERIFIED, "POST", path, body, parse=p.notify_parser(request_id))


__all__ = [
    "ApiRequest",
    "Endpoint",
    "flash_call",
    "fraud_check",
    "get_incoming_call",
    "hlr_lookup",
    "notify_verified",
    "pin_to_speech_call",
    "reserve_incoming_call",
    "send_sms",
    "text_to_speech_call",
    "with_defaults",
]
