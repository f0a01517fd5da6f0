"""The circuit breaker (batch/breaker.py) and the fatal-error helper (failures.py), without a server."""

from __future__ import annotations

import functools
import threading

import pytest

from airflow_provider_sms.batch.breaker import CONSECUTIVE_FAILURES, CircuitBreaker
from airflow_provider_sms.compat import AirflowException, AirflowFailException
from airflow_provider_sms.exceptions import (
    ApiUnavailableError,
    AuthenticationError,
    ConnectionNotMadeError,
    DeliveryUnknownError,
    ErrorClass,
    HygieneInputError,
    InvalidNumberError,
    ServerError,
    SmsApiConfigError,
    classify,
)
from airflow_provider_sms.failures import fail_fast, fails_fast, fatal_failure

DOWN = ConnectionNotMadeError("Could not connect")


def test_api_unavailable_is_a_retryable_transient_error() -> None:
    assert classify(ApiUnavailableError("down")) is ErrorClass.TRANSIENT
    assert isinstance(ApiUnavailableError("down"), AirflowException)
    assert not isinstance(ApiUnavailableError("down"), AirflowFailException)


def test_consecutive_outage_failures_open_it() -> None:
    breaker = CircuitBreaker("Sending")
    for _ in range(CONSECUTIVE_FAILURES - 1):
        breaker.record_failure(DOWN)
    assert not breaker.is_open
    breaker.check()  # closed: nothing raised
    breaker.record_failure(DeliveryUnknownError("answer lost"))  # a send cut mid-way counts too
    assert breaker.is_open
    with pytest.raises(ApiUnavailableError, match=r"the API looks down .*3 sent") as raised:
        breaker.check("3 sent.")
    assert raised.value.__cause__ is breaker.outage


def test_any_answer_resets_the_count_so_sporadic_failures_never_open_it() -> None:
    breaker = CircuitBreaker("Sending", threshold=3)
    for _ in range(10):
        breaker.record_failure(ServerError("HTTP 503"))
        breaker.record_failure(ServerError("HTTP 503"))
        breaker.record_failure(InvalidNumberError("not a number"))  # an answer: the API is up
        breaker.record_failure(DOWN)
        breaker.record_success()
    assert not breaker.is_open
    assert breaker.failures == 40


def test_a_fatal_error_opens_it_at_once_and_fails_without_retry() -> None:
    breaker = CircuitBreaker("HLR look-up")
    breaker.record_failure(AuthenticationError("HTTP 401"))
    assert breaker.is_open
    with pytest.raises(AirflowFailException, match=r"no retry can fix.*Fix the connection.s login.*2 paid"):
        breaker.check(lambda: "2 paid.")


def test_it_counts_across_threads() -> None:
    breaker = CircuitBreaker("Sending", threshold=400)
    threads = [
        threading.Thread(target=lambda: [breaker.record_failure(DOWN) for _ in range(100)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.is_open
    assert breaker.failures == 400


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CircuitBreaker("x", threshold=0)


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (AuthenticationError("HTTP 401"), True),
        (SmsApiConfigError("http:// is refused"), True),
        (HygieneInputError("no column 'phone'"), True),
        (ServerError("HTTP 500"), False),
        (InvalidNumberError("bad"), False),
        (ValueError("a bug"), False),
    ],
)
def test_fail_fast_converts_only_fatal_errors(error: Exception, fatal: bool) -> None:
    with (
        pytest.raises(AirflowFailException if fatal else type(error)) as raised,
        fail_fast("Doing it", "1 sent."),
    ):
        raise error
    if fatal:
        assert "Doing it stopped" in str(raised.value)
        assert "1 sent." in str(raised.value)
        assert raised.value.__cause__ is error


def test_fails_fast_names_the_work_from_the_instance() -> None:
    class Op:
        kind = "flash_call"

        @fails_fast(lambda op: f"The {op.kind}")
        def execute(self, value: int) -> int:
            if value < 0:
                raise AuthenticationError("HTTP 401: check the password")
            return value

    assert Op().execute(3) == 3
    with pytest.raises(AirflowFailException, match=r"^The flash_call stopped") as raised:
        Op().execute(-1)
    # The error already says what to fix: not repeated.
    assert "Fix the connection's login" not in str(raised.value)


def test_the_message_says_what_to_fix() -> None:
    message = str(fatal_failure(AuthenticationError("HTTP 401"), "Sending the SMS", "0 sent."))
    assert message.startswith("Sending the SMS stopped at a fatal error that no retry can fix")
    assert "Fix the connection's login (access key id) and password (secret). 0 sent." in message


def test_fails_fast_closes_the_pooled_connections_of_the_hook_the_method_used() -> None:
    class Hook:
        closed = 0

        def close(self) -> None:
            self.closed += 1

    class AsyncHook:
        async def close(self) -> None:  # pragma: no cover - must not be called (nor awaited)
            raise AssertionError("an async hook is closed by its own event loop")

    class Op:
        made = 0

        @functools.cached_property
        def hook(self) -> Hook:
            Op.made += 1
            return Hook()

        @fails_fast("Sending")
        def execute(self, *, use_hook: bool, fail: bool = False) -> str:
            if use_hook:
                self.hook  # noqa: B018 - made on first use
            if fail:
                raise ServerError("HTTP 503")
            return "done"

    op = Op()
    assert op.execute(use_hook=True) == "done"
    assert op.hook.closed == 1
    with pytest.raises(ServerError):
        op.execute(use_hook=True, fail=True)
    assert op.hook.closed == 2  # also when the method raises
    untouched = Op()
    untouched.execute(use_hook=False)
    assert "hook" not in vars(untouched)  # not made just to be closed
    assert Op.made == 1

    class AsyncOp:
        def __init__(self) -> None:
            self.hook = AsyncHook()

        @fails_fast("Waiting")
        def poke(self) -> bool:
            return True

    assert AsyncOp().poke() is True
