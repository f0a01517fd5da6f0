"""The engine's concurrency with a stand-in hook: order, bounds, failures (no network here)."""

from __future__ import annotations

import csv
import logging
import random
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.results import FraudCheckResult, HlrResult
from airflow_provider_sms.batch.inflight import InFlightController
from airflow_provider_sms.exceptions import AccountError
from airflow_provider_sms.hygiene import HygieneEngine, HygieneOptions
from airflow_provider_sms.hygiene.checkpoint import CheckpointLog
from airflow_provider_sms.hygiene.pipeline import MIN_WINDOW, CheckPipeline
from airflow_provider_sms.hygiene.progress import ProgressReporter, RunStats
from airflow_provider_sms.hygiene.reader import InputRow
from airflow_provider_sms.hygiene.store import ResultStore
from airflow_provider_sms.hygiene.verdicts import Verdict, is_half_checked
from airflow_provider_sms.hygiene.writer import ResultWriters


class FakeHook:
    """Answers like the sandbox (by last digits) after a random short delay; counts calls."""

    def __init__(self, *, delay: float = 0.003, fail_on: dict[str, BaseException] | None = None) -> None:
        self.settings = SimpleNamespace(rate_limit=1000.0, log_full_numbers=False)
        self.limiter = SimpleNamespace(rate=970.0)
        self.delay = delay
        self.fail_on = fail_on or {}
        self.calls: list[tuple[str, str]] = []
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()
        self._rng = random.Random(7)

    def get_conn(self) -> None:
        return None

    def _call(self, product: str, number: str) -> None:
        with self._lock:
            self.calls.append((product, number))
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            pause = self._rng.uniform(0, self.delay)
        try:
            time.sleep(pause)
            if number in self.fail_on:
                raise self.fail_on[number]
        finally:
            with self._lock:
                self.running -= 1

    def hlr_lookup(self, number: str) -> HlrResult:
        self._call("hlr", number)
        status = "UNDELIVERED" if number.endswith("98") else "DELIVERED"
        return HlrResult(
            raw={}, id="x", product="insight.hlr", number=number, mccmnc="23410", network="O2", country="GB",
            status=status, created_at=None,
        )  # fmt: skip

    def fraud_check(self, number: str) -> FraudCheckResult:
        self._call("fraud", number)
        status = {"66": "FRAUDULENT", "77": "SUSPICIOUS"}.get(number[-2:], "PASSED")
        return FraudCheckResult(raw={}, status=status, mobile_prefix=True)


def write_list(path: Path, numbers: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "number"])
        writer.writerows([f"r{i}", n] for i, n in enumerate(numbers, start=1))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_output_keeps_input_order_while_checks_finish_in_any_order(tmp_path) -> None:
    rng = random.Random(3)
    unique = [f"+447400{n:06d}" for n in rng.sample(range(100_000, 999_999), 300)]
    numbers = [rng.choice(unique) if rng.random() < 0.3 else n for n in unique]  # repeats anywhere
    hook = FakeHook()

    summary = HygieneEngine(hook, HygieneOptions(workers=8)).run(  # type: ignore[arg-type]
        write_list(tmp_path / "in.csv", numbers), tmp_path / "out.csv"
    )

    rows = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(1, len(numbers) + 1)]
    assert [r["e164"] for r in rows] == numbers
    expected = {"66": "FRAUDULENT", "77": "SUSPICIOUS", "98": "UNREACHABLE"}
    assert [r["verdict"] for r in rows] == [expected.get(n[-2:], "VALID") for n in numbers]
    first_seen: set[str] = set()
    for row in rows:  # the first occurrence is the one checked; later ones are duplicates
        assert row["duplicate"] == ("true" if row["e164"] in first_seen else "false")
        first_seen.add(row["e164"])
    assert sorted(hook.calls) == sorted((p, n) for n in set(numbers) for p in ("hlr", "fraud"))
    assert summary.api_calls == len(hook.calls)
    assert hook.max_running <= 8


def test_window_and_in_flight_checks_stay_bounded(tmp_path) -> None:
    """The first check hangs; the stream may run ahead by the window, no further."""
    release = threading.Event()
    pulled = 0
    pulled_while_hung: list[int] = []

    class HangingHook(FakeHook):
        def hlr_lookup(self, number: str) -> HlrResult:
            assert len(pipeline._pending) <= pipeline.max_in_flight
            if number == "+447400100000":
                release.wait(10)
                pulled_while_hung.append(pulled)
            return super().hlr_lookup(number)

    def rows():
        nonlocal pulled
        for i in range(3 * MIN_WINDOW):
            pulled += 1
            if pulled > pipeline.max_window:
                release.set()  # only if the window did not hold the stream back
            number = "+447400100000" if i == 0 else f"+447400{100_000 + i % 50:06d}"
            yield InputRow(i + 1, i + 2, [number], False)

    stats = RunStats()
    store = ResultStore(tmp_path)
    checkpoint = CheckpointLog(ObjectStoragePath(str(tmp_path / "state")), every=100, interval=1)
    with ResultWriters(tmp_path, ["number"]) as writers:
        pipeline = CheckPipeline(
            hook=HangingHook(),  # type: ignore[arg-type]
            options=HygieneOptions(workers=4),
            controller=InFlightController(1000, maximum=4),
            store=store,
            checkpoint=checkpoint,
            writers=writers,
            stats=stats,
            progress=ProgressReporter(stats, logging.getLogger("t"), 60),
        )
        watcher = threading.Timer(1.0, release.set)  # the hung check answers after a second
        watcher.start()
        pipeline.run(rows(), 0)
        watcher.cancel()
    store.close()

    assert pipeline.max_in_flight == 4
    assert pipeline.max_window == MIN_WINDOW
    assert stats.rows == 3 * MIN_WINDOW
    assert stats.unique_numbers == 50
    # While the first row's check hung, the stream stopped at the window's end.
    assert pulled_while_hung == [pipeline.max_window]


def test_a_failing_check_is_error_and_the_rest_goes_on(tmp_path) -> None:
    hook = FakeHook(fail_on={"+447400100001": ValueError("an answer nobody expected")})

    HygieneEngine(hook, HygieneOptions(workers=2)).run(  # type: ignore[arg-type]
        write_list(tmp_path / "in.csv", ["+447400100000", "+447400100001", "+447400100002"]),
        tmp_path / "o.csv",
    )

    rows = read_csv(tmp_path / "o.csv")
    assert [r["verdict"] for r in rows] == ["VALID", "ERROR", "VALID"]
    assert rows[1]["error"] == "HLR look-up failed: ValueError: an answer nobody expected"


def test_refused_account_stops_the_run_and_saves_what_was_paid(tmp_path) -> None:
    numbers = [f"+447400{n:06d}" for n in range(100_000, 100_040)]
    hook = FakeHook(fail_on={numbers[30]: AccountError("Inactive account", error_code=2, http_status=400)})

    with pytest.raises(AccountError, match="Inactive account Number hygiene stopped") as err:
        HygieneEngine(hook, HygieneOptions(workers=1)).run(  # type: ignore[arg-type]
            write_list(tmp_path / "in.csv", numbers), tmp_path / "o.csv"
        )

    assert err.value.error_code == 2
    assert err.value.http_status == 400
    state = CheckpointLog(ObjectStoragePath(str(tmp_path / "o.csv.state")), every=1, interval=1)
    saved = list(state.load(None))
    assert sorted(c.e164 for c in saved if c.verdict is not Verdict.ERROR) == numbers[:30]  # in order
    # Each HLR answer is saved as it arrives (half checked), before its fraud check; the refused
    # look-up of numbers[30] paid nothing, and no number after it was looked up.
    halves = [c for c in saved if c.verdict is Verdict.ERROR]
    assert all(is_half_checked(c) for c in halves)
    assert sorted(c.e164 for c in halves) == numbers[:30]
    assert not (tmp_path / "o.csv").exists()


def test_progress_lines(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="hygiene-test")
    numbers = [f"+447400{n:06d}" for n in range(100_000, 100_200)]

    HygieneEngine(
        FakeHook(delay=0.02),  # type: ignore[arg-type]
        HygieneOptions(workers=4, progress_interval=0.2),
        log=logging.getLogger("hygiene-test"),
    ).run(write_list(tmp_path / "in.csv", numbers), tmp_path / "o.csv")

    lines = [r.getMessage() for r in caplog.records if "rows/s" in r.getMessage()]
    assert len(lines) >= 2
    assert lines[-1].startswith("Number hygiene: 200/200 rows (100.0%), ")
    assert " rows/s; API calls 400 (" in lines[-1]  # no ETA once done
    assert any(" ETA " in line and "/200 rows" in line for line in lines[:-1])


def test_summary_is_small_and_json_ready(tmp_path) -> None:
    import json

    summary = HygieneEngine(FakeHook(), HygieneOptions()).run(  # type: ignore[arg-type]
        write_list(tmp_path / "in.csv", ["+447400100000", "x", "+447400100000"]), tmp_path / "o.csv"
    )

    data: dict[str, Any] = json.loads(json.dumps(summary.to_dict()))
    assert data["rows"] == 3
    assert data["verdicts"]["VALID"] == 2
    assert data["verdicts"]["INVALID"] == 1
    assert data["calls_saved"] == 4
    assert data["api_calls"] == 2
    assert set(data) >= {"output_path", "clean_path", "flagged_path", "duration_s", "calls_saved_by"}


def test_lookups_run_ahead_so_that_a_backlog_of_fraud_checks_is_ready_when_they_run_out(tmp_path) -> None:
    """The scheduling, not its timing: when the last HLR look-up starts, at least one answer time of
    fraud checks (``rate x latency``, two thirds of the in-flight target) is ready to start, so the
    limiter has work to the last request; the backlog stays bounded while the list runs."""
    workers = 16  # the in-flight target (the fake hook has no limiter: the controller's maximum)
    numbers = [f"+447400{n:06d}" for n in range(100_000, 100_400)]
    seen: list[tuple[str, int]] = []  # (step, ready fraud checks when it was started)

    stats = RunStats()
    store = ResultStore(tmp_path)
    checkpoint = CheckpointLog(ObjectStoragePath(str(tmp_path / "state")), every=100, interval=1)
    controller = InFlightController(1000, maximum=workers)
    with ResultWriters(tmp_path, ["number"]) as writers:
        pipeline = CheckPipeline(
            hook=FakeHook(delay=0.01),  # type: ignore[arg-type]
            options=HygieneOptions(workers=workers),
            controller=controller,
            store=store,
            checkpoint=checkpoint,
            writers=writers,
            stats=stats,
            progress=ProgressReporter(stats, logging.getLogger("t"), 60),
        )
        start = pipeline._start

        def recording_start(check: Any, step: str) -> None:  # the streaming thread's choice
            seen.append((step, len(pipeline._ready)))
            start(check, step)

        pipeline._start = recording_start  # type: ignore[method-assign]
        rows = (InputRow(i + 1, i + 2, [n], False) for i, n in enumerate(numbers))
        pipeline.run(rows, 0)
    store.close()

    assert stats.api_calls == len(seen) == 2 * len(numbers)
    assert controller.limit() == workers
    last_lookup = max(i for i, (step, _) in enumerate(seen) if step == "hlr")
    one_answer_time = (workers - 2) / 1.5  # the target is rate x latency x 1.5 + 2
    assert seen[last_lookup][1] >= one_answer_time
    # Bounded: the target plus the look-ups answered while fraud checks went first.
    assert pipeline.ready_peak <= 2 * workers
    # Without the backlog the fraud checks would follow their look-ups: the first ones start only
    # once the first look-ups of the list have filled it (HLR first while it is short).
    first_fraud = min(i for i, (step, _) in enumerate(seen) if step == "fraud")
    assert first_fraud >= one_answer_time
    assert pipeline._pending == {}
    assert not pipeline._ready
    assert not pipeline._lookups


def test_a_look_up_saved_half_checked_is_finished_by_the_retry_and_a_whole_answer_wins(tmp_path) -> None:
    """Each HLR answer is saved as it arrives (half checked), the whole answer after it: on resume
    the whole answer wins, and a number whose fraud check never came gets only the fraud check."""
    from airflow_provider_sms.hygiene.checker import now_iso
    from airflow_provider_sms.hygiene.verdicts import decide, half_checked

    numbers = ["+447400100000", "+447400100001", "+447400100002"]
    answers = FakeHook()
    state = CheckpointLog(ObjectStoragePath(str(tmp_path / "o.csv.state")), every=100, interval=60)
    hlrs = {n: answers.hlr_lookup(n) for n in numbers}
    for n in numbers:  # the order the pipeline saves them in: every half before its whole answer
        state.add(half_checked(n, hlrs[n], checked_at=now_iso()))
    for n in numbers[:2]:
        state.add(decide(n, hlrs[n], answers.fraud_check(n), checked_at=now_iso()))
    state.flush()
    state.close()
    loaded = list(state.load(None))
    assert [(c.e164, is_half_checked(c)) for c in loaded] == [
        (numbers[0], False), (numbers[1], False), *((n, True) for n in numbers),
    ]  # fmt: skip

    hook = FakeHook()
    summary = HygieneEngine(hook, HygieneOptions(workers=4)).run(  # type: ignore[arg-type]
        write_list(tmp_path / "in.csv", numbers), tmp_path / "o.csv"
    )

    assert hook.calls == [("fraud", numbers[2])]
    assert summary.api_calls == 1
    assert summary.calls_saved_by["resume"] == 4
    assert [r["verdict"] for r in read_csv(tmp_path / "o.csv")] == ["VALID"] * 3
