"""What may be sent again: the retry policy as a matrix, and the tenacity arguments it builds."""

from __future__ import annotations

import logging

import pytest
import tenacity

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.endpoints import ApiRequest
from airflow_provider_sms.exceptions import (
    AuthenticationError,
    ConnectionNotMadeError,
    DeliveryUnknownError,
    InvalidNumberError,
    NotFoundError,
    RateLimitError,
    ServerError,
    SmsApiConfigError,
    SmsApiConnectionError,
    TlsVerificationError,
)
from airflow_provider_sms.hooks.pacing import measure_waits
from airflow_provider_sms.hooks.retrying import MAX_RETRY_AFTER, is_retryable, retry_arguments

N = "+447911123456"
SENDS = [
    endpoints.send_sms(N, "hi"),
    endpoints.flash_call(N),
    endpoints.pin_to_speech_call(N, "1234"),
    endpoints.text_to_speech_call(N, "hi"),
    endpoints.reserve_incoming_call(N),
]
LOOKUPS = [
    endpoints.hlr_lookup(N),
    endpoints.fraud_check(N),
    endpoints.get_incoming_call("abc"),
    endpoints.notify_verified("abc"),
]

# What the hooks raise in each situation, for a send and for a look-up.
SITUATIONS = {
    "429": (RateLimitError("429", http_status=429), RateLimitError("429", http_status=429)),
    "refused / connect timeout": (ConnectionNotMadeError("refused"), ConnectionNotMadeError("refused")),
    "read timeout / reset": (DeliveryUnknownError("lost"), SmsApiConnectionError("lost")),
    "5xx / garbled body": (DeliveryUnknownError("5xx", http_status=503), ServerError("5xx", http_status=503)),
    "certificate refused": (TlsVerificationError("tls"), TlsVerificationError("tls")),
    "bad credentials": (AuthenticationError("401"), AuthenticationError("401")),
    "invalid number": (InvalidNumberError("11"), InvalidNumberError("11")),
    "unknown request id": (NotFoundError("404"), NotFoundError("404")),
    "unusable connection": (SmsApiConfigError("http://"), SmsApiConfigError("http://")),
}
# situation -> (send retried?, look-up retried?)
EXPECTED = {
    "429": (True, True),
    "refused / connect timeout": (True, True),
    "read timeout / reset": (False, True),
    "5xx / garbled body": (False, True),
    "certificate refused": (False, False),
    "bad credentials": (False, False),
    "invalid number": (False, False),
    "unknown request id": (False, False),
    "unusable connection": (False, False),
}


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_retry_matrix(situation: str) -> None:
    send_error, lookup_error = SITUATIONS[situation]
    send_retried, lookup_retried = EXPECTED[situation]
    for request in SENDS:
        assert is_retryable(request, send_error) is send_retried, request.endpoint
    for request in LOOKUPS:
        assert is_retryable(request, lookup_error) is lookup_retried, request.endpoint


def test_a_delivery_unknown_error_is_never_retried_whatever_the_request() -> None:
    for request in SENDS + LOOKUPS:
        assert not is_retryable(request, DeliveryUnknownError("lost"))


def test_foreign_exceptions_are_not_retried() -> None:
    assert not is_retryable(LOOKUPS[0], ValueError("bug"))
    assert not is_retryable(LOOKUPS[0], OSError("disk"))


def run(request: ApiRequest, error: Exception, max_retries: int) -> tuple[int, list[float]]:
    attempts, waits = 0, list[float]()

    def send() -> None:
        nonlocal attempts
        attempts += 1
        raise error

    retrying = tenacity.Retrying(
        sleep=waits.append, **retry_arguments(request, max_retries, logging.getLogger("t"))
    )
    with pytest.raises(type(error)):
        retrying(send)
    return attempts, waits


def test_retryable_errors_are_tried_max_retries_plus_one_times_with_growing_jittered_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="t"):
        attempts, waits = run(LOOKUPS[0], ServerError("503", http_status=503), max_retries=3)
    assert attempts == 4
    assert len(waits) == 3
    for wait, base in zip(waits, (0.5, 1.0, 2.0), strict=True):
        assert base <= wait <= base + 0.5
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "hlr_lookup failed (attempt 1 of 4)",
        "hlr_lookup failed (attempt 2 of 4)",
        "hlr_lookup failed (attempt 3 of 4)",
    ]


def test_the_backoff_is_capped() -> None:
    _, waits = run(LOOKUPS[0], RateLimitError("429"), max_retries=8)
    assert max(waits) <= 10.5


def test_non_retryable_errors_are_raised_at_once() -> None:
    assert run(SENDS[0], DeliveryUnknownError("lost"), max_retries=3) == (1, [])
    assert run(LOOKUPS[0], SmsApiConnectionError("lost"), max_retries=0) == (1, [])


def test_a_send_is_retried_after_429_because_nothing_was_processed() -> None:
    attempts, _ = run(SENDS[0], RateLimitError("429", http_status=429), max_retries=2)
    assert attempts == 3


def rate_limited(retry_after: float | None) -> RateLimitError:
    error = RateLimitError("429", http_status=429)
    error.retry_after = retry_after
    return error


def test_a_429_is_retried_no_sooner_than_its_retry_after() -> None:
    attempts, waits = run(LOOKUPS[0], rate_limited(7.0), max_retries=2)
    assert attempts == 3
    assert waits == [7.0, 7.0]  # the backoff (0.5-1.5 s) is shorter: the server's word wins
    _, waits = run(SENDS[0], rate_limited(0.1), max_retries=1)
    assert 0.5 <= waits[0] <= 1.0  # a shorter Retry-After leaves the backoff as it is


def test_a_retry_after_longer_than_the_bound_is_not_retried() -> None:
    assert is_retryable(LOOKUPS[0], rate_limited(MAX_RETRY_AFTER))
    assert not is_retryable(LOOKUPS[0], rate_limited(MAX_RETRY_AFTER + 1))
    assert run(LOOKUPS[0], rate_limited(3600.0), max_retries=3) == (1, [])


def test_a_retry_pause_counts_as_a_wait_not_as_answer_time() -> None:
    """A batch's in-flight count must not read a 429's ``Retry-After: 1`` as a one-second API."""
    error = RateLimitError("429", http_status=429)
    error.retry_after = 1.0
    with measure_waits() as waits:
        attempts, slept = run(LOOKUPS[0], error, max_retries=2)
    assert attempts == 3
    assert len(slept) == 2
    assert min(slept) >= 1.0
    assert waits.seconds == pytest.approx(sum(slept))
    assert waits.requests == 0  # the pauses are not requests (the limiter counts those)
