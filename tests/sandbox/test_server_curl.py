"""The reference's curl examples, run with the real curl against the sandbox.

Only the host changes (and ``--cacert`` is added); credentials are the reference's own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from airflow_provider_sms.sandbox import Sandbox

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

AUTH = "1efc292194c04e9b530:b0b6c43e9a75c51f"


def curl(sb: Sandbox, *args: str) -> tuple[int, Any]:
    """Run curl; (HTTP status, parsed JSON body)."""
    out = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--cacert", sb.ca_path, "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    body, _, status = out.rpartition("\n")
    return int(status), json.loads(body)


def test_authorization_example(sandbox: Sandbox) -> None:
    # curl -XPOST https:///v1/sms -u "key:secret" -d "number=+18800000000"
    # The example only shows authentication: it authenticates, then lacks the text.
    status, body = curl(sandbox, "-XPOST", f"{sandbox.api_url}/sms", "-u", AUTH, "-d", "number=+18800000000")
    assert (status, body) == (400, {"errorCode": 10, "errorReason": "Invalid request"})


def test_hlr_example(sandbox: Sandbox) -> None:
    status, body = curl(sandbox, f"{sandbox.api_url}/insight/hlr", "-u", AUTH, "-d", "number=+47463562200")
    assert status == 200
    assert body["number"] == "+47463562200"
    assert body["country"] == "NO"
    assert body["status"] == "DELIVERED"
    assert body["mccmnc"].startswith("242")
    assert body["product"] == "insight.hlr"


def test_fraudcheck_example(sandbox: Sandbox) -> None:
    status, body = curl(
        sandbox, "-XPOST", f"{sandbox.api_url}/insight/fraudcheck", "-u", AUTH, "-d", "number=+18800000000"
    )
    assert (status, body) == (200, {"status": "FRAUDLENT", "mobilePrefix": False})


def test_sms_example(sandbox: Sandbox) -> None:
    status, body = curl(
        sandbox,
        "-XPOST",
        f"{sandbox.api_url}/sms",
        "-u",
        AUTH,
        "-d",
        "number=+18800000000",
        "-d",
        "text=Your order #29211 received",
    )
    assert status == 200
    assert set(body) == {"requestId"}
    [entry] = sandbox.ledger()
    assert entry["number"] == "+18800000000"
    assert entry["billable"] is True


def test_flash_examples(sandbox: Sandbox) -> None:
    status, body = curl(
        sandbox, "-XPOST", f"{sandbox.api_url}/calls/flash", "-u", AUTH, "-d", "number=18800000000"
    )
    assert status == 200
    assert set(body) == {"requestId", "from"}
    status, body = curl(
        sandbox,
        "-XPOST",
        f"{sandbox.api_url}/calls/flash",
        "-u",
        AUTH,
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"number": "18800000000", "code": "1234"}',
    )
    assert status == 200
    assert body["from"].endswith("1234")


def test_incoming_examples(sandbox: Sandbox) -> None:
    status, body = curl(
        sandbox, "-XPOST", f"{sandbox.api_url}/calls/incoming", "-u", AUTH, "-d", "number=+18800000000"
    )
    assert status == 200
    assert set(body) == {"requestId", "didNumber", "expiresAt"}
    status, info = curl(sandbox, f"{sandbox.api_url}/calls/incoming/{body['requestId']}", "-u", AUTH)
    assert status == 200
    assert info["status"] == "PENDING"
    assert info["callReceivedAt"] is None
    status, info = curl(sandbox, f"{sandbox.api_url}/calls/incoming/xxxxxxxxxxxxxx", "-u", AUTH)
    assert (status, info) == (404, {"errorCode": 404, "errorReason": "Request not found or expired"})


def test_pin_and_text_to_speech_examples(sandbox: Sandbox) -> None:
    status, body = curl(
        sandbox,
        "-XPOST",
        f"{sandbox.api_url}/calls/p2s",
        "-u",
        AUTH,
        "-d",
        "number=+18800000000",
        "-d",
        "code=1234",
    )
    assert status == 200
    assert set(body) == {"requestId"}
    status, body = curl(
        sandbox,
        "-XPOST",
        f"{sandbox.api_url}/calls/t2s",
        "-u",
        AUTH,
        "-d",
        "number=+18800000000",
        "-d",
        "text=Hi, i'm using API!",
    )
    assert status == 200
    assert set(body) == {"requestId"}


def test_notify_example(sandbox: Sandbox) -> None:
    status, body = curl(
        sandbox,
        "-XPOST",
        f"{sandbox.api_url}/requests/xxxxxxxxxxxxxx",
        "-u",
        AUTH,
        "-d",
        "goal=NUMBER_VERIFIED",
    )
    assert (status, body) == (404, {"errorCode": 404, "errorReason": "Request not found or expired"})
    _, flash = curl(
        sandbox, "-XPOST", f"{sandbox.api_url}/calls/flash", "-u", AUTH, "-d", "number=18800000000"
    )
    status, body = curl(
        sandbox,
        "-XPOST",
        f"{sandbox.api_url}/requests/{flash['requestId']}",
        "-u",
        AUTH,
        "-d",
        "goal=NUMBER_VERIFIED",
    )
    assert (status, body) == (200, {"requestId": flash["requestId"], "goal": "NUMBER_VERIFIED"})


def test_wrong_credentials(sandbox: Sandbox) -> None:
    status, body = curl(sandbox, "-XPOST", f"{sandbox.api_url}/sms", "-u", "1efc292194c04e9b530:nope")
    assert (status, body) == (401, {"errorCode": 1, "errorReason": "Authentication required"})


def test_ten_megabyte_body(sandbox: Sandbox, tmp_path: Any) -> None:
    # curl sends "Expect: 100-continue" for a body this size: refused before it is sent.
    big = tmp_path / "big.txt"
    big.write_bytes(b"number=%2B18800000000&text=" + b"x" * 10_000_000)
    for extra in ([], ["-H", "Expect:"]):
        status, body = curl(sandbox, f"{sandbox.api_url}/sms", "-u", AUTH, "--data-binary", f"@{big}", *extra)
        assert (status, body) == (400, {"errorCode": 10, "errorReason": "Invalid request"})
