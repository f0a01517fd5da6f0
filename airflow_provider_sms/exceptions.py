"""Errors raised by the SMS & Voice API provider.

The tree separates "the API answered no" from "no usable answer came back"::

    SmsApiError (AirflowException)       error_code, error_reason, http_status
    ├── AuthenticationError              errorCode 1 or 5 (HTTP 401): key id or secret wrong/inactive
    ├── AccountError                     errorCode 2 (HTTP 400) or 6 (HTTP 403): the account itself
    ├── RateLimitError                   errorCode 4 (HTTP 429): retried with backoff by the hooks
    ├── InvalidRequestError              errorCode 10 (HTTP 400): the request was malformed
    ├── InvalidNumberError               errorCode 11: the number is not E.164 (also raised locally,
    │                                    before any request, for a number that cannot be a phone number)
    ├── SenderNotAllowedError            errorCode 16: the sender id is not validated for the account
    ├── NotFoundError                    HTTP 404: unknown or expired request id
    ├── ServerError                      HTTP 5xx, or a body that is not the JSON the reference promises
    ├── SmsApiConnectionError            no usable response (timeout, reset, refused, TLS failure)
    │   ├── DeliveryUnknownError         a message or call MAY have gone out: never re-sent automatically
    │   └── TlsVerificationError         the server's certificate was refused: never retried
    └── SmsApiConfigError                the Airflow connection is unusable (http://, no credentials...)

Every message says what happened and, where it can, what to change. No message ever
contains credentials; phone numbers in messages are masked unless the connection says otherwise.
"""

from __future__ import annotations

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
    """Too many requests in one second for the account (errorCode 4, HTTP 429)."""


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
