"""Mutable sandbox state: the ledger, known requests and incoming-call reservations.

All of it is touched from uvicorn's loop thread (the routes) and from the test
thread (``Sandbox.ledger()``, ``reset()``...), so every access holds one lock.
Incoming-call status is computed from wall-clock time on read: no background loop.
"""

from __future__ import annotations

import random
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

from airflow_provider_sms.api import constants as c

from .outcomes import Number

_ALNUM = string.ascii_letters + string.digits

# Ledger "product" of each /v1 operation and whether a 2xx answer of it is billable.
BILLABLE_PRODUCTS = frozenset({"sms", "hlr", "fraudcheck", "flash", "incoming", "p2s", "t2s"})


@dataclass
class KnownRequest:
    """A request id handed out by the API (SMS, calls), for POST /v1/requests/{id}."""

    account: str
    product: str
    number: str
    created_at: float
    verified: bool = False


@dataclass
class Reservation:
    """An incoming-call DID reservation."""

    request_id: str
    account: str
    number: Number
    did: str
    created_at: float
    expires_at: float
    call_at: float | None  # when the simulated user calls from the reserved number
    callback_url: str | None
    ivr_confirmation: bool
    ivr_message: str | None
    callback_sent: bool = False

    def status(self, now: float, grace: float) -> str | None:
        """PENDING / DELIVERED / EXPIRED, or None once expired + grace (-> 404)."""
        if now >= self.expires_at + grace:
            return None
        if self.call_at is not None and self.call_at <= now and self.call_at < self.expires_at:
            return c.INCOMING_DELIVERED
        if now < self.expires_at:
            return c.INCOMING_PENDING
        return c.INCOMING_EXPIRED

    def view(self, now: float, grace: float) -> dict[str, Any] | None:
        status = self.status(now, grace)
        if status is None:
            return None
        received = str(int(self.call_at)) if status == c.INCOMING_DELIVERED and self.call_at else None
        return {
            "requestId": self.request_id,
            "didNumber": self.did,
            "expiresAt": str(int(self.expires_at)),
            "status": status,
            "callReceivedAt": received,
        }


class SandboxState:
    def __init__(self, seed: int | None, expire_after: float, grace: float) -> None:
        self.lock = threading.Lock()
        self.seed = seed
        self.expire_after = expire_after
        self.grace = grace
        # Request ids, message ids, DIDs and caller ids come from one RNG. Without a seed it is
        # seeded from the OS, so a restarted sandbox does not hand out the ids of an earlier
        # run again (a webhook receiver would take the new receipts for repeats); with one, ids
        # are reproducible per seed and request order. reset() does not reseed it, so ids never
        # repeat within one run either.
        self._rng = random.Random(f"ids:{seed}") if seed is not None else random.Random()
        self._ledger: list[dict[str, Any]] = []
        self._seq = 0
        self._requests: dict[str, KnownRequest] = {}
        self._reservations: dict[str, Reservation] = {}

    # -- ids ---------------------------------------------------------------------
    def new_request_id(self) -> str:
        with self.lock:
            return "".join(self._rng.choice(_ALNUM) for _ in range(32))

    def new_digits(self, prefix: str, total: int, suffix: str = "") -> str:
        """``prefix`` + random digits + ``suffix``, ``total`` digits long."""
        with self.lock:
            count = total - len(prefix) - len(suffix)
            middle = "".join(self._rng.choice(string.digits) for _ in range(count))
        return prefix + middle + suffix

    def new_message_id(self) -> str:
        with self.lock:
            raw = f"{self._rng.getrandbits(128):032x}"
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

    # -- ledger ------------------------------------------------------------------
    def record(
        self,
        *,
        account: str,
        method: str,
        path: str,
        product: str | None,
        number: str | None = None,
        request_id: str | None = None,
        http_status: int | None,
        outcome: Any = None,
        fault: str | None = None,
        billable: bool | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """Append a ledger entry. ``billable`` narrows the product default (a REJECTED
        SMS or an unanswered call is not billed, as its receipt says); ``text`` is an SMS's text."""
        paid = product in BILLABLE_PRODUCTS and http_status is not None and 200 <= http_status < 300
        billable = paid and (billable is None or billable)
        with self.lock:
            self._seq += 1
            entry = {
                "seq": self._seq,
                "time": time.time(),
                "account": account,
                "method": method,
                "path": path,
                "product": product,
                "number": number,
                "request_id": request_id,
                "http_status": http_status,
                "billable": billable,
                "outcome": outcome,
                "fault": fault,
                "text": text,
            }
            self._ledger.append(entry)
            return dict(entry)

    def ledger(self, account: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self._ledger if account is None or e["account"] == account]

    # -- requests and reservations ----------------------------------------------
    def add_request(self, request_id: str, request: KnownRequest) -> None:
        with self.lock:
            self._requests[request_id] = request

    def verify_request(self, account: str, request_id: str) -> bool:
        """Mark a request NUMBER_VERIFIED; False when unknown to this account."""
        with self.lock:
            known = self._requests.get(request_id)
            if known is None or known.account != account:
                return False
            known.verified = True
            return True

    def add_reservation(self, reservation: Reservation) -> None:
        with self.lock:
            self._reservations[reservation.request_id] = reservation
            self._requests[reservation.request_id] = KnownRequest(
                reservation.account, "incoming", reservation.number.e164, reservation.created_at
            )

    def reservation_view(self, account: str | None, request_id: str) -> dict[str, Any] | None:
        with self.lock:
            res = self._reservations.get(request_id)
            if res is None or (account is not None and res.account != account):
                return None
            return res.view(time.time(), self.grace)

    def place_call(self, request_id: str, from_number: Number | None) -> Reservation | None:
        """The user calls the DID now. Returns the reservation if the call counted.

        Calls from another number than the reserved one, after expiry, or after an
        earlier call are ignored, as the reference says.
        """
        now = time.time()
        with self.lock:
            res = self._reservations.get(request_id)
            if res is None:
                return None
            if from_number is not None and from_number.digits != res.number.digits:
                return None
            if now >= res.expires_at:
                return None
            if res.call_at is not None and res.call_at <= now:
                return None
            res.call_at = now
            return res

    def claim_incoming_callback(self, request_id: str) -> Reservation | None:
        """The reservation if it is DELIVERED and its callback was not sent yet (once only)."""
        with self.lock:
            res = self._reservations.get(request_id)
            if res is None or res.callback_sent or res.callback_url is None:
                return None
            if res.status(time.time(), self.grace) != c.INCOMING_DELIVERED:
                return None
            res.callback_sent = True
            return res

    def reset(self) -> None:
        with self.lock:
            self._ledger.clear()
            self._seq = 0
            self._requests.clear()
            self._reservations.clear()
