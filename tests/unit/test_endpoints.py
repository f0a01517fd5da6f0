"""Requests as data: each builder's method, path and body, and what it refuses before sending."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.endpoints import ApiRequest, Endpoint
from airflow_provider_sms.exceptions import InvalidNumberError, InvalidRequestError

N = "+44 7911 123456"
E164 = "+447911123456"


def test_send_sms() -> None:
    request = endpoints.send_sms(
        N, "Your order #29211 received", sender="InfoSMS", callback_url="https://x/cb"
    )
    assert (request.endpoint, request.method, request.path, request.number) == (
        Endpoint.SEND_SMS,
        "POST",
        "/sms",
        E164,
    )
    assert request.body == {
        "number": E164,
        "text": "Your order #29211 received",
        "from": "InfoSMS",
        "callbackUrl": "https://x/cb",
    }
    assert endpoints.send_sms(N, "hi").body == {"number": E164, "text": "hi"}  # no nulls sent


def test_look_ups() -> None:
    hlr, fraud = endpoints.hlr_lookup(N), endpoints.fraud_check(N)
    assert (hlr.method, hlr.path, hlr.body) == ("POST", "/insight/hlr", {"number": E164})
    assert (fraud.method, fraud.path, fraud.body) == ("POST", "/insight/fraudcheck", {"number": E164})


def test_flash_call_code_as_string_or_int() -> None:
    request = endpoints.flash_call(N, code="123456", sender="+15005550006")
    assert request.path == "/calls/flash"
    assert request.body == {"number": E164, "code": "123456", "from": "+15005550006"}
    assert endpoints.flash_call(N, code=1234).body == {"number": E164, "code": "1234"}  # type: ignore[arg-type]


def test_incoming_call_reservation_and_status() -> None:
    request = endpoints.reserve_incoming_call(N, ivr_confirmation=True, ivr_message="Press the digit")
    assert request.path == "/calls/incoming"
    assert request.body == {"number": E164, "ivrConfirmation": True, "ivrMessage": "Press the digit"}
    status = endpoints.get_incoming_call("wp9RPWDGZkskBrVeTc4lgNCc4e79fc65")
    assert (status.method, status.path, status.body, status.number) == (
        "GET",
        "/calls/incoming/wp9RPWDGZkskBrVeTc4lgNCc4e79fc65",
        None,
        None,
    )


def test_request_ids_are_quoted_into_the_path() -> None:
    assert endpoints.get_incoming_call("a/b c").path == "/calls/incoming/a%2Fb%20c"
    assert endpoints.notify_verified("../x").path == "/requests/..%2Fx"


def test_speech_calls() -> None:
    p2s = endpoints.pin_to_speech_call(N, "4321", language="de")
    assert (p2s.path, p2s.body) == ("/calls/p2s", {"number": E164, "code": "4321", "language": "de"})
    t2s = endpoints.text_to_speech_call(N, "Hi, i'm using API!", language="ru")
    assert (t2s.path, t2s.body) == (
        "/calls/t2s",
        {"number": E164, "text": "Hi, i'm using API!", "language": "ru"},
    )


def test_notify_verified() -> None:
    request = endpoints.notify_verified("abc")
    assert (request.method, request.path, request.body) == (
        "POST",
        "/requests/abc",
        {"goal": "NUMBER_VERIFIED"},
    )


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: endpoints.send_sms(N, ""), "text must not be empty"),
        (lambda: endpoints.send_sms(N, None), "text is required"),  # type: ignore[arg-type]
        (lambda: endpoints.send_sms(N, "hi", sender=42), "sender must be a string"),  # type: ignore[arg-type]
        (lambda: endpoints.flash_call(N, code="12"), "4 to 6 digits"),
        (lambda: endpoints.flash_call(N, code="1234567"), "4 to 6 digits"),
        (lambda: endpoints.pin_to_speech_call(N, "12a4"), "4 to 6 digits"),
        (lambda: endpoints.pin_to_speech_call(N, None), "4 to 6 digits"),  # type: ignore[arg-type]
        (lambda: endpoints.pin_to_speech_call(N, "1234", language="xx"), "does not support language"),
        (lambda: endpoints.text_to_speech_call(N, "hi", language="de"), "supported: en, ru"),
        (lambda: endpoints.reserve_incoming_call(N, ivr_confirmation="yes"), "boolean"),  # type: ignore[arg-type]
        (lambda: endpoints.get_incoming_call(""), "non-empty"),
        (lambda: endpoints.notify_verified(None), "non-empty"),  # type: ignore[arg-type]
    ],
)
def test_malformed_arguments_are_refused_locally(build: object, says: str) -> None:
    with pytest.raises(InvalidRequestError, match=says):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "build",
    [endpoints.hlr_lookup, endpoints.fraud_check, lambda n: endpoints.send_sms(n, "hi")],
)
def test_an_impossible_number_never_becomes_a_request(build: object) -> None:
    with pytest.raises(InvalidNumberError):
        build("+44 77")  # type: ignore[operator]


@pytest.mark.parametrize(
    ("endpoint", "reaches_a_person", "resend_safe"),
    [
        (Endpoint.SEND_SMS, True, False),
        (Endpoint.FLASH_CALL, True, False),
        (Endpoint.PIN_TO_SPEECH_CALL, True, False),
        (Endpoint.TEXT_TO_SPEECH_CALL, True, False),
        (Endpoint.RESERVE_INCOMING_CALL, False, False),  # a second reservation = another DID
        (Endpoint.HLR_LOOKUP, False, True),
        (Endpoint.FRAUD_CHECK, False, True),
        (Endpoint.GET_INCOMING_CALL, False, True),
        (Endpoint.NOTIFY_VERIFIED, False, True),
    ],
)
def test_which_requests_may_be_sent_twice(
    endpoint: Endpoint, reaches_a_person: bool, resend_safe: bool
) -> None:
    assert endpoint.reaches_a_person is reaches_a_person
    assert ApiRequest(endpoint, "POST", "/x", parse=dict).resend_safe is resend_safe


def test_requests_are_frozen() -> None:
    request = endpoints.hlr_lookup(N)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.path = "/sms"  # type: ignore[misc]


def test_connection_defaults_fill_only_what_a_request_leaves_out() -> None:
    defaults = {"sender": "InfoSMS", "callback_url": "https://example.com/receipts"}
    sms = endpoints.with_defaults(endpoints.send_sms("+447400123456", "hi"), **defaults)
    assert sms.body == {
        "number": "+447400123456",
        "text": "hi",
        "from": "InfoSMS",
        "callbackUrl": "https://example.com/receipts",
    }
    own = endpoints.send_sms("+447400123456", "hi", sender="Alerts", callback_url="https://mine")
    assert endpoints.with_defaults(own, **defaults) == own
    # The SMS sender id is no caller id: calls get the callback URL only.
    call = endpoints.with_defaults(endpoints.text_to_speech_call("+447400123456", "hello"), **defaults)
    assert call.body is not None
    assert "from" not in call.body
    assert call.body["callbackUrl"] == "https://example.com/receipts"
    # Look-ups take neither.
    lookup = endpoints.hlr_lookup("+447400123456")
    assert endpoints.with_defaults(lookup, **defaults) == lookup
