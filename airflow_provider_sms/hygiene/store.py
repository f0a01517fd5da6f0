"""What a run knows about numbers, kept on local disk so memory stays flat at any list size.

Two SQLite tables in a private temporary file:

- ``seen``: every number met in this run (first occurrence) and its outcome, so a repeat
  costs no call and takes the same verdict;
- ``reusable``: answers that may be reused without a call, from the resume state of an
  earlier try (``origin`` = resume) or from a previous run's output (``origin`` = cache).

Only the thread that streams the list touches the database: the checking threads return
their answers to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from airflow_provider_sms.hygiene.verdicts import NumberCheck, Verdict

RESUME = "resume"
CACHE = "cache"
_COMMIT_EVERY = 20_000

_COLUMNS = "e164, verdict, hlr_status, mccmnc, network, country, fraud_status, error, checked_at"
_SCHEMA = f"""
CREATE TABLE seen ({_COLUMNS}, PRIMARY KEY (e164)) WITHOUT ROWID;
CREATE TABLE reusable ({_COLUMNS}, origin, PRIMARY KEY (e164)) WITHOUT ROWID;
"""
# Constant statements (placeholders only): nothing from the data is ever formatted into SQL.
_REMEMBER = "INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_ADD_REUSABLE = "INSERT OR IGNORE INTO reusable VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


class ResultStore:
    """An on-disk map E.164 → :class:`NumberCheck` for one run.

    :param directory: a private local directory the file goes in.
    """

    def __init__(self, directory: Path) -> None:
        self._db = sqlite3.connect(str(directory / "numbers.sqlite3"), isolation_level=None)
        # A scratch file: no journal and no fsync. The page cache is capped so memory
        # does not grow with the number of distinct numbers.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-16000", "temp_store=FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._db.execute("BEGIN")
        self._pending_writes = 0

    def close(self) -> None:
        self._db.close()

    # -- numbers of this run -----------------------------------------------------------

    def seen(self, e164: str) -> NumberCheck | None:
        """The outcome of ``e164`` if an earlier row of this run had it."""
        row = self._db.execute("SELECT * FROM seen WHERE e164 = ?", (e164,)).fetchone()
        return _check(row) if row else None

    def remember(self, check: NumberCheck) -> None:
        self._db.execute(_REMEMBER, _values(check))
        self._written(1)

    # -- answers that may be reused ----------------------------------------------------

    def add_reusable(self, checks: Iterable[NumberCheck], origin: str) -> int:
        """Store answers for reuse; an answer already stored (from the resume state) wins."""
        added = 0
        for check in checks:
            added += self._db.execute(_ADD_REUSABLE, (*_values(check), origin)).rowcount
            self._written(1)
        return added

    def reusable(self, e164: str) -> tuple[NumberCheck, str] | None:
        """A reusable answer for ``e164`` and where it came from (``resume`` or ``cache``)."""
        row = self._db.execute("SELECT * FROM reusable WHERE e164 = ?", (e164,)).fetchone()
        return (_check(row[:9]), row[9]) if row else None

    def _written(self, n: int) -> None:
        self._pending_writes += n
        if self._pending_writes >= _COMMIT_EVERY:  # keep the uncommitted set small
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._pending_writes = 0


def _values(check: NumberCheck) -> tuple[str, ...]:
    return (check.e164, check.verdict.value, *check[2:])


def _check(row: tuple[str, ...]) -> NumberCheck:
    return NumberCheck(row[0], Verdict(row[1]), *row[2:9])
