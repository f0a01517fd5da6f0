"""Every error the API documents, mapped by SmsApiHook over HTTPS; TLS and connection failures."""

from __future__ import annotations

import json
import re
import socket

import pytest

from airflow_provider_sms.api.endpoints import ApiRequest, Endpoint
from airflow_provider_sms.api.responses import parse_hlr, parse_sms
from airflow_provider_sms.exceptions import (
    AccountError,
    AuthenticationError,
    ConnectionNotMadeError,
    InvalidNumberError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    SenderNotAllowedError,
    ServerError,
    SmsApiConfigError,
    SmsApiError,
    TlsVerificationError,
)
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox import Sandbox
from tests.support.hooks import MOBILE, SandboxFactory, connect, ledger

pytestmark = pytest.mark.usefixtures("fresh_limiters")


def expect(error: type[SmsApiError], code: int | None, status: int | None, call: object) -> SmsApiError:
    with pytest.raises(error) as info:
        call()  # type: ignore[operator]
    assert type(info.value) is error
    assert (info.value.error_code, info.value.http_status) == (code, status)
    return info.value


def test_wrong_secret_is_error_1(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(monkeypatch, sandbox)
    conn["password"] = "not-the-secret"
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
    error = expect(AuthenticationError, 1, 401, lambda: SmsApiHook().hlr_lookup(MOBILE))
    assert error.error_reason == "Authentication required"
    assert "connection's login (access key id) and password (secret)" in str(error)


@pytest.mark.parametrize(
    ("account", "error", "code", "status", "advice"),
    [
        ("inactive-account", AccountError, 2, 400, "account is inactive"),
        ("inactive-token", AuthenticationError, 5, 401, "access key is inactive"),
        ("not-live", AccountError, 6, 403, "not live yet"),
    ],
)
def test_demo_accounts_answer_2_5_6(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    error: type[SmsApiError],
    code: int,
    status: int,
    advice: str,
) -> None:
    connect(monkeypatch, sandbox, account=account)
    raised = expect(error, code, status, lambda: SmsApiHook().send_sms(MOBILE, "hi"))
    assert advice in str(raised)
    assert ledger(sandbox) == []  # refused at the gate: nothing processed, nothing billed


def test_too_many_requests_is_error_4_when_retries_run_out(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set_rate_limit(1)
    connect(monkeypatch, sandbox, max_retries=0)
    hook = SmsApiHook()
    hook.hlr_lookup(MOBILE)
    expect(RateLimitError, 4, 429, lambda: hook.hlr_lookup(MOBILE))
    assert hook.limiter.throttled_count == 1
    assert len(ledger(sandbox, "hlr")) == 1


def test_malformed_request_is_error_10(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # The builders refuse this locally; sent by hand, the API must say 10.
    connect(monkeypatch, sandbox)
    no_text = ApiRequest(Endpoint.SEND_SMS, "POST", "/sms", {"number": MOBILE}, parse=parse_sms)
    expect(InvalidRequestError, 10, 400, lambda: SmsApiHook().run(no_text))


def test_invalid_number_is_error_11(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox)
    body = {"number": "+999123456789"}
    bad = ApiRequest(Endpoint.HLR_LOOKUP, "POST", "/insight/hlr", body, parse=parse_hlr)
    error = expect(InvalidNumberError, 11, 400, lambda: SmsApiHook().run(bad))
    assert "E.164" in str(error)


def test_an_impossible_number_never_leaves_the_client(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(monkeypatch, sandbox)
    expect(InvalidNumberError, None, None, lambda: SmsApiHook().send_sms("+44 77", "hi"))
    assert ledger(sandbox) == []


@pytest.mark.parametrize("send", ["sms", "flash", "p2s", "t2s"])
def test_sender_not_validated_is_error_16(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, send: str
) -> None:
    connect(monkeypatch, sandbox)
    hook = SmsApiHook()
    calls = {
        "sms": lambda: hook.send_sms(MOBILE, "hi", sender="NotValidated"),
        "flash": lambda: hook.flash_call(MOBILE, sender="+15550000000"),
        "p2s": lambda: hook.pin_to_speech_call(MOBILE, "1234", sender="+15550000000"),
        "t2s": lambda: hook.text_to_speech_call(MOBILE, "hi", sender="+15550000000"),
    }
    error = expect(SenderNotAllowedError, 16, 400, calls[send])
    assert "sender id validated for this account" in str(error)


def test_unknown_request_is_404(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox)
    error = expect(NotFoundError, 404, 404, lambda: SmsApiHook().get_incoming_call("no-such-request"))
    assert error.error_reason == "Request not found or expired"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_a_server_error(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    sandbox.set_faults(f"{status}=1")
    connect(monkeypatch, sandbox, max_retries=0)
    error = expect(ServerError, None, status, lambda: SmsApiHook().fraud_check(MOBILE))
    assert f"HTTP {status}" in str(error)
    assert "<html>" in str(error)


def test_wrong_ca_is_a_clear_tls_error_and_not_retried(
    sandbox: Sandbox, sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sandbox_factory() as other:
        connect(monkeypatch, sandbox, verify=other.ca_path)  # a CA that did not sign this server
        error = expect(TlsVerificationError, None, None, lambda: SmsApiHook().hlr_lookup(MOBILE))
    assert "TLS handshake" in str(error)
    assert "'verify' extra" in str(error)
    assert ledger(sandbox) == []


def test_unreadable_ca_bundle_is_a_config_error(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox, verify="/nonexistent/ca.pem")
    error = expect(SmsApiConfigError, None, None, lambda: SmsApiHook().hlr_lookup(MOBILE))
    assert "'verify' extra" in str(error)


def test_plain_http_is_refused_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMS_API_DEFAULT",
        json.dumps({"conn_type": "sms_api", "host": "http://127.0.0.1:9", "login": "k", "password": "s"}),
    )
    expect(SmsApiConfigError, None, None, lambda: SmsApiHook().hlr_lookup(MOBILE))


def test_connection_refused_is_retried_then_raised(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    conn = connect(monkeypatch, sandbox, max_retries=2)
    conn["host"] = f"https://127.0.0.1:{port}"
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
    # Even a send: the request never reached a server, so sending again is safe.
    error = expect(ConnectionNotMadeError, None, None, lambda: SmsApiHook().send_sms(MOBILE, "hi"))
    assert f"127.0.0.1:{port}" in str(error)
    logged = capfd.readouterr()  # Airflow 3 hooks log through structlog to stdout
    assert re.findall(
        r"send_sms failed \(attempt (\d) of 3\): Could not connect", logged.out + logged.err
    ) == [
        "1",
        "2",
    ]
