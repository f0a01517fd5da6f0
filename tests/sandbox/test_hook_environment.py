"""What ``SmsApiHook`` takes from the environment: proxies (``HTTPS_PROXY``, ``NO_PROXY``) and
``REQUESTS_CA_BUNDLE`` for ``verify: true``, as requests does, but read once per session
instead of for every request (a scan of ``os.environ`` was a third of a request's CPU).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from airflow_provider_sms.exceptions import ConnectionNotMadeError, TlsVerificationError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("fresh_limiters")

NUMBER = "+447911123456"


def connect_to(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, verify: str | bool, **extra: object
) -> None:
    conn = sandbox.airflow_conn()
    conn["extra"] = {"verify": verify, **extra}
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))


class TunnelProxy:
    """An HTTP proxy that tunnels ``CONNECT`` requests and remembers their targets."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            self._spawn(self._serve, client)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                client.close()
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        self.targets.append(f"{method} {target}")
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        self._sockets.append(upstream)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._spawn(self._pipe, upstream, client)
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def proxy() -> Iterator[TunnelProxy]:
    server = TunnelProxy()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_proxy_env")
def test_https_proxy_from_the_environment_is_used_and_read_once_per_session(
    sandbox: Sandbox, proxy: TunnelProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_to(monkeypatch, sandbox, sandbox.ca_path, max_retries=0)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    hook = SmsApiHook()
    try:
        assert hook.hlr_lookup(NUMBER).number
        assert proxy.targets == [f"CONNECT 127.0.0.1:{sandbox.base_url.rsplit(':', 1)[1]}"]
        # Read when the session was made: changing the environment mid-task changes nothing...
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        hook.get_conn().close()  # (a new connection, which would go through the new proxy)
        assert hook.hlr_lookup(NUMBER).number
        assert proxy.targets == [f"CONNECT 127.0.0.1:{sandbox.base_url.rsplit(':', 1)[1]}"] * 2
        # ...until the hook makes a new session.
        hook.close()
        with pytest.raises(ConnectionNotMadeError):
            hook.hlr_lookup(NUMBER)
    finally:
        hook.close()
    assert [e["product"] for e in sandbox.ledger()] == ["hlr", "hlr"]


@pytest.mark.usefixtures("no_proxy_env")
def test_no_proxy_from_the_environment_bypasses_the_proxy(
    sandbox: Sandbox, proxy: TunnelProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_to(monkeypatch, sandbox, sandbox.ca_path)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    hook = SmsApiHook()
    try:
        assert hook.hlr_lookup(NUMBER).number
    finally:
        hook.close()
    assert proxy.targets == []


def test_verify_true_takes_requests_ca_bundle_and_a_path_wins_over_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # verify: true with REQUESTS_CA_BUNDLE naming the sandbox's CA: trusted, as requests does.
    connect_to(monkeypatch, sandbox, True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_path)
    hook = SmsApiHook()
    try:
        assert hook.hlr_lookup(NUMBER).number
    finally:
        hook.close()
    # The connection's own CA path wins over the environment's bundle (the system's here).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    connect_to(monkeypatch, sandbox, sandbox.ca_path)
    hook = SmsApiHook()
    try:
        assert hook.hlr_lookup(NUMBER).number
    finally:
        hook.close()
    # verify: true with the system's bundle: the sandbox's certificate is refused.
    connect_to(monkeypatch, sandbox, True)
    hook = SmsApiHook()
    try:
        with pytest.raises(TlsVerificationError):
            hook.hlr_lookup(NUMBER)
    finally:
        hook.close()
