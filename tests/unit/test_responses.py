"""Answers in, results or errors out (no network): the reference's quirky examples and every error."""

from __future__ import annotations

import json
from typing import Any

import pendulum
import pytest

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api import results as r
from airflow_provider_sms.api.responses import (
    check_storable,
    decode_json_object,
    error_from_response,
    parse_delivery_receipt,
    parse_inbound_sms,
    parse_response,
)
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

NUMBER = "+447911123456"
HLR = endpoints.hlr_lookup(NUMBER)
FRAUD = endpoints.fraud_check(NUMBER)
SMS = endpoints.send_sms(NUMBER, "hi")
FLASH = endpoints.flash_call(NUMBER, code="1234")
RESERVE = endpoints.reserve_incoming_call(NUMBER)
INCOMING = endpoints.get_incoming_call("wp9RPWDGZkskBrVeTc4lgNCc4e79fc65")
P2S = endpoints.pin_to_speech_call(NUMBER, "1234")
T2S = endpoints.text_to_speech_call(NUMBER, "hello")
NOTIFY = endpoints.notify_verified("wp9RPWDGZkskBrVeTc4lgNCc4e79fc65")


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


# --- the reference's examples ---------------------------------------------------------------


def test_hlr_example_created_at_in_milliseconds() -> None:
    example = {
        "id": "A82f588e12b54ba1b6bd9a5969d51522",
        "product": "insight.hlr",
        "number": "+47463562200",
        "mccmnc": "242005",
        "network": "Mobile Norway",
        "country": "NO",
        "status": "DELIVERED",
        "createdAt": 1550975149131,
    }
    result = parse_response(HLR, 200, body(example))
    assert isinstance(result, r.HlrResult)
    assert (result.id, result.product, result.number) == (example["id"], "insight.hlr", "+47463562200")
    assert (result.mccmnc, result.network, result.country, result.status) == (
        "242005",
        "Mobile Norway",
        "NO",
        "DELIVERED",
    )
    assert result.created_at == pendulum.datetime(2019, 2, 24, 2, 25, 49, 131000, tz="UTC")
    assert result.reachable
    assert result.raw == example
    assert result.to_dict()["created_at"] == "2019-02-24T02:25:49.131000+00:00"


@pytest.mark.parametrize(("status", "expected"), [("FRAUDLENT", "FRAUDULENT"), ("FRAUDULENT", "FRAUDULENT")])
def test_fraud_check_example_spelling_is_read_as_fraudulent(status: str, expected: str) -> None:
    result = parse_response(FRAUD, 200, body({"status": status, "mobilePrefix": False}))
    assert isinstance(result, r.FraudCheckResult)
    assert result.status == expected
    assert result.mobile_prefix is False
    assert result.raw["status"] == status  # the raw answer is kept as it came


def test_fraud_check_statuses_and_mobile_prefix() -> None:
    passed = parse_response(FRAUD, 200, body({"status": "PASSED", "mobilePrefix": True}))
    assert passed.status == "PASSED"
    assert passed.is_mobile
    not_mobile = parse_response(FRAUD, 200, body({"status": "NOT_MOBILE_PREFIX", "mobilePrefix": False}))
    assert not not_mobile.is_mobile


def test_flash_call_from_becomes_from_number() -> None:
    result = parse_response(FLASH, 200, body({"requestId": "wp9R", "from": "37282329823"}))
    assert isinstance(result, r.FlashCallResult)
    assert (result.request_id, result.from_number) == ("wp9R", "37282329823")
    assert result.to_dict() == {"request_id": "wp9R", "from_number": "37282329823"}


def test_incoming_call_reservation_expires_at_as_numeric_string() -> None:
    result = parse_response(
        RESERVE, 200, body({"requestId": "wp9R", "didNumber": "374444444444", "expiresAt": "1701792901"})
    )
    assert isinstance(result, r.IncomingCallReservation)
    assert result.did_number == "374444444444"
    assert result.expires_at == pendulum.datetime(2023, 12, 5, 16, 15, 1, tz="UTC")


def test_incoming_call_info_pending_with_null_call_received_at() -> None:
    answer = {
        "requestId": "wp9R",
        "didNumber": "374444444444",
        "expiresAt": "1701792901",
        "status": "PENDING",
        "callReceivedAt": None,
    }
    result = parse_response(INCOMING, 200, body(answer))
    assert isinstance(result, r.IncomingCallInfo)
    assert result.status == "PENDING"
    assert result.call_received_at is None
    assert not result.delivered
    assert not result.expired


def test_incoming_call_info_delivered_example() -> None:
    answer = {
        "requestId": "wp9R",
        "didNumber": "374444444444",
        "expiresAt": "1701792901",
        "status": "DELIVERED",
        "callReceivedAt": "1701792922",
    }
    result = parse_response(INCOMING, 200, body(answer))
    assert result.delivered
    assert result.call_received_at == pendulum.datetime(2023, 12, 5, 16, 15, 22, tz="UTC")


def test_unknown_extra_fields_are_kept_in_raw_never_an_error() -> None:
    answer = {"requestId": "abc", "price": {"amount": 0.05, "currency": "EUR"}, "segments": 2}
    result = parse_response(SMS, 200, body(answer))
    assert isinstance(result, r.SmsResult)
    assert result.request_id == "abc"
    assert result.raw["price"] == {"amount": 0.05, "currency": "EUR"}
    assert result.to_dict() == {"request_id": "abc"}


@pytest.mark.parametrize("request_", [P2S, T2S])
def test_calls_answer_a_request_id(request_: endpoints.ApiRequest) -> None:
    result = parse_response(request_, 200, body({"requestId": "call1"}))
    assert isinstance(result, r.CallResult)
    assert result.request_id == "call1"


def test_notify_verified_without_a_body_id_takes_the_paths() -> None:
    assert parse_response(NOTIFY, 200, b"{}").request_id == "wp9RPWDGZkskBrVeTc4lgNCc4e79fc65"
    assert parse_response(NOTIFY, 200, body({"requestId": "other"})).request_id == "other"


def test_results_are_frozen() -> None:
    result = parse_response(SMS, 200, body({"requestId": "abc"}))
    with pytest.raises(AttributeError):
        result.request_id = "changed"


def test_callback_example_sip_status_as_number() -> None:
    receipt = parse_delivery_receipt(
        {
            "requestId": "wp9RPWDGZkskBrVeTc4lgNCc4e79fc65",
            "number": "+37200911211",
            "status": "ANSWERED",
            "sipStatus": 200,
            "timestamp": 1656666364,
            "callCreatedAt": 1656666328,
            "callEndedAt": 1656666364,
            "billable": True,
        }
    )
    assert (receipt.status, receipt.sip_status, receipt.billable) == ("ANSWERED", 200, True)
    assert receipt.call_ended_at == pendulum.datetime(2022, 7, 1, 9, 6, 4, tz="UTC")
    assert parse_delivery_receipt({"requestId": "x", "status": "SENT", "sipStatus": "200"}).sip_status == 200


def test_inbound_sms_example_numbers_without_plus() -> None:
    sms = parse_inbound_sms(
        {
            "from": "447700900001",
            "to": "447700900000",
            "messageId": "fffeee-qqdqqq-gfrgrgr-vvvvvvv",
            "text": "Hello world",
            "timestamp": 1578787200,
            "parts": 1,
        }
    )
    assert (sms.from_number, sms.to_number, sms.parts) == ("447700900001", "447700900000", 1)
    assert sms.timestamp == pendulum.datetime(2020, 1, 12, tz="UTC")


# --- what a client cannot use ---------------------------------------------------------------

# The reference's own flash-call and incoming-call examples, byte for byte: not JSON.
FLASH_EXAMPLE = b'{\n"requestId" : "wp9RPWDGZkskBrVeTc4lgNCc4e79fc65" "from" : "37282329823"\n}'
INCOMING_EXAMPLE = b'{\n"requestId" : "wp9RPWDGZkskBrVeTc4lgNCc4e79fc65, "didNumber" : "374444444444",\n}'


@pytest.mark.parametrize(
    ("request_", "raw", "shown"),
    [
        (FLASH, FLASH_EXAMPLE, '{ "requestId" : "wp9RPWDGZkskBrVeTc4lgNCc4e79fc65" "from"'),
        (RESERVE, INCOMING_EXAMPLE, '"didNumber" : "3744******44"'),
        (HLR, b'{"id": "A82f", "product": "insight.hlr", "number": "+4791', '"number": "+4791'),  # cut off
        (SMS, b"<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway"),
        (SMS, b"", "''"),
        (SMS, b"\xff\xfe\x00garbage", "garbage"),
    ],
)
def test_a_body_that_is_not_json_is_a_server_error_naming_status_and_first_bytes(
    request_: endpoints.ApiRequest, raw: bytes, shown: str
) -> None:
    with pytest.raises(ServerError) as info:
        parse_response(request_, 200, raw)
    message = str(info.value)
    assert message.startswith("The API answered HTTP 200 with a body that is not JSON: ")
    assert shown in message
    assert info.value.http_status == 200


def test_previews_mask_numbers_in_what_they_quote() -> None:
    with pytest.raises(ServerError) as info:
        parse_response(HLR, 200, b'{"number": "+447911123456", "status": ')
    assert "447911123456" not in str(info.value)
    assert "+4479******56" in str(info.value)


@pytest.mark.parametrize(
    ("request_", "answer"),
    [
        (SMS, {"id": "no requestId here"}),
        (HLR, {"number": NUMBER}),
        (RESERVE, {"requestId": "x"}),
        (INCOMING, {"requestId": "x", "status": {"nested": True}}),
        (HLR, {"status": "DELIVERED", "createdAt": "yesterday"}),
        (HLR, {"status": "DELIVERED", "createdAt": int("1" + "0" * 400)}),  # was an OverflowError
        (RESERVE, {"requestId": "x", "didNumber": "1", "expiresAt": "1" + "0" * 400}),
        (FRAUD, {"status": "PASSED", "mobilePrefix": "perhaps"}),
    ],
)
def test_json_without_the_documented_fields_is_a_server_error(
    request_: endpoints.ApiRequest, answer: dict[str, Any]
) -> None:
    with pytest.raises(ServerError, match="without the documented fields"):
        parse_response(request_, 200, body(answer))


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"ok"', b"null", b"42"])
def test_json_that_is_not_an_object_is_a_server_error(raw: bytes) -> None:
    with pytest.raises(ServerError, match="not an object"):
        decode_json_object(200, raw)


# --- errors ---------------------------------------------------------------------------------

ERRORS = [
    (1, 401, "Authentication required", AuthenticationError, "login"),
    (2, 400, "Inactive account", AccountError, "support"),
    (4, 429, "Too many requests", RateLimitError, "rate_limit"),
    (5, 401, "Inactive token", AuthenticationError, "access key is inactive"),
    (6, 403, "Account not in live", AccountError, "activate"),
    (10, 400, "Invalid request", InvalidRequestError, "malformed"),
    (11, 400, "Invalid number", InvalidNumberError, "E.164"),
    (16, 400, "Sender not allowed", SenderNotAllowedError, "sender"),
    (404, 404, "Request not found or expired", NotFoundError, "expired"),
]


@pytest.mark.parametrize(("code", "status", "reason", "cls", "advice"), ERRORS)
def test_every_error_code_maps_to_its_class_with_code_reason_status_and_advice(
    code: int, status: int, reason: str, cls: type[SmsApiError], advice: str
) -> None:
    answer = body({"errorCode": code, "errorReason": reason})
    with pytest.raises(cls) as info:
        parse_response(SMS, status, answer, number="+4479******56")
    error = info.value
    assert (error.error_code, error.error_reason, error.http_status) == (code, reason, status)
    assert advice in str(error)
    assert "+4479******56" in str(error)
    assert type(error_from_response(status, answer)) is cls


def test_the_code_decides_when_statuses_agree_2_and_10_differ() -> None:
    assert type(error_from_response(400, body({"errorCode": 2}))) is AccountError
    assert type(error_from_response(400, body({"errorCode": 10}))) is InvalidRequestError
    assert error_from_response(400, body({"errorCode": "11"})).error_code == 11  # numeric string


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_with_an_html_page_is_a_server_error_showing_status_and_body(status: int) -> None:
    page = f"<html><body><h1>{status} Oops</h1></body></html>".encode()
    error = error_from_response(status, page)
    assert type(error) is ServerError
    assert error.http_status == status
    assert error.error_code is None
    assert f"HTTP {status}" in str(error)
    assert "<h1>" in str(error)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (403, AccountError),
        (404, NotFoundError),
        (429, RateLimitError),
        (400, InvalidRequestError),
        (418, InvalidRequestError),
        (500, ServerError),
        (302, ServerError),
    ],
)
def test_without_an_error_code_the_status_decides(status: int, cls: type[SmsApiError]) -> None:
    error = error_from_response(status, b"no json")
    assert type(error) is cls
    assert error.error_code is None
    assert error.http_status == status


def test_an_unknown_code_keeps_its_value_and_falls_back_to_the_status() -> None:
    error = error_from_response(400, body({"errorCode": 99, "errorReason": "New thing"}))
    assert type(error) is InvalidRequestError
    assert (error.error_code, error.error_reason) == (99, "New thing")


def test_reasons_quoting_a_number_are_masked_in_the_message() -> None:
    error = error_from_response(400, body({"errorCode": 11, "errorReason": "Invalid number +447911123456"}))
    assert "447911123456" not in str(error)
    assert error.error_reason == "Invalid number +447911123456"  # the attribute keeps the API's words


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sipStatus", "tel:+447400123456"),
        ("sipStatus", 486.5),
        ("timestamp", "tel:+447400123456"),
        ("status", "tel:+447400123456"),
    ],
)
def test_receipt_validation_errors_name_the_field_never_the_value(field: str, value: object) -> None:
    """The webhook logs and answers these messages: a number sent in the wrong field stays out."""
    payload = {"requestId": "r1", "number": "+447400123456", "status": "DELIVERED", field: value}
    with pytest.raises((TypeError, ValueError)) as caught:
        parse_delivery_receipt(payload)
    assert field in str(caught.value)
    assert "447400123456" not in str(caught.value)
    assert "486.5" not in str(caught.value)


def test_receipt_sip_status_as_a_whole_float_is_read() -> None:
    receipt = parse_delivery_receipt({"requestId": "r1", "status": "ANSWERED", "sipStatus": 200.0})
    assert receipt.sip_status == 200


HUGE = int("1" + "0" * 400)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"timestamp": HUGE}, "'timestamp'"),
        ({"timestamp": str(HUGE)}, "'timestamp'"),
        ({"callCreatedAt": 1e300}, "'callCreatedAt'"),
        ({"sipStatus": HUGE}, "'sipStatus'"),
        ({"sipStatus": str(2**63)}, "'sipStatus'"),
        ({"number": "+44\ud800"}, "'number'"),
        ({"status": "DELIVERED\x00"}, "'status'"),
        ({"extra": {"list": [1, "\udfff"]}}, "'extra.list[1]'"),
        ({"extra": {"n": -(2**63) - 1}}, "'extra.n'"),
        ({"\ud800": 1}, "field name"),
    ],
)
def test_receipts_that_cannot_be_stored_or_read_back_are_value_errors(payload: dict, field: str) -> None:
    """A webhook answers these with 422: the parser is where a payload becomes valid."""
    receipt = {"requestId": "r1", "number": "+447400123456", "status": "DELIVERED", **payload}
    with pytest.raises(ValueError, match=r"out of range|surrogate|NUL|timestamp") as caught:
        parse_delivery_receipt(receipt)
    assert field in str(caught.value)
    assert "447400123456" not in str(caught.value)


@pytest.mark.parametrize(
    "payload",
    [{"text": "a\ud800"}, {"text": "\x00"}, {"timestamp": HUGE}, {"parts": HUGE}, {"to": "\udc00"}],
)
def test_inbound_sms_that_cannot_be_stored_or_read_back_are_value_errors(payload: dict) -> None:
    message = {"from": "447911123456", "to": "447700900000", "messageId": "m1", "text": "hi", **payload}
    with pytest.raises(ValueError, match=r"out of range|surrogate|NUL|timestamp"):
        parse_inbound_sms(message)


def test_check_storable_accepts_what_json_can_carry_back() -> None:
    check_storable(
        {"text": "\U0001f600 \u00e9", "n": [2**63 - 1, -(2**63), 1.5e300, None, True], "nested": {"k": ""}}
    )
    deep: list = []
    for _ in range(900):
        deep = [deep]
    check_storable({"deep": deep})  # as deep as json.loads goes, no RecursionError
