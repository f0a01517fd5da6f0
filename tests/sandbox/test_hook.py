"""SmsApiHook over real HTTPS (CA verified) against the sandbox: every method, the connection forms."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pendulum
import phonenumbers
import pytest

from airflow_provider_sms.api import results as r
from airflow_provider_sms.exceptions import SenderNotAllowedError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox import Sandbox
from tests.support.hooks import MOBILE, connect, ledger

pytestmark = pytest.mark.usefixtures("fresh_limiters")


def test_the_number_used_is_a_mobile() -> None:
    assert phonenumbers.number_type(phonenumbers.parse(MOBILE)) == phonenumbers.PhoneNumberType.MOBILE


def test_every_hook_method_round_trip(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox)
    hook = SmsApiHook()

    sms = hook.send_sms("+44 7911 123456", "Your order #29211 received", sender="InfoSMS")
    hlr = hook.hlr_lookup("0044 7911 123456")
    fraud = hook.fraud_check("447911123466")  # ends 66: the sandbox answers "FRAUDLENT"
    flash = hook.flash_call(MOBILE, code="1234")
    reservation = hook.reserve_incoming_call("+447911123451", ivr_confirmation=True, ivr_message="Hi")
    pending = hook.get_incoming_call(reservation.request_id)
    p2s = hook.pin_to_speech_call(MOBILE, "4321", language="fr")
    t2s = hook.text_to_speech_call(MOBILE, "Hi, i'm using API!", language="ru")
    notified = hook.notify_verified(flash.request_id)
    assert sandbox.place_incoming_call(reservation.request_id)
    delivered = hook.get_incoming_call(reservation.request_id)

    assert isinstance(sms, r.SmsResult)
    assert isinstance(hlr, r.HlrResult)
    assert (hlr.number, hlr.status, hlr.reachable) == (MOBILE, "DELIVERED", True)
    assert hlr.mccmnc
    assert hlr.created_at is not None
    assert abs(hlr.created_at.diff(pendulum.now("UTC")).in_seconds()) < 300
    assert (fraud.status, fraud.mobile_prefix, fraud.raw["status"]) == ("FRAUDULENT", True, "FRAUDLENT")
    assert flash.from_number is not None
    assert flash.from_number.endswith("1234")
    assert reservation.did_number.isdigit()
    assert reservation.expires_at is not None
    assert reservation.expires_at > pendulum.now("UTC")
    assert (pending.status, pending.call_received_at) == ("PENDING", None)
    assert pending.request_id == reservation.request_id
    assert (delivered.status, delivered.delivered) == ("DELIVERED", True)
    assert delivered.call_received_at is not None
    assert isinstance(p2s, r.CallResult)
    assert isinstance(t2s, r.CallResult)
    assert notified.request_id == flash.request_id

    entries = ledger(sandbox)
    assert [(e["product"], e["http_status"]) for e in entries] == [
        ("sms", 200),
        ("hlr", 200),
        ("fraudcheck", 200),
        ("flash", 200),
        ("incoming", 200),
        ("incoming_info", 200),
        ("p2s", 200),
        ("t2s", 200),
        ("notify", 200),
        ("incoming_info", 200),
    ]
    assert {e["number"] for e in entries if e["number"]} == {MOBILE, "+447911123466", "+447911123451"}
    assert entries[0]["request_id"] == sms.request_id
    assert entries[6]["request_id"] == p2s.request_id
    assert entries[7]["request_id"] == t2s.request_id


def test_results_serialise_for_xcom(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox)
    reservation = SmsApiHook().reserve_incoming_call(MOBILE)
    as_dict = reservation.to_dict()
    assert set(as_dict) == {"request_id", "did_number", "expires_at"}
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert pendulum.parse(as_dict["expires_at"]) == reservation.expires_at


def test_connection_defaults_from_extras(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox, default_sender="NotValidated")
    hook = SmsApiHook()
    with pytest.raises(SenderNotAllowedError):
        hook.send_sms(MOBILE, "the default sender is used...")
    hook.send_sms(MOBILE, "...unless one is given", sender="InfoSMS")
    assert [e["http_status"] for e in ledger(sandbox, "sms")] == [400, 200]


def test_test_connection_true_and_false(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox)
    ok, message = SmsApiHook().test_connection()
    assert ok, message
    assert "accepted the credentials" in message

    conn = connect(monkeypatch, sandbox)
    conn["password"] = "wrong-secret"
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
    ok, message = SmsApiHook().test_connection()
    assert not ok
    assert "refused the credentials" in message
    assert "login (access key id) and password (secret)" in message
    assert "wrong-secret" not in message

    connect(monkeypatch, sandbox, account="inactive-token")
    ok, message = SmsApiHook().test_connection()
    assert not ok
    assert "inactive" in message

    # Free: the sandbox bills none of these checks.
    assert not any(e["billable"] for e in ledger(sandbox))


def test_test_connection_tells_a_wrong_api_path_from_working_credentials(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connect(monkeypatch, sandbox)
    conn["host"] = sandbox.base_url + "/v2"  # a path the API does not serve: a 404 of another kind
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
    ok, message = SmsApiHook().test_connection()
    assert not ok
    assert "API path" in message


def test_test_connection_reports_an_unusable_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMS_API_DEFAULT",
        json.dumps({"conn_type": "sms_api", "host": "http://127.0.0.1:1", "login": "k", "password": "s"}),
    )
    ok, message = SmsApiHook().test_connection()
    assert not ok
    assert "HTTPS only" in message


def test_connection_as_airflow_uri(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # sms-api://key:secret@host:port/v1?verify=... : Airflow puts "v1" in the schema field.
    port = sandbox.base_url.rsplit(":", 1)[1]
    verify = quote(sandbox.ca_path, safe="")
    uri = f"sms-api://{sandbox.key}:{sandbox.secret}@127.0.0.1:{port}/v1?verify={verify}"
    monkeypatch.setenv("AIRFLOW_CONN_SMS_URI", uri)
    hook = SmsApiHook(sms_api_conn_id="sms_uri")
    assert hook.settings.api_url == f"https://127.0.0.1:{port}/v1"
    assert hook.hlr_lookup(MOBILE).status == "DELIVERED"


def test_one_hook_shared_by_threads(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox)
    hook = SmsApiHook()
    numbers = [f"+4479111234{i:02d}" for i in range(10, 34)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(hook.fraud_check, numbers))
    assert [res.status for res in results] == ["PASSED"] * len(numbers)
    assert sorted(e["number"] for e in ledger(sandbox, "fraudcheck")) == sorted(numbers)
    assert hook.get_conn() is hook.get_conn()  # one pooled session for all of them


def test_close_then_use_again(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox)
    hook = SmsApiHook()
    first = hook.get_conn()
    hook.hlr_lookup(MOBILE)
    hook.close()
    assert hook.hlr_lookup(MOBILE).status == "DELIVERED"
    assert hook.get_conn() is not first
    assert len(ledger(sandbox, "hlr")) == 2


def test_requests_go_out_as_requests_itself_would_prepare_them(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook prepares each request from parts worked out once per session (a sixth of its
    CPU): the method, URL, headers and body are what ``Session.prepare_request`` makes."""
    import requests

    from airflow_provider_sms.api import endpoints

    connect(monkeypatch, sandbox)
    hook = SmsApiHook()
    session = hook.get_conn()
    for request in (
        endpoints.send_sms(MOBILE, "Grüße, {name} €"),
        endpoints.hlr_lookup(MOBILE),
        endpoints.get_incoming_call("a b/ü"),
    ):
        ours = hook._prepare(request)
        theirs = session.prepare_request(
            requests.Request(request.method, hook.settings.url(request.path), json=request.body)
        )
        assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
        assert dict(ours.headers) == dict(theirs.headers)
    assert hook.send_sms(MOBILE, "Grüße €").request_id  # and the API takes them
    assert [e["text"] for e in ledger(sandbox, "sms")] == ["Grüße €"]
