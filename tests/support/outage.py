"""An API outage in the middle of a DAG run: the sandbox goes down once enough requests came in,
and comes back when the task's first try has failed (its ``on_retry_callback``).

``dag.test()`` runs the task, its retry and its callbacks in the test's process, so a test DAG's
callback reaches the test's :class:`~airflow_provider_sms.sandbox.Sandbox` through this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# 1,000 distinct GB mobile numbers that none of the sandbox's magic endings (66, 77, 98, 99)
# turn into anything but a delivered SMS and a VALID hygiene verdict.
OUTAGE_NUMBERS = [
    n for n in (f"+447911{i:06d}" for i in range(1100)) if n[-2:] not in ("66", "77", "98", "99")
][:1000]


@dataclass
class Outage:
    """One planned outage of ``sandbox``: down after ``after`` ledger entries, back at the retry."""

    sandbox: Any
    after: int
    went_down_at: float | None = None
    came_back_at: float | None = None
    ledger_at_failure: int | None = None
    errors: list[BaseException] = field(default_factory=list)
    _done: threading.Event = field(default_factory=threading.Event)

    def watch(self) -> None:
        try:
            while not self._done.wait(0.01):
                if len(self.sandbox.ledger()) >= self.after:
                    # go_down() returns once its drain is over: the outage starts when it is called.
                    self.went_down_at = time.monotonic()
                    self.sandbox.go_down()
                    return
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def end(self) -> None:
        """The task's first try failed: note when, and bring the sandbox back (once it is down)."""
        self.came_back_at = time.monotonic()
        self.sandbox.come_back()
        self.ledger_at_failure = len(self.sandbox.ledger())

    @property
    def stopped_within(self) -> float:
        """Seconds from the outage's start to the first try's failure."""
        assert self.went_down_at is not None, "the sandbox never went down"
        assert self.came_back_at is not None, "the task never failed"
        return self.came_back_at - self.went_down_at


_current: list[Outage] = []


@contextmanager
def outage_during(sandbox: Any, *, after: int) -> Iterator[Outage]:
    """Take ``sandbox`` down once its ledger has ``after`` entries; :func:`end_outage` ends it."""
    outage = Outage(sandbox, after)
    watcher = threading.Thread(target=outage.watch, name="outage-watcher", daemon=True)
    _current.append(outage)
    watcher.start()
    try:
        yield outage
    finally:
        outage._done.set()
        watcher.join(10)
        _current.remove(outage)
        if sandbox.down:
            sandbox.come_back()


def end_outage(context: Any) -> None:
    """``on_retry_callback`` of the outage DAGs: the first try failed; the API comes back."""
    for outage in _current:
        outage.end()
