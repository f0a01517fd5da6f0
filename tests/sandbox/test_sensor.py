"""IncomingCallSensor end to end: poke, reschedule and deferrable (trigger run in-process by dag.test())."""

from __future__ import annotations

import pytest

from tests.support.runs import OPS_DAGS, requests_for, run_dag, states, use_journal, use_sandbox, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")
DAG_FILE = OPS_DAGS / "ops_sensor.py"
CALLS_AFTER_1S = "+447911123441"


@pytest.fixture(autouse=True)
def _journal(monkeypatch, tmp_path):
    use_journal(monkeypatch, tmp_path)


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_verification_succeeds(mode, sandbox, monkeypatch, capfd, caplog) -> None:
    use_sandbox(monkeypatch, sandbox)

    dr = run_dag(DAG_FILE, f"ops_verify_{mode}")

    assert set(states(dr).values()) == {"success"}
    reservation = xcom(dr, "reserve")
    info = xcom(dr, "wait")
    assert info["status"] == "DELIVERED"
    assert info["request_id"] == reservation["request_id"]
    assert info["did_number"] == reservation["did_number"]
    assert info["call_received_at"] is not None
    reads = requests_for(sandbox, "incoming_info")
    assert len(reads) >= 2, "the first read is PENDING (the user calls after 1 s)"
    assert [e["request_id"] for e in requests_for(sandbox, "notify")] == [reservation["request_id"]]
    out = capfd.readouterr().out + caplog.text
    if mode == "deferrable":
        assert "running trigger in line" in out  # dag.test() ran IncomingCallTrigger.run()
    assert "+447911123441" not in out  # masked in every log line


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
