"""IncomingCallSensor end to end: poke, reschedule and deferrable (trigger run in-process by dag.test())."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dags.ops_sensor import CALLS_WHEN_TOLD
from tests.support.runs import OPS_DAGS, requests_for, run_dag, states, use_journal, use_sandbox, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")
DAG_FILE = OPS_DAGS / "ops_sensor.py"


@contextlib.contextmanager
def user_calls_after_a_pending_read(sandbox: Any) -> Iterator[list[bool]]:
    """The simulated user calls the reserved number once the sensor has read it PENDING.

    Yields a list that receives whether the sandbox accepted the call. However late
    ``dag.test()`` starts the sensor, its first read sees PENDING and a later one DELIVERED.
    """
    placed: list[bool] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            pending = [e for e in requests_for(sandbox, "incoming_info") if e["outcome"] == "PENDING"]
            if pending:
                placed.append(sandbox.place_incoming_call(pending[0]["request_id"]))
                return

    watcher = threading.Thread(target=watch, name="simulated-user", daemon=True)
    watcher.start()
    try:
        yield placed
    finally:
        stop.set()
        watcher.join(5)


@pytest.fixture(autouse=True)
def _journal(monkeypatch, tmp_path):
    use_journal(monkeypatch, tmp_path)


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_verification_succeeds(mode, sandbox, monkeypatch, capfd, caplog) -> None:
    use_sandbox(monkeypatch, sandbox)

    with user_calls_after_a_pending_read(sandbox) as placed:
        dr = run_dag(DAG_FILE, f"ops_verify_{mode}")

    assert placed == [True]
    assert set(states(dr).values()) == {"success"}
    reservation = xcom(dr, "reserve")
    info = xcom(dr, "wait")
    assert info["status"] == "DELIVERED"
    assert info["request_id"] == reservation["request_id"]
    assert info["did_number"] == reservation["did_number"]
    assert info["call_received_at"] is not None
    reads = requests_for(sandbox, "incoming_info")
    assert [e["outcome"] for e in reads[:1] + reads[-1:]] == ["PENDING", "DELIVERED"]
    assert {e["request_id"] for e in reads} == {reservation["request_id"]}
    assert [e["request_id"] for e in requests_for(sandbox, "notify")] == [reservation["request_id"]]
    out = capfd.readouterr().out + caplog.text
    if mode == "deferrable":
        assert "running trigger in line" in out  # dag.test() ran IncomingCallTrigger.run()
    assert CALLS_WHEN_TOLD not in out  # masked in every log line


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_expiry_fails_or_skips_with_soft_fail(mode, sandbox_factory, monkeypatch, capfd) -> None:
    with sandbox_factory(expire_after=1, grace=30) as sb:
        use_sandbox(monkeypatch, sb)

        dr = run_dag(DAG_FILE, f"ops_expiry_{mode}")

    assert states(dr) == {("reserve", -1): "success", ("wait", -1): "failed", ("wait_soft", -1): "skipped"}
    assert "expired before the user called" in capfd.readouterr().out


def test_unknown_request_and_own_timeout(sandbox, monkeypatch, capfd) -> None:
    use_sandbox(monkeypatch, sandbox)

    dr = run_dag(DAG_FILE, "ops_sensor_edges")

    assert states(dr) == {
        ("unknown_id", -1): "failed",
        ("reserve", -1): "success",
        ("times_out", -1): "failed",
    }
    out = capfd.readouterr().out
    assert "is unknown or expired (HTTP 404)" in out
    assert "Gave up waiting for incoming call" in out
