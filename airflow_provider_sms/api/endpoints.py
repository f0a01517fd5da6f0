"""Requests as data: one builder per endpoint, validated before anything is sent.

A builder returns an :class:`ApiRequest`; a transport (the sync or async hook) sends it and
hands the answer to :func:`airflow_provider_sms.api.responses.parse_response`. Nothing
here does I/O, so both transports share it unchanged.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.api.numbers import normalize_number
from airflow_provider_sms.exceptions import InvalidRequestError

_CODE = re.compile(r"^\d{4,6}$")


class Endpoint(enum.Enum):
    """What a request does; decides how its answer is parsed and whether a resend is safe."""

    SEND_SMS = "send_sms"
    HLR_LOOKUP = "hlr_lookup"
    FRAUD_CHECK = "fraud_check"
    FLASH_CALL = "flash_call"
    RESERVE_INCOMING_CALL = "reserve_incoming_call"
    GET_INCOMING_CALL = "get_incoming_call"
    PIN_TO_SPEECH_CALL = "pin_to_speech_call"
    TEXT_TO_SPEECH_CALL = "text_to_speech_call"
    NOTIFY_VERIFIED = "notify_verified"

    @property
    def reaches_a_person(self) -> bool:
        """Sends a message or places a call: costs money, must never be repeated blindly."""
        return self in _REACHES_A_PERSON


_REACHES_A_PERSON = frozenset(
    {Endpoint.SEND_SMS, Endpoint.FLASH_CALL, Endpoint.PIN_TO_SPEECH_CALL, Endpoint.TEXT_TO_SPEECH_CALL}
)


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One HTTP request to the API, relative to the API base URL.

    :param endpoint: which endpoint; decides parsing and retry safety.
    :param method: ``"GET"`` or ``"POST"``.
    :param path: path below the API base, e.g. ``/sms``.
    :param body: JSON body (``None`` for GET).
    :param number: the E.164 number concerned, for logs (masked there) and errors.
    """

    endpoint: Endpoint
    method: str
    path: str
    body: dict[str, Any] | None = None
    number: str | None = field(default=None)

    @property
    def resend_safe(self) -> bool:
        """Whether repeating the request after a lost answer is harmless.

        Look-ups and status reads are; anything that reaches a person is not. Reserving an
        incoming call is not either: a second reservation would give the user another DID.
        """
        return not self.endpoint.reaches_a_person and self.endpoint is not Endpoint.RESERVE_INCOMING_CALL


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
    request: ApiRequest, *, sender: str | None = None, callback_url: str | None = None
) -> ApiRequest:
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
    return quote(value.strip(), safe="")


def send_sms(
    number: str, text: str, sender: str | None = None, callback_url: str | None = None
) -> ApiRequest:
    """``POST /sms``: send ``text`` to ``number``, optionally from ``sender``."""
    e164 = normalize_number(number)
    body = _body(
        number=e164,
        text=_text("text", text, required=True),
        **{"from": _text("sender", sender, required=False)},
        callbackUrl=_text("callback_url", callback_url, required=False),
    )
    return ApiRequest(Endpoint.SEND_SMS, "POST", c.PATH_SMS, body, e164)


def hlr_lookup(number: str) -> ApiRequest:
    """``POST /insight/hlr``: network and reachability of a mobile number."""
    e164 = normalize_number(number)
    return ApiRequest(Endpoint.HLR_LOOKUP, "POST", c.PATH_HLR, {"number": e164}, e164)


def fraud_check(number: str) -> ApiRequest:
    """``POST /insight/fraudcheck``: fraud lists and mobile-prefix check."""
    e164 = normalize_number(number)
    return ApiRequest(Endpoint.FRAUD_CHECK, "POST", c.PATH_FRAUD_CHECK, {"number": e164}, e164)


def flash_call(
    number: str, sender: str | None = None, code: str | None = None, callback_url: str | None = None
) -> ApiRequest:
    """``POST /calls/flash``: a missed call whose caller id ends with ``code``."""
    e164 = normalize_number(number)
    body = _body(
        number=e164,
        code=_code(code, required=False),
        callbackUrl=_text("callback_url", callback_url, required=False),
        **{"from": _text("sender", sender, required=False)},
    )
    return ApiRequest(Endpoint.FLASH_CALL, "POST", c.PATH_FLASH_CALL, body, e164)


def reserve_incoming_call(
    number: str,
    callback_url: str | None = None,
    ivr_confirmation: bool | None = None,
    ivr_message: str | None = None,
) -> ApiRequest:
    """``POST /calls/incoming``: reserve a DID number the user must call from ``number``."""
    e164 = normalize_number(number)
    if ivr_confirmation is not None and not isinstance(ivr_confirmation, bool):
        raise InvalidRequestError(f"ivr_confirmation must be a boolean, got {ivr_confirmation!r}")
    body = _body(
        number=e164,
        callbackUrl=_text("callback_url", callback_url, required=False),
        ivrConfirmation=ivr_confirmation,
        ivrMessage=_text("ivr_message", ivr_message, required=False),
    )
    return ApiRequest(Endpoint.RESERVE_INCOMING_CALL, "POST", c.PATH_INCOMING_CALL, body, e164)


def get_incoming_call(request_id: str) -> ApiRequest:
    """``GET /calls/incoming/{requestId}``: status of a reservation (free, repeatable)."""
    path = c.PATH_INCOMING_CALL_INFO.format(request_id=_request_id(request_id))
    return ApiRequest(Endpoint.GET_INCOMING_CALL, "GET", path)


def pin_to_speech_call(
    number: str,
    code: str,
    sender: str | None = None,
    language: str | None = None,
    callback_url: str | None = None,
) -> ApiRequest:
    """``POST /calls/p2s``: a call that speaks the 4-6 digit ``code``."""
    e164 = normalize_number(number)
    body = _body(
        number=e164,
        code=_code(code, required=True),
        language=_language(language, c.PIN_TO_SPEECH_LANGUAGES, "Pin-to-speech"),
        callbackUrl=_text("callback_url", callback_url, required=False),
        **{"from": _text("sender", sender, required=False)},
    )
    return ApiRequest(Endpoint.PIN_TO_SPEECH_CALL, "POST", c.PATH_PIN_TO_SPEECH, body, e164)


def text_to_speech_call(
    number: str,
    text: str,
    sender: str | None = None,
    language: str | None = None,
    callback_url: str | None = None,
) -> ApiRequest:
    """``POST /calls/t2s``: a call that speaks ``text`` (languages ``en`` and ``ru``)."""
    e164 = normalize_number(number)
    body = _body(
        number=e164,
        text=_text("text", text, required=True),
        language=_language(language, c.TEXT_TO_SPEECH_LANGUAGES, "Text-to-speech"),
        callbackUrl=_text("callback_url", callback_url, required=False),
        **{"from": _text("sender", sender, required=False)},
    )
    return ApiRequest(Endpoint.TEXT_TO_SPEECH_CALL, "POST", c.PATH_TEXT_TO_SPEECH, body, e164)


def notify_verified(request_id: str) -> ApiRequest:
    """``POST /requests/{requestId}`` with ``goal=NUMBER_VERIFIED``: ends a flash call."""
    path = c.PATH_REQUEST_GOAL.format(request_id=_request_id(request_id))
    return ApiRequest(Endpoint.NOTIFY_VERIFIED, "POST", path, {"goal": c.GOAL_NUMBER_VERIFIED})
