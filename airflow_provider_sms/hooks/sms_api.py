"""SmsApiHook: the SMS & Voice API over ``requests``, paced and retried.

The hook is a thin transport: :mod:`airflow_provider_sms.api` builds each request and parses
each answer; this module only sends, paces (one limiter per account and process) and retries.
One pooled :class:`requests.Session` per hook instance serves every thread that uses it.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any, TypeVar

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from airflow_provider_sms.api.endpoints import ApiRequest, with_defaults
from airflow_provider_sms.api.settings import DEFAULT_CONNECT_TIMEOUT
from airflow_provider_sms.exceptions import (
    ConnectionNotMadeError,
    DeliveryUnknownError,
    SmsApiError,
)
from airflow_provider_sms.hooks.base import SmsApiHookBase, exception_chain
from airflow_provider_sms.hooks.retrying import retry_arguments

T = TypeVar("T")

POOL_SIZE = 32  # enough for the operators' worker threads; more threads simply wait for a socket


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

    def get_conn(self) -> requests.Session:
        """The pooled session (Basic auth set; ``verify`` is passed per request).

        Made on first use, once even when several threads ask at the same time.
        """
        session = self._session
        if session is None:
            with self._session_lock:
                if self._session is None:
                    self._session = self._new_session()
                session = self._session
        return session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.settings.key_id, self.settings.secret)
        session.headers.update({"Accept": "application/json", "User-Agent": self.user_agent})
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=0)
        session.mount("https://", adapter)
        return session

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
        retrying = tenacity.Retrying(**retry_arguments(request, settings.max_retries, self.log))
        return retrying(self._send_once, request)

    def _send_once(self, request: ApiRequest[T]) -> T:
        settings = self.settings
        masked = self.masked_number(request)
        session = self.get_conn()
        started_at = self.limiter.acquire()
        try:
            response = session.request(
                request.method,
                settings.url(request.path),
                json=request.body,
                timeout=(min(DEFAULT_CONNECT_TIMEOUT, settings.timeout), settings.timeout),
                # Per request: with REQUESTS_CA_BUNDLE set, requests ignores Session.verify.
                verify=settings.verify,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            raise self._transport_error(request, exc, masked) from None
        except OSError as exc:
            # requests checks the CA bundle path itself, before connecting, with a bare OSError.
            if isinstance(settings.verify, str):
                raise self.ca_bundle_error(exc) from None
            raise
        return self.parse_answer(request, response.status_code, response.content, masked, started_at)

    def _transport_error(
        self, request: ApiRequest[Any], exc: requests.exceptions.RequestException, masked: str | None
    ) -> SmsApiError:
        what = type(exc).__name__
        causes = list(exception_chain(exc))
        if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes):
            return self.tls_failure(what)
        if isinstance(exc, requests.exceptions.ConnectTimeout) or any(
            isinstance(cause, _NEVER_CONNECTED) for cause in causes
        ):
            return ConnectionNotMadeError(f"Could not connect to {self.settings.api_url} ({what})")
        # Read timeouts, resets, broken or truncated answers: the request may have been processed.
        return self.lost_answer(request, masked, what)


# Failures while opening the connection, before a byte of the request left.
_NEVER_CONNECTED = (NewConnectionError, NameResolutionError, ConnectionRefusedError)


__all__ = ["DeliveryUnknownError", "SmsApiHook"]
