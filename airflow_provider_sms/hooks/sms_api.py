"""SmsApiHook: the SMS & Voice API over ``requests``, paced and retried.

The hook is a thin transport: :mod:`airflow_provider_sms.api` builds each request and parses
each answer; this module only sends, paces (one limiter per account and process) and retries.
One pooled :class:`requests.Session` per hook instance serves every thread that uses it.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api import results as r
from airflow_provider_sms.api.endpoints import ApiRequest, with_defaults
from airflow_provider_sms.api.settings import DEFAULT_CONNECT_TIMEOUT
from airflow_provider_sms.exceptions import (
    ConnectionNotMadeError,
    DeliveryUnknownError,
    SmsApiError,
)
from airflow_provider_sms.hooks.base import SmsApiHookBase, exception_chain
from airflow_provider_sms.hooks.retrying import retry_arguments

POOL_SIZE = 32  # enough for the operators' worker threads; more threads simply wait for a socket


class SmsApiHook(SmsApiHookBase):
    """Interact with the SMS & Voice API: SMS, HLR look-up, fraud check and voice calls.

    Every method normalises the number to E.164 first (an impossible number raises
    :class:`~airflow_provider_sms.exceptions.InvalidNumberError` before any paid request) and
    returns a small frozen result. Safe to share between threads.

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

    # --- endpoints -------------------------------------------------------------------------

    def send_sms(
        self, number: str, text: str, sender: str | None = None, callback_url: str | None = None
    ) -> r.SmsResult:
        """Send ``text`` to ``number``; never resent after a lost answer (:class:`DeliveryUnknownError`)."""
        return self.run(endpoints.send_sms(number, text, sender, callback_url))

    def hlr_lookup(self, number: str) -> r.HlrResult:
        """Network (MCC/MNC), country and reachability of a mobile number."""
        return self.run(endpoints.hlr_lookup(number))

    def fraud_check(self, number: str) -> r.FraudCheckResult:
        """Whether a number is on fraud/suspicious lists and has a mobile prefix."""
        return self.run(endpoints.fraud_check(number))

    def flash_call(
        self,
        number: str,
        sender: str | None = None,
        code: str | None = None,
        callback_url: str | None = None,
    ) -> r.FlashCallResult:
        """Place a flash call whose caller id ends with ``code`` (4-6 digits)."""
        return self.run(endpoints.flash_call(number, sender, code, callback_url))

    def reserve_incoming_call(
        self,
        number: str,
        callback_url: str | None = None,
        ivr_confirmation: bool | None = None,
        ivr_message: str | None = None,
    ) -> r.IncomingCallReservation:
        """Reserve a DID number that the user of ``number`` must call to be verified."""
        return self.run(endpoints.reserve_incoming_call(number, callback_url, ivr_confirmation, ivr_message))

    def get_incoming_call(self, request_id: str) -> r.IncomingCallInfo:
        """Status of an incoming-call reservation: PENDING, DELIVERED or EXPIRED (404 once gone)."""
        return self.run(endpoints.get_incoming_call(request_id))

    def pin_to_speech_call(
        self,
        number: str,
        code: str,
        sender: str | None = None,
        language: str | None = None,
        callback_url: str | None = None,
    ) -> r.CallResult:
        """Call ``number`` and speak the pin ``code``."""
        return self.run(endpoints.pin_to_speech_call(number, code, sender, language, callback_url))

    def text_to_speech_call(
        self,
        number: str,
        text: str,
        sender: str | None = None,
        language: str | None = None,
        callback_url: str | None = None,
    ) -> r.CallResult:
        """Call ``number`` and speak ``text`` (``en`` or ``ru``)."""
        return self.run(endpoints.text_to_speech_call(number, text, sender, language, callback_url))

    def notify_verified(self, request_id: str) -> r.NotifyResult:
        """Tell the API the user of ``request_id`` is verified (ends a flash call)."""
        return self.run(endpoints.notify_verified(request_id))

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials with a request that costs nothing (status of an unknown request)."""
        try:
            self.get_incoming_call(self.connection_probe_id())
        except SmsApiError as exc:
            return self.connection_test_result(exc)
        return self.connection_test_result(None)

    # --- transport -------------------------------------------------------------------------

    def run(self, request: ApiRequest) -> Any:
        """Send an :class:`ApiRequest`, paced and retried, and return its parsed result."""
        settings = self.settings
        request = with_defaults(
            request, sender=settings.default_sender, callback_url=settings.default_callback_url
        )
        retrying = tenacity.Retrying(**retry_arguments(request, settings.max_retries, self.log))
        return retrying(self._send_once, request)

    def _send_once(self, request: ApiRequest) -> Any:
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
        self, request: ApiRequest, exc: requests.exceptions.RequestException, masked: str | None
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
