"""Shared pytest fixtures.

Sandbox fixtures come first (owned by ``airflow_provider_sms.sandbox``); other
fixtures go below them.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_sms.sandbox import Sandbox
from tests.support.hooks import SandboxFactory

# ---------------------------------------------------------------------------------------
# Sandbox fixtures
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    """One HTTPS sandbox for the whole session (port 0, 1 ms latency)."""
    with Sandbox(port=0, latency_ms=1) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(sandbox_session: Sandbox) -> Sandbox:
    """The session sandbox, reset to a clean state (ledger, settings, faults) for this test."""
    sandbox_session.reset()
    sandbox_session.set_faults(None)
    sandbox_session.set_rate_limit(30)
    sandbox_session.set_latency(1)
    sandbox_session.set_webhook_url(None)
    return sandbox_session


@pytest.fixture
def sandbox_factory() -> SandboxFactory:
    """``with sandbox_factory(seed=7, faults="500=0.5") as sb:`` - a private sandbox.

    Defaults: ``port=0``, ``latency_ms=1``; any ``Sandbox`` option can be passed.
    """

    @contextlib.contextmanager
    def factory(**options: Any) -> Iterator[Sandbox]:
        options.setdefault("port", 0)
        options.setdefault("latency_ms", 1)
        with Sandbox(**options) as sandbox:
            yield sandbox

    return factory


class WebhookReceiver:
    """A tiny HTTP receiver on 127.0.0.1:<free port> recording every POST it gets.

    ``fail_first`` answers 500 to that many requests before answering 200, so
    redelivery can be observed. Each record: ``{"path", "json", "status", "time"}``.
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.fail_first = 0
        self.always_fail = False
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with receiver._cond:
                    failing = receiver.always_fail or receiver.fail_first > 0
                    if receiver.fail_first > 0:
                        receiver.fail_first -= 1
                    status = 500 if failing else 200
                    receiver.records.append(
                        {"path": self.path, "json": body, "status": status, "time": time.time()}
                    )
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def accepted(self) -> list[dict[str, Any]]:
        """Bodies answered with 200, in arrival order."""
        with self._cond:
            return [r["json"] for r in self.records if r["status"] == 200]

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``n`` requests were answered 200; their bodies in order."""
        with self._cond:
            ok = self._cond.wait_for(lambda: sum(r["status"] == 200 for r in self.records) >= n, timeout)
            bodies = [r["json"] for r in self.records if r["status"] == 200]
        if not ok:
            raise TimeoutError(f"received {len(bodies)} of {n} webhooks: {self.records}")
        return bodies

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


#: The sandbox tests that the CI matrix runs again on each supported Airflow: those whose subject
#: is where Airflow versions differ (DAG runs of every example DAG, the demo from the wheel, the
#: async hook's connection lookup, the deferrable sensor, the webhook plugin's asset events, what
#: Airflow keeps in rendered fields and XCom, run summaries). Every other sandbox test is marked
#: ``once``: it runs in the development venv only, as do long robustness runs, which carry
#: ``pytestmark = pytest.mark.once`` in their own module. Unit and integration tests run everywhere.
ON_EVERY_AIRFLOW = (
    "tests/sandbox/test_example_dags.py",
    "tests/sandbox/test_hygiene_demo.py",
    "tests/sandbox/test_async_hook.py",
    "tests/sandbox/test_sensor.py",
    "tests/sandbox/test_webhook_dags.py",
    "tests/sandbox/test_privacy.py",
    "tests/sandbox/test_run_summaries.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix()
        if path.startswith("tests/sandbox/") and path not in ON_EVERY_AIRFLOW:
            item.add_marker(pytest.mark.once)
