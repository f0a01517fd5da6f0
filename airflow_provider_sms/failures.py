"""What stops a task for good: a fatal provider error becomes ``AirflowFailException``.

A fatal error (:func:`~airflow_provider_sms.exceptions.classify`: wrong credentials, an
inactive account, an unusable connection or TLS setup, a bad input list, an unusable journal)
fails the same way for every number and on every retry, so the task stops at its first
occurrence, and Airflow does not retry it. Every operator, the incoming-call sensor, the
notifiers and the hygiene operator go through :func:`fail_fast` (or :func:`raise_if_fatal`
where the error arrives as a value), so the message always says what to fix and what was
already sent or paid for. See docs/failures.md.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from airflow_provider_sms.compat import AirflowFailException
from airflow_provider_sms.exceptions import (
    AccountError,
    AuthenticationError,
    ErrorClass,
    HygieneInputError,
    JournalError,
    SmsApiConfigError,
    TlsVerificationError,
    classify,
)

# What to fix, by the class of the fatal error (most specific first), unless its own message
# already says so (it contains the marker).
_FIXES: tuple[tuple[type[BaseException], str, str], ...] = (
    (AuthenticationError, "password", "Fix the connection's login (access key id) and password (secret)."),
    (AccountError, "support", "The account is refused (inactive, not live): ask the API provider's support."),
    (TlsVerificationError, "verify", "Fix the connection's 'verify' extra (true, or the CA bundle's path)."),
    (SmsApiConfigError, "connection", "Fix the Airflow connection."),
    (HygieneInputError, "list", "Fix the input list (or the operator's arguments), then run the task again."),
    (JournalError, "journal_path", "Fix the journal location ([sms_api] journal_path) or its permissions."),
)

Done = Callable[[], str] | str | None
F = TypeVar("F", bound=Callable[..., Any])


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` is a provider error that no retry can heal."""
    return classify(exc) is ErrorClass.FATAL


def fatal_failure(exc: BaseException, what: str, done: Done = None) -> AirflowFailException:
    """The ``AirflowFailException`` that reports the fatal ``exc``: what failed, what to fix, what was done.

    :param exc: the fatal error.
    :param what: what stopped ("Sending the SMS", "HLR look-up"...).
    :param done: what was already sent or paid for, and where it is kept (a sentence, or a
        function returning one, called now).
    """
    message = str(exc)
    fix = next((text for cls, marker, text in _FIXES if isinstance(exc, cls) and marker not in message), "")
    already = done() if callable(done) else done
    parts = [f"{what} stopped at a fatal error that no retry can fix (Airflow does not retry it): {message}"]
    if fix:
        parts.append(fix)
    if already:
        parts.append(already)
    return AirflowFailException(" ".join(parts))


def raise_if_fatal(exc: BaseException | None, what: str, done: Done = None) -> None:
    """Raise :func:`fatal_failure` of ``exc`` when it is fatal; otherwise return."""
    if exc is not None and is_fatal(exc):
        raise fatal_failure(exc, what, done) from exc


@contextmanager
def fail_fast(what: str, done: Done = None) -> Iterator[None]:
    """Turn a fatal provider error raised inside the block into ``AirflowFailException``.

    Everything else passes through unchanged: per-item and transient errors keep their own
    handling (Airflow retries a transient one), and an ``AirflowFailException`` raised inside
    stays as it is.

    :param what: what the block does, for the message.
    :param done: what was already sent or paid for (a sentence or a function returning one,
        called only when the block fails).
    """
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        raise_if_fatal(exc, what, done)
        raise


def fails_fast(what: str | Callable[[Any], str]) -> Callable[[F], F]:
    """Decorate a method (``execute``, ``poke``...): :func:`fail_fast` around each call.

    When the method returns or raises, the connections pooled by the object's sync hook (its
    ``hook`` cached property, if it made one) are closed: a batch can leave hundreds open, and
    a server going away should see them closed when the task ends, not when they are collected.

    :param what: what the method does, or a function of ``self`` saying it.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                with fail_fast(what(self) if callable(what) else what):
                    return func(self, *args, **kwargs)
            finally:
                _close_pooled_connections(self)

        return wrapper  # type: ignore[return-value]

    return decorate


def _close_pooled_connections(owner: Any) -> None:
    hook = vars(owner).get("hook") if hasattr(owner, "__dict__") else None
    close = getattr(hook, "close", None)
    if callable(close) and not inspect.iscoroutinefunction(close):
        close()


__all__ = ["fail_fast", "fails_fast", "fatal_failure", "is_fatal", "raise_if_fatal"]
