"""When a failed request may be sent again, shared by the sync and async hooks.

- 429 and failures before the request reached the server (refused connection, connect
  timeout) are always retried: nothing was processed.
- Look-ups and status reads are also retried after timeouts, resets, 5xx and garbled bodies:
  repeating them costs at most one more look-up.
- A message or a call is never repeated once it may have been processed: the hooks raise
  :class:`DeliveryUnknownError` for those cases, and it is not retryable.
- A certificate the connection does not trust (:class:`TlsVerificationError`) is not retried:
  the answer would be the same.
"""

from __future__ import annotations

import logging
from typing import Any

import tenacity

from airflow_provider_sms.api.endpoints import ApiRequest
from airflow_provider_sms.exceptions import (
    DeliveryUnknownError,
    RateLimitError,
    ServerError,
    SmsApiConnectionError,
    TlsVerificationError,
)

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 10.0
JITTER = 0.5


class ConnectionNotMadeError(SmsApiConnectionError):
    """The request never reached the server (refused, connect timeout): always safe to resend."""


def is_retryable(request: ApiRequest, exc: BaseException) -> bool:
    """Whether ``exc``, raised while sending ``request``, allows sending it again."""
    if isinstance(exc, (DeliveryUnknownError, TlsVerificationError)):
        return False
    if isinstance(exc, (RateLimitError, ConnectionNotMadeError)):
        return True
    return request.resend_safe and isinstance(exc, (ServerError, SmsApiConnectionError))


def retry_arguments(request: ApiRequest, max_retries: int, log: logging.Logger | Any) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` for one request."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.1f s",
            request.endpoint.value,
            state.attempt_number,
            max_retries + 1,
            exc,
            state.next_action.sleep if state.next_action else 0.0,
        )

    return {
        "stop": tenacity.stop_after_attempt(max_retries + 1),
        # 0.5 s, 1 s, 2 s... plus up to 0.5 s of jitter (wait_exponential_jitter's ``initial``
        # is deprecated in tenacity 9.2 and ``multiplier`` unknown to the 8.x we also support).
        "wait": tenacity.wait_exponential(multiplier=INITIAL_BACKOFF, max=MAX_BACKOFF)
        + tenacity.wait_random(0, JITTER),
        "retry": tenacity.retry_if_exception(lambda exc: is_retryable(request, exc)),
        "before_sleep": before_sleep,
        "reraise": True,
    }
