"""What an incoming-call status means for whoever waits on it (no I/O here).

:class:`~airflow_provider_sms.sensors.incoming_call.IncomingCallSensor` (poking) and
:class:`~airflow_provider_sms.triggers.incoming_call.IncomingCallTrigger` (polling in the
triggerer) both read a reservation's status and must agree on what it means: this module
is the one place that decides, so the sync and the deferrable paths cannot drift apart.

A reservation is PENDING until the user calls (DELIVERED) or it lapses (EXPIRED); once it
is gone the API answers 404, which means the same as EXPIRED for a waiter: the user will
never be verified by this reservation. A failed read is judged here too
(:func:`decide_error`): a transient error keeps the wait going, any other ends it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_sms.api.constants import INCOMING_DELIVERED, INCOMING_EXPIRED, INCOMING_PENDING
from airflow_provider_sms.api.results import IncomingCallInfo
from airflow_provider_sms.api.timestamps import parse_iso
from airflow_provider_sms.exceptions import ErrorClass, NotFoundError, classify


class VerificationStatus(str, enum.Enum):
    """Where a wait on an incoming call stands; the values are the trigger events' ``status``."""

    PENDING = "pending"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def done(self) -> bool:
        """Whether waiting longer can change anything."""
        return self is not VerificationStatus.PENDING


@dataclass(frozen=True, slots=True)
class VerificationDecision:
    """The verdict on one status read.

    :param status: what the read means.
    :param message: a sentence for logs and failure messages (no phone number in it).
    :param info: the call info as a JSON-safe dict (``IncomingCallInfo.to_dict()``), if any.
    :param fatal: an ERROR no retry can heal (credentials, connection, TLS): the task fails
        without Airflow retries.
    """

    status: VerificationStatus
    message: str
    info: dict[str, Any] | None = None
    fatal: bool = False

    @property
    def done(self) -> bool:
        return self.status.done

    @property
    def succeeded(self) -> bool:
        return self.status is VerificationStatus.DELIVERED

    def to_event(self) -> dict[str, Any]:
        """The trigger event payload: ``{"status", "info", "message"}`` (and ``"fatal": True``), JSON-safe."""
        event: dict[str, Any] = {"status": self.status.value, "info": self.info, "message": self.message}
        if self.fatal:
            event["fatal"] = True
        return event

    @classmethod
    def from_event(cls, event: dict[str, Any] | None) -> VerificationDecision:
        """Read a trigger event back (an unknown or missing status reads as an error)."""
        if not isinstance(event, dict):
            return cls(VerificationStatus.ERROR, f"The trigger sent no usable event: {event!r}")
        try:
            status = VerificationStatus(event.get("status"))
        except ValueError:
            return cls(VerificationStatus.ERROR, f"The trigger sent an unknown status: {event!r}")
        info = event.get("info")
        return cls(
            status,
            str(event.get("message") or status.value),
            info if isinstance(info, dict) else None,
            fatal=event.get("fatal") is True,
        )


def decide(request_id: str, info: IncomingCallInfo) -> VerificationDecision:
    """Judge a status read: DELIVERED ends the wait well, EXPIRED ends it badly, else keep waiting."""
    data = info.to_dict()
    if info.status == INCOMING_DELIVERED:
        when = f" at {data['call_received_at']}" if data.get("call_received_at") else ""
        return VerificationDecision(
            VerificationStatus.DELIVERED, f"Incoming call {request_id!r} received{when}", data
        )
    if info.status == INCOMING_EXPIRED:
        return VerificationDecision(
            VerificationStatus.EXPIRED,
            f"Incoming-call reservation {request_id!r} expired before the user called "
            f"(expired at {data.get('expires_at') or 'an unknown time'}): the number is not verified",
            data,
        )
    if info.status != INCOMING_PENDING:
        # An undocumented status: keep waiting (the deadline still bounds the wait), but say so.
        return VerificationDecision(
            VerificationStatus.PENDING,
            f"Incoming call {request_id!r}: undocumented status {info.status!r}, still waiting",
            data,
        )
    return VerificationDecision(
        VerificationStatus.PENDING, f"Incoming call {request_id!r}: waiting for the user to call", data
    )


def decide_error(request_id: str, error: BaseException) -> VerificationDecision:
    """Judge a status read that raised ``error`` (after the hook's own retries).

    404 ends the wait (:func:`not_found`); a transient error (5xx, 429, timeout: see
    :func:`~airflow_provider_sms.exceptions.classify`) keeps it going, the next read may work;
    anything else ends it with an ERROR (:func:`failed`): credentials, TLS, configuration.
    """
    if isinstance(error, NotFoundError):
        return not_found(request_id)
    if classify(error) is ErrorClass.TRANSIENT:
        return VerificationDecision(VerificationStatus.PENDING, f"Incoming call {request_id!r}: no status")
    return failed(request_id, error)


def not_found(request_id: str) -> VerificationDecision:
    """The API answered 404: the reservation is unknown, or expired long enough ago to be gone."""
    return VerificationDecision(
        VerificationStatus.NOT_FOUND,
        f"Incoming-call reservation {request_id!r} is unknown or expired (HTTP 404): "
        "the number is not verified; check the request id or reserve a new call",
    )


def timed_out(request_id: str, deadline: datetime) -> VerificationDecision:
    """The waiter's own deadline passed while the reservation was still pending."""
    return VerificationDecision(
        VerificationStatus.TIMEOUT,
        f"Gave up waiting for incoming call {request_id!r} at {deadline.isoformat()} (the sensor's timeout)",
    )


def failed(request_id: str, error: BaseException) -> VerificationDecision:
    """A status read failed in a way waiting cannot fix (credentials, configuration...)."""
    fatal = classify(error) is ErrorClass.FATAL
    return VerificationDecision(
        VerificationStatus.ERROR, f"Could not read incoming call {request_id!r}: {error}", fatal=fatal
    )


def parse_deadline(value: str | None) -> datetime | None:
    """An ISO-8601 deadline (naive means UTC), or ``None`` for no deadline."""
    if value is None or value == "":
        return None
    return parse_iso(value)


def seconds_left(deadline: datetime | None, now: datetime | None = None) -> float | None:
    """Seconds until ``deadline`` (negative once passed), ``None`` without a deadline."""
    if deadline is None:
        return None
    return (deadline - (now or datetime.now(timezone.utc))).total_seconds()


__all__ = [
    "VerificationDecision",
    "VerificationStatus",
    "decide",
    "decide_error",
    "failed",
    "not_found",
    "parse_deadline",
    "seconds_left",
    "timed_out",
]
