"""The webhook store's retry policy: which database errors are "lost a race for a lock, try
again", how many tries, how long the pauses (jittered, capped, within a budget), and SQLite
turns within a process. The store itself retrying on a real SQLite lock:
tests/sandbox/test_dashboard_rollup.py."""

from __future__ import annotations

import random
import sqlite3
import threading
import time

import psycopg
import pytest
import sqlalchemy as sa

from airflow_provider_sms.plugins.store_retry import (
    RetryPolicy,
    TurnTimeout,
    WriterTurns,
    is_transient_lock_error,
)


def wrapped(orig: BaseException, cls: type[sa.exc.DBAPIError] = sa.exc.OperationalError) -> sa.exc.DBAPIError:
    """As SQLAlchemy raises a driver's error."""
    return cls("INSERT INTO sms_api_webhook_dedupe ...", {"dedupe_key": "k"}, orig)


def real_sqlite_lock_error(tmp_path) -> sqlite3.OperationalError:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        other.close()
        holder.close()
    raise AssertionError("the second writer was not refused")


class MysqlError(Exception):
    """Stands for pymysql.err.OperationalError (not installed here): ``args[0]`` is MySQL's code."""


MysqlError.__module__ = "pymysql.err"


class TestWhichErrorsAreRetried:
    def test_sqlite_database_is_locked_as_the_driver_raises_it(self, tmp_path):
        error = real_sqlite_lock_error(tmp_path)
        assert "database is locked" in str(error)
        assert is_transient_lock_error(wrapped(error))

    @pytest.mark.parametrize("message", ["database is locked", "database table is locked"])
    def test_sqlite_lock_messages(self, message):
        assert is_transient_lock_error(wrapped(sqlite3.OperationalError(message)))

    @pytest.mark.parametrize(
        "message", ["disk I/O error", "no such table: asset_event", "database disk image is malformed"]
    )
    def test_other_sqlite_errors_are_not(self, message):
        assert not is_transient_lock_error(wrapped(sqlite3.OperationalError(message)))

    @pytest.mark.parametrize(
        "error",
        [
            psycopg.errors.DeadlockDetected,
            psycopg.errors.SerializationFailure,
            psycopg.errors.LockNotAvailable,
        ],
    )
    def test_postgresql_deadlock_serialization_and_lock_timeout(self, error):
        assert is_transient_lock_error(wrapped(error("deadlock detected")))

    def test_other_postgresql_errors_are_not(self):
        assert not is_transient_lock_error(
            wrapped(psycopg.errors.UniqueViolation("dup"), sa.exc.IntegrityError)
        )
        assert not is_transient_lock_error(wrapped(psycopg.errors.AdminShutdown("terminating connection")))
        assert not is_transient_lock_error(wrapped(psycopg.OperationalError("connection refused")))

    @pytest.mark.parametrize(
        ("code", "transient"), [(1213, True), (1205, True), (2006, False), (1062, False)]
    )
    def test_mysql_deadlock_and_lock_wait_timeout(self, code, transient):
        assert is_transient_lock_error(wrapped(MysqlError(code, "message"))) is transient

    def test_errors_that_are_not_the_database_s_are_not(self):
        assert not is_transient_lock_error(RuntimeError("database is locked"))
        assert not is_transient_lock_error(
            sqlite3.OperationalError("database is locked")
        )  # not via SQLAlchemy

    def test_a_turn_that_did_not_come_is_retried(self):
        assert is_transient_lock_error(TurnTimeout("no turn"))


class Clock:
    """A fake monotonic clock that ``sleep`` advances."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


LOCKED = wrapped(sqlite3.OperationalError("database is locked"))


def failing(times: int, error: BaseException = LOCKED, clock: Clock | None = None, takes: float = 0.0):
    """Work that raises ``error`` ``times`` times (each try taking ``takes`` seconds), then returns."""
    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        if clock is not None:
            clock.now += takes
        if len(calls) <= times:
            raise error
        return "stored"

    return work, calls


class TestRetryPolicy:
    def test_a_lock_error_is_retried_after_jittered_growing_pauses_then_succeeds(self):
        clock = Clock()
        work, calls = failing(2)
        policy = RetryPolicy(attempts=3, first_delay=0.05, max_delay=0.5, budget=4.0)
        assert policy.run(work, sleep=clock.sleep, clock=clock, rng=random.Random(1)) == "stored"
        assert len(calls) == 3
        first, second = clock.sleeps
        assert 0 <= first <= 0.05
        assert 0 <= second <= 0.1

    def test_pauses_are_spread_and_capped(self):
        policy = RetryPolicy(attempts=8, first_delay=0.05, max_delay=0.3, budget=10)
        runs = [list(policy.pauses(random.Random(seed))) for seed in range(50)]
        assert all(len(pauses) == 7 for pauses in runs)
        assert all(0 <= p <= 0.3 for pauses in runs for p in pauses)
        assert len({pauses[0] for pauses in runs}) == 50  # racing savers do not retry in step
        assert max(pauses[-1] for pauses in runs) > 0.15  # later pauses may be longer

    def test_when_the_tries_run_out_the_last_lock_error_goes_through(self):
        clock = Clock()
        work, calls = failing(5)
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            RetryPolicy(attempts=3).run(work, sleep=clock.sleep, clock=clock)
        assert (len(calls), len(clock.sleeps)) == (3, 2)

    def test_other_errors_are_not_retried(self):
        clock = Clock()
        work, calls = failing(1, wrapped(sqlite3.OperationalError("disk I/O error")))
        with pytest.raises(sa.exc.OperationalError, match="disk I/O"):
            RetryPolicy(attempts=5).run(work, sleep=clock.sleep, clock=clock)
        assert (len(calls), clock.sleeps) == (1, [])

    def test_no_try_starts_after_the_budget(self):
        """A try that waited its busy timeout (here 3 s) leaves no room for another within 4 s."""
        clock = Clock()
        work, calls = failing(5, clock=clock, takes=3.0)
        with pytest.raises(sa.exc.OperationalError):
            RetryPolicy(attempts=5, first_delay=0.05, max_delay=0.5, budget=4.0).run(
                work, sleep=clock.sleep, clock=clock
            )
        assert len(calls) == 2
        assert clock.now - 100.0 <= 4.0 + 3.0

    @pytest.mark.parametrize("takes", [0.01, 1.0, 5.0])  # 5 s: SQLite's default busy timeout
    def test_the_store_s_policy_gives_up_within_seconds(self, takes):
        """However long each failing try takes, the store answers (503) within its budget plus
        one try: a sender waiting for the answer is not kept waiting for a long series of tries."""
        from airflow_provider_sms.plugins.store import RETRY

        clock = Clock()
        work, calls = failing(10, clock=clock, takes=takes)
        with pytest.raises(sa.exc.OperationalError):
            RETRY.run(work, sleep=clock.sleep, clock=clock, rng=random.Random(3))
        assert clock.now - 100.0 <= RETRY.budget + RETRY.max_delay + takes
        assert len(calls) == (1 if takes > RETRY.budget else RETRY.attempts)

    def test_a_retry_is_logged_with_the_driver_s_message_not_the_parameters(self, caplog):
        clock = Clock()
        work, _ = failing(1)
        with caplog.at_level("INFO"):
            RetryPolicy().run(work, sleep=clock.sleep, clock=clock, what="storing receipt:r1:SENT")
        assert "Retrying storing receipt:r1:SENT" in caplog.text
        assert "database is locked" in caplog.text
        assert "dedupe_key" not in caplog.text

    @pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"first_delay": 1.0, "max_delay": 0.5}])
    def test_nonsense_is_refused(self, kwargs):
        with pytest.raises(ValueError, match=r"attempts|delays"):
            RetryPolicy(**kwargs)


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


class TestWriterTurns:
    def test_savers_of_a_process_write_one_at_a_time(self):
        turns = WriterTurns(enabled=True)
        inside, most = [0], [0]
        guard = threading.Lock()

        def write(_: int) -> None:
            with turns.turn():
                with guard:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.01)
                with guard:
                    inside[0] -= 1

        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert most[0] == 1

    def test_turns_come_in_the_order_asked(self):
        turns = WriterTurns(enabled=True)
        order: list[int] = []
        threads = []
        with turns.turn():  # held while eight savers line up, one after the other
            for i in range(8):
                thread = threading.Thread(target=lambda i=i: self._write(turns, order, i))
                thread.start()
                threads.append(thread)
                wait_until(lambda n=i + 2: len(turns._queue) == n)
        for thread in threads:
            thread.join()
        assert order == list(range(8))

    @staticmethod
    def _write(turns: WriterTurns, order: list[int], i: int) -> None:
        with turns.turn():
            order.append(i)

    def test_a_turn_that_does_not_come_is_a_lock_error_and_leaves_the_line(self):
        turns = WriterTurns(enabled=True, timeout=0.05)
        with turns.turn():
            with pytest.raises(TurnTimeout, match=r"no turn to write within 0\.05 s"), turns.turn():
                pass
            assert len(turns._queue) == 1  # the holder only: the one who gave up holds up no one
        with turns.turn():  # next in line gets it at once
            pass

    def test_a_failed_write_frees_the_turn(self):
        turns = WriterTurns(enabled=True, timeout=0.05)
        with pytest.raises(RuntimeError), turns.turn():
            raise RuntimeError("the write failed")
        with turns.turn():  # free again
            pass

    def test_off_for_databases_that_lock_rows(self):
        turns = WriterTurns(enabled=False, timeout=0.01)
        with turns.turn(), turns.turn():  # no lock taken: nesting does not wait
            pass
