"""Injected faults: 5xx HTML and resets before processing, stalls and truncation after it."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
import requests

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.sandbox import Sandbox

SMS = {"number": "+18800000000", "text": "hi"}


def send_sms(sb: Sandbox, timeout: float = 10) -> requests.Response:
    return requests.post(
        sb.api_url + c.PATH_SMS, data=SMS, auth=(sb.key, sb.secret), verify=sb.ca_path, timeout=timeout
    )


@pytest.mark.parametrize(
    ("code", "title"), [(500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable")]
)
def test_5xx_html_before_processing(sandbox: Sandbox, code: int, title: str) -> None:
    sandbox.set_faults(f"{code}=1")
    r = send_sms(sandbox)
    assert r.status_code == code
    assert r.headers["content-type"] == "text/html"
    assert r.text == f"<html><body><h1>{code} {title}</h1></body></html>"
    [entry] = sandbox.ledger()
    assert (entry["fault"], entry["billable"], entry["http_status"]) == (str(code), False, code)


def test_reset_aborts_connection(sandbox: Sandbox) -> None:
    sandbox.set_faults({"reset": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        send_sms(sandbox)
    with pytest.raises(httpx.TransportError):
        httpx.post(
            sandbox.api_url + c.PATH_SMS,
            data=SMS,
            auth=(sandbox.key, sandbox.secret),
            verify=ssl.create_default_context(cafile=sandbox.ca_path),
        )
    assert [(e["fault"], e["billable"], e["http_status"]) for e in sandbox.ledger()] == [
        ("reset", False, None)
    ] * 2


def test_truncated_after_processing_is_billed(sandbox: Sandbox) -> None:
    sandbox.set_faults("truncated=1")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        send_sms(sandbox)
    [entry] = sandbox.ledger()
    assert (entry["fault"], entry["billable"], entry["http_status"]) == ("truncated", True, 200)
    assert entry["request_id"]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            sandbox.api_url + c.PATH_SMS,
            data=SMS,
            auth=(sandbox.key, sandbox.secret),
            verify=ssl.create_default_context(cafile=sandbox.ca_path),
        )


def test_stall_gives_read_timeout_but_sms_was_sent(sandbox: Sandbox) -> None:
    sandbox.set_faults("stall=1,stall_seconds=1")
    with pytest.raises(requests.exceptions.ReadTimeout):
        send_sms(sandbox, timeout=0.3)
    [entry] = sandbox.ledger()
    assert (entry["product"], entry["fault"], entry["billable"]) == ("sms", "stall", True)
    # A patient client does get the answer after the stall.
    r = send_sms(sandbox, timeout=5)
    assert r.status_code == 200
    assert set(r.json()) == {"requestId"}


def test_same_seed_same_faults(sandbox_factory: Any) -> None:
    def statuses(seed: int) -> list[int]:
        with sandbox_factory(seed=seed, faults="500=0.3,503=0.2") as sb:
            return [send_sms(sb).status_code for _ in range(20)]

    first = statuses(3)
    assert first == statuses(3)
    assert {200, 500, 503} <= set(first)
    assert first != statuses(4)


def test_set_faults_restarts_sequence_and_clears(sandbox: Sandbox) -> None:
    sandbox.set_faults("502=0.5")
    first = [send_sms(sandbox).status_code for _ in range(12)]
    sandbox.set_faults("502=0.5")
    assert [send_sms(sandbox).status_code for _ in range(12)] == first
    sandbox.set_faults(None)
    assert [send_sms(sandbox).status_code for _ in range(5)] == [200] * 5


def test_faults_never_hit_auth_errors_or_control_routes(sandbox: Sandbox) -> None:
    sandbox.set_faults("500=1")
    r = requests.post(sandbox.api_url + c.PATH_SMS, data=SMS, verify=sandbox.ca_path, timeout=10)
    assert r.status_code == 401
    assert (
        requests.get(f"{sandbox.base_url}/_sandbox/health", verify=sandbox.ca_path, timeout=10).status_code
        == 200
    )


@pytest.mark.parametrize("spec", ["500=2", "bogus=0.1", "500=0.6,502=0.6", "reset", "stall=x", "404=0.1"])
def test_bad_specs_refused(sandbox: Sandbox, spec: str) -> None:
    with pytest.raises(ValueError, match=r"fault|probabilit|NAME="):
        sandbox.set_faults(spec)
    r = requests.post(
        f"{sandbox.base_url}/_sandbox/faults", json={"spec": spec}, verify=sandbox.ca_path, timeout=10
    )
    assert r.status_code == 400


def test_faults_control_endpoint(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/_sandbox/faults"
    r = requests.post(url, json={"spec": "503=1,stall_seconds=2"}, verify=sandbox.ca_path, timeout=10)
    assert r.json() == {"503": 1.0, "stall_seconds": 2.0}
    assert send_sms(sandbox).status_code == 503
    requests.post(url, json={"spec": None}, verify=sandbox.ca_path, timeout=10)
    assert send_sms(sandbox).status_code == 200
