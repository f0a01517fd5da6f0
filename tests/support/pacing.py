"""Counting what a limiter granted (no clocks read here)."""

from __future__ import annotations


def max_in_any_window(starts: list[float], window: float = 1.0) -> int:
    """The most starts in any ``window`` seconds (a window ``[t, t + window)``)."""
    starts = sorted(starts)
    best, first = 0, 0
    for last, start in enumerate(starts):
        while start - starts[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best
