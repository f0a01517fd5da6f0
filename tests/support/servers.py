"""Local servers for tests, on loopback, in threads: an ASGI app (the webhook plugin's) over
HTTP, and a scripted HTTPS server for the hooks' transport edge cases; and how to stop a server
run as a process of its own."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn


def stop_process_group(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM the process group that ``proc`` leads (started with ``start_new_session=True``),
    wait up to ``grace`` seconds, then SIGKILL the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def serve_asgi(app: Any, timeout: float = 10.0) -> Iterator[str]:
    """``with serve_asgi(app) as base_url:`` -- ``http://127.0.0.1:<free port>``, stopped on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the test web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


# ---------------------------------------------------------------------------------------
# A scripted HTTPS server, for the transport's edge cases the sandbox does not produce
# (drip-fed answers, redirects, huge bodies, odd JSON, TLS handshakes cut short, a CA rotated).
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Received:
    """One request as the scripted server read it."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    arrived: float  # time.monotonic() when its headers were read
    connection: int  # which connection (1, 2...) carried it


class Reply:
    """What a handler writes on the connection (raw bytes: nothing is checked)."""

    def __init__(self, server: ScriptedServer, sock: socket.socket) -> None:
        self.server = server
        self._sock = sock
        self.keep_alive = True

    def send(self, data: bytes) -> None:
        """Write ``data``; counts in ``server.bytes_sent`` what the kernel took."""
        view = memoryview(data)
        while view:
            sent = self._sock.send(view)
            with self.server.lock:
                self.server.bytes_sent += sent
            view = view[sent:]

    def answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """A whole response with its Content-Length (keep-alive)."""
        lines = [f"HTTP/1.1 {status} Scripted", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", **(headers or {})}
        self.answer(status, json.dumps(data).encode(), headers)

    def drip(self, data: bytes, every: float) -> None:
        """Write ``data`` one byte at a time, ``every`` seconds apart (until the client leaves)."""
        for i in range(len(data)):
            if self.server.closing.wait(every):
                return
            self.send(data[i : i + 1])
        self.keep_alive = False

    def close(self) -> None:
        """End the connection after this answer."""
        self.keep_alive = False


Handler = Callable[[Received, Reply], None]


class ScriptedServer:
    """``with ScriptedServer(handler, certs) as server:`` -- HTTPS on ``server.url``.

    Each request is read (headers and a Content-Length body), recorded in ``requests`` and
    handed to ``handler(request, reply)``, which writes what it likes. ``on_connect`` may
    instead ``"close"`` or ``"reset"`` each new connection before the TLS handshake, or
    answer it as a plain HTTP server would (``"http"``).
    ``rotate(certs)`` serves a new certificate from then on and drops open connections.

    :param certs: the server certificate (``sandbox.certs.generate``); ``None`` for plain TCP.
    """

    def __init__(self, handler: Handler, certs: Any = None, on_connect: str | None = None) -> None:
        self.handler = handler
        self.on_connect = on_connect
        self.requests: list[Received] = []
        self.connections = 0
        self.bytes_sent = 0
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.certs = certs
        self._context = self._tls(certs) if certs is not None else None
        self._open: set[socket.socket] = set()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @staticmethod
    def _tls(certs: Any) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.server_cert, certs.server_key)
        return context

    def rotate(self, certs: Any) -> None:
        """Serve ``certs`` to new connections; close the open ones (clients must handshake again)."""
        self.certs = certs
        self._context = self._tls(certs)
        with self.lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        self._sock.settimeout(0.1)  # closing a listening socket does not wake accept() on Linux
        while not self.closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            self.connections += 1
            number = self.connections
        if self.on_connect == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self.on_connect == "http":  # a plain HTTP server where TLS was expected
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        if self.on_connect in ("close", "reset", "http"):
            conn.close()
            return
        try:
            sock = self._context.wrap_socket(conn, server_side=True) if self._context else conn
        except (OSError, ssl.SSLError):
            conn.close()
            return
        with self.lock:
            self._open.add(sock)
        try:
            self._requests(sock, number)
        except OSError:
            pass  # the client went away
        finally:
            with self.lock:
                self._open.discard(sock)
            sock.close()

    def _requests(self, sock: socket.socket, number: int) -> None:
        buffer = b""
        while not self.closing.is_set():
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            arrived = time.monotonic()
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            while len(buffer) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
            method, path = request_line.split(" ")[:2]
            received = Received(method, path, headers, body, arrived, number)
            with self.lock:
                self.requests.append(received)
            reply = Reply(self, sock)
            self.handler(received, reply)
            if not reply.keep_alive:
                return

    def close(self) -> None:
        self.closing.set()
        self._sock.close()
        with self.lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def answers(*handlers: Handler) -> Handler:
    """A handler playing ``handlers`` in turn, one per request (the last one from then on)."""
    count = itertools.count()

    def handler(request: Received, reply: Reply) -> None:
        handlers[min(next(count), len(handlers) - 1)](request, reply)

    return handler
