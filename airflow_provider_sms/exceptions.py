"""Errors raised by the SMS & Voice API provider, and what each one means for a caller.

The tree separates "the API answered no" from "no usable answer came back", and both from
the provider's own failures, where no API is involved::

    AirflowException
    ├── SmsApiError                      error_code, error_reason, http_status
    │   ├── AuthenticationError          errorCode 1 or 5 (HTTP 401): key id or secret wrong/inactive
    │   ├── AccountError                 errorCode 2 (HTTP 400) or 6 (HTTP 403): the account itself
    │   ├── RateLimitError               errorCode 4 (HTTP 429): retried with backoff by the hooks
    │   ├── InvalidRequestError          errorCode 10 (HTTP 400): the request was malformed
    │   ├── InvalidNumberError           errorCode 11: the number is not E.164 (also raised locally,
    │   │                                before any request, for a number that cannot be a phone number)
    │   ├── SenderNotAllowedError        errorCode 16: the sender id is not validated for the account
    │   ├── NotFoundError                HTTP 404: unknown or expired request id
    │   ├── ServerError                  HTTP 5xx, or a body that is not the JSON the reference promises
    │   ├── SmsApiConnectionError        no usable response (timeout, reset, refused, TLS failure)
    │   │   ├── ConnectionNotMadeError   the request never left (refused, connect timeout): resend is safe
    │   │   ├── DeliveryUnknownError     a message or call MAY have gone out: never re-sent automatically
    │   │   └── TlsVerificationError     the server's certificate was refused: never retried
    │   └── SmsApiConfigError            the Airflow connection is unusable (http://, no credentials...)
    ├── SmsProviderError                 the provider's own machinery failed; no API answer involved
    │   ├── JournalError                 the send journal cannot be read or written: nothing is sent
    │   │   └── JournalClaimedError      another copy of the task instance claimed the entry first
    │   ├── HygieneInputError            a hygiene input list cannot be read as it is
    │   │   └── HygieneAccountingError   rows read and rows written do not add up: nothing published
    │   ├── OutputNotWritableError       a hygiene output location refused a test write (before paying)
    │   ├── OutputClaimedError           another live run is writing the same hygiene output
    │   └── EventNotStoredError          the webhook receiver could not store an event (answers 503)
    └── ApiUnavailableError              a batch stopped: the API kept failing (its circuit breaker
                                         opened); Airflow's retry resumes where it stopped

:func:`classify` sorts any of them into :class:`ErrorClass` (fatal, per item, transient): the
hooks' retries, the incoming-call sensor and trigger, and the hygiene engine all ask it
rather than keep their own lists.

Every message says what happened and, where it can, what to change. No message ever
contains credentials; phone numbers in messages are masked unless the connection says otherwise.
"""

from __future__ import annotations

import enum

from airflow_provider_sms.compat import AirflowException


class SmsApiError(AirflowException):
    """Base class: something went wrong talking to the SMS & Voice API.

    :param message: human-readable explanation, safe to log.
    :param error_code: the API's ``errorCode`` (``None`` when the API gave none).
    :param error_reason: the API's ``errorReason``.
    :param http_status: the HTTP status of the response, ``None`` when there was no response.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: int | None = None,
        error_reason: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.error_reason = error_reason
        self.http_status = http_status

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep keyword-only attributes when pickled across processes
        return (
            _rebuild_error,
            (type(self), self.message, self.error_code, self.error_reason, self.http_status),
        )


def _rebuild_error(cls, message, error_code, error_reason, http_status):
    return cls(message, error_code=error_code, error_reason=error_reason, http_status=http_status)


class AuthenticationError(SmsApiError):
    """The access key id or secret was wrong, missing or inactive (errorCode 1 or 5)."""


class AccountError(SmsApiError):
    """The account is inactive (errorCode 2) or not live (errorCode 6): only support can fix it."""


class RateLimitError(SmsApiError):
    """Too many requests in one second for the account (errorCode 4, HTTP 429).

    ``retry_after`` holds the seconds the answer's ``Retry-After`` header asked to wait
    (``None`` without one); the hooks honour it up to a bound.
    """

    retry_after: float | None = None


class InvalidRequestError(SmsApiError):
    """The API refused the request as malformed (errorCode 10)."""


class InvalidNumberError(SmsApiError):
    """The number is not a usable E.164 phone number (errorCode 11, or refused locally)."""


class SenderNotAllowedError(SmsApiError):
    """The sender id / caller id is not validated for this account (errorCode 16)."""


class NotFoundError(SmsApiError):
    """The request id is unknown or expired (HTTP 404)."""


class ServerError(SmsApiError):
    """The API failed (HTTP 5xx) or answered something that is not the JSON it documents."""


class SmsApiConnectionError(SmsApiError):
    """No usable response arrived: timeout, connection reset or refused, TLS failure."""


class ConnectionNotMadeError(SmsApiConnectionError):
    """The request never reached the server (refused, connect timeout): always safe to resend."""


class DeliveryUnknownError(SmsApiConnectionError):
    """A message or call may or may not have been sent: the outcome is unknown.

    Raised for requests that cost money and reach a person (SMS, calls) when the
    connection failed after the request was sent (read timeout, reset, 5xx, truncated
    body). They are never retried automatically: a retry could reach the person twice.
    Check the delivery receipts or the provider's console before sending again.
    """


class TlsVerificationError(SmsApiConnectionError):
    """The TLS handshake failed, almost always because the server's certificate is not trusted.

    Nothing was sent. Retrying cannot help: fix the connection's ``verify`` extra (``true``
    for a publicly trusted server, or the path of the CA bundle that signed it).
    """


class SmsApiConfigError(SmsApiError):
    """The Airflow connection cannot be used as it is (wrong scheme, missing credentials...)."""


class SmsProviderError(AirflowException):
    """Base class: the provider's own machinery failed (journal, input list, event store)."""


class JournalError(SmsProviderError):
    """The journal cannot be read or written: nothing is sent without it."""


class JournalClaimedError(JournalError):
    """Another copy of the task instance wrote the entry first: it is sending, or has sent."""


class HygieneInputError(SmsProviderError):
    """The input list cannot be read as it is: the message names the file, the line and the fix."""


class HygieneAccountingError(HygieneInputError):
    """The rows read and the rows written do not add up (the list changed mid-run?): nothing is published."""


class CampaignInputError(SmsProviderError):
    """A campaign's template, list or options cannot be used as they are: refused before any send."""


class OutputNotWritableError(SmsProviderError):
    """The output or resume-state location refused a test write before any paid request."""


class OutputClaimedError(SmsProviderError):
    """Another live run is writing the same output: this one stops before paying for anything.

    Transient: the other run (often a zombie try of the same task) ends, and a retry proceeds.
    """


class EventNotStoredError(SmsProviderError):
    """The event could not be stored; the sender must retry (the endpoint answers 503)."""


class ApiUnavailableError(AirflowException):
    """The API kept failing, so a batch stopped (its circuit breaker, :mod:`~.batch.breaker`, opened).

    Raised after the requests under way finished and what they sent or paid for was saved (the
    send journal, hygiene's resume state). Transient and retryable: Airflow's retry resumes where
    the batch stopped, without sending or paying anything twice.
    """


class ErrorClass(enum.Enum):
    """What an error means for the work around it."""

    FATAL = "fatal"
    """Nothing can succeed until a person fixes the setup (credentials, account, TLS, input list)."""
    PER_ITEM = "per_item"
    """This one number or request is bad, done or in doubt; the others may still succeed."""
    TRANSIENT = "transient"
    """The API or the network is having a bad moment: waiting may heal it."""


# Looked up along the exception's MRO, so the most specific class wins: TlsVerificationError
# (fatal) and DeliveryUnknownError (per item) are found before their transient parent.
_CLASSES: dict[type[BaseException], ErrorClass] = {
    SmsApiError: ErrorClass.PER_ITEM,
    AuthenticationError: ErrorClass.FATAL,
    AccountError: ErrorClass.FATAL,
    SmsApiConfigError: ErrorClass.FATAL,
    TlsVerificationError: ErrorClass.FATAL,
    InvalidNumberError: ErrorClass.PER_ITEM,
    SenderNotAllowedError: ErrorClass.PER_ITEM,
    InvalidRequestError: ErrorClass.PER_ITEM,
    NotFoundError: ErrorClass.PER_ITEM,
    DeliveryUnknownError: ErrorClass.PER_ITEM,
    RateLimitError: ErrorClass.TRANSIENT,
    ServerError: ErrorClass.TRANSIENT,
    SmsApiConnectionError: ErrorClass.TRANSIENT,
    SmsProviderError: ErrorClass.FATAL,
    JournalClaimedError: ErrorClass.PER_ITEM,
    EventNotStoredError: ErrorClass.TRANSIENT,
    OutputClaimedError: ErrorClass.TRANSIENT,
    ApiUnavailableError: ErrorClass.TRANSIENT,
}


def classify(exc: BaseException) -> ErrorClass | None:
    """Sort an exception into :class:`ErrorClass`; ``None`` for one that is not the provider's.

    - FATAL: :class:`AuthenticationError`, :class:`AccountError`, :class:`SmsApiConfigError`,
      :class:`TlsVerificationError`, :class:`HygieneInputError`, :class:`JournalError`.
    - PER_ITEM: :class:`InvalidNumberError`, :class:`SenderNotAllowedError`,
      :class:`InvalidRequestError`, :class:`NotFoundError`, :class:`DeliveryUnknownError` (the
      outcome is unknown: never retried), :class:`JournalClaimedError`, and any other API refusal.
    - TRANSIENT: :class:`RateLimitError`, :class:`ServerError`, :class:`ConnectionNotMadeError`
      and every other :class:`SmsApiConnectionError` (timeouts, resets),
      :class:`EventNotStoredError`, :class:`ApiUnavailableError`.

    Whether a transient failure may be *retried* also depends on the request (see
    :func:`airflow_provider_sms.hooks.retrying.is_retryable`).

    :param exc: any exception.
    :returns: its class, or ``None`` for an exception the provider does not raise (a bug, a
        cancellation, a library's own error): the caller decides what that means where it stands.
    """
    for cls in type(exc).__mro__:
        found = _CLASSES.get(cls)
        if found is not None:
            return found
    return None
