"""The sandbox's shared runtime: everything the routes and the ``Sandbox`` object touch.

One ``Core`` per running sandbox. The routes run on uvicorn's loop thread while the
test thread changes settings, so settings are plain attributes replaced atomically
(latency, webhook url) or components with their own lock.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
from typing import Any

from .accounts import AccountBook
from .faults import FaultInjector, FaultSpec
from .ratelimit import RateLimiter
from .state import SandboxState
from .webhooks import WebhookDispatcher

Latency = int | float | tuple[float, float] | str


def parse_latency(value: Latency) -> tuple[float, float]:
    """Milliseconds as ``(low, high)``: ``5`` -> (5, 5); ``(100, 200)`` or ``"100-200"`` -> range."""
    low: float
    high: float
    if isinstance(value, str):
        text = value.strip()
        head, sep, tail = text.partition("-")
        try:
            low, high = (float(head), float(tail)) if sep else (float(text), float(text))
        except ValueError:
            raise ValueError(f"latency {value!r} is not MS or LOW-HIGH") from None
    elif isinstance(value, tuple):
        low, high = float(value[0]), float(value[1])
    else:
        low = high = float(value)
    if low < 0 or high < low:
        raise ValueError(f"latency {value!r}: need 0 <= low <= high")
    return low, high


class Core:
    def __init__(
        self,
        *,
        seed: int | None,
        rate_limit: int,
        latency_ms: Latency,
        expire_after: float,
        grace: float,
        faults: FaultSpec,
        webhook_url: str | None,
        inbound_retry_window: float,
    ) -> None:
        # Faults and latency jitter stay reproducible without a seed (0); ids do not (see state.py).
        self.seed = seed if seed is not None else 0
        self.accounts = AccountBook()
        self.limiter = RateLimiter(rate_limit)
        self.faults = FaultInjector(self.seed, faults)
        self.state = SandboxState(seed, expire_after, grace)
        self.webhooks = WebhookDispatcher(inbound_retry_window)
        self.webhook_url = webhook_url
        self._latency = parse_latency(latency_ms)
        self._latency_lock = threading.Lock()
        self._latency_rng = random.Random(f"latency:{self.seed}")
        # Set on shutdown so stalled responses stop waiting and stop() is quick.
        self.stopping: asyncio.Event | None = None
        # Transport of each open connection by client address, so a fault can abort
        # the TCP connection (ASGI itself gives no way to do that).
        self.transports: dict[tuple[str, int], asyncio.Transport] = {}
        # Requests the gate refused (401, 400/403 of an account, 429) by errorCode: the ledger
        # holds only requests that reached an endpoint.
        self.refused: collections.Counter[int] = collections.Counter()
        # Set by Sandbox.go_down() while it drains: every answer closes its connection.
        self.draining = False

    def set_latency(self, latency_ms: Latency) -> None:
        parsed = parse_latency(latency_ms)
        with self._latency_lock:
            self._latency = parsed

    def latency_seconds(self) -> float:
        with self._latency_lock:
            low, high = self._latency
            ms = low if low == high else self._latency_rng.uniform(low, high)
        return ms / 1000.0

    def latency_setting(self) -> Any:
        low, high = self._latency
        return low if low == high else [low, high]

    def reset(self) -> None:
        """Clear ledger, requests, reservations, rate windows and delivery records.

        Pending deliveries are cancelled by the caller on the loop (see Sandbox.reset).
        """
        self.state.reset()
        self.refused.clear()
        self.limiter.reset()
        self.faults.reseed()
        with self._latency_lock:
            self._latency_rng = random.Random(f"latency:{self.seed}")
        self.webhooks.clear_records()
