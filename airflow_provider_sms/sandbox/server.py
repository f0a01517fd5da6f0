"""``Sandbox``: the HTTPS sandbox running in-process on a background thread.

uvicorn runs on its own event loop in a daemon thread, on a socket bound here (so
``port=0`` works and the port is known before serving). Methods called from the
test thread reach the loop through thread-safe components or
``asyncio.run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import actions, certs
from .accounts import DEMO_KEY, DEMO_SECRET
from .app import create_app
from .core import Core, Latency
from .faults import FaultSpec

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
# go_down(): how long open connections may still be used, at most. The drain ends sooner when
# every client closed its connections (a task whose breaker opened closes its pool). Closing an
# idle keep-alive connection while its client may still send on it cuts a request in flight
# (an unknown outcome): the drain outlasts the clients' retry schedules (0.5 + 1 + 2 s) so
# that, in tests, a batch has stopped starting requests before its idle connections go.
DRAIN_SECONDS = 15.0


def _protocol_class(registry: dict[tuple[str, int], asyncio.Transport]) -> type[H11Protocol]:
    """uvicorn's h11 protocol, remembering each connection's transport by client address
    so the fault injector can abort or cut a connection (ASGI has no way to do it)."""

    class SandboxH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client:
                registry[self.client] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            super().connection_lost(exc)
            if self.client and registry.get(self.client) is self.transport:
                del registry[self.client]

        def shutdown(self) -> None:
            # On server stop, drop idle keep-alive connections at once: a graceful TLS
            # close waits for the peer's close_notify, which a client that already went
            # away never sends, and stop() would hang for the graceful-shutdown timeout.
            if self.cycle is None or self.cycle.response_complete:
                self.transport.abort()
            else:
                super().shutdown()

    return SandboxH11Protocol


def _url_host(host: str) -> str:
    """The host to put in URLs: wildcard binds are reached over loopback."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - comparing, not binding
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


class Sandbox:
    """A local HTTPS twin of the SMS API. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = 30,
        latency_ms: Latency = 5,
        seed: int | None = None,
        expire_after: float = 60,
        grace: float = 30,
        faults: FaultSpec = None,
        webhook_url: str | None = None,
        inbound_retry_window: float = 120,
        state_dir: str | Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.core = Core(
            seed=seed,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            expire_after=expire_after,
            grace=grace,
            faults=faults,
            webhook_url=webhook_url,
            inbound_retry_window=inbound_retry_window,
        )
        self._state_dir_arg = Path(state_dir) if state_dir is not None else None
        self.state_dir: Path | None = None
        self.ca_path = ""
        self.key, self.secret = DEMO_KEY, DEMO_SECRET
        self.accounts: dict[str, dict[str, Any]] = self.core.accounts.public()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self._certs: certs.CertPaths | None = None
        self.down = False  # go_down() was called and come_back() not yet
        self._outage_lock = threading.Lock()  # come_back() waits for a go_down() under way

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._thread is not None or self.down:
            raise RuntimeError("sandbox already started")
        if self._state_dir_arg is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="sms-sandbox-"))
        else:
            self.state_dir = self._state_dir_arg
        self._certs = certs.generate(self.state_dir, self.host)
        self.ca_path = str(self._certs.ca_cert)
        self._serve_in_thread()
        return self

    def _serve_in_thread(self) -> None:
        """Bind ``self.port`` (0: a free one, remembered) and serve on a new thread until stopped."""
        paths = self._certs
        assert paths is not None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only
        # when the listening socket says TCP. Without it, Nagle + delayed ACK add ~40 ms
        # to every response (headers and body leave as separate TLS records).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host or "0.0.0.0", self.port))  # noqa: S104 - only if the user asks
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]

        config = uvicorn.Config(
            create_app(self.core),
            ssl_certfile=str(paths.server_cert),
            ssl_keyfile=str(paths.server_key),
            http=_protocol_class(self.core.transports),
            lifespan="off",
            log_config=None,  # leave the host process's logging configuration alone
            log_level="warning",
            access_log=False,
            server_header=False,
            # 200+ concurrent clients get answers (429s mostly) rather than uvicorn's
            # plain-text 503; headers are capped well below any abusive size.
            limit_concurrency=4096,
            backlog=2048,
            h11_max_incomplete_event_size=64 * 1024,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"sms-sandbox-{self.port}", daemon=True)
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive() or waited > START_TIMEOUT:
                self.stop()
                raise RuntimeError(f"sandbox failed to start: {self._error!r}")
            self._thread.join(0.01)
            waited += 0.01

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        assert self._server is not None
        assert self._sock is not None
        self.core.stopping = asyncio.Event()
        self.core.webhooks.attach(asyncio.get_running_loop())
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            await self.core.webhooks.close()

    def stop(self) -> None:
        """Stop serving, end the thread, close the socket, remove a temporary state dir."""
        self._shut_down()
        self.down = False
        if self._state_dir_arg is None and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def go_down(self) -> None:
        """Simulate an outage: stop serving and refuse every connection until :meth:`come_back`.

        New connections are refused at once; requests arriving on open connections are still
        answered, each connection then closed, until the clients closed them all or for
        ``DRAIN_SECONDS`` (idle ones left then are closed); the listening socket is closed, so
        a new connection is refused (``ConnectionNotMadeError`` in the hooks). The state (ledger, requests,
        reservations, accounts), the certificates and the port are kept; callbacks and inbound
        SMS waiting to be delivered are dropped.
        """
        with self._outage_lock:
            if self._thread is None:
                raise RuntimeError("the sandbox is not serving: start() it (or come_back()) first")
            self._drain()
            self._shut_down()
            self.down = True

    def _drain(self) -> None:
        """Stop accepting, then let clients finish on their open connections, each closed after its answer.

        A request a client sends on a keep-alive connection at the very moment the server closes
        it is lost in flight (the client cannot know whether it was processed): an outage of a
        real API can do that, but a test of "nothing sent twice" needs a clean cut. Open
        connections are answered (``Connection: close``) until none is left, or for
        ``DRAIN_SECONDS``; idle ones left then are closed by the shutdown.
        """
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return
        self.core.draining = True

        def stop_accepting() -> None:
            for listener in getattr(server, "servers", []):
                listener.close()

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(stop_accepting)
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.core.transports and time.monotonic() < deadline:
            time.sleep(0.01)

    def come_back(self) -> None:
        """End an outage started by :meth:`go_down` (waiting for it to finish going down): serve
        again on the same port, same state and CA."""
        with self._outage_lock:
            if not self.down:
                raise RuntimeError("the sandbox is not down: go_down() first")
            self.core.draining = False
            self._serve_in_thread()
            self.down = False

    def _shut_down(self) -> None:
        loop, server, thread = self._loop, self._server, self._thread
        if server is not None:
            server.should_exit = True
        if loop is not None and not loop.is_closed() and self.core.stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.core.stopping.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._thread = None
        self._server = None
        self._loop = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and credentials -------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"https://{_url_host(self.host)}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/v1"

    def airflow_conn(self, account: str = "demo") -> dict[str, Any]:
        acc = self.core.accounts[account]
        return {
            "conn_type": "sms_api",
            "host": self.base_url,
            "login": acc.key,
            "password": acc.secret,
            "extra": {"verify": self.ca_path},
        }

    def airflow_conn_json(self, account: str = "demo") -> str:
        """JSON usable as ``AIRFLOW_CONN_SMS_API_DEFAULT``."""
        return json.dumps(self.airflow_conn(account))

    def info(self) -> dict[str, Any]:
        """What the CLI prints on start."""
        return {
            "base_url": self.base_url,
            "api_url": self.api_url,
            "ca_cert": self.ca_path,
            "key": self.key,
            "secret": self.secret,
            "airflow_conn": self.airflow_conn_json(),
            "accounts": self.accounts,
        }

    # -- inspection and control ----------------------------------------------------
    def ledger(self, account: str | None = None) -> list[dict[str, Any]]:
        return self.core.state.ledger(account)

    def refused(self) -> dict[int, int]:
        """Requests refused before any endpoint (not in the ledger), by errorCode: 1 (401), 4 (429)..."""
        return dict(self.core.refused)

    def reset(self) -> None:
        """Clear ledger, requests, reservations, pending callbacks, deliveries, rate windows."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.core.webhooks.cancel_all(), loop).result(STOP_TIMEOUT)
        self.core.reset()

    def set_faults(self, spec: FaultSpec) -> None:
        self.core.faults.set_spec(spec)

    def set_rate_limit(self, n: int) -> None:
        self.core.limiter.set_limit(n)

    def set_latency(self, ms: Latency) -> None:
        self.core.set_latency(ms)

    def set_webhook_url(self, url: str | None) -> None:
        self.core.webhook_url = url

    def place_incoming_call(self, request_id: str, from_number: str | None = None) -> bool:
        return actions.place_incoming_call(self.core, request_id, from_number)

    def inject_inbound_sms(
        self, from_number: str, to_number: str, text: str, url: str | None = None
    ) -> dict[str, Any]:
        return actions.inject_inbound_sms(self.core, from_number, to_number, text, url)

    def deliveries(self) -> list[dict[str, Any]]:
        return self.core.webhooks.records()

    def wait_for_deliveries(
        self, n: int, timeout: float = 10.0, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Block until ``n`` deliveries (of ``kind``) succeeded; all records, or TimeoutError."""
        return self.core.webhooks.wait_for(n, timeout, kind)
