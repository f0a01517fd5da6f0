"""Callbacks (delivery receipts) and inbound SMS delivered to a local receiver, with retries."""

from __future__ import annotations

import time
from typing import Any

import requests

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.sandbox import Sandbox


def post(sb: Sandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(sb.api_url + path, json=body, auth=(sb.key, sb.secret), verify=sb.ca_path, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_given_up(sb: Sandbox, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not (sb.deliveries() and sb.deliveries()[0]["given_up"]):
        assert time.monotonic() < deadline, sb.deliveries()
        time.sleep(0.05)


def test_sms_receipts_sent_then_delivered(sandbox: Sandbox, webhook_receiver: Any) -> None:
    request_id = post(
        sandbox, c.PATH_SMS, {"number": "+18800000000", "text": "hi", "callbackUrl": webhook_receiver.url}
    )["requestId"]
    sent, final = webhook_receiver.wait_for(2)
    assert sent == {
        "requestId": request_id,
        "number": "+18800000000",
        "status": "SENT",
        "billable": True,
        "timestamp": sent["timestamp"],
    }
    assert abs(sent["timestamp"] - time.time()) < 5
    assert final["status"] == "DELIVERED"
    assert final["requestId"] == request_id
    assert final["billable"] is True
    deliveries = sandbox.wait_for_deliveries(2)
    assert [d["payload"]["status"] for d in deliveries] == ["SENT", "DELIVERED"]
    assert all(d["kind"] == "receipt" and d["delivered"] and d["attempts"] == 1 for d in deliveries)


def test_sms_rejected_and_undelivered(sandbox: Sandbox, webhook_receiver: Any) -> None:
    post(sandbox, c.PATH_SMS, {"number": "+18800000098", "text": "hi", "callbackUrl": webhook_receiver.url})
    [rejected] = webhook_receiver.wait_for(1)
    assert (rejected["status"], rejected["billable"]) == ("REJECTED", False)
    post(sandbox, c.PATH_SMS, {"number": "+18800000099", "text": "hi", "callbackUrl": webhook_receiver.url})
    statuses = [b["status"] for b in webhook_receiver.wait_for(3)]
    assert statuses == ["REJECTED", "SENT", "UNDELIVERED"]
    rejected_entry, undelivered_entry = sandbox.ledger()
    assert (rejected_entry["outcome"], rejected_entry["billable"]) == ("REJECTED", False)
    assert (undelivered_entry["outcome"], undelivered_entry["billable"]) == ("UNDELIVERED", True)


def test_receipt_retried_after_500_and_order_kept(sandbox: Sandbox, webhook_receiver: Any) -> None:
    webhook_receiver.fail_first = 2
    post(sandbox, c.PATH_SMS, {"number": "+18800000000", "text": "hi", "callbackUrl": webhook_receiver.url})
    webhook_receiver.wait_for(2)
    seen = [(r["json"]["status"], r["status"]) for r in webhook_receiver.records]
    # SENT is refused twice and retried; DELIVERED only follows the acknowledged SENT.
    assert seen == [("SENT", 500), ("SENT", 500), ("SENT", 200), ("DELIVERED", 200)]
    sent = sandbox.wait_for_deliveries(2)[0]
    assert (sent["attempts"], sent["delivered"], sent["last_status"]) == (3, True, 200)
    times = [r["time"] for r in webhook_receiver.records]
    assert times[1] - times[0] >= 0.15  # backoff 0.2 s, then 0.4 s
    assert times[2] - times[1] >= 0.3


def test_call_receipts(sandbox: Sandbox, webhook_receiver: Any) -> None:
    url = webhook_receiver.url
    flash = post(sandbox, c.PATH_FLASH_CALL, {"number": "+18800000000", "callbackUrl": url})["requestId"]
    busy = post(sandbox, c.PATH_PIN_TO_SPEECH, {"number": "+18800000001", "code": "1234", "callbackUrl": url})
    declined = post(
        sandbox, c.PATH_TEXT_TO_SPEECH, {"number": "+18800000004", "text": "hi", "callbackUrl": url}
    )
    by_id = {b["requestId"]: b for b in webhook_receiver.wait_for(3)}
    answered = by_id[flash]
    assert set(answered) == {
        "requestId",
        "number",
        "status",
        "sipStatus",
        "billable",
        "timestamp",
        "callCreatedAt",
        "callEndedAt",
    }
    assert (answered["status"], answered["sipStatus"], answered["billable"]) == ("ANSWERED", 200, True)
    assert answered["callCreatedAt"] <= answered["callEndedAt"] == answered["timestamp"]
    assert (by_id[busy["requestId"]]["status"], by_id[busy["requestId"]]["sipStatus"]) == ("BUSY_HERE", 486)
    assert by_id[busy["requestId"]]["billable"] is False
    assert by_id[declined["requestId"]]["status"] == "DECLINE"
    assert by_id[declined["requestId"]]["sipStatus"] == 603


def test_incoming_call_callback(sandbox: Sandbox, webhook_receiver: Any) -> None:
    reserved = post(
        sandbox, c.PATH_INCOMING_CALL, {"number": "+18800000000", "callbackUrl": webhook_receiver.url}
    )
    assert sandbox.place_incoming_call(reserved["requestId"])
    [callback] = webhook_receiver.wait_for(1)
    assert callback["requestId"] == reserved["requestId"]
    assert callback["number"] == "+18800000000"
    assert callback["status"] == "DELIVERED"
    assert callback["billable"] is True
    assert isinstance(callback["callReceivedAt"], int)
    time.sleep(0.3)
    assert len(webhook_receiver.records) == 1  # once only


def test_incoming_call_callback_by_number_rule(sandbox: Sandbox, webhook_receiver: Any) -> None:
    reserved = post(
        sandbox, c.PATH_INCOMING_CALL, {"number": "+18800000001", "callbackUrl": webhook_receiver.url}
    )
    [callback] = webhook_receiver.wait_for(1, timeout=5)
    assert callback["requestId"] == reserved["requestId"]
    assert callback["status"] == "DELIVERED"


def test_inbound_sms_redelivered_until_2xx(sandbox: Sandbox, webhook_receiver: Any) -> None:
    webhook_receiver.fail_first = 2
    sandbox.set_webhook_url(webhook_receiver.url)
    payload = sandbox.inject_inbound_sms("+447700900001", "+447700900000", "Hello world")
    assert set(payload) == {"from", "to", "messageId", "text", "timestamp", "parts"}
    assert (payload["from"], payload["to"], payload["text"], payload["parts"]) == (
        "447700900001",
        "447700900000",
        "Hello world",
        1,
    )
    [received] = webhook_receiver.wait_for(1)
    assert received == payload
    assert [r["json"] for r in webhook_receiver.records] == [payload] * 3  # same messageId each time
    [delivery] = sandbox.wait_for_deliveries(1)
    assert (delivery["kind"], delivery["attempts"], delivery["delivered"]) == ("inbound", 3, True)


def test_inbound_sms_control_endpoint_and_parts(sandbox: Sandbox, webhook_receiver: Any) -> None:
    r = requests.post(
        f"{sandbox.base_url}/_sandbox/inbound-sms",
        json={"from": "+447700900001", "to": "447700900000", "text": "x" * 321, "url": webhook_receiver.url},
        verify=sandbox.ca_path,
        timeout=10,
    )
    assert r.status_code == 200
    assert r.json()["parts"] == 3
    assert webhook_receiver.wait_for(1) == [r.json()]
    bad = requests.post(
        f"{sandbox.base_url}/_sandbox/inbound-sms", json={"from": "x"}, verify=sandbox.ca_path, timeout=10
    )
    assert bad.status_code == 400


def test_inbound_sms_given_up_after_window(sandbox_factory: Any, webhook_receiver: Any) -> None:
    webhook_receiver.always_fail = True
    with sandbox_factory(webhook_url=webhook_receiver.url, inbound_retry_window=0.7) as sb:
        sb.inject_inbound_sms("+447700900001", "+447700900000", "hi")
        wait_given_up(sb)
        [delivery] = sb.deliveries()
        assert delivery["delivered"] is False
        assert delivery["last_status"] == 500
        assert 2 <= delivery["attempts"] <= 4  # 0, 0.2, 0.6 s: then the next wait passes 0.7 s


def test_unreachable_receiver_retried(sandbox_factory: Any) -> None:
    with sandbox_factory(inbound_retry_window=0.5) as sb:
        sb.inject_inbound_sms("+447700900001", "+447700900000", "hi", url="http://127.0.0.1:9/nothing")
        wait_given_up(sb)
        delivery = sb.deliveries()[0]
        assert delivery["last_status"] is None
        assert "ConnectError" in delivery["last_error"]


def test_reset_cancels_pending_deliveries(sandbox: Sandbox, webhook_receiver: Any) -> None:
    webhook_receiver.always_fail = True
    sandbox.inject_inbound_sms("+447700900001", "+447700900000", "hi", url=webhook_receiver.url)
    webhook_receiver_count = 0
    deadline = time.monotonic() + 5
    while webhook_receiver_count == 0:
        assert time.monotonic() < deadline
        webhook_receiver_count = len(webhook_receiver.records)
        time.sleep(0.02)
    sandbox.reset()
    assert sandbox.deliveries() == []
    count = len(webhook_receiver.records)
    time.sleep(0.5)
    assert len(webhook_receiver.records) == count
