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
from typing import Any, TypeVar

import httpx
import tenacity
from airflow.sdk.exceptions import AirflowNotFoundException
from asgiref.sync import sync_to_async

from airflow_provider_sms.api.endpoints import ApiRequest, with_defaults
from airflow_provider_sms.api.settings import DEFAULT_CONNECT_TIMEOUT, ConnectionSettings
from airflow_provider_sms.exceptions import ConnectionNotMadeError, SmsApiError
from airflow_provider_sms.hooks.base import SmsApiHookBase, exception_chain
from airflow_provider_sms.hooks.retrying import retry_arguments

T = TypeVar("T")

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
            except AirflowNotFoundException:
                # dag.test() runs triggers with an in-process supervisor that has no async
                # channel (Airflow 3.3), so backends behind it answer "not found" to the async
                # lookup; the sync lookup, in a worker thread, works there and in a triggerer.
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

    async def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with a request that costs nothing (status of an unknown request)."""
        try:
            await self.get_incoming_call(self.connection_probe_id())
        except SmsApiError as exc:
            return self.connection_test_result(exc)
        return self.connection_test_result(None)

    # --- transport -------------------------------------------------------------------------

    async def run(self, request: ApiRequest[T]) -> T:
        """Send an :class:`ApiRequest`, paced and retried, and return its parsed result.

        :param request: built by :mod:`airflow_provider_sms.api.endpoints`, e.g.
            ``await hook.run(endpoints.send_sms(number, text))`` returns an ``SmsResult``.
        """
        settings = await self.get_settings()
        request = with_defaults(
            request, sender=settings.default_sender, callback_url=settings.default_callback_url
        )
        retrying = tenacity.AsyncRetrying(**retry_arguments(request, settings.max_retries, self.log))
        return await retrying(self._send_once, request)

    async def _send_once(self, request: ApiRequest[T]) -> T:
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
        self, request: ApiRequest[Any], exc: httpx.TransportError, masked: str | None
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
