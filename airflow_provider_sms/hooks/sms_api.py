"""SmsApiHook: the SMS & Voice API over ``requests``, paced and retried.

The hook is a thin transport: :mod:`airflow_provider_sms.api` builds each request and parses
each answer; this module only sends, paces (one limiter per account and process) and retries.
One pooled :class:`requests.Session` per hook instance serves every thread that uses it.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from typing import Any, TypeVar

import requests
import tenacity
from requests.auth import _basic_auth_str
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import HTTPError as Urllib3Error

from airflow_provider_sms.api.endpoints import ApiRequest, with_defaults
from airflow_provider_sms.api.settings import DEFAULT_CONNECT_TIMEOUT
from airflow_provider_sms.exceptions import DeliveryUnknownError, SmsApiConfigError, SmsApiError
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
from airflow_provider_sms.hooks.deadline import Deadline, DeadlineAdapter, watching
from airflow_provider_sms.hooks.retrying import is_retryable, retry_arguments

T = TypeVar("T")

POOL_SIZE = MAX_IN_FLIGHT  # kept for importers; the pool opens connections on demand


class SmsApiHook(SmsApiHookBase):
    """Interact with the SMS & Voice API: SMS, HLR look-up, fraud check and voice calls.

    Every endpoint method (``send_sms``, ``hlr_lookup``, ``fraud_check``, ``flash_call``,
    ``reserve_incoming_call``, ``get_incoming_call``, ``pin_to_speech_call``,
    ``text_to_speech_call``, ``notify_verified``: see :class:`SmsApiHookBase`) normalises the
    number to E.164 first (an impossible number raises
    :class:`~airflow_provider_sms.exceptions.InvalidNumberError` before any paid request) and
    returns a small frozen result; :meth:`run` sends any request of
    :mod:`airflow_provider_sms.api.endpoints`. Safe to share between threads.

    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    def __init__(self, sms_api_conn_id: str = SmsApiHookBase.default_conn_name, **kwargs: Any) -> None:
        super().__init__(sms_api_conn_id=sms_api_conn_id, **kwargs)
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._ca_seen: tuple[int, ...] | None = None  # the CA bundle file last found usable
        self._environment: tuple[dict[str, str], bool | str] = ({}, True)  # proxies, verify
        self._headers: dict[str, str] = {}  # every request's: the session's, and Basic auth

    def get_conn(self) -> requests.Session:
        """The pooled session (Basic auth set; ``verify`` is passed per request).

        Made on first use, once even when several threads ask at the same time. A CA bundle
        named by the ``verify`` extra is checked first: one that cannot be used raises
        :class:`~airflow_provider_sms.exceptions.SmsApiConfigError`.
        """
        session = self._session
        if session is None:
            with self._session_lock:
                if self._session is None:
                    self._check_ca_bundle()
                    self._session = self._new_session()
                session = self._session
        return session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.settings.key_id, self.settings.secret)
        session.headers.update({**REQUEST_HEADERS, "User-Agent": self.user_agent})
        # Up to MAX_IN_FLIGHT connections kept for reuse, opened only as threads need them.
        adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=MAX_IN_FLIGHT, max_retries=0)
        session.mount("https://", adapter)
        self._environment = environment_settings(session, self.settings.api_url, self.settings.verify)
        self._headers = {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in {**session.headers, "Authorization": _basic_auth_str(*session.auth)}.items()
        }
        # The environment was read once, just now: requests would read it again for every
        # request (proxies, NO_PROXY, REQUESTS_CA_BUNDLE: a scan of os.environ each time, a
        # third of a request's CPU). The session's auth is set, so no .netrc is consulted.
        session.trust_env = False
        return session

    def _check_ca_bundle(self) -> None:
        """Read the ``verify`` extra's CA bundle again whenever its file changed.

        requests reads the file for each new connection, so a replaced CA is picked up; a file
        replaced by one that is not a certificate must fail as a configuration error before
        anything is sent, not as a lost answer.
        """
        verify = self.settings.verify
        if not isinstance(verify, str):
            return
        try:
            info = os.stat(verify)
        except OSError as exc:
            raise self.ca_bundle_error(exc) from None
        seen = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if seen != self._ca_seen:
            self.ca_context(verify)
            self._ca_seen = seen

    def close(self) -> None:
        """Close the pooled connections (the hook stays usable: a new session is made on demand)."""
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with a request that costs nothing (status of an unknown request)."""
        try:
            self.get_incoming_call(self.connection_probe_id())
        except SmsApiError as exc:
            return self.connection_test_result(exc)
        return self.connection_test_result(None)

    # --- transport -------------------------------------------------------------------------

    def run(self, request: ApiRequest[T]) -> T:
        """Send an :class:`ApiRequest`, paced and retried, and return its parsed result.

        :param request: built by :mod:`airflow_provider_sms.api.endpoints`, e.g.
            ``hook.run(endpoints.send_sms(number, text))`` returns an ``SmsResult``.
        """
        settings = self.settings
        request = with_defaults(
            request, sender=settings.default_sender, callback_url=settings.default_callback_url
        )
        # The first attempt outside tenacity: most requests succeed at once, and a Retrying
        # per request (its call state, a cycle for the garbage collector) was a twentieth of a
        # request's CPU at 300/s. A retryable failure is handed to tenacity as its first
        # attempt, so pauses, logs and the attempt count are the same as before.
        try:
            return self._send_once(request)
        except Exception as exc:
            if settings.max_retries < 1 or not is_retryable(request, exc):
                raise
            failed = [exc]

        def attempt(request: ApiRequest[T]) -> T:
            if failed:
                raise failed.pop()
            return self._send_once(request)

        retrying = tenacity.Retrying(**retry_arguments(request, settings.max_retries, self.log))
        return retrying(attempt, request)

    def _send_once(self, request: ApiRequest[T]) -> T:
        """One attempt: within the connection's ``timeout`` from connecting to the last byte."""
        settings = self.settings
        masked = self.masked_number(request)
        session = self.get_conn()
        self._check_ca_bundle()
        proxies, verify = self._environment
        started_at = self.limiter.acquire()
        with watching(Deadline(settings.timeout)) as deadline:
            try:
                prepared = self._prepare(request)
                # Straight to the adapter: Session.send would only add cookie handling and
                # redirects, which the API does not use (a redirect is refused: _read_body).
                response = session.get_adapter(prepared.url or "").send(
                    prepared,
                    timeout=(min(DEFAULT_CONNECT_TIMEOUT, settings.timeout), settings.timeout),
                    verify=verify,  # the environment's, read once per session
                    proxies=proxies,
                    cert=None,
                    stream=True,
                )
            except (requests.exceptions.RequestException, OSError) as exc:
                raise self._transport_error(request, exc, masked, deadline) from None
            try:
                status, headers = response.status_code, response.headers
                body = self._read_body(request, response, masked, deadline)
            finally:
                response.close()
            if deadline.expired:
                # The socket was shut under http.client, which may take what it had read by
                # then (half a header block) for a whole answer.
                raise self.lost_answer(request, masked, self.deadline_cause())
        return self.parse_answer(request, status, body, masked, started_at, headers)

    def _prepare(self, request: ApiRequest[Any]) -> requests.PreparedRequest:
        """The request as ``Session.request`` would prepare it (the session's headers, Basic
        auth, a JSON body), from parts worked out once per session: preparing it from scratch
        (headers merged, auth encoded, the URL parsed and quoted) was a sixth of its CPU."""
        prepared = requests.PreparedRequest()
        prepared.method = request.method.upper()
        prepared.url = _prepared_url(self.settings.url(request.path))
        headers = CaseInsensitiveDict(self._headers)
        body: bytes | None = None
        if request.body is not None:
            body = json.dumps(request.body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(len(body))
        elif prepared.method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"
        prepared.headers = headers
        prepared.body = body
        return prepared

    def _read_body(
        self, request: ApiRequest[Any], response: requests.Response, masked: str | None, deadline: Deadline
    ) -> bytes:
        """The body, read in chunks up to :data:`MAX_ANSWER_BYTES`.

        A redirect's body is not read. Past the cap, a 2xx is an unusable answer; any other
        status keeps its first bytes (its status decides the error).
        """
        status = response.status_code
        if 300 <= status < 400:
            return b""
        length = declared_length(response.headers)
        body: BoundedBody | None = None
        try:
            if length is not None and length > MAX_ANSWER_BYTES:
                raise AnswerTooLargeError(f"it declares {length:,} bytes")
            body = BoundedBody(response.headers.get("content-encoding"))
            for chunk in response.raw.stream(READ_CHUNK, decode_content=False):
                body.feed(chunk)
        except (AnswerTooLargeError, AnswerUndecodableError) as exc:
            if not 200 <= status < 300:
                return body.body() if body is not None else b""
            raise self.unusable_answer(request, masked, status, str(exc)) from None
        except (Urllib3Error, requests.exceptions.RequestException, OSError) as exc:
            raise self._transport_error(request, exc, masked, deadline) from None
        return body.body()

    def _transport_error(
        self, request: ApiRequest[Any], exc: BaseException, masked: str | None, deadline: Deadline
    ) -> SmsApiError:
        cause = failure_cause(exc)
        if not deadline.sending:
            # Nothing of the request was written: refused, DNS, connect timeout, a TLS
            # handshake that failed or was cut, the deadline while connecting.
            if certificate_refused(exc):
                return self.tls_failure(cause)
            if isinstance(self.settings.verify, str):
                self._ca_seen = None
                try:
                    self._check_ca_bundle()  # was the CA bundle what failed?
                except SmsApiConfigError as bundle_error:
                    return bundle_error
            if deadline.expired:
                return self.not_connected(f"not connected within the {self.settings.timeout:g} s timeout")
            return self.not_connected(cause)
        # Read timeouts, resets, broken or truncated answers: the request may have been processed.
        # A read timeout is the deadline too: each read may last the whole timeout, no more.
        timed_out = deadline.expired or isinstance(exc, requests.exceptions.Timeout)
        return self.lost_answer(request, masked, self.deadline_cause() if timed_out else cause)


@functools.lru_cache(maxsize=1024)
def _prepared_url(url: str) -> str:
    """``url`` as requests sends it (host in IDNA, path quoted); the API's few paths repeat."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    return prepared.url or url


def environment_settings(
    session: requests.Session, url: str, verify: bool | str
) -> tuple[dict[str, str], bool | str]:
    """The proxies and ``verify`` that requests would take from the environment for ``url``.

    What ``Session.request`` works out for every request while ``trust_env`` is on: the
    ``*_proxy`` / ``NO_PROXY`` variables for the API's host, and ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` in place of ``verify=True``; a ``verify`` path or ``False`` from the
    connection wins over the environment, as before.
    """
    merged = session.merge_environment_settings(url, {}, None, verify, None)
    chosen = merged["verify"]
    return dict(merged["proxies"] or {}), verify if chosen is None else chosen


__all__ = ["DeliveryUnknownError", "SmsApiHook"]
