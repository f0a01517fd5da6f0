"""Webhook receiver: delivery receipts and inbound SMS become Airflow Asset events.

:class:`SmsApiWebhookPlugin` mounts a small FastAPI app in the Airflow API server under
``/sms-api``::

    POST /sms-api/webhooks/{secret}/delivery-receipts   -> Asset sms-api://delivery-receipts
    POST /sms-api/webhooks/{secret}/inbound-sms         -> Asset sms-api://inbound-sms

Airflow applies no authentication to plugin apps and the API signs nothing, so the URL
carries a secret, Airflow's ``[sms_api] webhook_secret``. Answers, in the order checked:

- 404 ``{"detail": "Not Found"}`` -- no secret configured (or one shorter than 16 characters),
  or a wrong secret: the same body as for any unknown path, so a caller learns nothing;
- 413 -- body over 64 KiB (announced by Content-Length or found while reading);
- 400 -- body is not JSON; 422 -- JSON that is not a valid receipt / inbound SMS. A well-behaved
  sender does not retry a 4xx: those payloads can never be stored;
- 503 -- the event could not be stored (database down or locked): the sender retries;
- 200 ``{"status": "stored"}`` once the Asset event is committed, or ``{"status": "duplicate"}``
  for a repeat of an event already stored (same ``messageId``, or same ``requestId`` + status).

Logs name request and message ids, statuses and masked numbers; never message texts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import Asset
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.responses import parse_delivery_receipt, parse_inbound_sms
from airflow_provider_sms.api.results import DeliveryReceipt, InboundSms
from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.plugins.dashboard import DASHBOARD_APP, DASHBOARD_VIEW
from airflow_provider_sms.plugins.store import EventNotStoredError, MetadataEventStore, SaveOutcome

log = logging.getLogger(__name__)

URL_PREFIX = "/sms-api"
MAX_BODY_BYTES = 64 * 1024
MIN_SECRET_LENGTH = 16
SECRET_CACHE_SECONDS = 10.0

_NOT_FOUND = {"detail": "Not Found"}


class EventStore(Protocol):
    """Where accepted events go (the metadata database in production)."""

    def save(self, asset: Asset, key: str, payload: dict[str, Any]) -> SaveOutcome: ...


@dataclass(frozen=True)
class _Kind:
    """One webhook endpoint: its asset, validator, event key and log line."""

    path: str
    asset: Asset
    parse: Callable[[Mapping[str, Any]], Any]
    key: Callable[[Any], str]
    describe: Callable[[Any], str]


def _receipt_key(r: DeliveryReceipt) -> str:
    return f"receipt:{r.request_id}:{r.status}"


def _describe_receipt(r: DeliveryReceipt) -> str:
    return f"delivery receipt {r.status} of request {r.request_id} ({mask_number(r.number)})"


def _inbound_key(m: InboundSms) -> str:
    return f"inbound:{m.message_id}"


def _describe_inbound(m: InboundSms) -> str:
    return (
        f"inbound SMS {m.message_id} from {mask_number(m.from_number)} to {mask_number(m.to_number)} "
        f"({len(m.text)} characters)"
    )


RECEIPTS = _Kind(
    "delivery-receipts", DELIVERY_RECEIPTS, parse_delivery_receipt, _receipt_key, _describe_receipt
)
INBOUND = _Kind("inbound-sms", INBOUND_SMS, parse_inbound_sms, _inbound_key, _describe_inbound)


def _configured_secret() -> str:
    from airflow.configuration import conf

    return (conf.get("sms_api", "webhook_secret", fallback="") or "").strip()


class SecretSource:
    """The configured secret, re-read at most every ``ttl`` seconds (rotation without restart).

    :param read: returns the secret ("" when none is configured).
    :param ttl: seconds a value is reused.
    """

    def __init__(self, read: Callable[[], str] = _configured_secret, ttl: float = SECRET_CACHE_SECONDS):
        self._read = read
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: bytes | None = None
        self._expires = 0.0
        self._warned = False

    def current(self) -> bytes | None:
        """The secret as bytes, or ``None`` when unset or too short (then everything is refused)."""
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
            log.warning("Cannot read [sms_api] webhook_secret: the SMS API webhooks refuse every request")
            return None
        if len(secret) < MIN_SECRET_LENGTH:
            if not self._warned:
                self._warned = True
                log.warning(
                    "[sms_api] webhook_secret is %s: the SMS API webhooks refuse every request "
                    "(set a random string of at least %d characters)",
                    "not set" if not secret else "too short",
                    MIN_SECRET_LENGTH,
                )
            return None
        self._warned = False
        return secret.encode("utf-8")

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
    # RecursionError. All are malformed bodies: 400.
    try:
        data = json.loads(body, parse_float=_finite_float, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
            log.warning("Refused a %s webhook: HTTP %d, %s", kind.path, exc.status, exc.detail)
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


_SECRET_SEGMENT = re.compile(r"(/webhooks/)[^/]+")
_SECRET_SEGMENT_BYTES = re.compile(rb"(/webhooks/)[^/]+")


class SecretRedactingApp:
    """ASGI wrapper that blanks the secret out of the request path once the app has answered.

    Airflow's access log (``http.access``) records ``scope["path"]`` after the response; the
    mounted app shares that scope, so the log reads ``/sms-api/webhooks/***/inbound-sms``
    instead of the secret, for right, wrong and unknown paths alike.

    :param app: the ASGI app to wrap.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope.get("type") == "http":
                redact_scope(scope)


def redact_scope(scope: MutableMapping[str, Any]) -> None:
    """Replace the path segment after ``/webhooks/`` with ``***`` in ``path`` and ``raw_path``."""
    if isinstance(scope.get("path"), str):
        scope["path"] = _SECRET_SEGMENT.sub(r"\1***", scope["path"], count=1)
    if isinstance(scope.get("raw_path"), bytes):
        scope["raw_path"] = _SECRET_SEGMENT_BYTES.sub(rb"\1***", scope["raw_path"], count=1)


app = create_app()


class SmsApiWebhookPlugin(AirflowPlugin):
    """Mounts the SMS API webhook receiver in the Airflow API server under ``/sms-api``, and the
    "SMS & Voice" page (:mod:`~airflow_provider_sms.plugins.dashboard`) under ``/sms-api/dashboard``."""

    name = "sms_api"
    fastapi_apps = [
        DASHBOARD_APP,  # first: the webhook app's /sms-api prefix would also take /sms-api/dashboard
        {"app": SecretRedactingApp(app), "url_prefix": URL_PREFIX, "name": "SMS API webhooks"},
    ]
    external_views = [DASHBOARD_VIEW]
