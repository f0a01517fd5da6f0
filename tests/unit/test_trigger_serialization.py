"""IncomingCallTrigger: serialize() pinned and round-tripped; run() against a scripted hook."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_sms.api.endpoints import get_incoming_call
from airflow_provider_sms.api.responses import parse_response
from airflow_provider_sms.exceptions import (
    AuthenticationError,
    ConnectionNotMadeError,
    NotFoundError,
    ServerError,
    TlsVerificationError,
)
from airflow_provider_sms.triggers import incoming_call
from airflow_provider_sms.triggers.incoming_call import IncomingCallTrigger

CLASSPATH = "airflow_provider_sms.triggers.incoming_call.IncomingCallTrigger"


def test_serialize_is_pinned() -> None:
    trigger = IncomingCallTrigger(
        request_id="abc", sms_api_conn_id="sms_other", poke_interval=2, timeout_at="2024-01-01T00:00:00+00:00"
    )

    assert trigger.serialize() == (
        CLASSPATH,
        {
            "request_id": "abc",
            "sms_api_conn_id": "sms_other",
            "poke_interval": 2.0,
            "timeout_at": "2024-01-01T00:00:00+00:00",
        },
    )


def test_serialize_round_trips_with_defaults() -> None:
    classpath, kwargs = IncomingCallTrigger(request_id="abc").serialize()

    assert kwargs == {
        "request_id": "abc",
        "sms_api_conn_id": "sms_api_default",
        "poke_interval": 5.0,
        "timeout_at": None,
    }
    from airflow.sdk.module_loading import import_string

    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def status(value: str):
    body = f'{{"requestId": "abc", "didNumber": "374", "expiresAt": "1701792901", "status": "{value}"}}'
    return parse_response(get_incoming_call("abc"), 200, body)


class ScriptedHook:
    """Answers get_incoming_call from a script of results and exceptions."""

    instances: list[ScriptedHook] = []
    script: list[Any] = []

    def __init__(self, sms_api_conn_id: str) -> None:
        self.conn_id = sms_api_conn_id
        self.reads = 0
        self.closed = False
        ScriptedHook.instances.append(self)

    async def get_incoming_call(self, request_id: str) -> Any:
        self.reads += 1
        item = ScriptedHook.script.pop(0) if ScriptedHook.script else status("PENDING")
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(incoming_call, "SmsApiAsyncHook", ScriptedHook)
    monkeypatch.setattr(incoming_call, "MIN_BACKOFF", 0.0)
    ScriptedHook.instances = []
    ScriptedHook.script = []  # what a test left unread must not answer the next one
    return ScriptedHook


def events(trigger: IncomingCallTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_transient_errors_are_retried_until_delivered(scripted) -> None:
    scripted.script = [
        status("PENDING"),
        ServerError("503"),
        ConnectionNotMadeError("refused"),
        status("DELIVERED"),
    ]

    [event] = events(IncomingCallTrigger(request_id="abc", poke_interval=0))

    assert event["status"] == "delivered"
    assert event["info"]["status"] == "DELIVERED"
    [hook] = scripted.instances
    assert (hook.reads, hook.closed, hook.conn_id) == (4, True, "sms_api_default")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (status("EXPIRED"), "expired"),
        (NotFoundError("gone"), "not_found"),
        (AuthenticationError("bad key"), "error"),
    ],
)
def test_final_answers(scripted, answer, expected) -> None:
    scripted.script = [answer]

    [event] = events(IncomingCallTrigger(request_id="abc", poke_interval=0))

    assert event["status"] == expected
    assert event["message"]
    assert scripted.instances[0].closed


def test_untrusted_certificate_ends_the_wait(scripted) -> None:
    # A connection error, but not a transient one: waiting until the deadline cannot help.
    scripted.script = [TlsVerificationError("certificate verify failed"), status("DELIVERED")]

    [event] = events(IncomingCallTrigger(request_id="abc", poke_interval=0))

    assert event["status"] == "error"
    assert "certificate verify failed" in event["message"]
    assert scripted.instances[0].reads == 1


def test_deadline_ends_the_wait(scripted) -> None:
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()

    [event] = events(IncomingCallTrigger(request_id="abc", poke_interval=0, timeout_at=past))

    assert event == {"status": "timeout", "info": None, "message": event["message"]}
    assert scripted.instances[0].reads == 0


def test_pending_until_the_deadline(scripted) -> None:
    soon = (datetime.now(timezone.utc) + timedelta(seconds=0.3)).isoformat()

    [event] = events(IncomingCallTrigger(request_id="abc", poke_interval=0.05, timeout_at=soon))

    assert event["status"] == "timeout"
    assert scripted.instances[0].reads >= 2
