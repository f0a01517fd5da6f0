"""Asynchronous delivery of callbacks (delivery receipts) and inbound SMS.

Deliveries run as tasks on the server's event loop with one shared
``httpx.AsyncClient``. A delivery is retried on a non-2xx answer or a connection
error with exponential backoff (0.2 s doubling, capped at 5 s) for up to
``retry_window`` seconds (the compressed stand-in for the reference's "24 hours").

A *sequence* (e.g. an SMS's SENT then DELIVERED) runs in one task so receipts of
one request arrive in order: the next one starts only after the previous was
acknowledged or given up.

``verify=False``: webhook targets are loopback test receivers (often with their own
throw-away certificates); the sandbox never calls anything else, so skipping
verification of *their* certificates is acceptable here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

log = logging.getLogger(__name__)

INITIAL_BACKOFF = 0.2
MAX_BACKOFF = 5.0

# A step of a sequence: wait ``delay`` seconds, then build the payload (None = skip).
Step = tuple[float, Callable[[], "dict[str, Any] | None"]]


class WebhookDispatcher:
    def __init__(self, retry_window: float) -> None:
        self.retry_window = retry_window
        self._cond = threading.Condition()
        self._records: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle (called on the loop) ------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def close(self) -> None:
        await self.cancel_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def clear_records(self) -> None:
        with self._cond:
            self._records.clear()
            self._cond.notify_all()

    # -- scheduling (thread-safe) ------------------------------------------------
    def schedule(self, kind: str, url: str, steps: Sequence[Step], request_id: str | None = None) -> None:
        """Deliver the steps' payloads to ``url`` in order, from the server loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            log.warning("webhook to %s dropped: sandbox is not running", url)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._start(kind, url, steps, request_id)
        else:
            loop.call_soon_threadsafe(self._start, kind, url, steps, request_id)

    def _start(self, kind: str, url: str, steps: Sequence[Step], request_id: str | None) -> None:
        task = asyncio.get_running_loop().create_task(self._run_sequence(kind, url, steps, request_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_sequence(self, kind: str, url: str, steps: Sequence[Step], request_id: str | None) -> None:
        for delay, build in steps:
            if delay > 0:
                await asyncio.sleep(delay)
            payload = build()
            if payload is None:
                continue
            await self._deliver(kind, url, payload, request_id)

    async def _deliver(self, kind: str, url: str, payload: dict[str, Any], request_id: str | None) -> None:
        record: dict[str, Any] = {
            "url": url,
            "kind": kind,
            "request_id": request_id,
            "payload": payload,
            "attempts": 0,
            "delivered": False,
            "given_up": False,
            "last_status": None,
            "last_error": None,
        }
        with self._cond:
            self._records.append(record)
        if self._client is None:
            # Loopback test receivers only (see the module docstring).
            self._client = httpx.AsyncClient(
                verify=False,  # noqa: S501
                trust_env=False,
                timeout=httpx.Timeout(5.0),
            )
        started = time.monotonic()
        backoff = INITIAL_BACKOFF
        while True:
            status: int | None = None
            error: str | None = None
            try:
                response = await self._client.post(url, json=payload)
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            delivered = status is not None and 200 <= status < 300
            elapsed = time.monotonic() - started
            give_up = not delivered and elapsed + backoff > self.retry_window
            with self._cond:
                record["attempts"] += 1
                record["last_status"] = status
                record["last_error"] = error
                record["delivered"] = delivered
                record["given_up"] = give_up
                self._cond.notify_all()
            if delivered or give_up:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    # -- inspection (thread-safe) ------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(r) for r in self._records]

    def wait_for(self, n: int, timeout: float, kind: str | None = None) -> list[dict[str, Any]]:
        """Wait until ``n`` deliveries (of ``kind``) succeeded; all records, or TimeoutError."""

        def done() -> bool:
            return sum(1 for r in self._records if r["delivered"] and kind in (None, r["kind"])) >= n

        with self._cond:
            if not self._cond.wait_for(done, timeout):
                got = sum(1 for r in self._records if r["delivered"] and kind in (None, r["kind"]))
                raise TimeoutError(f"{got} of {n} webhook deliveries succeeded within {timeout} s")
            return [dict(r) for r in self._records]
