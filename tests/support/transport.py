"""Helpers for the hooks' transport tests: a connection to a scripted server, either hook, answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook
from airflow_provider_sms.sandbox import certs
from tests.support.servers import Handler, Received, Reply, ScriptedServer

HOOKS = ["sync", "async"]
HLR_ANSWER = {"id": "h1", "number": "+447911123456", "status": "DELIVERED", "createdAt": 1700000000000}
SMS_ANSWER = {"requestId": "r1"}


def make_certs(folder: Path) -> certs.CertPaths:
    """A CA and a server certificate for 127.0.0.1, in ``folder``."""
    return certs.generate(folder)


def connect_to(
    monkeypatch: pytest.MonkeyPatch, server: ScriptedServer | str, verify: str | bool, **extra: Any
) -> None:
    """Make ``sms_api_default`` point at ``server`` (or a URL) with the CA ``verify``."""
    host = server if isinstance(server, str) else server.url
    conn = {
        "conn_type": "sms_api",
        "host": host,
        "login": "key-id",
        "password": "s3cret-value",
        "extra": {"verify": verify, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))


def use_hook(kind: str, call: Callable[[Any], Any]) -> Any:
    """``call(hook)`` with a new hook of ``kind`` (``"sync"`` or ``"async"``: then ``call``
    returns an awaitable), closed afterwards; what it returns or raises."""
    if kind == "sync":
        hook = SmsApiHook()
        try:
            return call(hook)
        finally:
            hook.close()

    async def main() -> Any:
        async with SmsApiAsyncHook() as hook:
            return await call(hook)

    return asyncio.run(main())


def json_answer(status: int, data: Any, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: Received, reply: Reply) -> None:
        reply.json(status, data, headers)

    return handler


def raw_answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: Received, reply: Reply) -> None:
        reply.answer(status, body, headers)

    return handler
