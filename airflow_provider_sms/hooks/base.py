"""What the sync and async hooks share: the connection contract, the endpoint methods, settings,
pacing, log lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cached_property
from typing import Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.constants import ERROR_NOT_FOUND, ERRORS
from airflow_provider_sms.api.endpoints import ApiRequest
from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.responses import parse_response
from airflow_provider_sms.api.settings import ConnectionSettings, unknown_extras
from airflow_provider_sms.exceptions import (
    AuthenticationError,
    DeliveryUnknownError,
    NotFoundError,
    ServerError,
    SmsApiConfigError,
    SmsApiConnectionError,
    SmsApiError,
    TlsVerificationError,
)
from airflow_provider_sms.hooks.methods import EndpointMethod
from airflow_provider_sms.hooks.pacing import AdaptiveRateLimiter, limiter_for

try:
    from importlib.metadata import version as _version

    _VERSION = _version("airflow-provider-sms")
except Exception:  # not installed as a distribution (e.g. run from a source tree)
    _VERSION = "0+unknown"

T = TypeVar("T")


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
    ) -> T:
        """What both transports do with an answer: log, slow down on 429, parse.

        A 5xx or garbled body to a request that is not safe to resend (a message, a call, a
        reservation) becomes :class:`DeliveryUnknownError`: it may have been processed.

        :param started_at: what ``limiter.acquire()`` returned for this request (sharpens the
            limiter's estimate of the account's share on a 429).
        """
        self.log_answer(request, status, masked)
        if status == 429:
            self.limiter.on_throttled(started_at)
        try:
            return parse_response(request, status, body, number=masked)
        except ServerError as exc:
            if not request.resend_safe:
                raise self.delivery_unknown(request, masked, str(exc), exc.http_status) from None
            raise

    def ca_bundle_error(self, exc: BaseException) -> SmsApiConfigError:
        """The CA bundle named by the ``verify`` extra cannot be read or used."""
        return SmsApiConfigError(
            f"Connection {self.sms_api_conn_id!r}: the CA bundle named by the 'verify' extra "
            f"cannot be used ({exc})"
        )

    def tls_failure(self, cause: str) -> SmsApiConnectionError:
        """The TLS handshake failed: almost always the ``verify`` extra (not retried)."""
        return TlsVerificationError(
            f"TLS handshake with {self.settings.api_url} failed ({cause}): check the connection's "
            "'verify' extra (true, or the path of the CA bundle that signed the server)"
        )

    def lost_answer(self, request: ApiRequest[Any], masked: str | None, cause: str) -> SmsApiError:
        """The request was sent but no usable answer came back (read timeout, reset...)."""
        if not request.resend_safe:
            return self.delivery_unknown(request, masked, cause)
        return SmsApiConnectionError(
            f"{request.endpoint.value}: no answer from {self.settings.api_url} ({cause})"
        )


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
