"""What the sync and async hooks share: the connection contract, the endpoint methods, settings,
pacing, log lines."""

from __future__ import annotations

import os
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.answers import retry_after_seconds
from airflow_provider_sms.api.constants import ERROR_NOT_FOUND, ERRORS
from airflow_provider_sms.api.endpoints import ApiRequest
from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.responses import parse_response, shown_location
from airflow_provider_sms.api.settings import ConnectionSettings, unknown_extras
from airflow_provider_sms.exceptions import (
    AuthenticationError,
    ConnectionNotMadeError,
    DeliveryUnknownError,
    NotFoundError,
    RateLimitError,
    ServerError,
    SmsApiConfigError,
    SmsApiConnectionError,
    SmsApiError,
    TlsVerificationError,
)
from airflow_provider_sms.hooks.bodies import MAX_ANSWER_BYTES
from airflow_provider_sms.hooks.methods import EndpointMethod
from airflow_provider_sms.hooks.pacing import AdaptiveRateLimiter, limiter_for
from airflow_provider_sms.hooks.retrying import MAX_RETRY_AFTER

try:
    from importlib.metadata import version as _version

    _VERSION = _version("airflow-provider-sms")
except Exception:  # not installed as a distribution (e.g. run from a source tree)
    _VERSION = "0+unknown"

T = TypeVar("T")

MAX_IN_FLIGHT = 512
"""The most requests one hook keeps in flight at once: each hook's connection pool holds up
to this many connections (opened on demand, none when unused). Batch paths size their
concurrency under it; the rate limiter, not the pool, paces them."""


class SmsApiHookBase(BaseHook):
    """Connection contract of the ``sms_api`` connection type, and the API's endpoints as methods.

    Each endpoint method takes its builder's arguments (:mod:`airflow_provider_sms.api.endpoints`),
    normalises the number to E.164 first (an impossible number raises ``InvalidNumberError``
    before any paid request), sends the request with the hook's ``run`` and returns a small
    frozen result: directly from :class:`~airflow_provider_sms.hooks.sms_api.SmsApiHook`,
    awaited from :class:`~airflow_provider_sms.hooks.sms_api_async.SmsApiAsyncHook`.

    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    conn_name_attr = "sms_api_conn_id"
    default_conn_name = "sms_api_default"
    conn_type = "sms_api"
    hook_name = "SMS & Voice API"
    user_agent = f"airflow-provider-sms/{_VERSION}"

    # The endpoints, declared once for both hooks.
    send_sms = EndpointMethod(endpoints.send_sms)
    hlr_lookup = EndpointMethod(endpoints.hlr_lookup)
    fraud_check = EndpointMethod(endpoints.fraud_check)
    flash_call = EndpointMethod(endpoints.flash_call)
    reserve_incoming_call = EndpointMethod(endpoints.reserve_incoming_call)
    get_incoming_call = EndpointMethod(endpoints.get_incoming_call)
    pin_to_speech_call = EndpointMethod(endpoints.pin_to_speech_call)
    text_to_speech_call = EndpointMethod(endpoints.text_to_speech_call)
    notify_verified = EndpointMethod(endpoints.notify_verified)

    def __init__(self, sms_api_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sms_api_conn_id = sms_api_conn_id

    @staticmethod
    def connection_probe_id() -> str:
        """A request id no reservation has: asking for its status costs nothing."""
        return f"connection-test-{uuid.uuid4().hex}"

    def connection_test_result(self, error: SmsApiError | None) -> tuple[bool, str]:
        """Judge the answer to the probe of :meth:`connection_probe_id` for ``test_connection()``.

        The API's own "not found" (errorCode 404 with its documented reason) proves the
        credentials work; any other 404 means the host or API path is wrong.
        """
        if error is None or (
            isinstance(error, NotFoundError)
            and error.error_code == ERROR_NOT_FOUND
            and (error.error_reason or "").lower() == ERRORS[ERROR_NOT_FOUND][1].lower()
        ):
            return True, "Connection works: the API accepted the credentials."
        if isinstance(error, NotFoundError):
            return False, (
                f"{self.settings.api_url} answered 404 without the API's error body: check the "
                "connection's host and API path (the default path is /v1)"
            )
        if isinstance(error, AuthenticationError):
            return False, f"The API refused the credentials: {error}"
        return False, str(error)

    def settings_from_connection(self, conn: Any) -> ConnectionSettings:
        for key in unknown_extras(conn.extra):
            self.log.warning("Connection %r: ignoring unknown extra field %r", self.sms_api_conn_id, key)
        return ConnectionSettings.from_connection(
            conn_id=self.sms_api_conn_id,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            extra=conn.extra,
            schema=conn.schema,
            port=conn.port,
        )

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, validated (fetched on first use; the async hook fetches it the async way)."""
        return self.settings_from_connection(self.get_connection(self.sms_api_conn_id))

    @cached_property
    def limiter(self) -> AdaptiveRateLimiter:
        """The process-wide pace of this account, shared with every other hook on it."""
        return limiter_for(self.settings.limiter_key, self.settings.rate_limit)

    def log_answer(self, request: ApiRequest[Any], status: int, masked: str | None) -> None:
        about = f" for {masked}" if masked else ""
        self.log.debug("%s%s: HTTP %d", request.endpoint.value, about, status)

    def delivery_unknown(
        self, request: ApiRequest[Any], masked: str | None, cause: str, http_status: int | None = None
    ) -> DeliveryUnknownError:
        what = {"send_sms": "message", "reserve_incoming_call": "reservation"}.get(
            request.endpoint.value, "call"
        )
        return DeliveryUnknownError(
            f"{request.endpoint.value} to {masked}: the answer was lost ({cause}), so the {what} may or "
            f"may not have gone out. It is not sent again automatically, to avoid reaching the person "
            f"twice; check the delivery receipts before sending it again.",
            http_status=http_status,
        )

    def masked_number(self, request: ApiRequest[Any]) -> str | None:
        """The request's number as logs may show it (masked unless ``log_full_numbers``)."""
        if not request.number:
            return None
        return mask_number(request.number, reveal=self.settings.log_full_numbers)

    def parse_answer(
        self,
        request: ApiRequest[T],
        status: int,
        body: bytes,
        masked: str | None,
        started_at: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """What both transports do with an answer: log, refuse a redirect, slow down on 429, parse.

        A 5xx or garbled body to a request that is not safe to resend (a message, a call, a
        reservation) becomes :class:`DeliveryUnknownError`: it may have been processed.

        :param started_at: what ``limiter.acquire()`` returned for this request (sharpens the
            limiter's estimate of the account's share on a 429).
        :param headers: the answer's headers (case-insensitive), for ``Location`` and ``Retry-After``.
        """
        headers = headers or {}
        self.log_answer(request, status, masked)
        if 300 <= status < 400:
            raise self.redirect_error(request, status, headers.get("location"))
        retry_after = None
        if status == 429:
            retry_after = retry_after_seconds(headers.get("retry-after"), time.time())
            pause = None if retry_after is None else min(retry_after, MAX_RETRY_AFTER)
            self.limiter.on_throttled(started_at, retry_after=pause)
        try:
            return parse_response(request, status, body, number=masked)
        except RateLimitError as exc:
            raise self.with_retry_after(exc, retry_after) from None
        except ServerError as exc:
            if not request.resend_safe:
                raise self.delivery_unknown(request, masked, str(exc), exc.http_status) from None
            raise

    @staticmethod
    def with_retry_after(exc: RateLimitError, retry_after: float | None) -> RateLimitError:
        """``exc`` carrying the wait its answer asked for; beyond :data:`MAX_RETRY_AFTER`, saying so."""
        if retry_after is None:
            return exc
        if retry_after > MAX_RETRY_AFTER:
            exc = type(exc)(
                f"{exc.message}. The API asks to wait {retry_after:,.0f} s before the next request "
                f"(Retry-After), longer than the hooks wait ({MAX_RETRY_AFTER:g} s): not retried",
                error_code=exc.error_code,
                error_reason=exc.error_reason,
                http_status=exc.http_status,
            )
        exc.retry_after = retry_after
        return exc

    def redirect_error(
        self, request: ApiRequest[Any], status: int, location: str | None
    ) -> SmsApiConfigError:
        """A 3xx answer: something in front of the API answered; a configuration error.

        The API never redirects, so a 3xx comes from whatever stands between the hook and the
        API (a proxy, a load balancer, a web server at a host or path that is not the API's)
        and it answered *instead of* forwarding the request: the API did not process it. For a
        message or a call this means nobody was reached, so it is not a
        :class:`DeliveryUnknownError`: the send journal records it ``failed`` and a retry of
        the task after the fix sends it. The redirect is never followed, so the credentials
        never go to the new location; the connection's host has to be fixed.
        """
        return SmsApiConfigError(
            f"{request.endpoint.value}: {self.settings.api_url} answered HTTP {status}, redirecting to "
            f"{shown_location(location)}. The API never redirects: something in front of it (a proxy, or "
            f"a host or API path in connection {self.sms_api_conn_id!r} that is not the API's) answered "
            "instead, and the API did not process the request. The redirect was not followed and the "
            "credentials were sent nowhere else: fix the connection's host.",
            http_status=status,
        )

    def unusable_answer(
        self, request: ApiRequest[Any], masked: str | None, status: int, cause: str
    ) -> SmsApiError:
        """An answer the hook will not read (too large, an unknown encoding): a :class:`ServerError`,
        or :class:`DeliveryUnknownError` for a request that may have been processed."""
        error = ServerError(
            f"The API answered HTTP {status} to {request.endpoint.value}, but {cause} "
            f"(the hooks read at most {MAX_ANSWER_BYTES:,} bytes)",
            http_status=status,
        )
        if not request.resend_safe:
            return self.delivery_unknown(request, masked, str(error), status)
        return error

    def ca_context(self, verify: bool | str) -> ssl.SSLContext | None:
        """The TLS context the ``verify`` extra asks for, read now (``None`` for no verification).

        :raises SmsApiConfigError: the CA bundle is missing, unreadable or holds no certificate.
        """
        if verify is False:
            return None
        if verify is True:
            return ssl.create_default_context()
        try:
            if os.path.isdir(verify):
                return ssl.create_default_context(capath=verify)
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise self.ca_bundle_error(exc) from None

    def ca_bundle_error(self, exc: BaseException) -> SmsApiConfigError:
        """The CA bundle named by the ``verify`` extra cannot be read or used: nothing was sent."""
        return SmsApiConfigError(
            f"Connection {self.sms_api_conn_id!r}: the CA bundle named by the 'verify' extra "
            f"cannot be used ({exc}); nothing was sent"
        )

    def tls_failure(self, cause: str) -> SmsApiConnectionError:
        """The server's certificate was refused: almost always the ``verify`` extra (not retried)."""
        return TlsVerificationError(
            f"TLS handshake with {self.settings.api_url} failed ({cause}): check the connection's "
            "'verify' extra (true, or the path of the CA bundle that signed the server)"
        )

    def not_connected(self, cause: str) -> ConnectionNotMadeError:
        """No byte of the request left: refused, DNS, connect timeout, a handshake that failed."""
        return ConnectionNotMadeError(f"Could not connect to {self.settings.api_url} ({cause})")

    def deadline_cause(self) -> str:
        return f"no complete answer within the connection's {self.settings.timeout:g} s timeout"

    def lost_answer(self, request: ApiRequest[Any], masked: str | None, cause: str) -> SmsApiError:
        """The request was sent but no usable answer came back (read timeout, reset...)."""
        if not request.resend_safe:
            return self.delivery_unknown(request, masked, cause)
        return SmsApiConnectionError(
            f"{request.endpoint.value}: no answer from {self.settings.api_url} ({cause})"
        )


def certificate_refused(exc: BaseException) -> bool:
    """Whether a failure is the server's certificate refused by verification."""
    return any(isinstance(cause, ssl.SSLCertVerificationError) for cause in exception_chain(exc))


def failure_cause(exc: BaseException) -> str:
    """A short name for a transport failure: the exception's class, and the TLS reason if any."""
    for cause in exception_chain(exc):
        if isinstance(cause, ssl.SSLError) and getattr(cause, "reason", None):
            return f"{type(exc).__name__}: TLS {cause.reason}"
    return type(exc).__name__


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: ``__cause__``/``__context__``, urllib3's ``reason``, args."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(item for item in linked if isinstance(item, BaseException))
