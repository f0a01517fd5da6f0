"""The shared incoming-call decision (api/verification.py): literal results in, verdicts out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_sms.api import verification as v
from airflow_provider_sms.api.endpoints import get_incoming_call
from airflow_provider_sms.api.responses import parse_response


def info(status: str, received: str | None = None):
    body = (
        '{"requestId": "abc", "didNumber": "374444444444", "expiresAt": "1701792901", '
        f'"status": "{status}", "callReceivedAt": {received or "null"}}}'
    )
    return parse_response(get_incoming_call("abc"), 200, body)


def test_delivered_ends_the_wait_with_the_call_info() -> None:
    decision = v.decide("abc", info("DELIVERED", '"1701792922"'))

    assert decision.status is v.VerificationStatus.DELIVERED
    assert decision.done
    assert decision.succeeded
    assert decision.info == {
        "request_id": "abc",
        "did_number": "374444444444",
        "expires_at": "2023-12-05T16:15:01+00:00",
        "status": "DELIVERED",
        "call_received_at": "2023-12-05T16:15:22+00:00",
    }
    assert "received at 2023-12-05T16:15:22+00:00" in decision.message


def test_expired_ends_the_wait_badly() -> None:
    decision = v.decide("abc", info("EXPIRED"))

    assert (decision.status, decision.done, decision.succeeded) == (v.VerificationStatus.EXPIRED, True, False)
    assert "expired before the user called" in decision.message
    assert "2023-12-05T16:15:01+00:00" in decision.message


@pytest.mark.parametrize("status", ["PENDING", "RINGING"])
def test_pending_and_undocumented_statuses_keep_waiting(status: str) -> None:
    decision = v.decide("abc", info(status))
    assert decision.status is v.VerificationStatus.PENDING
    assert not decision.done


def test_not_found_timeout_and_error() -> None:
    assert v.not_found("abc").status is v.VerificationStatus.NOT_FOUND
    assert "HTTP 404" in v.not_found("abc").message
    deadline = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert v.timed_out("abc", deadline).status is v.VerificationStatus.TIMEOUT
    assert v.failed("abc", ValueError("nope")).message == "Could not read incoming call 'abc': nope"


def test_event_round_trip() -> None:
    decision = v.decide("abc", info("DELIVERED", "1701792922"))
    event = decision.to_event()

    assert event == {"status": "delivered", "info": decision.info, "message": decision.message}
    assert v.VerificationDecision.from_event(event) == decision


@pytest.mark.parametrize("event", [None, "delivered", {"status": "weird"}, {}])
def test_unusable_events_read_as_errors(event) -> None:
    assert v.VerificationDecision.from_event(event).status is v.VerificationStatus.ERROR


def test_deadlines() -> None:
    assert v.parse_deadline(None) is None
    assert v.parse_deadline("") is None
    naive = v.parse_deadline("2024-01-01T00:00:00")
    assert naive == datetime(2024, 1, 1, tzinfo=timezone.utc)
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert v.seconds_left(now + timedelta(seconds=5), now) == 5
    assert v.seconds_left(None) is None
