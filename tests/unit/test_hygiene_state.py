"""Resume state chunks, previous results and the on-disk store."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.checkpoint import CheckpointLog, parse_checked_at
from airflow_provider_sms.hygiene.previous import read_previous_results
from airflow_provider_sms.hygiene.reader import HygieneInputError
from airflow_provider_sms.hygiene.store import CACHE, RESUME, ResultStore
from airflow_provider_sms.hygiene.verdicts import RESULT_COLUMNS, NumberCheck, Verdict

NOW = datetime(2024, 6, 10, 2, 0, tzinfo=timezone.utc)


def check(n: int, verdict: Verdict = Verdict.VALID, *, days_old: float = 1) -> NumberCheck:
    at = (NOW - timedelta(days=days_old)).isoformat()
    return NumberCheck(f"+4474001234{n:02d}", verdict, "DELIVERED", "23410", "O2, UK", "GB", "PASSED", "", at)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_answers_are_saved_by_count_or_time_and_read_back(tmp_path) -> None:
    clock = Clock()
    state_dir = ObjectStoragePath(str(tmp_path / "out.csv.state"))
    state = CheckpointLog(state_dir, every=3, interval=1, clock=clock)

    state.add(check(1))
    state.add(NumberCheck("+447400123402", Verdict.ERROR, error="HLR failed"))  # checked again next time
    state.add(NumberCheck("", Verdict.INVALID, error="letters"))  # free to recompute
    assert not state.due()
    clock.now = 1.0
    assert state.due()
    state.flush()
    for n in (3, 4, 5):
        state.add(check(n))
    assert state.due()  # three buffered
    state.flush()

    # A local filesystem: one append-only file per try, every save fsync-ed into it.
    (part,) = (tmp_path / "out.csv.state").iterdir()
    assert part.name.startswith("answers-")
    assert part.name.endswith(".jsonl")
    assert part.read_bytes().count(b"\n") == 4
    assert list(state.load(None, now=NOW)) == [check(1), check(3), check(4), check(5)]
    assert state.saved == 4
    state.close()


def test_on_an_object_store_each_save_is_a_new_object(tmp_path) -> None:
    from tests.compat import need_memory_filesystem

    need_memory_filesystem()
    state_dir = ObjectStoragePath(f"memory://bucket/{tmp_path.name}/out.csv.state")
    state = CheckpointLog(state_dir, every=1, interval=1)
    for n in (1, 2):
        state.add(check(n))
        state.flush()

    assert sorted(p.name[-12:] for p in state_dir.iterdir()) == ["000001.jsonl", "000002.jsonl"]
    assert list(state.load(None, now=NOW)) == [check(1), check(2)]
    state.clear()
    assert list(state.load(None, now=NOW)) == []


def test_every_try_keeps_its_own_file_and_a_new_try_reads_them_all(tmp_path) -> None:
    state_dir = ObjectStoragePath(str(tmp_path / "s"))
    first = CheckpointLog(state_dir, every=1, interval=1)
    first.add(check(1))
    first.flush()
    second = CheckpointLog(state_dir, every=1, interval=1)
    second.add(check(2))
    second.flush()

    assert len(list((tmp_path / "s").iterdir())) == 2
    assert sorted(c.e164 for c in CheckpointLog(state_dir, every=1, interval=1).load(None, now=NOW)) == [
        check(1).e164, check(2).e164,
    ]  # fmt: skip


def test_a_line_cut_short_by_a_kill_is_ignored_and_the_lines_before_it_kept(tmp_path) -> None:
    state = CheckpointLog(ObjectStoragePath(str(tmp_path / "s")), every=10, interval=10)
    for n in (1, 2, 3):
        state.add(check(n))
    state.flush()
    state.close()
    part = next((tmp_path / "s").iterdir())
    data = part.read_bytes()
    part.write_bytes(data[: data.rindex(b"\n", 0, -1) + 20])  # killed in the middle of the third line

    assert list(state.load(None, now=NOW)) == [check(1), check(2)]


@pytest.mark.parametrize("odd", ["\x0c", "\x85", "\u2028", "\u2029", "\n", "\r\n", "\x1c", '"', ",", "\\"])
def test_any_character_in_an_answer_survives_the_round_trip(tmp_path, odd: str) -> None:
    """str.splitlines() splits on \\x0c, \\x85, U+2028...: one such network name used to make a
    whole chunk (up to 500 paid answers) unreadable."""
    state = CheckpointLog(ObjectStoragePath(str(tmp_path / "s")), every=10, interval=10)
    odd_one = check(2)._replace(network=f"Net{odd}work {odd}", country=odd)
    for c in (check(1), odd_one, check(3)):
        state.add(c)
    state.flush()
    state.close()

    assert list(state.load(None, now=NOW)) == [check(1), odd_one, check(3)]


def test_old_answers_are_not_resumed(tmp_path) -> None:
    state = CheckpointLog(ObjectStoragePath(str(tmp_path / "s")), every=10, interval=10)
    state.add(check(1, days_old=1))
    state.add(check(2, days_old=8))
    state.flush()

    assert [c.e164 for c in state.load(timedelta(days=7), now=NOW)] == [check(1).e164]
    state.clear()
    assert not (tmp_path / "s").exists()


class BucketPrefix:
    """A "directory" of an object store (S3, GCS) over a local one: it exists while a file is
    under it, and rmdir refuses it once empty, as universal_pathlib over s3fs does."""

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.is_dir()

    def is_dir(self) -> bool:
        return self.path.is_dir() and any(self.path.iterdir())

    def iterdir(self):
        return self.path.iterdir()

    def rmdir(self) -> None:
        if not self.is_dir():
            raise NotADirectoryError(str(self.path))
        self.path.rmdir()


def test_clear_on_an_object_store_where_the_directory_vanishes_with_its_last_file(tmp_path) -> None:
    state_dir = ObjectStoragePath(str(tmp_path / "s"))
    state = CheckpointLog(state_dir, every=10, interval=10)
    state.add(check(1))
    state.flush()
    state.state_dir = BucketPrefix(state_dir)  # type: ignore[assignment]

    state.clear()  # the output is published: a failure here would fail the task after the fact

    assert list((tmp_path / "s").iterdir()) == []


def write_output(path: Path, checks: list[NumberCheck]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "number", *RESULT_COLUMNS])
        for i, c in enumerate(checks):
            writer.writerow([i, c.e164, *c.output_fields(duplicate=False)])


def test_previous_results_keep_only_recent_judged_numbers(tmp_path) -> None:
    previous = tmp_path / "night1.csv"
    write_output(
        previous,
        [
            check(1),
            check(2, Verdict.FRAUDULENT),
            check(3, days_old=30),
            NumberCheck("+447400123404", Verdict.ERROR, error="timeout", checked_at=NOW.isoformat()),
            NumberCheck("+447400123405", Verdict.UNCHECKED, error="budget"),
            NumberCheck("", Verdict.INVALID, error="letters", checked_at=NOW.isoformat()),
        ],
    )

    reused = list(read_previous_results(ObjectStoragePath(str(previous)), timedelta(days=7), now=NOW))

    assert reused == [check(1), check(2, Verdict.FRAUDULENT)]


def test_previous_results_must_be_a_hygiene_output(tmp_path) -> None:
    (tmp_path / "clean.csv").write_text("id,number,e164\n1,+44,+44\n")

    with pytest.raises(HygieneInputError, match=r"not a hygiene output: it lacks the columns \['verdict'"):
        list(read_previous_results(ObjectStoragePath(str(tmp_path / "clean.csv")), None))


def test_store_seen_and_reusable(tmp_path) -> None:
    store = ResultStore(tmp_path)
    try:
        assert store.seen(check(1).e164) is None
        store.remember(check(1))
        assert store.seen(check(1).e164) == check(1)
        assert store.add_reusable([check(2)], RESUME) == 1
        assert store.add_reusable([check(2, Verdict.FRAUDULENT), check(3)], CACHE) == 1  # resume wins
        assert store.reusable(check(2).e164) == (check(2), RESUME)
        assert store.reusable(check(3).e164) == (check(3), CACHE)
        assert store.reusable(check(4).e164) is None
    finally:
        store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01T02:00:00+00:00", datetime(2024, 6, 1, 2, tzinfo=timezone.utc)),
        ("2024-06-01T02:00:00Z", datetime(2024, 6, 1, 2, tzinfo=timezone.utc)),
        ("2024-06-01 02:00:00", datetime(2024, 6, 1, 2, tzinfo=timezone.utc)),
        ("2024-06-01T04:00:00.5+02:00", datetime(2024, 6, 1, 2, 0, 0, 500000, tzinfo=timezone.utc)),
        ("", None),
        ("yesterday", None),
        ("P1D", None),  # an ISO duration is not a time
    ],
)
def test_parse_checked_at(text: str, expected: datetime | None) -> None:
    assert parse_checked_at(text) == expected


def test_an_empty_previous_results_file_is_no_previous_run(tmp_path) -> None:
    (tmp_path / "numbers.csv").write_bytes(b"")
    assert list(read_previous_results(ObjectStoragePath(str(tmp_path / "numbers.csv")), None)) == []


def test_publishing_replaces_each_file_whole_and_leaves_no_partial_copy(tmp_path) -> None:
    from airflow_provider_sms.hygiene.writer import ResultWriters

    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    (out / "numbers.csv").write_text("the previous night's output\n")
    with ResultWriters(work, ["number"]) as writers:
        pass
    destinations = {
        name: ObjectStoragePath(str(out / f"numbers{suffix}.csv"))
        for name, suffix in (("output", ""), ("clean", ".clean"), ("flagged", ".flagged"))
    }
    writers.publish(destinations, run_token="t1")
    published = sorted(p.name for p in out.iterdir())
    assert published == ["numbers.clean.csv", "numbers.csv", "numbers.flagged.csv"]
    assert (out / "numbers.csv").read_text().startswith("number,e164,verdict")
