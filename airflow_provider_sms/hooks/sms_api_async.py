"""SmsApiAsyncHook: the SMS & Voice API over ``httpx.AsyncClient``, for triggers and async notifiers.

It differs from :class:`~airflow_provider_sms.hooks.sms_api.SmsApiHook` only in how a request
travels: the same builders (:mod:`airflow_provider_sms.api.endpoints`) make each request, the
same parser turns each answer into a result or an error, the same retry policy
(:func:`~airflow_provider_sms.hooks.retrying.retry_arguments`) decides what may be sent again,
and the same per-account limiter paces it (without blocking the event loop).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity
from asgiref.sync import sync_to_async

from airflow_provider_sms.api.endpoints import ApiRequest, with_defaults
from airflow_provider_sms.api.settings import DEFAULT_CONNECT_TIMEOUT, ConnectionSettings
from airflow_provider_sms.compat import ASYNC_CONNECTION_UNAVAILABLE
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.base import (
    MAX_IN_FLIGHT,
    SmsApiHookBase,
    certificate_refused,
    failure_cause,
)
from airflow_provider_sms.hooks.bodies import (
    MAX_ANSWER_BYTES,
    READ_CHUNK,
    REQUEST_HEADERS,
    AnswerTooLargeError,
    AnswerUndecodableError,
    BoundedBody,
    declared_length,
)
from airflow_provider_sms.hooks.retrying import retry_arguments

T = TypeVar("T")

POOL_SIZE = MAX_IN_FLIGHT  # kept for importers; the pool opens connections on demand

Answer = tuple[int, httpx.Headers, bytes]

# httpcore's trace events when a request starts to be written: from then on it may have left.
_SENDING = frozenset({"http11.send_request_headers.started", "http2.send_request_headers.started"})


class _Progress:
    """Whether the request's bytes may have left (httpcore's ``trace`` extension says when)."""

    def __init__(self) -> None:
        self.sent = False

    async def trace(self, name: str, info: dict[str, Any]) -> None:
        if name in _SENDING:
            self.sent = True


class _CertificateRefusedError(Exception):
    """The server's certificate was refused by the client's TLS context (nothing was sent)."""


class _Client:
    """An ``httpx.AsyncClient`` and how many requests are using it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.in_flight = 0
        self.retired = False


class SmsApiAsyncHook(SmsApiHookBase):
    """Async twin of :class:`~airflow_provider_sms.hooks.sms_api.SmsApiHook` (same methods, awaited).

    The connection is fetched the async way on first use; one ``httpx.AsyncClient`` serves
    every call of the hook until :meth:`close` (or the end of ``async with``). When the
    server's certificate is refused, the client is rebuilt once from the ``verify`` extra
    (the CA file may have been replaced since) before the error is raised.

    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    def __init__(self, sms_api_conn_id: str = SmsApiHookBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(sms_api_conn_id=sms_api_conn_id, **kwargs)
        self._current: _Client | None = None
        self._retired: list[_Client] = []

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
        return (await self._client()).client

    async def _client(self) -> _Client:
        if self._current is None:
            settings = await self.get_settings()
            context = self.ca_context(settings.verify)  # a CA bundle that cannot be used raises here
            self._current = _Client(
                httpx.AsyncClient(
                    auth=httpx.BasicAuth(settings.key_id, settings.secret),
                    headers={**REQUEST_HEADERS, "User-Agent": self.user_agent},
                    verify=context if context is not None else False,
                    timeout=httpx.Timeout(
                        settings.timeout, connect=min(DEFAULT_CONNECT_TIMEOUT, settings.timeout)
                    ),
                    # Up to MAX_IN_FLIGHT connections, opened only as requests need them.
                    limits=httpx.Limits(
                        max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT
                    ),
                    follow_redirects=False,
                    # SSL_CERT_FILE / proxies from the environment must not override the connection.
                    trust_env=False,
                )
            )
        return self._current

    async def _retire(self, used: _Client) -> None:
        """Build a new client on next use; close ``used`` once no request uses it any more."""
        if used is self._current:
            self._current = None
            used.retired = True
            self._retired.append(used)
        if used.retired and used.in_flight == 0 and used in self._retired:
            self._retired.remove(used)
            await used.client.aclose()

    async def close(self) -> None:
        """Close the client (the hook stays usable: a new client is made on demand)."""
        clients = [*self._retired, *([self._current] if self._current else [])]
        self._current, self._retired = None, []
        for client in clients:
            await client.client.aclose()

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
        await self.get_settings()
        masked = self.masked_number(request)
        client = await self._client()
        started_at = await self.limiter.acquire_async()
        try:
            status, headers, body = await self._exchange(client, request, masked)
        except _CertificateRefusedError:
            # The CA file (or the system's store) may have changed since the client was made:
            # make it again from the connection, once. Nothing was sent: trying again is safe.
            await self._retire(client)
            client = await self._client()
            try:
                status, headers, body = await self._exchange(client, request, masked)
            except _CertificateRefusedError as again:
                raise self.tls_failure(str(again)) from None
        return self.parse_answer(request, status, body, masked, started_at, headers)

    async def _exchange(self, client: _Client, request: ApiRequest[Any], masked: str | None) -> Answer:
        """One request within the connection's ``timeout``, from connecting to the last byte."""
        timeout = self.settings.timeout
        progress = _Progress()
        client.in_flight += 1
        try:
            return await asyncio.wait_for(self._request(client.client, request, masked, progress), timeout)
        except asyncio.TimeoutError:
            if not progress.sent:
                raise self.not_connected(f"not connected within the {timeout:g} s timeout") from None
            raise self.lost_answer(request, masked, self.deadline_cause()) from None
        except httpx.TransportError as exc:
            if not progress.sent:
                # Refused, DNS, connect or pool timeout, a TLS handshake that failed or was cut.
                if certificate_refused(exc):
                    raise _CertificateRefusedError(failure_cause(exc)) from None
                raise self.not_connected(failure_cause(exc)) from None
            # Read/write timeouts, resets, protocol errors: the request may have been processed.
            cause = self.deadline_cause() if isinstance(exc, httpx.TimeoutException) else failure_cause(exc)
            raise self.lost_answer(request, masked, cause) from None
        finally:
            client.in_flight -= 1
            if client.retired:
                await self._retire(client)

    async def _request(
        self, client: httpx.AsyncClient, request: ApiRequest[Any], masked: str | None, progress: _Progress
    ) -> Answer:
        url = self.settings.url(request.path)
        extensions = {"trace": progress.trace}
        async with client.stream(request.method, url, json=request.body, extensions=extensions) as response:
            status, headers = response.status_code, response.headers
            if 300 <= status < 400:
                return status, headers, b""  # a redirect's body is not read
            length = declared_length(headers)
            body: BoundedBody | None = None
            try:
                if length is not None and length > MAX_ANSWER_BYTES:
                    raise AnswerTooLargeError(f"it declares {length:,} bytes")
                body = BoundedBody(headers.get("content-encoding"))
                async for chunk in response.aiter_raw(READ_CHUNK):
                    body.feed(chunk)
            except (AnswerTooLargeError, AnswerUndecodableError) as exc:
                if not 200 <= status < 300:  # its status decides the error: keep the first bytes
                    return status, headers, body.body() if body is not None else b""
                raise self.unusable_answer(request, masked, status, str(exc)) from None
            return status, headers, body.body()


__all__ = ["SmsApiAsyncHook"]
