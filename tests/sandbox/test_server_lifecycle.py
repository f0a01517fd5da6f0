"""Ledger, control endpoints, latency, robustness under load, clean stop, and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.sandbox import DEMO_KEY, DEMO_SECRET, Sandbox

REPO_ROOT = Path(__file__).resolve().parents[2]


def post(sb: Sandbox, path: str, body: dict[str, Any], account: str = "demo") -> requests.Response:
    acc = sb.accounts[account]
    return requests.post(
        sb.api_url + path, data=body, auth=(acc["key"], acc["secret"]), verify=sb.ca_path, timeout=10
    )


def test_ledger_entries(sandbox: Sandbox) -> None:
    before = time.time()
    sms_id = post(sandbox, c.PATH_SMS, {"number": " +18800000000", "text": "hi"}).json()["requestId"]
    post(sandbox, c.PATH_HLR, {"number": "+47463562200"})
    post(sandbox, c.PATH_FRAUD_CHECK, {"number": "+18800000000"}, account="demo2")
    post(sandbox, c.PATH_SMS, {"number": "+18800000000"})  # 400: not billable
    post(sandbox, "/requests/" + sms_id, {"goal": "NUMBER_VERIFIED"})
    post(
        sandbox, c.PATH_SMS, {"number": "+18800000000", "text": "hi"}, account="not-live"
    )  # never reaches it
    ledger = sandbox.ledger()
    assert [e["seq"] for e in ledger] == [1, 2, 3, 4, 5]
    assert [(e["product"], e["billable"], e["http_status"]) for e in ledger] == [
        ("sms", True, 200),
        ("hlr", True, 200),
        ("fraudcheck", True, 200),
        ("sms", False, 400),
        ("notify", False, 200),
    ]
    first = ledger[0]
    assert first == {
        "seq": 1,
        "time": first["time"],
        "account": "demo",
        "method": "POST",
        "path": "/v1/sms",
        "product": "sms",
        "number": "+18800000000",
        "request_id": sms_id,
        "http_status": 200,
        "billable": True,
        "outcome": "DELIVERED",
        "fault": None,
        "text": "hi",
    }
    assert before <= first["time"] <= time.time()
    assert [e["outcome"] for e in ledger[1:]] == ["DELIVERED", "FRAUDLENT", "ERROR_10", "NUMBER_VERIFIED"]
    assert [e["product"] for e in sandbox.ledger("demo2")] == ["fraudcheck"]
    via_http = requests.get(
        f"{sandbox.base_url}/_sandbox/ledger?account=demo", verify=sandbox.ca_path, timeout=10
    )
    assert via_http.json() == sandbox.ledger("demo")
    requests.post(f"{sandbox.base_url}/_sandbox/reset", verify=sandbox.ca_path, timeout=10)
    assert sandbox.ledger() == []


def test_call_outcomes_in_ledger(sandbox: Sandbox) -> None:
    for number in ("+18800000001", "+18800000002", "+18800000003", "+18800000004", "+18800000005"):
        post(sandbox, c.PATH_FLASH_CALL, {"number": number})
    assert [(e["outcome"], e["billable"]) for e in sandbox.ledger()] == [
        ("BUSY_HERE", False),
        ("UNAVAILABLE", False),
        ("TERMINATED", False),
        ("DECLINE", False),
        ("ANSWERED", True),
    ]


def test_settings_and_health_endpoints(sandbox: Sandbox) -> None:
    base = sandbox.base_url
    assert requests.get(f"{base}/_sandbox/health", verify=sandbox.ca_path, timeout=10).json() == {
        "status": "ok"
    }
    r = requests.post(
        f"{base}/_sandbox/settings",
        json={"rate_limit": 7, "latency_ms": [1, 2]},
        verify=sandbox.ca_path,
        timeout=10,
    )
    assert r.json() == {"rate_limit": 7, "latency_ms": [1.0, 2.0], "webhook_url": None}
    assert requests.get(f"{base}/_sandbox/deliveries", verify=sandbox.ca_path, timeout=10).json() == []
    assert requests.get(f"{base}/_sandbox/nothing", verify=sandbox.ca_path, timeout=10).status_code == 404


def test_latency_added(sandbox: Sandbox) -> None:
    sandbox.set_latency(200)
    with requests.Session() as session:
        session.get(
            f"{sandbox.base_url}/_sandbox/health", verify=sandbox.ca_path, timeout=10
        )  # connect first
        started = time.monotonic()
        r = session.post(
            sandbox.api_url + c.PATH_FRAUD_CHECK,
            data={"number": "+18800000000"},
            auth=(sandbox.key, sandbox.secret),
            verify=sandbox.ca_path,
            timeout=10,
        )
        assert r.status_code == 200
        assert 0.2 <= time.monotonic() - started < 1.5
    sandbox.set_latency("10-20")
    with pytest.raises(ValueError, match="low <= high"):
        sandbox.set_latency("20-10")


def test_200_concurrent_connections(sandbox: Sandbox) -> None:
    barrier = threading.Barrier(200, timeout=20)

    def one(_: int) -> str:
        try:
            barrier.wait()
            r = post(sandbox, c.PATH_FRAUD_CHECK, {"number": "+18800000000"})
            return str(r.json()["errorCode"] if r.status_code != 200 else 200)
        except requests.exceptions.ConnectionError:
            return "refused"

    with ThreadPoolExecutor(200) as pool:
        outcomes = list(pool.map(one, range(200)))
    assert set(outcomes) <= {"200", "4", "refused"}
    assert outcomes.count("200") >= 1
    time.sleep(1.05)
    assert post(sandbox, c.PATH_FRAUD_CHECK, {"number": "+18800000000"}).status_code == 200


def test_garbage_never_crashes(sandbox: Sandbox) -> None:
    port = int(sandbox.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello-not-tls" * 10)
    r = post(sandbox, c.PATH_FRAUD_CHECK, {"number": "+18800000000"})
    assert r.status_code == 200


def test_huge_header_refused_and_server_keeps_serving(sandbox: Sandbox) -> None:
    try:
        r = requests.get(
            f"{sandbox.base_url}/_sandbox/health",
            headers={"X-Big": "a" * 200_000},
            verify=sandbox.ca_path,
            timeout=10,
        )
    except requests.exceptions.ConnectionError:
        pass  # refused: fine
    else:
        assert r.status_code >= 400  # or answered with an error
    assert post(sandbox, c.PATH_FRAUD_CHECK, {"number": "+18800000000"}).status_code == 200


def test_stop_releases_port_and_thread(sandbox_factory: Any) -> None:
    threads_before = set(threading.enumerate())
    with sandbox_factory(faults="stall=1,stall_seconds=30") as sb:
        port = int(sb.base_url.rsplit(":", 1)[1])
        state_dir = Path(sb.ca_path).parent
        # A stalled request in flight must not hold stop() for the stall's 30 s.
        outcome: list[object] = []

        def stalled() -> None:
            try:
                outcome.append(post(sb, c.PATH_SMS, {"number": "+18800000000", "text": "x"}).status_code)
            except requests.exceptions.RequestException as exc:
                outcome.append(exc)

        t = threading.Thread(target=stalled, daemon=True)
        t.start()
        time.sleep(0.3)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert set(threading.enumerate()) - threads_before <= {t}
    t.join(5)
    assert outcome  # released by stop(): answered or cut, not left hanging
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert not state_dir.exists()  # the temporary state dir is removed


def test_state_dir_kept_when_given(sandbox_factory: Any, tmp_path: Path) -> None:
    with sandbox_factory(state_dir=tmp_path) as sb:
        assert sb.ca_path == str(tmp_path / "ca.pem")
    assert (tmp_path / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_cli_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_sms.sandbox", "--port", "0", "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(30)
        assert line, "no JSON line from the CLI within 30 s"
        info = json.loads(line[0])
        assert info["key"] == DEMO_KEY
        assert info["secret"] == DEMO_SECRET
        assert info["ca_cert"] == str(tmp_path / "ca.pem")
        assert info["api_url"] == info["base_url"] + "/v1"
        conn = json.loads(info["airflow_conn"])
        assert conn["extra"] == {"verify": info["ca_cert"]}
        assert "demo2" in info["accounts"]
        r = requests.post(
            info["api_url"] + c.PATH_FRAUD_CHECK,
            data={"number": "+18800000000"},
            auth=(info["key"], info["secret"]),
            verify=info["ca_cert"],
            timeout=10,
        )
        assert r.json() == {"status": "FRAUDLENT", "mobilePrefix": False}
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line on stdout


def test_cli_rejects_bad_options() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_provider_sms.sandbox", "--faults", "nope=1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown fault" in proc.stderr
