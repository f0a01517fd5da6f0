"""One number's paid checks: HLR look-up, then fraud check, each a step of its own on a worker thread.

The pipeline runs the two steps separately (:func:`look_up`, then :func:`check_number` with the
paid ``known_hlr``), so that it can choose which step starts next; :func:`check_number` alone runs
both one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from airflow_provider_sms.api.constants import HLR_DELIVERED
from airflow_provider_sms.api.results import HlrResult
from airflow_provider_sms.exceptions import ErrorClass, classify
from airflow_provider_sms.hygiene.verdicts import NumberCheck, decide

if TYPE_CHECKING:
    from airflow_provider_sms.batch.breaker import CircuitBreaker
    from airflow_provider_sms.hooks.sms_api import SmsApiHook

T = TypeVar("T")


class CheckStopped(Exception):
    """The run is stopping: the check was abandoned before its next request.

    ``hlr`` holds the HLR answer when it was paid for and only the fraud check was stopped.
    """

    hlr: HlrResult | None = None


class CheckOutcome(NamedTuple):
    """A number's verdict and how many requests it took (1 or 2)."""

    check: NumberCheck
    calls: int


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_number(
    hook: SmsApiHook,
    e164: str,
    *,
    skip_fraud_check_if_unreachable: bool,
    stop: threading.Event,
    breaker: CircuitBreaker | None = None,
    known_hlr: HlrResult | None = None,
) -> CheckOutcome:
    """Look ``e164`` up and fraud-check it; any failure but a fatal one becomes part of the verdict.

    The hook paces (shared limiter) and retries; an error that survives its retries makes
    the verdict ERROR. Fatal errors (:func:`~airflow_provider_sms.exceptions.classify`: the
    credentials, the account, TLS) are raised: every other number would fail the same way.
    The fraud check is not made after a failed look-up (the number is ERROR either way and is
    checked again next time) or, when asked, after an undelivered one.

    :param hook: a shared, thread-safe hook.
    :param e164: the normalised number.
    :param skip_fraud_check_if_unreachable: save the fraud check when the HLR says undelivered.
    :param stop: set when the run stops; checked before each request.
    :param breaker: the run's circuit breaker: told of every answer and failure; once it is open
        no request starts, and a failed check raises :class:`CheckStopped` instead of giving an
        ERROR verdict (the API is down: the number stays unchecked for the retry).
    :param known_hlr: the HLR answer already paid for (this run's first step, or an earlier
        try's, from the resume state): only the fraud check is made.
    """
    hlr: HlrResult | Exception
    if known_hlr is not None:
        hlr, calls = known_hlr, 0
    else:
        hlr, calls = look_up(hook, e164, stop=stop, breaker=breaker), 1
    fraud = None
    wanted = wants_fraud_check(hlr, skip_fraud_check_if_unreachable=skip_fraud_check_if_unreachable)
    if wanted:
        try:
            fraud = _ask(hook.fraud_check, e164, stop, breaker)
        except CheckStopped as stopped:
            stopped.hlr = hlr if isinstance(hlr, HlrResult) else None  # paid: kept for the retry
            raise
        calls += 1
    return CheckOutcome(decide(e164, hlr, fraud, checked_at=now_iso()), calls)


def look_up(
    hook: SmsApiHook, e164: str, *, stop: threading.Event, breaker: CircuitBreaker | None = None
) -> HlrResult | Exception:
    """The first step: the HLR look-up's answer, or the error that survived the hook's retries.

    Raises :class:`CheckStopped` (the run stops, or the breaker is open) and fatal errors, as
    :func:`check_number` does.
    """
    return _ask(hook.hlr_lookup, e164, stop, breaker)


def wants_fraud_check(hlr: HlrResult | Exception, *, skip_fraud_check_if_unreachable: bool) -> bool:
    """Whether a number with this HLR answer gets the second step: not after a failed look-up (the
    number is ERROR either way), nor, when asked, after an undelivered one."""
    if not isinstance(hlr, HlrResult):
        return False
    return not (skip_fraud_check_if_unreachable and hlr.status != HLR_DELIVERED)


def _ask(
    method: Callable[[str], T], e164: str, stop: threading.Event, breaker: CircuitBreaker | None
) -> T | Exception:
    if stop.is_set() or (breaker is not None and breaker.is_open):
        raise CheckStopped(e164)
    try:
        answer = method(e164)
    except Exception as exc:  # errorCode 11 -> INVALID, anything else -> ERROR: never a crash of the run
        if classify(exc) is ErrorClass.FATAL:
            raise
        if breaker is not None:
            breaker.record_failure(exc)
            if breaker.is_open:  # the API is down: no verdict, the retry checks it
                raise CheckStopped(e164) from exc
        return exc
    if breaker is not None:
        breaker.record_success()
    return answer
