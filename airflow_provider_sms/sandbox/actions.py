"""Operations shared by the /v1 routes, the control endpoints and the Sandbox object:
building receipts and inbound-SMS payloads and handing them to the webhook dispatcher.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from airflow_provider_sms.api import constants as c

from .core import Core
from .outcomes import Number, parse_number


def final_receipt_delay(request_id: str) -> float:
    """0.2-0.5 s between SENT and the final status, stable per request id (no RNG draw)."""
    return 0.2 + int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:2], "big") % 301 / 1000


def schedule_sms_receipts(core: Core, url: str, request_id: str, number: Number, final: str) -> None:
    def receipt(status: str) -> dict[str, Any]:
        return {
            "requestId": request_id,
            "number": number.e164,
            "status": status,
            "billable": status != "REJECTED",
            "timestamp": int(time.time()),
        }

    if final == "REJECTED":
        steps = [(0.0, lambda: receipt("REJECTED"))]
    else:
        steps = [(0.0, lambda: receipt("SENT")), (final_receipt_delay(request_id), lambda: receipt(final))]
    core.webhooks.schedule("receipt", url, steps, request_id)


def schedule_call_receipt(
    core: Core, url: str, request_id: str, number: Number, status: str, sip_status: int
) -> None:
    created = int(time.time())

    def receipt() -> dict[str, Any]:
        ended = int(time.time())
        return {
            "requestId": request_id,
            "number": number.e164,
            "status": status,
            "sipStatus": sip_status,
            "billable": status == "ANSWERED",
            "timestamp": ended,
            "callCreatedAt": created,
            "callEndedAt": ended,
        }

    core.webhooks.schedule("receipt", url, [(final_receipt_delay(request_id), receipt)], request_id)


def schedule_incoming_callback(core: Core, request_id: str, url: str, delay: float) -> None:
    """After ``delay`` s, send the DELIVERED callback if the call did arrive (once only)."""

    def receipt() -> dict[str, Any] | None:
        res = core.state.claim_incoming_callback(request_id)
        if res is None or res.call_at is None:
            return None
        return {
            "requestId": request_id,
            "number": res.number.e164,
            "status": c.INCOMING_DELIVERED,
            "callReceivedAt": int(res.call_at),
            "timestamp": int(time.time()),
            "billable": True,
        }

    core.webhooks.schedule("receipt", url, [(delay, receipt)], request_id)


def place_incoming_call(core: Core, request_id: str, from_number: str | None = None) -> bool:
    """The simulated user calls the reserved DID now; False when the call is ignored."""
    caller = None
    if from_number is not None:
        caller = parse_number(from_number)
        if caller is None:
            return False
    res = core.state.place_call(request_id, caller)
    if res is None:
        return False
    if res.callback_url:
        schedule_incoming_callback(core, request_id, res.callback_url, 0.0)
    return True


def inject_inbound_sms(
    core: Core, from_number: str, to_number: str, text: str, url: str | None = None
) -> dict[str, Any]:
    """Build the reference's inbound-SMS payload and deliver it (with redelivery)."""
    sender, recipient = parse_number(from_number), parse_number(to_number)
    if sender is None or recipient is None:
        raise ValueError("from and to must be E.164 numbers")
    target = url or core.webhook_url
    if not target:
        raise ValueError("no webhook url: start the sandbox with webhook_url or pass url")
    payload: dict[str, Any] = {
        "from": sender.digits,
        "to": recipient.digits,
        "messageId": core.state.new_message_id(),
        "text": text,
        "timestamp": int(time.time()),
        "parts": max(1, math.ceil(len(text) / 160)),
    }
    core.webhooks.schedule("inbound", target, [(0.0, lambda: dict(payload))])
    return dict(payload)
