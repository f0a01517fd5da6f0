"""Webhook receiver: delivery receipts and inbound SMS become Airflow Asset events.

:class:`SmsApiWebhookPlugin` mounts a small FastAPI app in the Airflow API server under
``/sms-api``::

    POST /sms-api/webhooks/{secret}/delivery-receipts   -> Asset sms-api://delivery-receipts
    POST /sms-api/webhooks/{secret}/inbound-sms         -> Asset sms-api://inbound-sms

Airflow applies no authentication to plugin apps and the API signs nothing, so the URL
carries a secret, Airflow's ``[sms_api] webhook_secret``. Answers, in the order checked:

- 404 ``{"detail": "Not Found"}`` -- no usable secret configured (see
  :func:`~airflow_provider_sms.config.check_webhook_secret`), or a wrong secret: the same
  body as for any unknown path, so a caller learns nothing;
- 413 -- body over 64 KiB (announced by Content-Length or found while reading);
- 400 -- body is not JSON (UTF-8 only); 422 -- JSON that is not a valid receipt / inbound SMS,
  or that Airflow could store but not give back (a lone surrogate or a NUL in a string, an
  integer beyond 64 bits, a timestamp out of range). A well-behaved sender does not retry a
  4xx: those payloads can never be stored;
- 503 -- the event could not be stored (database down or locked): the sender retries;
- 200 ``{"status": "stored"}`` once the Asset event is committed (with ``"conflict": true`` when
  its request id was stored before for another number: logged as a warning), or
  ``{"status": "duplicate"}`` for a repeat of an event already stored (same ``messageId``, or
  same ``requestId`` + status + number).

Logs name request and message ids, statuses and masked numbers; never message texts; and the
access log never shows the secret (:class:`SecretRedactingApp`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import Asset
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_sms import config
from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.responses import parse_delivery_receipt, parse_inbound_sms
from airflow_provider_sms.api.results import DeliveryReceipt, InboundSms
from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.exceptions import EventNotStoredError, SmsApiConfigError
from airflow_provider_sms.plugins.dashboard import DASHBOARD_APP, DASHBOARD_VIEW
from airflow_provider_sms.plugins.redaction import SecretRedactingApp
from airflow_provider_sms.plugins.store import EventKey, MetadataEventStore, SaveOutcome

log = logging.getLogger(__name__)

URL_PREFIX = "/sms-api"
MAX_BODY_BYTES = 64 * 1024
MIN_SECRET_LENGTH = config.MIN_WEBHOOK_SECRET_LENGTH
SECRET_CACHE_SECONDS = 10.0
_IN_API_SERVER_MODULE = "airflow.api_fastapi.app"  # imported by the API server, which loads plugins from it

_NOT_FOUND = {"detail": "Not Found"}


class EventStore(Protocol):
    """Where accepted events go (the metadata database in production)."""

    def save(self, asset: Asset, key: EventKey, payload: dict[str, Any]) -> SaveOutcome: ...


@dataclass(frozen=True)
class _Kind:
    """One webhook endpoint: its asset, validator, event key and log line."""

    path: str
    asset: Asset
    parse: Callable[[Mapping[str, Any]], Any]
    key: Callable[[Any], EventKey]
    describe: Callable[[Any], str]


def _receipt_key(r: DeliveryReceipt) -> EventKey:
    return EventKey(f"receipt:{r.request_id}:{r.status}", request_id=r.request_id, number=r.number)


def _describe_receipt(r: DeliveryReceipt) -> str:
    return f"delivery receipt {r.status} of request {r.request_id} ({mask_number(r.number)})"


def _inbound_key(m: InboundSms) -> EventKey:
    return EventKey(f"inbound:{m.message_id}")


def _describe_inbound(m: InboundSms) -> str:
    return (
        f"inbound SMS {m.message_id} from {mask_number(m.from_number)} to {mask_number(m.to_number)} "
        f"({len(m.text)} characters)"
    )


RECEIPTS = _Kind(
    "delivery-receipts", DELIVERY_RECEIPTS, parse_delivery_receipt, _receipt_key, _describe_receipt
)
INBOUND = _Kind("inbound-sms", INBOUND_SMS, parse_inbound_sms, _inbound_key, _describe_inbound)


class SecretSource:
    """The configured secret, re-read at most every ``ttl`` seconds (rotation without restart).

    :param read: returns the secret ("" when none is configured).
    :param ttl: seconds a value is reused.
    """

    def __init__(self, read: Callable[[], str] = config.webhook_secret, ttl: float = SECRET_CACHE_SECONDS):
        self._read = read
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: bytes | None = None
        self._expires = 0.0
        self._warned: str | None = None

    def current(self) -> bytes | None:
        """The secret as bytes, or ``None`` when unset or unusable (then everything is refused;
        the first read logs why: see :func:`~airflow_provider_sms.config.check_webhook_secret`)."""
        now = time.monotonic()
        with self._lock:
            if now >= self._expires:
                self._value = self._load()
                self._expires = now + self._ttl
            return self._value

    def _load(self) -> bytes | None:
        try:
            secret = self._read()
        except Exception:
            self._warn(
                "Cannot read [sms_api] webhook_secret: the SMS API webhook receiver refuses every request"
            )
            return None
        try:
            config.check_webhook_secret(secret)
        except SmsApiConfigError as exc:
            self._warn(str(exc))
            return None
        self._warned = None
        return secret.encode("utf-8")

    def _warn(self, problem: str) -> None:
        """Log ``problem`` once, and again only after it changed (a re-read every ``ttl`` seconds)."""
        if problem != self._warned:
            self._warned = problem
            log.warning("%s", problem)

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison of the URL's secret with the configured one."""
        expected = self.current()
        if expected is None:
            return False
        # Digests of equal length: compare_digest's time then says nothing of the secret's length.
        given = hashlib.sha256(candidate.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(given, hashlib.sha256(expected).digest())


class _Rejected(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise _Rejected(400, "invalid Content-Length") from None
        if size > limit:
            raise _Rejected(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _Rejected(413, f"body larger than {limit} bytes")
    return bytes(body)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise ValueError("number out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _validate(kind: _Kind, body: bytes) -> tuple[dict[str, Any], Any]:
    # Python's json reads NaN, Infinity and 1e400 (not JSON: unstorable, and int() of them
    # raises OverflowError, a 5xx the sender would retry forever); deep nesting raises
    # RecursionError; json.loads(bytes) would also read UTF-16 and let the UTF-8 encoding of a
    # lone surrogate through ("surrogatepass"), so the body is decoded strictly first (JSON is
    # UTF-8, RFC 8259). All are malformed bodies: 400.
    try:
        text = body.decode("utf-8-sig")
        data = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise _Rejected(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise _Rejected(422, "body is not a JSON object")
    try:
        parsed = kind.parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        # The parsers' messages name fields and types, never values that could be numbers or texts.
        raise _Rejected(422, f"invalid {kind.path} payload: {str(exc)[:200]}") from None
    return data, parsed


def create_app(
    *,
    secrets: SecretSource | None = None,
    store: EventStore | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """Build the webhook app (the plugin mounts one; tests build their own).

    :param secrets: where the expected secret comes from (default: Airflow configuration).
    :param store: where events go (default: Airflow's metadata database).
    :param max_body_bytes: largest accepted body.
    """
    secret_source = secrets or SecretSource()
    event_store: EventStore = store or MetadataEventStore()
    app = FastAPI(
        title="SMS API webhooks",
        description="Delivery receipts and inbound SMS of the SMS & Voice API, stored as Asset events.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    async def handle(kind: _Kind, secret: str, request: Request) -> JSONResponse:
        if not secret_source.matches(secret):
            return JSONResponse(_NOT_FOUND, status_code=404)
        try:
            body = await _read_body(request, max_body_bytes)
            payload, parsed = _validate(kind, body)
        except _Rejected as exc:
            log.warning("Refused a webhook to %s: HTTP %d, %s", kind.path, exc.status, exc.detail)
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        what = kind.describe(parsed)
        try:
            outcome = await run_in_threadpool(event_store.save, kind.asset, kind.key(parsed), payload)
        except Exception as exc:
            log.error("Could not store %s (%s); answered 503 so the sender retries", what, _brief(exc))
            return JSONResponse({"detail": "event not stored, retry later"}, status_code=503)
        if outcome.duplicate:
            log.info("Acknowledged a repeat of %s (already stored)", what)
            return JSONResponse({"status": "duplicate"})
        if outcome.conflict is not None:
            earlier = outcome.conflict
            log.warning(
                "Stored %s as asset event %s, but CONFLICT: this request id was stored before for "
                "another number (%s, asset event %s); the API has reused a request id, so receipts "
                "keyed by request id alone mix two messages (see docs/webhooks.md)",
                what,
                outcome.asset_event_id,
                mask_number(earlier.number) if earlier.number else "number unknown",
                earlier.asset_event_id,
            )
            return JSONResponse({"status": "stored", "conflict": True})
        log.info("Stored %s as asset event %s", what, outcome.asset_event_id)
        return JSONResponse({"status": "stored"})

    @app.post("/webhooks/{secret}/delivery-receipts")
    async def delivery_receipts(secret: str, request: Request) -> JSONResponse:
        """A delivery receipt (callback) of an SMS or call."""
        return await handle(RECEIPTS, secret, request)

    @app.post("/webhooks/{secret}/inbound-sms")
    async def inbound_sms(secret: str, request: Request) -> JSONResponse:
        """An inbound SMS to a rented number."""
        return await handle(INBOUND, secret, request)

    return app


def _brief(exc: BaseException) -> str:
    # SQLAlchemy errors print their bound parameters (the payload: numbers, texts): log the
    # driver's own message instead, which names the problem ("database is locked") only.
    if isinstance(exc, EventNotStoredError):
        return str(exc)
    orig = getattr(exc, "orig", None)
    if orig is not None:
        return f"{type(exc).__name__}: {type(orig).__name__}: {str(orig)[:200]}"
    return type(exc).__name__


secrets = SecretSource()
app = create_app(secrets=secrets)


class SmsApiWebhookPlugin(AirflowPlugin):
    """Mounts the SMS API webhook receiver in the Airflow API server under ``/sms-api``, and the
    "SMS & Voice" page (:mod:`~airflow_provider_sms.plugins.dashboard`) under ``/sms-api/dashboard``."""

    name = "sms_api"
    fastapi_apps = [
        DASHBOARD_APP,  # first: the webhook app's /sms-api prefix would also take /sms-api/dashboard
        {"app": SecretRedactingApp(app), "url_prefix": URL_PREFIX, "name": "SMS API webhooks"},
    ]
    external_views = [DASHBOARD_VIEW]

    @classmethod
    def on_load(cls, *args: Any, **kwargs: Any) -> None:
        """In the API server, read the secret now, so that its log says at start-up why every
        webhook request would be refused (not set, too short, characters a URL path loses).

        Every component loads plugins (task runners too, for macros): only the API server, the
        one that serves the routes, reads the secret.
        """
        if _IN_API_SERVER_MODULE in sys.modules:
            secrets.current()
