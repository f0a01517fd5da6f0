"""What both hooks do with answers the sandbox never gives, from a scripted HTTPS server:
drip-fed answers (a total deadline), redirects, ``Retry-After``, huge bodies, odd JSON, and
how many requests one hook keeps in flight.

No test asserts how long something took, except generous upper bounds that prove "bounded";
"waited at least" bounds are measured by the server (load can only lengthen them).
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airflow_provider_sms.exceptions import (
    DeliveryUnknownError,
    NotFoundError,
    RateLimitError,
    ServerError,
    SmsApiConfigError,
    SmsApiConnectionError,
)
from airflow_provider_sms.hooks.base import MAX_IN_FLIGHT
from airflow_provider_sms.hooks.bodies import MAX_ANSWER_BYTES
from airflow_provider_sms.hooks.retrying import MAX_RETRY_AFTER
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox.certs import CertPaths
from tests.support.servers import Received, Reply, ScriptedServer, answers
from tests.support.transport import (
    HLR_ANSWER,
    HOOKS,
    SMS_ANSWER,
    connect_to,
    json_answer,
    make_certs,
    raw_answer,
    use_hook,
)

pytestmark = pytest.mark.usefixtures("fresh_limiters")

NUMBER = "+447911123456"


@pytest.fixture(scope="module")
def server_certs(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return make_certs(tmp_path_factory.mktemp("certs"))


def lookup(hook: Any) -> Any:
    return hook.hlr_lookup(NUMBER)


def send(hook: Any) -> Any:
    return hook.send_sms(NUMBER, "Your code is 1234")


# --- a total deadline --------------------------------------------------------------------------


def drip_headers(request: Received, reply: Reply) -> None:
    reply.send(b"HTTP/1.1 200 OK\r\n")
    reply.drip(b"X-Slow: " + b"a" * 60 + b"\r\nContent-Length: 2\r\n\r\n{}", every=0.5)


def drip_body(request: Received, reply: Reply) -> None:
    reply.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n")
    reply.drip(b" " * 58 + b"{}", every=0.5)


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("drip", [drip_headers, drip_body], ids=["headers", "body"])
@pytest.mark.parametrize(("call", "error"), [(lookup, SmsApiConnectionError), (send, DeliveryUnknownError)])
def test_a_drip_fed_answer_ends_at_the_total_deadline(
    server_certs: CertPaths, monkeypatch: pytest.MonkeyPatch, kind: str, drip: Any, call: Any, error: type
) -> None:
    # One byte every 0.5 s for 30 s: each read takes far less than the 2 s timeout.
    with ScriptedServer(drip, server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), timeout=2, max_retries=0)
        started = time.monotonic()
        with pytest.raises(error) as info:
            use_hook(kind, call)
        elapsed = time.monotonic() - started
    assert type(info.value) is error  # a look-up may be retried; a send's outcome is unknown
    assert "within the connection's 2 s timeout" in str(info.value)
    assert len(server.requests) == 1
    assert elapsed < 15  # bounded: the drip alone lasts 30 s


# --- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(
    ("status", "call"),
    [(301, lookup), (307, lookup), (302, send), (308, send)],
    ids=["301", "307", "302", "308"],
)
def test_a_redirect_is_a_configuration_error_naming_the_location_and_never_followed(
    server_certs: CertPaths, monkeypatch: pytest.MonkeyPatch, kind: str, status: int, call: Any
) -> None:
    with ScriptedServer(json_answer(200, SMS_ANSWER), server_certs) as elsewhere:
        location = f"{elsewhere.url}/v1/sms?token=abc123"
        redirect = raw_answer(status, b"moved", {"Location": location})
        with ScriptedServer(redirect, server_certs) as server:
            connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=3)
            with pytest.raises(SmsApiConfigError) as info:
                use_hook(kind, call)
    message = str(info.value)
    assert f"answered HTTP {status}, redirecting to '{elsewhere.url}/v1/sms'" in message
    assert "token=abc123" not in message
    assert "did not process the request" in message
    assert info.value.http_status == status
    assert len(server.requests) == 1  # not retried: the connection must be fixed
    assert elsewhere.requests == []  # not followed: the credentials went nowhere else


# --- Retry-After ---------------------------------------------------------------------------------


def retry_after_seconds(request: Received, reply: Reply) -> None:
    reply.json(429, {"errorCode": 4, "errorReason": "Too many requests"}, {"Retry-After": "2"})


def retry_after_date(request: Received, reply: Reply) -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)  # whole seconds: 2 to 3 s from now
    reply.json(429, {"errorCode": 4, "errorReason": "Too many requests"}, {"Retry-After": when})


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("refusal", [retry_after_seconds, retry_after_date], ids=["seconds", "date"])
@pytest.mark.parametrize(("call", "answer"), [(lookup, HLR_ANSWER), (send, SMS_ANSWER)])
def test_a_429_is_retried_no_sooner_than_its_retry_after(
    server_certs: CertPaths,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    refusal: Any,
    call: Any,
    answer: dict[str, Any],
) -> None:
    with ScriptedServer(answers(refusal, json_answer(200, answer)), server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=1)
        result = use_hook(kind, call)
    assert result.raw == answer  # a send too: a 429 proves nothing was processed
    first, second = server.requests
    assert second.arrived - first.arrived >= 1.9  # the backoff alone would be 0.5-1 s


@pytest.mark.parametrize("kind", HOOKS)
def test_the_429_pauses_the_accounts_limiter_for_every_request(
    server_certs: CertPaths, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    with ScriptedServer(answers(retry_after_seconds, json_answer(200, HLR_ANSWER)), server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=0)
        with pytest.raises(RateLimitError) as info:
            use_hook(kind, lookup)
        assert info.value.retry_after == 2.0
        # Another request of the account, through another hook, waits out the pause too.
        use_hook(kind, lookup)
    first, second = server.requests
    assert second.arrived - first.arrived >= 1.9


@pytest.mark.parametrize("kind", HOOKS)
def test_a_retry_after_beyond_the_bound_fails_at_once(
    server_certs: CertPaths, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    refusal = json_answer(429, {"errorCode": 4, "errorReason": "Too many requests"}, {"Retry-After": "3600"})
    with ScriptedServer(refusal, server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=5)
        with pytest.raises(RateLimitError) as info:
            use_hook(kind, lookup)
    assert info.value.retry_after == 3600
    assert f"longer than the hooks wait ({MAX_RETRY_AFTER:g} s): not retried" in str(info.value)
    assert len(server.requests) == 1


# --- huge answers --------------------------------------------------------------------------------

HUGE = 300 * 1024 * 1024
BLOCK = b" " * (64 * 1024)


def stream_huge(declare: bool) -> Any:
    def handler(request: Received, reply: Reply) -> None:
        length = f"Content-Length: {HUGE}\r\n" if declare else "Connection: close\r\n"
        reply.send(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{length}\r\n".encode())
        for _ in range(HUGE // len(BLOCK)):
            if reply.server.closing.is_set():
                return
            reply.send(BLOCK)  # fails once the client has gone
        reply.close()

    return handler


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("declare", [True, False], ids=["declared", "streamed"])
@pytest.mark.parametrize(("call", "error"), [(lookup, ServerError), (send, DeliveryUnknownError)])
def test_a_huge_answer_is_refused_without_being_read_whole(
    server_certs: CertPaths,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    declare: bool,
    call: Any,
    error: type,
) -> None:
    with ScriptedServer(stream_huge(declare), server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=0)
        tracemalloc.start()
        try:
            with pytest.raises(error) as info:
                use_hook(kind, call)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert type(info.value) is error
    assert f"the hooks read at most {MAX_ANSWER_BYTES:,} bytes" in str(info.value)
    # Memory: the cap and a few chunks, not 300 MB (the server thread allocates nothing per block).
    assert peak < MAX_ANSWER_BYTES + 8 * 1024 * 1024
    # What left the server: what the client read plus what the kernels' socket buffers held.
    assert server.bytes_sent < 64 * 1024 * 1024


@pytest.mark.parametrize("kind", HOOKS)
def test_a_huge_error_answer_keeps_its_status(
    server_certs: CertPaths, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    big = raw_answer(404, b"<html>" + b"x" * (2 * MAX_ANSWER_BYTES) + b"</html>")
    with ScriptedServer(big, server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=0)
        with pytest.raises(NotFoundError) as info:
            use_hook(kind, lookup)
    assert "HTTP 404" in str(info.value)


# --- odd JSON ------------------------------------------------------------------------------------

NESTED = b"[" * 100_000 + b"]" * 100_000
DEEP = b'{"status": "DELIVERED", "raw": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}"
HUGE_INT = b'{"status": "DELIVERED", "createdAt": 1' + b"0" * 5000 + b"}"
BIG_TIMESTAMP = b'{"status": "DELIVERED", "createdAt": 1' + b"0" * 400 + b"}"
OVERFLOW = b'{"status": "DELIVERED", "createdAt": 1e999}'
NAN = b'{"status": "DELIVERED", "createdAt": NaN}'


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (NESTED, "JSON holding values nested too deeply: '[[[["),
        (DEEP, "JSON holding values nested more than 32 levels deep"),
        (HUGE_INT, "JSON holding a number of more than 4300 digits"),
        (BIG_TIMESTAMP, "without the documented fields (not a timestamp: "),
        (OVERFLOW, "JSON holding a number out of range"),
        (NAN, "JSON holding NaN, which JSON does not allow"),
    ],
    ids=["nested", "deep", "huge-int", "big-timestamp", "overflow", "nan"],
)
def test_odd_json_is_a_server_error_quoting_the_first_bytes(
    server_certs: CertPaths, monkeypatch: pytest.MonkeyPatch, kind: str, body: bytes, says: str
) -> None:
    with ScriptedServer(raw_answer(200, body, {"Content-Type": "application/json"}), server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=0)
        with pytest.raises(ServerError) as info:
            use_hook(kind, lookup)
    assert type(info.value) is ServerError
    assert "The API answered HTTP 200" in str(info.value)
    assert says in str(info.value)


# --- in flight -----------------------------------------------------------------------------------

IN_FLIGHT = 100  # more than the 32 connections each hook's pool used to hold


class Gathering:
    """Holds every answer until ``expected`` requests are open at once (or 30 s pass)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.open = 0
        self.most = 0
        self.cond = threading.Condition()

    def __call__(self, request: Received, reply: Reply) -> None:
        with self.cond:
            self.open += 1
            self.most = max(self.most, self.open)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.most >= self.expected, timeout=30)
            self.open -= 1
        reply.json(200, HLR_ANSWER)


@pytest.mark.parametrize("kind", HOOKS)
def test_one_hook_keeps_more_than_the_old_pool_in_flight_and_reuses_its_connections(
    server_certs: CertPaths, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    assert MAX_IN_FLIGHT >= IN_FLIGHT
    gathering = Gathering(IN_FLIGHT)
    with ScriptedServer(gathering, server_certs) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), rate_limit=10_000, max_retries=0)
        if kind == "sync":
            hook = SmsApiHook()
            with ThreadPoolExecutor(IN_FLIGHT) as pool:
                for _ in range(2):  # twice: the second round finds the connections of the first
                    gathering.most = 0
                    assert len(list(pool.map(lambda _: lookup(hook), range(IN_FLIGHT)))) == IN_FLIGHT
            hook.close()
        else:

            async def two_rounds(hook: Any) -> None:
                for _ in range(2):
                    gathering.most = 0
                    assert len(await asyncio.gather(*(lookup(hook) for _ in range(IN_FLIGHT)))) == IN_FLIGHT

            use_hook(kind, two_rounds)
    assert gathering.most == IN_FLIGHT  # all of them open at once (the old async pool stopped at 32)
    assert len(server.requests) == 2 * IN_FLIGHT
    if kind == "sync":
        # Kept for the second round (the old pool kept 32 and opened 68 again). httpx's pool
        # hands a burst of queued requests to idle connections one at a time, so the async
        # hook may open some again after a burst like this one.
        assert server.connections == IN_FLIGHT
