"""Injected faults: seeded, per /v1 request, decided after auth and rate limit.

Spec: ``"500=0.1,502=0.05,503=0.05,reset=0.02,stall=0.01,truncated=0.02,stall_seconds=2"``
(or the same as a dict). Each value is a probability; their sum must not exceed 1.

* ``5xx`` (any 500-599): an HTML error page, before processing (nothing billed).
* ``reset``: the TCP connection is aborted without a response, before processing.
* ``stall``: processed (billed), then the response is held ``stall_seconds``.
* ``truncated``: processed (billed), then a 200 whose JSON body is cut in the middle.

One draw of a seeded RNG per admitted /v1 request, so a sequential client sees the
same faults for the same seed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping

RESET = "reset"
STALL = "stall"
TRUNCATED = "truncated"
PRE_PROCESSING = frozenset({RESET})  # plus every 5xx
POST_PROCESSING = frozenset({STALL, TRUNCATED})
DEFAULT_STALL_SECONDS = 30.0

FaultSpec = str | Mapping[str, object] | None


def parse_spec(spec: FaultSpec) -> tuple[dict[str, float], float]:
    """(kind -> probability, stall_seconds). Raises ValueError on a bad spec."""
    if spec is None:
        return {}, DEFAULT_STALL_SECONDS
    items: list[tuple[str, object]]
    if isinstance(spec, str):
        items = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, text = part.partition("=")
            if not sep:
                raise ValueError(f"fault {part!r} is not NAME=PROBABILITY")
            items.append((key.strip(), text.strip()))
    else:
        items = [(str(k), v) for k, v in spec.items()]
    probabilities: dict[str, float] = {}
    stall_seconds = DEFAULT_STALL_SECONDS
    for name, raw in items:
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"fault {name!r}: {raw!r} is not a number") from None
        if name == "stall_seconds":
            if value < 0:
                raise ValueError("stall_seconds must be >= 0")
            stall_seconds = value
            continue
        if not (name in (RESET, STALL, TRUNCATED) or (name.isdigit() and 500 <= int(name) <= 599)):
            raise ValueError(f"unknown fault {name!r} (5xx, reset, stall, truncated, stall_seconds)")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"fault {name!r}: probability {value} not in [0, 1]")
        probabilities[name] = value
    if sum(probabilities.values()) > 1.0 + 1e-9:
        raise ValueError("fault probabilities add up to more than 1")
    return probabilities, stall_seconds


def _order(kind: str) -> tuple[int, str]:
    # Fixed walk order so the same draw maps to the same fault whatever the spec order.
    return (0, kind) if kind.isdigit() else (1, kind)


class FaultInjector:
    def __init__(self, seed: int, spec: FaultSpec = None) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(f"faults:{seed}")
        self._probabilities, self.stall_seconds = parse_spec(spec)

    def set_spec(self, spec: FaultSpec) -> None:
        probabilities, stall_seconds = parse_spec(spec)
        with self._lock:
            self._probabilities, self.stall_seconds = probabilities, stall_seconds
            # A new spec restarts the sequence so "same seed, same faults" holds per spec.
            self._rng = random.Random(f"faults:{self._seed}")

    def spec(self) -> dict[str, float]:
        with self._lock:
            return dict(self._probabilities, stall_seconds=self.stall_seconds)

    def reseed(self) -> None:
        with self._lock:
            self._rng = random.Random(f"faults:{self._seed}")

    def decide(self) -> str | None:
        """The fault for the next /v1 request, or None."""
        with self._lock:
            if not self._probabilities:
                return None
            draw = self._rng.random()
            total = 0.0
            for kind in sorted(self._probabilities, key=_order):
                total += self._probabilities[kind]
                if draw < total:
                    return kind
            return None
