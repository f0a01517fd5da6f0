"""The output claim (one live run per output) and publishing under it: no network here."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene import claim as claims
from airflow_provider_sms.hygiene.claim import OutputClaim, OutputClaimedError
from airflow_provider_sms.hygiene.paths import partial_path_for
from airflow_provider_sms.hygiene.writer import ResultWriters


def claim_at(tmp_path: Path, token: str, owner: str = "test") -> OutputClaim:
    return OutputClaim(ObjectStoragePath(str(tmp_path / "out.csv.lock")), token=token, owner=owner)


def test_a_claim_holds_the_runs_identity_and_is_removed_on_release(tmp_path) -> None:
    mine = claim_at(tmp_path, "run-a", owner="task d.t of run r, try 1")
    mine.acquire()
    try:
        data = json.loads((tmp_path / "out.csv.lock").read_text())
        assert {k: data[k] for k in ("token", "host", "owner")} == {
            "token": "run-a", "host": socket.gethostname(), "owner": "task d.t of run r, try 1",
        }  # fmt: skip
        assert abs(data["heartbeat"] - time.time()) < 60
        mine.check()  # still ours
    finally:
        mine.release()
    assert not (tmp_path / "out.csv.lock").exists()


def test_a_second_claim_on_a_live_one_is_refused(tmp_path) -> None:
    first = claim_at(tmp_path, "run-a", owner="the first run")
    first.acquire()
    try:
        with pytest.raises(OutputClaimedError, match=r"being written by another run \(the first run on host"):
            claim_at(tmp_path, "run-b").acquire()
    finally:
        first.release()


def test_the_heartbeat_keeps_the_claim_fresh(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(claims, "HEARTBEAT_SECONDS", 0.05)
    mine = claim_at(tmp_path, "run-a")
    mine.acquire()
    try:
        first = json.loads((tmp_path / "out.csv.lock").read_text())["heartbeat"]
        deadline = time.monotonic() + 10
        while json.loads((tmp_path / "out.csv.lock").read_text())["heartbeat"] == first:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        mine.release()


def write_claim(tmp_path: Path, **fields) -> None:
    (tmp_path / "out.csv.lock").write_text(json.dumps({"token": "old", "owner": "old run", **fields}))


def test_stale_claims_are_taken_over(tmp_path) -> None:
    write_claim(tmp_path, host="elsewhere", pid=1, heartbeat=time.time() - claims.EXPIRY_SECONDS - 1)
    mine = claim_at(tmp_path, "run-a")
    mine.acquire()
    mine.release()
    assert mine.taken_over is not None
    assert mine.taken_over.startswith("old run on host elsewhere, pid 1, last heartbeat 6")

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_claim(tmp_path, host=socket.gethostname(), pid=gone.pid, heartbeat=time.time())
    mine = claim_at(tmp_path, "run-b")
    mine.acquire()  # same host, its process is gone: no need to wait for the expiry
    mine.release()
    assert mine.taken_over is not None


def test_an_unreadable_claim_counts_by_its_age(tmp_path) -> None:
    (tmp_path / "out.csv.lock").write_text("")  # a run writing its claim this very instant
    with pytest.raises(OutputClaimedError):
        claim_at(tmp_path, "run-a").acquire()


def test_a_takeover_never_removes_a_claim_written_since_it_looked(tmp_path) -> None:
    """Two runs see the same stale claim; the first replaces it; the second must not remove the fresh one."""
    stale = {"token": "old", "host": "elsewhere", "pid": 1, "heartbeat": 0.0}
    (tmp_path / "out.csv.lock").write_text(json.dumps(stale))
    first = claim_at(tmp_path, "run-a")
    first.acquire()
    try:
        late = claim_at(tmp_path, "run-b")
        assert late._create(stale) is False  # what the slower run does with what it read earlier
        assert json.loads((tmp_path / "out.csv.lock").read_text())["token"] == "run-a"
        first.check()
    finally:
        first.release()


def test_a_run_that_lost_its_claim_publishes_nothing(tmp_path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    (out / "numbers.csv").write_text("the other run's output\n")
    mine = OutputClaim(ObjectStoragePath(str(out / "numbers.csv.lock")), token="run-a", owner="me")
    mine.acquire()
    (out / "numbers.csv.lock").write_text(json.dumps({"token": "run-b", "heartbeat": time.time()}))
    with ResultWriters(work, ["number"]) as writers:
        pass
    destination = ObjectStoragePath(str(out / "numbers.csv"))

    with pytest.raises(OutputClaimedError, match=r"lost its claim on .* and does not publish over it"):
        writers.publish({"output": destination}, run_token="run-a", claim=mine)

    mine.release()
    assert (out / "numbers.csv").read_text() == "the other run's output\n"
    assert sorted(p.name for p in out.iterdir()) == ["numbers.csv", "numbers.csv.lock"]  # no partial left
    assert (out / "numbers.csv.lock").exists()  # the other run's claim is not ours to remove


def test_partial_files_are_named_per_run() -> None:
    destination = ObjectStoragePath("/data/numbers.csv")
    assert partial_path_for(destination, "run-a") != partial_path_for(destination, "run-b")
    assert partial_path_for(destination, "run-a").name == ".numbers.csv.partial-run-a"
