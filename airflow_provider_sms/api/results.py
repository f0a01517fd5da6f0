"""Typed, immutable results of the API's endpoints.

Attributes are the snake_case of the API's JSON fields (``from`` becomes ``from_number``),
timestamps are timezone-aware :class:`pendulum.DateTime`, and ``raw`` keeps the parsed JSON
whole, so fields the reference does not list are never lost and never an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pendulum

from airflow_provider_sms.api.constants import (
    FRAUD_NOT_MOBILE_PREFIX,
    HLR_DELIVERED,
    INCOMING_DELIVERED,
    INCOMING_EXPIRED,
)


@dataclass(frozen=True, slots=True)
class _Result:
    raw: dict[str, Any] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of the typed fields (for XCom): ISO-8601 timestamps, no ``raw``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "raw":
                continue
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, pendulum.DateTime) else value
        return out


@dataclass(frozen=True, slots=True)
class SmsResult(_Result):
    """``POST /v1/sms``: the id that delivery receipts will carry."""

    request_id: str


@dataclass(frozen=True, slots=True)
class HlrResult(_Result):
    """``POST /v1/insight/hlr``: network data and reachability of a mobile number."""

    id: str | None
    product: str | None
    number: str | None
    mccmnc: str | None
    network: str | None
    country: str | None
    status: str
    created_at: pendulum.DateTime | None

    @property
    def reachable(self) -> bool:
        return self.status == HLR_DELIVERED


@dataclass(frozen=True, slots=True)
class FraudCheckResult(_Result):
    """``POST /v1/insight/fraudcheck``: ``status`` is always spelled as the status list spells it."""

    status: str
    mobile_prefix: bool | None

    @property
    def is_mobile(self) -> bool:
        return self.status != FRAUD_NOT_MOBILE_PREFIX and self.mobile_prefix is not False


@dataclass(frozen=True, slots=True)
class FlashCallResult(_Result):
    """``POST /v1/calls/flash``: ``from_number`` is the caller id the user will see (no ``+``)."""

    request_id: str
    from_number: str | None


@dataclass(frozen=True, slots=True)
class CallResult(_Result):
    """``POST /v1/calls/p2s`` and ``/v1/calls/t2s``."""

    request_id: str


@dataclass(frozen=True, slots=True)
class IncomingCallReservation(_Result):
    """``POST /v1/calls/incoming``: the user must call ``did_number`` before ``expires_at``."""

    request_id: str
    did_number: str
    expires_at: pendulum.DateTime | None


@dataclass(frozen=True, slots=True)
class IncomingCallInfo(_Result):
    """``GET /v1/calls/incoming/{requestId}``: PENDING, DELIVERED or EXPIRED."""

    request_id: str | None
    did_number: str | None
    expires_at: pendulum.DateTime | None
    status: str
    call_received_at: pendulum.DateTime | None

    @property
    def delivered(self) -> bool:
        return self.status == INCOMING_DELIVERED

    @property
    def expired(self) -> bool:
        return self.status == INCOMING_EXPIRED


@dataclass(frozen=True, slots=True)
class NotifyResult(_Result):
    """``POST /v1/requests/{requestId}`` with ``goal=NUMBER_VERIFIED``."""

    request_id: str


@dataclass(frozen=True, slots=True)
class DeliveryReceipt(_Result):
    """A delivery receipt (callback) the API POSTs to a ``callbackUrl``."""

    request_id: str
    number: str | None
    status: str
    sip_status: int | None
    billable: bool | None
    timestamp: pendulum.DateTime | None
    call_created_at: pendulum.DateTime | None
    call_ended_at: pendulum.DateTime | None


@dataclass(frozen=True, slots=True)
class InboundSms(_Result):
    """An inbound SMS to a rented number, as POSTed to the inbound webhook."""

    from_number: str
    to_number: str
    message_id: str
    text: str
    timestamp: pendulum.DateTime | None
    parts: int | None
