"""Running a metadata-database transaction again when it lost a race for a lock.

SQLite admits one writer at a time: under a burst of webhooks a transaction may wait for the
write lock longer than the driver's busy timeout (5 s by default) and fail with ``database is
locked``. PostgreSQL aborts one of two deadlocked transactions (``40P01``), or one that cannot
be serialized (``40001``, at a stricter isolation than Airflow's default), or one that gave up
waiting for a row lock (``55P03``); MySQL does the same with errors 1213 and 1205. In each
case the transaction rolled back: nothing was written, and running it again is safe. Any
other error is not retried (the database is down, the data is wrong...).

:class:`RetryPolicy` runs the work again a few times after a short, jittered pause, within a
time budget, and lets the last error through when it runs out: the webhook then answers 503
and the sender retries later.

:class:`WriterTurns` makes the savers of one process take turns on SQLite before they ask
for its write lock (see there).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

T = TypeVar("T")

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
_SQLITE_MESSAGES = ("database is locked", "database table is locked", "database is busy")
#: serialization_failure, deadlock_detected, lock_not_available
_POSTGRES_STATES = frozenset({"40001", "40P01", "55P03"})
#: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
_MYSQL_CODES = frozenset({1213, 1205})


class TurnTimeout(RuntimeError):
    """The other savers of this process kept SQLite's write lock too long (:class:`WriterTurns`)."""


def is_transient_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a database's "lost a race for a lock; try again" (nothing was written).

    :param exc: an exception raised by a SQLAlchemy session or connection, or :class:`TurnTimeout`.
    """
    if isinstance(exc, TurnTimeout):
        return True
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    orig = exc.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    if type(orig).__module__.startswith("sqlite3"):
        return any(message in str(orig) for message in _SQLITE_MESSAGES)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)  # psycopg 3 / psycopg2
    if isinstance(state, str):
        return state in _POSTGRES_STATES
    code = orig.args[0] if orig.args else None
    return type(orig).__module__.split(".")[0] in ("MySQLdb", "pymysql") and code in _MYSQL_CODES


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` runs; before each new one a pause drawn uniformly from 0 to
    ``first_delay * 2**(n-1)`` (capped at ``max_delay``: "full jitter", so racing savers spread
    out); no new attempt once ``budget`` seconds have passed since the first one started.

    The budget bounds the pauses and the starts, not the attempts themselves: on SQLite one
    attempt may wait up to the driver's busy timeout for the write lock.

    :param attempts: runs in all (1: no retry).
    :param first_delay: the largest pause before the second run, in seconds.
    :param max_delay: the largest pause before any run, in seconds.
    :param budget: seconds after which no new run starts.
    """

    attempts: int = 3
    first_delay: float = 0.05
    max_delay: float = 0.5
    budget: float = 4.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if not 0 <= self.first_delay <= self.max_delay:
            raise ValueError("delays must satisfy 0 <= first_delay <= max_delay")

    def pauses(self, rng: random.Random | None = None) -> Iterator[float]:
        """The pauses before the 2nd, 3rd... run (``attempts - 1`` of them)."""
        draw = (rng or random).uniform
        for n in range(self.attempts - 1):
            yield draw(0.0, min(self.max_delay, self.first_delay * 2**n))

    def run(
        self,
        work: Callable[[], T],
        *,
        transient: Callable[[BaseException], bool] = is_transient_lock_error,
        what: str = "a database transaction",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> T:
        """``work()``, run again after a transient failure while attempts and budget last.

        :param work: the transaction (it must roll back entirely when it raises).
        :param transient: which exceptions may be retried.
        :param what: what the work is, for the log.
        :raises: the last exception when it is not transient or retries ran out.
        """
        started = clock()
        pauses = self.pauses(rng)
        attempt = 1
        while True:
            try:
                return work()
            except Exception as exc:
                if not transient(exc):
                    raise
                pause = next(pauses, None)
                if pause is None or clock() + pause - started > self.budget:
                    raise
                log.info(
                    "Retrying %s in %.0f ms (attempt %d of %d failed on a lock: %s)",
                    what,
                    pause * 1000,
                    attempt,
                    self.attempts,
                    _driver_message(exc),
                )
                sleep(pause)
                attempt += 1


def _driver_message(exc: BaseException) -> str:
    """The driver's own first line ("database is locked"), never SQLAlchemy's (which shows parameters)."""
    orig = getattr(exc, "orig", None)
    return (
        str(orig).strip().splitlines()[0][:120]
        if orig is not None and str(orig).strip()
        else type(exc).__name__
    )


class WriterTurns:
    """The savers of one process take turns, first come first served, before they ask SQLite for
    its write lock.

    SQLite admits one writer; the others wait in its busy handler, which polls with sleeps of
    up to 100 ms. Twenty savers polling at once do not get the lock in turn: some wait past
    the busy timeout ("database is locked") while the lock is free most of the time. Queued
    in this process instead, each waits for the saves ahead of it only, and SQLite's busy
    handler only for other processes (Airflow's scheduler, another API-server worker).

    :param enabled: take turns (SQLite); otherwise :meth:`turn` does nothing (PostgreSQL and
        MySQL lock rows, not the database).
    :param timeout: seconds to wait for a turn before :class:`TurnTimeout` (a safety net: the
        queue moves as fast as the saves ahead of it).
    """

    def __init__(self, enabled: bool, timeout: float = 30.0) -> None:
        self.enabled = enabled
        self._timeout = timeout
        self._mutex = threading.Lock()
        self._queue: deque[threading.Event] = deque()  # the first one holds the turn

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold this process's turn to write for the ``with`` block.

        :raises TurnTimeout: no turn within the timeout.
        """
        if not self.enabled:
            yield
            return
        mine = threading.Event()
        with self._mutex:
            self._queue.append(mine)
            if self._queue[0] is mine:
                mine.set()
        if not mine.wait(self._timeout):
            with self._mutex:
                if not mine.is_set():  # (else the turn came just now)
                    self._queue.remove(mine)
                    raise TurnTimeout(f"no turn to write within {self._timeout:g} s")
        try:
            yield
        finally:
            with self._mutex:
                self._queue.popleft()
                if self._queue:
                    self._queue[0].set()
