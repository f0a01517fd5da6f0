"""The host store across real processes: limiters in separate processes, each with its own open
file and the real clock, book their slots from one schedule.

Checked on the granted start times, counted: never more starts in any one-second window
than the limit, whatever the machine's load (load only delays when a process asks).
"""

from __future__ import annotations

import itertools
import multiprocessing
from pathlib import Path

import pytest

from airflow_provider_sms.hooks.pacing import AdaptiveRateLimiter
from airflow_provider_sms.hooks.shared_pacing import HostStore
from tests.support.pacing import max_in_any_window

pytestmark = pytest.mark.once

RATE = 100.0
PER_PROCESS = 120
PROCESSES = 3


def acquire_many(path: str, count: int) -> list[float]:
    """In a fresh process: ``count`` slots from a limiter over the state file at ``path``."""
    limiter = AdaptiveRateLimiter(RATE, headroom=1.0, store=HostStore(Path(path)))
    return [limiter.acquire() for _ in range(count)]


def test_processes_sharing_a_state_file_never_exceed_the_rate_together(tmp_path: Path) -> None:
    path = tmp_path / "pace"
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        granted = pool.starmap(acquire_many, [(str(path), PER_PROCESS)] * PROCESSES)
    every = sorted(start for starts in granted for start in starts)
    assert len(every) == len(set(every)) == PROCESSES * PER_PROCESS  # no slot given twice
    # A window a microsecond short of a second: starts exactly 1/RATE apart put the 101st at
    # +1.0 s, which float sums may place a hair inside a full second.
    assert max_in_any_window(every, window=1.0 - 1e-6) <= RATE
    gaps = [b - a for a, b in itertools.pairwise(every)]
    assert min(gaps) >= 1 / RATE - 1e-9  # one schedule: every start its own slot
