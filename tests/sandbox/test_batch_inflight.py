"""Batch paths against the sandbox: more requests in flight when answers are slow, never above the rate.

Not timed: the figures asserted are counts (requests in flight at once, requests per one-second
window of the sandbox ledger), bounded generously.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hygiene import HygieneEngine, HygieneOptions
from airflow_provider_sms.sandbox import Sandbox
from airflow_provider_sms.sending.journal import SendJournal, TaskScope
from airflow_provider_sms.sending.sms import SmsMessage, send_sms_to_all
from tests.support.hooks import connect, ledger
from tests.support.pacing import max_in_any_window

pytestmark = pytest.mark.usefixtures("fresh_limiters")

RATE = 30


class CountingHook(SmsApiHook):
    """The real hook, counting the requests under way at once (waiting for a turn or answered)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def run(self, request: ApiRequest[Any]) -> Any:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return super().run(request)
        finally:
            with self._lock:
                self.running -= 1


def send_list(tmp_path, numbers: list[str], run_id: str) -> CountingHook:
    hook = CountingHook()
    journal = SendJournal(ObjectStoragePath(str(tmp_path / "journal")), TaskScope("d", run_id, "send"))
    results = send_sms_to_all(hook, journal, numbers, SmsMessage("Your parcel is on its way"))
    assert [r.outcome.value for r in results] == ["sent"] * len(numbers)
    return hook


def arrivals_per_window(sandbox: Sandbox, product: str) -> int:
    # Each entry is written after the same fixed latency: its time is an arrival, shifted.
    return max_in_any_window([e["time"] for e in ledger(sandbox, product)])


def test_a_list_send_keeps_more_sms_in_flight_when_answers_are_slow(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    sandbox.set_rate_limit(RATE)
    connect(monkeypatch, sandbox, rate_limit=RATE)
    sandbox.set_latency(5)
    fast = send_list(tmp_path, [f"+4479111{i:05d}" for i in range(45)], "fast")
    sandbox.reset()
    sandbox.set_latency(600)
    slow_numbers = [f"+4479112{i:05d}" for i in range(60)]
    slow = send_list(tmp_path, slow_numbers, "slow")

    # Little's law: 30/s with 0.6 s answers needs 18 in flight; the old fixed pool had 8.
    assert slow.peak >= RATE * 0.6
    assert fast.peak < slow.peak
    # ...and never more than the account's rate per one-second window (one SMS per number).
    assert sorted(e["number"] for e in ledger(sandbox, "sms")) == sorted(slow_numbers)
    assert arrivals_per_window(sandbox, "sms") <= RATE + 5  # generous: recorded after the latency


def test_the_hygiene_engine_keeps_more_checks_in_flight_when_answers_are_slow(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    sandbox.set_rate_limit(RATE)
    connect(monkeypatch, sandbox, rate_limit=RATE)
    sandbox.set_latency(800)
    numbers = [f"+4479113{i:05d}" for i in range(40)]
    source = tmp_path / "list.csv"
    source.write_text("number\n" + "".join(f"{n}\n" for n in numbers), encoding="utf-8")
    hook = CountingHook()

    summary = HygieneEngine(hook, HygieneOptions()).run(source, tmp_path / "out.csv")

    assert summary.api_calls == 2 * len(numbers)
    assert hook.peak >= RATE * 0.8  # 24 look-ups under way: the old floor of 16 threads could not
    assert max_in_any_window([e["time"] for e in ledger(sandbox)]) <= RATE + 5  # both kinds of look-up


def test_a_workers_bound_is_kept(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    sandbox.set_rate_limit(RATE)
    connect(monkeypatch, sandbox, rate_limit=RATE)
    sandbox.set_latency(300)
    hook = CountingHook()
    journal = SendJournal(ObjectStoragePath(str(tmp_path / "journal")), TaskScope("d", "bounded", "send"))
    numbers = [f"+4479114{i:05d}" for i in range(20)]
    send_sms_to_all(hook, journal, numbers, SmsMessage("Hello"), max_workers=3)
    assert hook.peak <= 3
