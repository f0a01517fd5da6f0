"""Happy paths of every /v1 endpoint over real HTTPS, with JSON and form bodies."""

from __future__ import annotations

import json
import re
import ssl
from typing import Any

import httpx
import pytest
import requests

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.sandbox import DEMO_KEY, DEMO_SECRET, Sandbox

ID = re.compile(r"[A-Za-z0-9]{32}")


def post(sb: Sandbox, path: str, body: dict[str, Any], *, form: bool = False, **kw: Any) -> requests.Response:
    send = {"data": body} if form else {"json": body}
    return requests.post(
        sb.api_url + path, auth=(sb.key, sb.secret), verify=sb.ca_path, timeout=10, **send, **kw
    )


@pytest.fixture(params=["json", "form"])
def form(request: pytest.FixtureRequest) -> bool:
    return request.param == "form"


def test_info_and_credentials(sandbox: Sandbox) -> None:
    info = sandbox.info()
    assert info["base_url"].startswith("https://127.0.0.1:")
    assert info["api_url"] == info["base_url"] + "/v1"
    assert (
        (info["key"], info["secret"])
        == (DEMO_KEY, DEMO_SECRET)
        == ("1efc292194c04e9b530", "b0b6c43e9a75c51f")
    )
    assert info["ca_cert"] == sandbox.ca_path
    assert set(info["accounts"]) >= {"demo", "demo2", "inactive-account", "inactive-token", "not-live"}
    conn = json.loads(info["airflow_conn"])
    assert conn == {
        "conn_type": "sms_api",
        "host": sandbox.base_url,
        "login": DEMO_KEY,
        "password": DEMO_SECRET,
        "extra": {"verify": sandbox.ca_path},
    }


def test_sms(sandbox: Sandbox, form: bool) -> None:
    r = post(sandbox, "/sms", {"number": "+18800000000", "text": "Your order #29211 received"}, form=form)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"requestId"}
    assert ID.fullmatch(r.json()["requestId"])


@pytest.mark.parametrize("sender", ["InfoSMS", "Alerts", "+15005550006", "15005550006"])
def test_sms_allowed_senders(sandbox: Sandbox, form: bool, sender: str) -> None:
    r = post(sandbox, "/sms", {"number": "+447700900001", "text": "hi", "from": sender}, form=form)
    assert r.status_code == 200, r.text


def test_hlr_reference_example(sandbox: Sandbox, form: bool) -> None:
    r = post(sandbox, c.PATH_HLR, {"number": "+47463562200"}, form=form)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "product", "number", "mccmnc", "network", "country", "status", "createdAt"}
    assert body["product"] == "insight.hlr"
    assert body["number"] == "+47463562200"
    assert body["country"] == "NO"
    assert body["status"] == "DELIVERED"
    assert body["mccmnc"].startswith("242")
    assert len(body["mccmnc"]) == 5
    assert isinstance(body["createdAt"], int)
    assert body["createdAt"] > 10**12
    assert ID.fullmatch(body["id"])


@pytest.mark.parametrize(
    ("number", "status", "country", "mcc"),
    [
        ("+4915112345678", "DELIVERED", "DE", "262"),  # T-Mobile mobile
        ("+493012345678", "UNDELIVERED", "DE", "262"),  # Berlin fixed line
        ("+4915112345698", "UNDELIVERED", "DE", "262"),  # magic 98
        ("+33612345699", "UNDELIVERED", "FR", "208"),  # magic 99
        ("+12025550123", "DELIVERED", "US", "310"),  # fixed line or mobile
    ],
)
def test_hlr_rules(sandbox: Sandbox, number: str, status: str, country: str, mcc: str) -> None:
    body = post(sandbox, c.PATH_HLR, {"number": number}).json()
    assert (body["status"], body["country"], body["mccmnc"][:3]) == (status, country, mcc)
    assert len(body["mccmnc"]) == (6 if country == "US" else 5)
    assert body["network"]


def test_hlr_carrier_name_and_stable_mnc(sandbox: Sandbox) -> None:
    first = post(sandbox, c.PATH_HLR, {"number": "+4915112345678"}).json()
    second = post(sandbox, c.PATH_HLR, {"number": "+4915112345670"}).json()
    assert first["network"] == "T-Mobile"
    assert first["mccmnc"] == second["mccmnc"]


@pytest.mark.parametrize(
    ("number", "status", "mobile"),
    [
        ("+18800000000", "FRAUDLENT", False),  # the reference example, answered as documented
        ("+4915112345666", "FRAUDLENT", True),
        ("+4915112345677", "SUSPICIOUS", True),
        ("+493012345677", "SUSPICIOUS", False),
        ("+493012345678", "NOT_MOBILE_PREFIX", False),
        ("+4915112345678", "PASSED", True),
        ("+47463562200", "PASSED", True),  # unknown type counts as mobile
    ],
)
def test_fraudcheck(sandbox: Sandbox, form: bool, number: str, status: str, mobile: bool) -> None:
    r = post(sandbox, c.PATH_FRAUD_CHECK, {"number": number}, form=form)
    assert r.status_code == 200
    assert r.json() == {"status": status, "mobilePrefix": mobile}


def test_flash_generated_caller_id(sandbox: Sandbox, form: bool) -> None:
    r = post(sandbox, c.PATH_FLASH_CALL, {"number": "18800000000", "code": "1234"}, form=form)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"requestId", "from"}
    assert body["from"].endswith("1234")
    assert body["from"].isdigit()
    no_code = post(sandbox, c.PATH_FLASH_CALL, {"number": "+18800000000"}, form=form).json()
    assert no_code["from"].isdigit()
    assert len(no_code["from"]) == 11


@pytest.mark.parametrize("caller", ["+447700900123", "447700900123", "+15005550006"])
def test_flash_validated_caller_id(sandbox: Sandbox, caller: str) -> None:
    body = post(sandbox, c.PATH_FLASH_CALL, {"number": "+18800000000", "from": caller}).json()
    assert body["from"] == caller.lstrip("+")


def test_incoming_reserve_and_get(sandbox: Sandbox, form: bool) -> None:
    r = post(
        sandbox,
        c.PATH_INCOMING_CALL,
        {"number": "+18800000000", "ivrConfirmation": "true" if form else True, "ivrMessage": "Press"},
        form=form,
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"requestId", "didNumber", "expiresAt"}
    assert body["didNumber"].isdigit()
    assert not body["didNumber"].startswith("+")
    assert isinstance(body["expiresAt"], str)
    assert body["expiresAt"].isdigit()
    got = requests.get(
        f"{sandbox.api_url}/calls/incoming/{body['requestId']}",
        auth=(sandbox.key, sandbox.secret),
        verify=sandbox.ca_path,
        timeout=10,
    )
    assert got.status_code == 200
    assert got.json() == {**body, "status": "PENDING", "callReceivedAt": None}


@pytest.mark.parametrize("value", ["false", "FALSE", False, ""])
def test_incoming_ivr_false(sandbox: Sandbox, value: Any) -> None:
    r = post(sandbox, c.PATH_INCOMING_CALL, {"number": "+18800000000", "ivrConfirmation": value})
    assert r.status_code == 200


@pytest.mark.parametrize("language", [None, "en", "de", "zh", "ru"])
def test_pin_to_speech(sandbox: Sandbox, form: bool, language: str | None) -> None:
    body: dict[str, Any] = {"number": "+18800000000", "code": "123456"}
    if language:
        body["language"] = language
    r = post(sandbox, c.PATH_PIN_TO_SPEECH, body, form=form)
    assert r.status_code == 200
    assert set(r.json()) == {"requestId"}


@pytest.mark.parametrize("language", [None, "en", "ru"])
def test_text_to_speech(sandbox: Sandbox, form: bool, language: str | None) -> None:
    body: dict[str, Any] = {"number": "+18800000000", "text": "Hi, i'm using API!", "from": "+15005550006"}
    if language:
        body["language"] = language
    r = post(sandbox, c.PATH_TEXT_TO_SPEECH, body, form=form)
    assert r.status_code == 200
    assert set(r.json()) == {"requestId"}


def test_notify_number_verified(sandbox: Sandbox, form: bool) -> None:
    request_id = post(sandbox, c.PATH_FLASH_CALL, {"number": "+18800000000"}).json()["requestId"]
    r = post(sandbox, f"/requests/{request_id}", {"goal": "NUMBER_VERIFIED"}, form=form)
    assert r.status_code == 200
    assert r.json() == {"requestId": request_id, "goal": "NUMBER_VERIFIED"}


@pytest.mark.parametrize("raw", [" +18800000000 ", "18800000000", "+18800000000", "\t+447700900001\n"])
def test_number_normalised_to_e164(sandbox: Sandbox, raw: str) -> None:
    body = post(sandbox, c.PATH_HLR, {"number": raw}).json()
    assert body["number"] == "+" + raw.strip().lstrip("+")


def test_httpx_client_with_ssl_context(sandbox: Sandbox) -> None:
    ctx = ssl.create_default_context(cafile=sandbox.ca_path)
    with httpx.Client(verify=ctx, auth=(sandbox.key, sandbox.secret), timeout=10) as client:
        r = client.post(sandbox.api_url + c.PATH_SMS, data={"number": "+18800000000", "text": "hi"})
        assert r.status_code == 200
        r = client.post(sandbox.api_url + c.PATH_SMS, json={"number": "+18800000000", "text": "hi"})
        assert r.status_code == 200


def test_localhost_name_verifies(sandbox: Sandbox) -> None:
    url = sandbox.api_url.replace("127.0.0.1", "localhost") + c.PATH_FRAUD_CHECK
    r = requests.post(
        url,
        data={"number": "+18800000000"},
        auth=(sandbox.key, sandbox.secret),
        verify=sandbox.ca_path,
        timeout=10,
    )
    assert r.status_code == 200


def test_plain_http_is_not_served(sandbox: Sandbox) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(sandbox.api_url.replace("https://", "http://") + c.PATH_SMS, timeout=5)


def test_ids_reproducible_per_seed(sandbox_factory: Any) -> None:
    def ids(seed: int) -> list[str]:
        with sandbox_factory(seed=seed) as sb:
            return [
                post(sb, c.PATH_SMS, {"number": "+18800000000", "text": "x"}).json()["requestId"]
                for _ in range(3)
            ]

    first = ids(7)
    assert first == ids(7)
    assert first != ids(8)


def test_without_a_seed_each_start_hands_out_new_ids(sandbox_factory: Any) -> None:
    """A restarted sandbox must not reuse the request ids of its previous run: a webhook
    receiver would take the new receipts for repeats of the old ones. Faults and latency
    jitter stay seeded (0) so that a fault sequence is still reproducible."""

    def ids(**seed: int) -> dict[str, list[str]]:
        with sandbox_factory(**seed) as sb:
            sms = [post(sb, c.PATH_SMS, {"number": "+18800000000", "text": "x"}).json() for _ in range(3)]
            reservation = post(sb, c.PATH_INCOMING_CALL, {"number": "+447911123450"}).json()
            flash = post(sb, c.PATH_FLASH_CALL, {"number": "+447911123456"}).json()
            inbound = sb.inject_inbound_sms("+447911123456", "+447700900000", "hi", url="http://127.0.0.1:9/")
            return {
                "request ids": [a["requestId"] for a in sms] + [reservation["requestId"], flash["requestId"]],
                "DIDs": [reservation["didNumber"]],
                "caller ids": [flash["from"]],
                "message ids": [inbound["messageId"]],
            }

    first, second = ids(), ids()
    for kind in first:
        assert not set(first[kind]) & set(second[kind]), kind
    assert ids(seed=7) == ids(seed=7)  # an explicit seed still reproduces every id
