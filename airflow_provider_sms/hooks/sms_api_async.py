"""SmsApiAsyncHook: the SMS & Voice API over ``httpx.AsyncClient``, for triggers and async notifiers.

It differs from :class:`~airflow_provider_sms.hooks.sms_api.SmsApiHook` only in how a request
travels: the same builders (:mod:`airflow_provider_sms.api.endpoints`) make each request, the
same parser turns each answer into a result or an error, the same retry policy
(:func:`~airflow_provider_sms.hooks.retrying.retry_arguments`) decides what may be sent again,
and the same per-account limiter paces it (without blocking the event loop).
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any

import httpx
import tenacity
from asgiref.sync import sync_to_async

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api import results as r
from airflow_provider_sms.api.endpoints import ApiRequest, with_defaults
from airflow_provider_sms.api.settings import DEFAULT_CONNECT_TIMEOUT, ConnectionSettings
from airflow_provider_sms.compat import ASYNC_CONNECTION_UNAVAILABLE
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.base import SmsApiHookBase, exception_chain
from airflow_provider_sms.hooks.retrying import ConnectionNotMadeError, retry_arguments

POOL_SIZE = 32

# httpx errors raised before a single byte of the request left: always safe to send again.
_NOT_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class SmsApiAsyncHook(SmsApiHookBase):
    """Async twin of :class:`~airflow_provider_sms.hooks.sms_api.SmsApiHook` (same methods, awaited).

    The connection is fetched the async way on first use; one ``httpx.AsyncClient`` serves
    every call of the hook until :meth:`close` (or the end of ``async with``).

    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    def __init__(self, sms_api_conn_id: str = SmsApiHookBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(sms_api_conn_id=sms_api_conn_id, **kwargs)
        self._client: httpx.AsyncClient | None = None

    async def get_settings(self) -> ConnectionSettings:
        """The validated connection, fetched with ``aget_connection`` on first use."""
        settings = self.__dict__.get("settings")
        if settings is None:
            try:
                conn = await self.aget_connection(self.sms_api_conn_id)
            except ASYNC_CONNECTION_UNAVAILABLE:
                # No async channel to a supervisor here (dag.test()'s in-process one, or none at
                # all: see compat); the sync lookup, in a worker thread, works there too.
                conn = await sync_to_async(self.get_connection)(self.sms_api_conn_id)
            # Fill the base class's cached_property so sync code never fetches it again.
            settings = self.__dict__["settings"] = self.settings_from_connection(conn)
        return settings

    async def get_async_conn(self) -> httpx.AsyncClient:
        """The hook's client (Basic auth, TLS verification from the connection)."""
        if self._client is None:
            settings = await self.get_settings()
            self._client = httpx.AsyncClient(
                auth=httpx.BasicAuth(settings.key_id, settings.secret),
                headers={"Accept": "application/json", "User-Agent": self.user_agent},
                verify=self._ssl_context(settings.verify),
                timeout=httpx.Timeout(
                    settings.timeout, connect=min(DEFAULT_CONNECT_TIMEOUT, settings.timeout)
                ),
                limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
                follow_redirects=False,
                # SSL_CERT_FILE / proxies from the environment must not override the connection.
                trust_env=False,
            )
        return self._client

    async def close(self) -> None:
        """Close the client (the hook stays usable: a new client is made on demand)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> SmsApiAsyncHook:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- endpoints -------------------------------------------------------------------------

    async def send_sms(
        self, number: str, text: str, sender: str | None = None, callback_url: str | None = None
    ) -> r.SmsResult:
        """Send ``text`` to ``number``; never resent after a lost answer (``DeliveryUnknownError``)."""
        return await self.run(endpoints.send_sms(number, text, sender, callback_url))

    async def hlr_lookup(self, number: str) -> r.HlrResult:
        """Network (MCC/MNC), country and reachability of a mobile number."""
        return await self.run(endpoints.hlr_lookup(number))

    async def fraud_check(self, number: str) -> r.FraudCheckResult:
        """Whether a number is on fraud/suspicious lists and has a mobile prefix."""
        return await self.run(endpoints.fraud_check(number))

    async def flash_call(
        self,
        number: str,
        sender: str | None = None,
        code: str | None = None,
        callback_url: str | None = None,
    ) -> r.FlashCallResult:
        """Place a flash call whose caller id ends with ``code`` (4-6 digits)."""
        return await self.run(endpoints.flash_call(number, sender, code, callback_url))

    async def reserve_incoming_call(
        self,
        number: str,
        callback_url: str | None = None,
        ivr_confirmation: bool | None = None,
        ivr_message: str | None = None,
    ) -> r.IncomingCallReservation:
        """Reserve a DID number that the user of ``number`` must call to be verified."""
        return await self.run(
            endpoints.reserve_incoming_call(number, callback_url, ivr_confirmation, ivr_message)
        )

    async def get_incoming_call(self, request_id: str) -> r.IncomingCallInfo:
        """Status of an incoming-call reservation: PENDING, DELIVERED or EXPIRED (404 once gone)."""
        return await self.run(endpoints.get_incoming_call(request_id))

    async def pin_to_speech_call(
        self,
        number: str,
        code: str,
        sender: str | None = None,
        language: str | None = None,
        callback_url: str | None = None,
    ) -> r.CallResult:
        """Call ``number`` and speak the pin ``code``."""
        return await self.run(endpoints.pin_to_speech_call(number, code, sender, language, callback_url))

    async def text_to_speech_call(
        self,
        number: str,
        text: str,
        sender: str | None = None,
        language: str | None = None,
        callback_url: str | None = None,
    ) -> r.CallResult:
        """Call ``number`` and speak ``text`` (``en`` or ``ru``)."""
        return await self.run(endpoints.text_to_speech_call(number, text, sender, language, callback_url))

    async def notify_verified(self, request_id: str) -> r.NotifyResult:
        """Tell the API the user of ``request_id`` is verified (ends a flash call)."""
        return await self.run(endpoints.notify_verified(request_id))

    async def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with a request that costs nothing (status of an unknown request)."""
        try:
            await self.get_incoming_call(self.connection_probe_id())
        except SmsApiError as exc:
            return self.connection_test_result(exc)
        return self.connection_test_result(None)

    # --- transport -------------------------------------------------------------------------

    async def run(self, request: ApiRequest) -> Any:
        """Send an :class:`ApiRequest`, paced and retried, and return its parsed result."""
        settings = await self.get_settings()
        request = with_defaults(
            request, sender=settings.default_sender, callback_url=settings.default_callback_url
        )
        retrying = tenacity.AsyncRetrying(**retry_arguments(request, settings.max_retries, self.log))
        return await retrying(self._send_once, request)

    async def _send_once(self, request: ApiRequest) -> Any:
        settings = await self.get_settings()
        client = await self.get_async_conn()
        masked = self.masked_number(request)
        started_at = await self.limiter.acquire_async()
        try:
            response = await client.request(request.method, settings.url(request.path), json=request.body)
        except httpx.TransportError as exc:
            raise self._transport_error(request, exc, masked) from None
        return self.parse_answer(request, response.status_code, response.content, masked, started_at)

    def _ssl_context(self, verify: bool | str) -> ssl.SSLContext | bool:
        """``True`` → the system trust store, ``False`` → no verification, a path → that CA bundle."""
        if verify is False:
            return False
        if verify is True:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            raise self.ca_bundle_error(exc) from None

    def _transport_error(
        self, request: ApiRequest, exc: httpx.TransportError, masked: str | None
    ) -> SmsApiError:
        what = type(exc).__name__
        if _caused_by_tls(exc):
            return self.tls_failure(what)
        if isinstance(exc, _NOT_CONNECTED):
            return ConnectionNotMadeError(f"Could not connect to {self.settings.api_url} ({what})")
        # Read/write timeouts, resets, protocol errors: the request may have been processed.
        return self.lost_answer(request, masked, what)


def _caused_by_tls(exc: BaseException) -> bool:
    """Whether an httpx error is a failed TLS handshake: a ``ConnectError`` wrapping an ``ssl`` error.

    A read timeout also has ``ssl`` exceptions in its chain (``SSLWantReadError``): only a
    failure while connecting is a handshake failure.
    """
    if not isinstance(exc, httpx.ConnectError):
        return False
    return any(
        isinstance(cause, ssl.SSLError)
        and not isinstance(cause, (ssl.SSLWantReadError, ssl.SSLWantWriteError))
        for cause in exception_chain(exc)
    )


__all__ = ["SmsApiAsyncHook"]
