"""Per-account sliding one-second window over admitted requests."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """Admits at most ``limit`` requests per account in any one-second window.

    Only admitted requests enter the window: a client that is refused (429) and
    backs off is not punished further for the refusals themselves.
    """

    WINDOW = 1.0

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._limit = self._check(limit)
        self._windows: dict[str, deque[float]] = {}

    @staticmethod
    def _check(limit: int) -> int:
        if limit < 1:
            raise ValueError("rate limit must be at least 1 request per second")
        return int(limit)

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self._limit = self._check(limit)

    def admit(self, account: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            window = self._windows.setdefault(account, deque())
            while window and now - window[0] >= self.WINDOW:
                window.popleft()
            if len(window) >= self._limit:
                return False
            window.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
