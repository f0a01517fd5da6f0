"""FastAPI application factory: the /v1 gate, error handlers and /_sandbox control routes.

Request flow for /v1 (``V1Gate``, a pure ASGI middleware so it can also abort
connections and hold or cut responses): authentication -> account state -> rate
limit -> fault decision -> latency -> route (validation, processing, ledger).
``/_sandbox/*`` bypasses the gate: no auth, no rate limit, no faults, no latency.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import re
import socket
import struct
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_sms.api import constants as c

from . import actions
from .api_routes import build_router, error_response
from .core import Core
from .faults import RESET, STALL, TRUNCATED

log = logging.getLogger(__name__)

# Ledger product of a /v1 request by method and path, for answers given by the gate.
_PRODUCTS: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/v1/sms/?"), "sms"),
    ("POST", re.compile(r"/v1/insight/hlr/?"), "hlr"),
    ("POST", re.compile(r"/v1/insight/fraudcheck/?"), "fraudcheck"),
    ("POST", re.compile(r"/v1/calls/flash/?"), "flash"),
    ("POST", re.compile(r"/v1/calls/incoming/?"), "incoming"),
    ("GET", re.compile(r"/v1/calls/incoming/[^/]+/?"), "incoming_info"),
    ("POST", re.compile(r"/v1/calls/p2s/?"), "p2s"),
    ("POST", re.compile(r"/v1/calls/t2s/?"), "t2s"),
    ("POST", re.compile(r"/v1/requests/[^/]+/?"), "notify"),
]


def product_for(method: str, path: str) -> str | None:
    for verb, pattern, product in _PRODUCTS:
        if method == verb and pattern.fullmatch(path):
            return product
    return None


def _is_v1(path: str) -> bool:
    return path == c.DEFAULT_API_PATH or path.startswith(c.DEFAULT_API_PATH + "/")


def _html_error(status: int) -> tuple[Message, Message]:
    phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error"
    body = f"<html><body><h1>{status} {phrase}</h1></body></html>".encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class V1Gate:
    def __init__(self, app: ASGIApp, core: Core) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_v1(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            if self.core.draining and message["type"] == "http.response.start":
                # Going down (Sandbox.go_down): answer, then close the connection.
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self._gate(scope, receive, tracking_send)
        except Exception:
            # Nothing may crash the server or answer non-JSON by accident.
            log.exception("sandbox gate failed for %s", scope.get("path"))
            if not started:
                response = JSONResponse({"errorCode": 500, "errorReason": "Internal error"}, 500)
                await response(scope, receive, send)

    async def _gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        core = self.core
        arrival = time.monotonic()
        headers = Headers(scope=scope)
        account = core.accounts.authenticate(headers.get("authorization"))
        error: int | None = None
        if account is None:
            error = c.ERROR_AUTHENTICATION_REQUIRED
        else:
            error = account.state_error()
            if error is None and not core.limiter.admit(account.name, arrival):
                error = c.ERROR_TOO_MANY_REQUESTS
        if error is not None or account is None:
            core.refused[error or c.ERROR_AUTHENTICATION_REQUIRED] += 1
            await asyncio.sleep(core.latency_seconds())
            response = error_response(error or c.ERROR_AUTHENTICATION_REQUIRED)
            # A 429 carries no Retry-After: the API reference documents none.
            if error == c.ERROR_AUTHENTICATION_REQUIRED:
                response.headers["WWW-Authenticate"] = 'Basic realm="sms-api"'
            await response(scope, receive, send)
            return

        fault = core.faults.decide()
        await asyncio.sleep(core.latency_seconds())
        scope.setdefault("state", {})
        scope["state"]["sandbox_account"] = account
        scope["state"]["sandbox_fault"] = fault
        if fault is None:
            await self.app(scope, receive, send)
            return

        method, path = scope["method"], scope["path"]
        if fault == RESET or fault.isdigit():
            # Before processing: nothing billed; the ledger still shows the attempt.
            core.state.record(
                account=account.name,
                method=method,
                path=path,
                product=product_for(method, path),
                http_status=None if fault == RESET else int(fault),
                outcome="FAULT",
                fault=fault,
            )
            if fault == RESET:
                await self._abort(scope, rst=True)
            else:
                for message in _html_error(int(fault)):
                    await send(message)
            return
        await self._after_processing(scope, receive, send, fault)

    async def _after_processing(self, scope: Scope, receive: Receive, send: Send, fault: str) -> None:
        """Process (and bill) the request, then stall or truncate its answer."""
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if fault == STALL:
            stopping = self.core.stopping
            try:
                if stopping is not None:
                    await asyncio.wait_for(stopping.wait(), self.core.faults.stall_seconds)
                else:
                    await asyncio.sleep(self.core.faults.stall_seconds)
            except asyncio.TimeoutError:
                pass
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
        elif fault == TRUNCATED:
            # The headers promise the full Content-Length; half the JSON arrives, then EOF.
            await send(start)
            half = body[: max(1, len(body) // 2)]
            await send({"type": "http.response.body", "body": half, "more_body": True})
            await asyncio.sleep(0.05)  # let the partial body reach the socket
            await self._abort(scope, rst=False)

    async def _abort(self, scope: Scope, *, rst: bool) -> None:
        """Close the client's connection under uvicorn: RST for ``reset``, EOF otherwise."""
        client = scope.get("client")
        key = (client[0], client[1]) if client else None
        transport = self.core.transports.get(key) if key else None
        if transport is None:
            raise RuntimeError("no transport to abort for this connection")
        if rst:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER 0: close() sends a TCP RST, "connection reset by peer".
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
        # Wait until uvicorn saw the connection go, so it does not try to answer a 500.
        for _ in range(100):
            if self.core.transports.get(key) is not transport:  # type: ignore[arg-type]
                break
            await asyncio.sleep(0.01)


def create_app(core: Core) -> FastAPI:
    app = FastAPI(title="SMS API sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.core = core
    # "/v1/sms/" must answer a JSON 404 like any unknown path, not a bodiless 307 redirect.
    app.router.redirect_slashes = False
    app.include_router(build_router())
    _add_control_routes(app, core)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if _is_v1(request.url.path):
            if exc.status_code == 405:
                reason = c.ERRORS[c.ERROR_INVALID_REQUEST][1]
                body = {"errorCode": c.ERROR_INVALID_REQUEST, "errorReason": reason}
                return JSONResponse(body, 405)
            if exc.status_code == 404:
                return JSONResponse({"errorCode": 404, "errorReason": "Not found"}, 404)
            body = {"errorCode": exc.status_code, "errorReason": str(exc.detail)}
            return JSONResponse(body, exc.status_code)
        return JSONResponse({"error": str(exc.detail)}, exc.status_code)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("sandbox error on %s: %r", request.url.path, exc)
        return JSONResponse({"errorCode": 500, "errorReason": "Internal error"}, 500)

    app.add_middleware(V1Gate, core=core)
    return app


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, 400)


def _add_control_routes(app: FastAPI, core: Core) -> None:
    """Loopback control surface for tests and demos: never under /v1, never gated."""

    @app.get("/_sandbox/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/_sandbox/ledger")
    async def ledger(account: str | None = None) -> list[dict[str, Any]]:
        return core.state.ledger(account)

    @app.post("/_sandbox/reset")
    async def reset() -> dict[str, Any]:
        await core.webhooks.cancel_all()
        core.reset()
        return {"reset": True}

    @app.get("/_sandbox/deliveries")
    async def deliveries() -> list[dict[str, Any]]:
        return core.webhooks.records()

    @app.get("/_sandbox/faults")
    async def get_faults() -> dict[str, Any]:
        return core.faults.spec()

    @app.post("/_sandbox/faults", response_model=None)
    async def set_faults(request: Request) -> JSONResponse | dict[str, Any]:
        try:
            data = await _json_object(request)
            core.faults.set_spec(data.get("spec"))
        except (ValueError, TypeError, AttributeError) as exc:
            return _bad(str(exc))
        return core.faults.spec()

    @app.post("/_sandbox/settings", response_model=None)
    async def settings(request: Request) -> JSONResponse | dict[str, Any]:
        """Runtime knobs: ``rate_limit``, ``latency_ms``, ``webhook_url`` (all optional)."""
        try:
            data = await _json_object(request)
            if "rate_limit" in data:
                core.limiter.set_limit(int(data["rate_limit"]))
            if "latency_ms" in data:
                value = data["latency_ms"]
                core.set_latency(tuple(value) if isinstance(value, list) else value)
            if "webhook_url" in data:
                core.webhook_url = data["webhook_url"] or None
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return {
            "rate_limit": core.limiter.limit,
            "latency_ms": core.latency_setting(),
            "webhook_url": core.webhook_url,
        }

    @app.post("/_sandbox/calls/incoming/{request_id}/call")
    async def incoming_call(request_id: str, request: Request) -> dict[str, Any]:
        try:
            data = await _json_object(request)
        except ValueError:
            data = {}
        caller = data.get("from")
        accepted = actions.place_incoming_call(core, request_id, caller if isinstance(caller, str) else None)
        return {"requestId": request_id, "accepted": accepted}

    @app.post("/_sandbox/inbound-sms", response_model=None)
    async def inbound_sms(request: Request) -> JSONResponse | dict[str, Any]:
        try:
            data = await _json_object(request)
            sender, recipient, text, url = (data.get(k) for k in ("from", "to", "text", "url"))
            if not (isinstance(sender, str) and isinstance(recipient, str) and isinstance(text, str)):
                raise ValueError("from, to and text are required strings")
            return actions.inject_inbound_sms(
                core, sender, recipient, text, url=url if isinstance(url, str) and url else None
            )
        except ValueError as exc:
            return _bad(str(exc))
