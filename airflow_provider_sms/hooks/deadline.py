"""A total deadline for one request over ``requests``: connect, TLS handshake, send and every read.

``requests`` applies its timeout to each socket operation, so a server that drips one byte
every two seconds keeps a ``timeout=3`` call alive for as long as it likes. Here a single
watchdog thread per process holds every request's deadline and, when one passes, shuts down
the socket the request is using (``shutdown(SHUT_RDWR)``): whatever the request was doing
(handshake, waiting for the status line, reading headers or body) fails at once, and the
hook reports the deadline.

The watchdog also records whether the request's bytes may have left
(:attr:`Deadline.sending`): it is set just before the request is written to a connected
socket, so a failure before that (refused, DNS, a TLS handshake that failed or was cut) proves
nothing was sent.

A connection is shut only while it serves the expired request: the watchdog and the
connections share one lock, and a pooled connection belongs to the request that last wrote
on it. No file descriptor number is ever used after its socket may have closed.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_provider_sms.hooks.pacing import count_pause


class DeadlinePassedError(ConnectionAbortedError):
    """The request's deadline passed before its bytes were written: nothing was sent."""


class Deadline:
    """One request's deadline, and what the watchdog knows about the request.

    :param seconds: the time the whole request may take, from now.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False  # the watchdog fired: the connection was shut
        self.sending = False  # the request's bytes may have left
        self._armed = False
        self._connections: list[_WatchedConnection] = []


_state = threading.local()


def current_deadline() -> Deadline | None:
    """The deadline of the request the calling thread is making, if any."""
    return getattr(_state, "deadline", None)


class _Watchdog:
    """One daemon thread per process that shuts the connections of expired requests."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.lock = threading.Lock()
        self._wakeup = threading.Condition(self.lock)
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def arm(self, deadline: Deadline) -> None:
        with self.lock:
            deadline._armed = True
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._heap[0][2] is deadline:
                self._wakeup.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sms-api-deadlines", daemon=True)
                self._thread.start()

    def disarm(self, deadline: Deadline) -> None:
        handles = []
        with self.lock:
            deadline._armed = False
            for conn in deadline._connections:
                if conn._owner is deadline:
                    conn._owner = None
                    if conn._handshake is not None:
                        handles.append(conn._handshake)
                        conn._handshake = None
            deadline._connections.clear()
        for handle in handles:
            handle.close()

    def watch_handshake(self, conn: _WatchedConnection, sock: socket.socket) -> None:
        """A new connection's TCP socket, before its TLS handshake: watch a duplicate of it.

        The TLS layer takes the socket over (the object given here is detached), so the
        watchdog holds its own handle on the same socket until the handshake ends.
        """
        deadline = current_deadline()
        if deadline is None:
            with self.lock:
                conn._killed = False
            return
        handle = sock.dup()
        with self.lock:
            if deadline.expired:
                handle.close()
                raise DeadlinePassedError("the request's deadline passed while connecting")
            conn._owner, conn._handshake, conn._killed = deadline, handle, False
            deadline._connections.append(conn)

    def handshake_done(self, conn: _WatchedConnection) -> None:
        with self.lock:
            handle, conn._handshake = conn._handshake, None
        if handle is not None:
            handle.close()

    def watch_request(self, conn: _WatchedConnection) -> None:
        """The request is about to be written on ``conn``: the connection serves it now."""
        deadline = current_deadline()
        if deadline is None:
            return
        with self.lock:
            if deadline.expired or conn._killed:
                # Shut by a deadline (this one, or the last user's, in a race with the pool):
                # nothing of this request was written.
                raise DeadlinePassedError("the connection was shut before the request was written")
            if conn._owner is not deadline:
                conn._owner = deadline
                deadline._connections.append(conn)
            deadline.sending = True

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, deadline = heapq.heappop(self._heap)
                    if deadline._armed:
                        self._expire(deadline)
                timeout = self._heap[0][0] - now if self._heap else None
                self._wakeup.wait(timeout)

    @staticmethod
    def _expire(deadline: Deadline) -> None:
        """Shut every connection still serving ``deadline`` (the lock is held)."""
        deadline.expired = True
        for conn in deadline._connections:
            if conn._owner is not deadline:
                continue
            conn._killed = True
            target = conn._handshake if conn._handshake is not None else conn.sock
            if target is None:
                continue
            with contextlib.suppress(OSError):
                # socket.socket's own shutdown: ssl.SSLSocket.shutdown would also drop its TLS
                # state under the feet of the thread reading from it. A closed socket has no
                # descriptor any more (-1), so this can never reach another connection's.
                socket.socket.shutdown(target, socket.SHUT_RDWR)


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog._reset)  # the thread does not survive a fork


@contextlib.contextmanager
def watching(deadline: Deadline) -> Iterator[Deadline]:
    """Enforce ``deadline`` on what the calling thread does with ``requests`` in the block.

    Reading the body belongs in the block too: the connection is shut at the deadline
    whatever the request is waiting for.
    """
    _state.deadline = deadline
    _watchdog.arm(deadline)
    try:
        yield deadline
    finally:
        _watchdog.disarm(deadline)
        _state.deadline = None


class _WatchedConnection(HTTPSConnection):
    """An HTTPS connection that tells the watchdog which request it serves."""

    _owner: Deadline | None = None
    _handshake: socket.socket | None = None
    _killed = False

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        try:
            _watchdog.watch_handshake(self, sock)
        except DeadlinePassedError:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        began = time.monotonic()
        try:
            super().connect()
        finally:
            _watchdog.handshake_done(self)
            # Opening a connection (TCP and TLS handshakes) is paid once per connection, not per
            # answer: a batch that counted it as answer time would open more connections to
            # cover it, each with its own handshake, and read its own CPU load as a slow API.
            count_pause(time.monotonic() - began)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watchdog.watch_request(self)
        super().request(*args, **kwargs)


class _WatchedPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedConnection


_POOL_CLASSES = {"http": HTTPConnectionPool, "https": _WatchedPool}


class DeadlineAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose HTTPS connections are watched (see :func:`watching`).

    It also spares each request two things the hook never uses, a tenth of a request's CPU
    between them: the pool is looked up once per host, TLS settings and proxy (requests parses
    the URL and builds the pool's key again for every request), and an answer is not searched
    for cookies or a charset (the hook reads the body as bytes; the API sets no cookies).
    """

    _pool: tuple[tuple[Any, ...], Any] | None = None  # (host, TLS settings, proxy), its pool

    def get_connection_with_tls_context(
        self, request: PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        url = request.url or ""
        end = url.find("/", url.find("//") + 2)
        key = (url if end < 0 else url[:end], verify, cert, tuple(sorted((proxies or {}).items())))
        cached = self._pool
        if cached is not None and cached[0] == key:
            return cached[1]
        pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        # One host, one pool (the pool manager keeps a single one): a new key replaces it there too.
        self._pool = (key, pool)
        return pool

    def build_response(self, req: PreparedRequest, resp: Any) -> Response:
        response = Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url or ""
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        self._pool = None
        super().close()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


__all__ = ["Deadline", "DeadlineAdapter", "DeadlinePassedError", "current_deadline", "watching"]
