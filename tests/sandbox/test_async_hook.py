"""SmsApiAsyncHook over real HTTPS against the sandbox: endpoints, errors, retries, TLS."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from airflow_provider_sms.api import results as r
from airflow_provider_sms.exceptions import (
    ConnectionNotMadeError,
    DeliveryUnknownError,
    InvalidRequestError,
    NotFoundError,
    SenderNotAllowedError,
    ServerError,
    SmsApiConfigError,
    SmsApiConnectionError,
)
from airflow_provider_sms.hooks import sms_api_async
from airflow_provider_sms.hooks.pacing import HEADROOM
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook
from tests.support.pacing import max_in_any_window
from tests.support.runs import requests_for

NUMBER = "+447911123471"


def run(fn: Callable[[SmsApiAsyncHook], Awaitable[Any]], conn_id: str = "sms_api_default") -> Any:
    async def main() -> Any:
        async with SmsApiAsyncHook(sms_api_conn_id=conn_id) as hook:
            return await fn(hook)

    return asyncio.run(main())


def connect(
    monkeypatch: pytest.MonkeyPatch, sandbox: Any, conn_id: str = "sms_api_default", **extra: Any
) -> None:
    conn = json.loads(sandbox.airflow_conn_json())
    conn["extra"].update(extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_every_endpoint(sandbox, monkeypatch) -> None:
    connect(monkeypatch, sandbox)

    async def all_endpoints(hook: SmsApiAsyncHook) -> dict[str, Any]:
        reservation = await hook.reserve_incoming_call(NUMBER, ivr_confirmation=True, ivr_message="Hi")
        return {
            "sms": await hook.send_sms(NUMBER, "hello", sender="InfoSMS"),
            "hlr": await hook.hlr_lookup(NUMBER),
            "fraud": await hook.fraud_check("+447911123477"),
            "flash": await hook.flash_call(NUMBER, code="1234"),
            "reservation": reservation,
            "info": await hook.get_incoming_call(reservation.request_id),
            "p2s": await hook.pin_to_speech_call(NUMBER, "4321", language="fr"),
            "t2s": await hook.text_to_speech_call(NUMBER, "hello", language="en"),
            "notify": await hook.notify_verified(reservation.request_id),
            "connection": await hook.test_connection(),
        }

    got = run(all_endpoints)

    assert isinstance(got["sms"], r.SmsResult)
    assert got["hlr"].status == "DELIVERED"
    assert got["fraud"].status == "SUSPICIOUS"
    assert got["flash"].from_number.endswith("1234")
    assert got["info"].status == "PENDING"
    assert got["info"].did_number == got["reservation"].did_number
    assert isinstance(got["p2s"], r.CallResult)
    assert isinstance(got["t2s"], r.CallResult)
    assert got["notify"].request_id in ("", got["reservation"].request_id)
    assert got["connection"] == (True, "Connection works: the API accepted the credentials.")
    billed = sorted(e["product"] for e in sandbox.ledger() if e["billable"])
    assert billed == sorted(["sms", "hlr", "fraudcheck", "flash", "incoming", "p2s", "t2s"])


def test_api_refusals_map_to_errors(sandbox, monkeypatch) -> None:
    connect(monkeypatch, sandbox)

    with pytest.raises(SenderNotAllowedError):
        run(lambda hook: hook.send_sms(NUMBER, "hi", sender="NotValidated"))
    with pytest.raises(NotFoundError):
        run(lambda hook: hook.get_incoming_call("no-such-request"))
    with pytest.raises(InvalidRequestError, match="Text-to-speech does not support language 'de'"):
        run(lambda hook: hook.text_to_speech_call(NUMBER, "hallo", language="de"))
    assert requests_for(sandbox, "t2s") == []  # refused locally, before any request


def test_wrong_credentials(sandbox, monkeypatch) -> None:
    conn = json.loads(sandbox.airflow_conn_json())
    conn["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))

    ok, message = run(lambda hook: hook.test_connection())

    assert not ok
    assert "refused the credentials" in message
    assert "wrong" not in message


def test_server_error_on_a_send_is_unknown_and_not_retried(sandbox, monkeypatch) -> None:
    connect(monkeypatch, sandbox)
    sandbox.set_faults("503=1.0")

    with pytest.raises(DeliveryUnknownError, match=r"\+4479\*+71"):
        run(lambda hook: hook.send_sms(NUMBER, "hi"))

    assert len(requests_for(sandbox, "sms")) == 1


def test_server_error_on_a_lookup_is_retried(sandbox, monkeypatch) -> None:
    connect(monkeypatch, sandbox, max_retries=2)
    sandbox.set_faults("503=1.0")

    with pytest.raises(ServerError):
        run(lambda hook: hook.hlr_lookup(NUMBER))

    assert len(requests_for(sandbox, "hlr")) == 3


def test_stalled_answer_to_a_send_is_unknown(sandbox, monkeypatch) -> None:
    connect(monkeypatch, sandbox, timeout=0.5)
    sandbox.set_faults("stall=1.0,stall_seconds=2")

    with pytest.raises(DeliveryUnknownError, match="may or may not have gone out"):
        run(lambda hook: hook.flash_call(NUMBER))

    assert [e["billable"] for e in requests_for(sandbox, "flash")] == [True]


def test_truncated_answer_to_a_send_is_unknown(sandbox, monkeypatch) -> None:
    connect(monkeypatch, sandbox)
    sandbox.set_faults("truncated=1.0")

    with pytest.raises(DeliveryUnknownError):
        run(lambda hook: hook.send_sms(NUMBER, "hi"))


def test_refused_connection_is_not_made(monkeypatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = {"conn_type": "sms_api", "host": f"https://127.0.0.1:{port}", "login": "k", "password": "s"}
    conn["extra"] = {"max_retries": 0}
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))

    with pytest.raises(ConnectionNotMadeError, match="Could not connect"):
        run(lambda hook: hook.send_sms(NUMBER, "hi"))


def test_tls_verification_failure_says_what_to_fix(sandbox, monkeypatch) -> None:
    connect(monkeypatch, sandbox, verify=True, max_retries=0)  # the system store does not know the sandbox CA

    with pytest.raises(SmsApiConnectionError, match=r"TLS handshake .* failed .*'verify' extra"):
        run(lambda hook: hook.hlr_lookup(NUMBER))
    assert sandbox.ledger() == []


def test_unreadable_ca_bundle_is_a_config_error(sandbox, monkeypatch, tmp_path) -> None:
    connect(monkeypatch, sandbox, verify=str(tmp_path / "missing.pem"))

    with pytest.raises(SmsApiConfigError, match="CA bundle"):
        run(lambda hook: hook.hlr_lookup(NUMBER))


def test_environment_ca_variables_do_not_override_the_connection(sandbox, monkeypatch, tmp_path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    connect(monkeypatch, sandbox)

    assert run(lambda hook: hook.hlr_lookup(NUMBER)).status == "DELIVERED"


@pytest.mark.usefixtures("fresh_limiters")
def test_concurrent_requests_share_one_client_and_the_pace(sandbox_factory, monkeypatch) -> None:
    clients: list[httpx.AsyncClient] = []

    class CountedClient(httpx.AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            clients.append(self)

    monkeypatch.setattr(sms_api_async.httpx, "AsyncClient", CountedClient)
    starts: list[float] = []
    with sandbox_factory(rate_limit=10) as sb:
        # Retries absorb a 429 that the machine's load could cause (a late start, then one on
        # time): what is checked is the pace the limiter gave, not the timing of the arrivals.
        connect(monkeypatch, sb, rate_limit=10, max_retries=3)

        async def many(hook: SmsApiAsyncHook) -> list[Any]:
            await hook.get_settings()
            limiter = hook.limiter
            acquire = limiter.acquire_async

            async def recorded() -> float:
                start = await acquire()
                starts.append(start)
                return start

            monkeypatch.setattr(limiter, "acquire_async", recorded)
            return await asyncio.gather(*(hook.hlr_lookup(NUMBER) for _ in range(15)))

        results = run(many)
        answered = [e for e in sb.ledger() if e["product"] == "hlr" and e["http_status"] == 200]

    assert [result.status for result in results] == ["DELIVERED"] * 15
    assert len(answered) == 15
    assert len(clients) == 1  # one client for all fifteen
    first_fifteen = sorted(starts)[:15]
    gaps = [b - a for a, b in itertools.pairwise(first_fifteen)]
    assert min(gaps) >= 1 / (10 * HEADROOM) - 1e-9  # one start per slot, never two at once
    assert max_in_any_window(starts) <= 10
