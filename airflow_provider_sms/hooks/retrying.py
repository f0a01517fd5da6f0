"""When a failed request may be sent again, shared by the sync and async hooks.

- 429 and failures before the request reached the server (refused connection, connect
  timeout) are always retried: nothing was processed.
- Look-ups and status reads are also retried after timeouts, resets, 5xx and garbled bodies:
  repeating them costs at most one more look-up.
- A message or a call is never repeated once it may have been processed: the hooks raise
  :class:`DeliveryUnknownError` for those cases, and it is not retryable.
- A certificate the connection does not trust (:class:`TlsVerificationError`) is not retried:
  the answer would be the same.
- A 429 whose ``Retry-After`` asks to wait is retried no sooner than asked, up to
  :data:`MAX_RETRY_AFTER`; one that asks for longer is not retried at all (the limiter pauses
  every request of the account for the bound meanwhile).

Which errors are transient is decided once, by :func:`airflow_provider_sms.exceptions.classify`.
"""

from __future__ import annotations

import logging
from typing import Any

import tenacity

from airflow_provider_sms.api.endpoints import ApiRequest
from airflow_provider_sms.exceptions import (
    ConnectionNotMadeError,
    ErrorClass,
    RateLimitError,
    classify,
)
from airflow_provider_sms.hooks.pacing import count_pause

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 10.0
JITTER = 0.5
MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` (seconds) the hooks wait for; a longer one fails the request at once."""


def is_retryable(request: ApiRequest[Any], exc: BaseException) -> bool:
    """Whether ``exc``, raised while sending ``request``, allows sending it again.

    Only a transient error (:func:`~airflow_provider_sms.exceptions.classify`) is retried, and
    only when resending is harmless: the request is safe to resend, or the error proves that
    nothing was processed (429, a connection never made).
    """
    if classify(exc) is not ErrorClass.TRANSIENT:
        return False
    if isinstance(exc, RateLimitError) and (exc.retry_after or 0.0) > MAX_RETRY_AFTER:
        return False
    return request.resend_safe or isinstance(exc, (RateLimitError, ConnectionNotMadeError))


def retry_arguments(request: ApiRequest[Any], max_retries: int, log: logging.Logger | Any) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` for one request."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        count_pause(pause)  # a batch's answer-time estimate leaves the pause out
        log.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.1f s",
            request.endpoint.value,
            state.attempt_number,
            max_retries + 1,
            exc,
            pause,
        )

    # 0.5 s, 1 s, 2 s... plus up to 0.5 s of jitter (wait_exponential_jitter's ``initial``
    # is deprecated in tenacity 9.2 and ``multiplier`` unknown to the 8.x we also support).
    backoff = tenacity.wait_exponential(multiplier=INITIAL_BACKOFF, max=MAX_BACKOFF) + tenacity.wait_random(
        0, JITTER
    )

    def wait(state: tenacity.RetryCallState) -> float:
        """The backoff, but never sooner than the 429's ``Retry-After`` asked (bounded)."""
        seconds = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            seconds = max(seconds, min(exc.retry_after, MAX_RETRY_AFTER))
        return seconds

    return {
        "stop": tenacity.stop_after_attempt(max_retries + 1),
        "wait": wait,
        "retry": tenacity.retry_if_exception(lambda exc: is_retryable(request, exc)),
        "before_sleep": before_sleep,
        "reraise": True,
    }


__all__ = ["MAX_RETRY_AFTER", "ConnectionNotMadeError", "is_retryable", "retry_arguments"]
