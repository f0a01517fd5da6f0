"""What a campaign holds in memory does not grow with the list: the repeats table lives on disk
with a bounded page cache, and the large report goes to its file as it is assembled.

Pinned by what is held (the table's file and cache setting, the characters not yet in the
file), never by RSS (benchmarks/campaign.py measures that).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.sending.campaign import SEEN_CACHE_KIB, SeenMessages
from airflow_provider_sms.sending.entries import TaskScope
from airflow_provider_sms.sending.journal import SendJournal

MESSAGES = 120_000  # ~2.8 MB of table (~24 bytes a message): more than twice the page cache


def test_the_repeats_table_lives_in_a_file_and_only_a_bounded_cache_of_it_in_memory() -> None:
    seen = SeenMessages()
    db: sqlite3.Connection = seen._db
    (_, name, path), *_ = db.execute("PRAGMA database_list").fetchall()
    assert name == "main"
    assert path  # not ":memory:", not a temporary db
    assert Path(path).is_file()
    assert db.execute("PRAGMA cache_size").fetchone()[0] == -SEEN_CACHE_KIB
    assert db.execute("PRAGMA temp_store").fetchone()[0] == 1  # FILE
    assert SEEN_CACHE_KIB <= 2000  # at most SQLite's default cache (2000 KiB)
    try:
        for i in range(MESSAGES):
            assert seen.first_time(f"+447911{i:06d}", f"Hi, order {i}")
        # Repeats are still found once the table is several times the cache.
        assert not seen.first_time("+447911000000", "Hi, order 0")
        assert not seen.first_time(f"+447911{MESSAGES - 1:06d}", f"Hi, order {MESSAGES - 1}")
        assert seen.first_time("+447911000000", "Hi, order 1")  # same person, another text
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        assert pages * page_size > 2 * SEEN_CACHE_KIB * 1024  # the table outgrew the cache: on disk
    finally:
        seen.close()
    assert not Path(path).exists()


def test_the_large_report_reaches_its_file_while_it_is_assembled(tmp_path: Path) -> None:
    """Of a 4 MB report, never more than 256 KiB waits in memory before it is written."""
    journal = SendJournal(ObjectStoragePath(str(tmp_path)), TaskScope("dag", "run", "send"))
    folder = Path(journal.folder.path)
    chunk = '"' + "x" * 98 + '"'  # 100 characters (ASCII: one byte each)
    held: list[int] = []

    def chunks() -> Iterator[str]:
        yield "["
        given = 1
        for i in range(40_000):
            partial = list(folder.glob(f".{journal.report_path.name}.*"))
            written = partial[0].stat().st_size if partial else 0
            held.append(given - written)
            piece = f", {chunk}" if i else chunk
            given += len(piece)
            yield piece
        yield "]"

    path = journal.write_report(chunks())
    assert len(held) == 40_000
    assert max(held) <= 256 * 1024
    assert Path(path.path).stat().st_size == given_size(chunk, 40_000)


def given_size(chunk: str, n: int) -> int:
    return 2 + n * len(chunk) + (n - 1) * 2
