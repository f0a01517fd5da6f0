"""Every error answer: exact HTTP status, errorCode and errorReason, and the order of checks."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import requests

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.sandbox import Sandbox


def call(
    sb: Sandbox,
    path: str,
    *,
    account: str = "demo",
    auth: Any = "account",
    method: str = "POST",
    **kw: Any,
) -> requests.Response:
    if auth == "account":
        acc = sb.accounts[account]
        auth = (acc["key"], acc["secret"])
    return requests.request(method, sb.api_url + path, auth=auth, verify=sb.ca_path, timeout=10, **kw)


def assert_error(r: requests.Response, code: int) -> None:
    status, reason = c.ERRORS[code]
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"errorCode": code, "errorReason": reason}


SMS = {"number": "+18800000000", "text": "hi"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer 1efc292194c04e9b530"},
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"1efc292194c04e9b530:wrong").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"unknown:b0b6c43e9a75c51f").decode()},
        {"Authorization": "Basic"},
    ],
)
def test_authentication_required(sandbox: Sandbox, headers: dict[str, str]) -> None:
    r = call(sandbox, c.PATH_SMS, auth=None, data=SMS, headers=headers)
    assert_error(r, c.ERROR_AUTHENTICATION_REQUIRED)
    assert sandbox.ledger() == []  # unauthenticated requests never reach the ledger


@pytest.mark.parametrize(
    ("account", "code"),
    [
        ("inactive-account", c.ERROR_INACTIVE_ACCOUNT),
        ("inactive-token", c.ERROR_INACTIVE_TOKEN),
        ("not-live", c.ERROR_ACCOUNT_NOT_LIVE),
    ],
)
def test_account_states(sandbox: Sandbox, account: str, code: int) -> None:
    # Account state is checked before validation: an invalid body still gets the state error.
    assert_error(call(sandbox, c.PATH_SMS, account=account, data=SMS), code)
    assert_error(call(sandbox, c.PATH_SMS, account=account, data={"number": "x"}), code)
    assert_error(call(sandbox, "/calls/incoming/abc", account=account, method="GET"), code)


def test_auth_checked_before_validation_and_path(sandbox: Sandbox) -> None:
    assert_error(call(sandbox, c.PATH_SMS, auth=None, data="{bad json"), c.ERROR_AUTHENTICATION_REQUIRED)
    assert_error(call(sandbox, "/no/such/path", auth=None), c.ERROR_AUTHENTICATION_REQUIRED)


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        (c.PATH_SMS, {"data": {"number": "+18800000000"}}),  # text missing
        (c.PATH_SMS, {"data": {"text": "hi"}}),  # number missing
        (c.PATH_SMS, {"data": {"number": "+18800000000", "text": "  "}}),  # blank text
        (c.PATH_SMS, {"json": {"number": 18800000000, "text": "hi"}}),  # number not a string
        (c.PATH_SMS, {"json": {"number": {"e164": "+18800000000"}, "text": "hi"}}),
        (c.PATH_SMS, {"json": {"number": ["+18800000000"], "text": "hi"}}),
        (c.PATH_SMS, {"json": {"number": "+18800000000", "text": 42}}),
        (c.PATH_SMS, {"json": ["+18800000000", "hi"]}),  # not an object
        (c.PATH_SMS, {"data": "{not json", "headers": {"Content-Type": "application/json"}}),
        (c.PATH_SMS, {"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}),
        (c.PATH_SMS, {"data": b"number=%FF&text=hi"}),  # not UTF-8
        (c.PATH_SMS, {"data": "number=1", "headers": {"Content-Type": "text/plain"}}),
        (c.PATH_SMS, {"json": {**SMS, "callbackUrl": "ftp://example.com/x"}}),
        (c.PATH_SMS, {"json": {**SMS, "callbackUrl": "not a url"}}),
        (c.PATH_FLASH_CALL, {"data": {"number": "+18800000000", "code": "123"}}),
        (c.PATH_FLASH_CALL, {"data": {"number": "+18800000000", "code": "1234567"}}),
        (c.PATH_FLASH_CALL, {"data": {"number": "+18800000000", "code": "12a4"}}),
        (c.PATH_FLASH_CALL, {"json": {"number": "+18800000000", "code": 1234}}),
        (c.PATH_PIN_TO_SPEECH, {"data": {"number": "+18800000000"}}),  # code required
        (c.PATH_PIN_TO_SPEECH, {"data": {"number": "+18800000000", "code": "1234", "language": "xx"}}),
        (c.PATH_TEXT_TO_SPEECH, {"data": {"number": "+18800000000"}}),  # text required
        (c.PATH_TEXT_TO_SPEECH, {"data": {"number": "+18800000000", "text": "hi", "language": "de"}}),
        (c.PATH_INCOMING_CALL, {"data": {"number": "+18800000000", "ivrConfirmation": "maybe"}}),
        (c.PATH_INCOMING_CALL, {"json": {"number": "+18800000000", "ivrConfirmation": 1}}),
        (c.PATH_HLR, {}),
        (c.PATH_FRAUD_CHECK, {"json": {}}),
        ("/requests/abc", {"data": {"goal": "NUMBER_UNVERIFIED"}}),
        ("/requests/abc", {"data": {}}),
    ],
)
def test_invalid_request(sandbox: Sandbox, path: str, kwargs: dict[str, Any]) -> None:
    assert_error(call(sandbox, path, **kwargs), c.ERROR_INVALID_REQUEST)
    [entry] = sandbox.ledger()
    assert entry["http_status"] == 400
    assert entry["billable"] is False
    assert entry["outcome"] == "ERROR_10"


@pytest.mark.parametrize(
    "number",
    [
        "",
        "abc",
        "+0123456789",  # leading zero
        "+12345",  # too short
        "+1234567890123456",  # 16 digits
        "+9991234567",  # unassigned country code
        "+1 880 000 0000",  # inner spaces
        "++18800000000",
        "+1880000000O",
        "+١٨٨٠٠٠٠٠٠٠٠",  # non-ASCII digits
    ],
)
def test_invalid_number(sandbox: Sandbox, number: str) -> None:
    assert_error(call(sandbox, c.PATH_SMS, data={"number": number, "text": "hi"}), c.ERROR_INVALID_NUMBER)
    assert_error(call(sandbox, c.PATH_HLR, json={"number": number}), c.ERROR_INVALID_NUMBER)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (c.PATH_SMS, {**SMS, "from": "Unknown"}),
        (c.PATH_SMS, {**SMS, "from": "infosms"}),  # alphanumeric ids are case-sensitive
        (c.PATH_SMS, {**SMS, "from": "+15005550007"}),
        (c.PATH_FLASH_CALL, {"number": "+18800000000", "from": "+15005550007"}),
        (c.PATH_FLASH_CALL, {"number": "+18800000000", "from": "InfoSMS"}),  # SMS list is not the call list
        (c.PATH_PIN_TO_SPEECH, {"number": "+18800000000", "code": "1234", "from": "+447700900124"}),
        (c.PATH_TEXT_TO_SPEECH, {"number": "+18800000000", "text": "hi", "from": "Alerts"}),
    ],
)
def test_sender_not_allowed(sandbox: Sandbox, path: str, body: dict[str, str]) -> None:
    assert_error(call(sandbox, path, data=body), c.ERROR_SENDER_NOT_ALLOWED)


def test_incoming_unknown_request_is_404(sandbox: Sandbox) -> None:
    assert_error(call(sandbox, "/calls/incoming/xxxxxxxxxxxxxx", method="GET"), c.ERROR_NOT_FOUND)


def test_incoming_of_another_account_is_404(sandbox: Sandbox) -> None:
    request_id = call(sandbox, c.PATH_INCOMING_CALL, data={"number": "+18800000001"}).json()["requestId"]
    assert call(sandbox, f"/calls/incoming/{request_id}", method="GET").status_code == 200
    r = call(sandbox, f"/calls/incoming/{request_id}", method="GET", account="demo2")
    assert_error(r, c.ERROR_NOT_FOUND)


def test_notify_unknown_request_is_404(sandbox: Sandbox) -> None:
    r = call(sandbox, "/requests/xxxxxxxxxxxxxx", data={"goal": "NUMBER_VERIFIED"})
    assert_error(r, c.ERROR_NOT_FOUND)
    request_id = call(sandbox, c.PATH_SMS, data=SMS).json()["requestId"]
    assert_error(
        call(sandbox, f"/requests/{request_id}", data={"goal": "NUMBER_VERIFIED"}, account="demo2"), 404
    )


def test_unknown_path_and_wrong_method(sandbox: Sandbox) -> None:
    r = call(sandbox, "/no/such/endpoint", data=SMS)
    assert r.status_code == 404
    assert r.json() == {"errorCode": 404, "errorReason": "Not found"}
    r = call(sandbox, c.PATH_SMS, method="GET")
    assert r.status_code == 405
    assert r.json()["errorCode"] == c.ERROR_INVALID_REQUEST
    r = call(sandbox, "/calls/incoming/abc", method="DELETE")
    assert r.status_code == 405
    assert r.json() == {"errorCode": c.ERROR_INVALID_REQUEST, "errorReason": "Invalid request"}
    r = call(sandbox, c.PATH_SMS + "/", data=SMS)  # no redirect: a JSON 404
    assert r.status_code == 404
    assert r.json() == {"errorCode": 404, "errorReason": "Not found"}
    assert r.history == []


def test_body_over_one_mebibyte(sandbox: Sandbox) -> None:
    body = b"number=%2B18800000000&text=" + b"x" * (1024 * 1024 + 1)
    assert_error(call(sandbox, c.PATH_SMS, data=body), c.ERROR_INVALID_REQUEST)
    # Just under the cap is fine.
    body = b"number=%2B18800000000&text=" + b"x" * (1024 * 1024 - 100)
    assert call(sandbox, c.PATH_SMS, data=body).status_code == 200


def test_ten_megabyte_body_answered_quickly(sandbox: Sandbox) -> None:
    started = time.monotonic()
    r = call(sandbox, c.PATH_SMS, data=b"number=%2B18800000000&text=" + b"x" * 10_000_000)
    assert_error(r, c.ERROR_INVALID_REQUEST)
    assert time.monotonic() - started < 3
    # Chunked upload (no Content-Length): capped while streaming.
    chunks = (b"x" * 65536 for _ in range(160))
    assert_error(call(sandbox, c.PATH_SMS, data=chunks), c.ERROR_INVALID_REQUEST)
    assert call(sandbox, c.PATH_SMS, data=SMS).status_code == 200
