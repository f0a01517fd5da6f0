"""429s absorbed: pacing keeps a hook under the account's limit, and retries carry the rest through."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_sms.hooks.pacing import HEADROOM
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox import Sandbox
from tests.support.hooks import connect, ledger
from tests.support.pacing import max_in_any_window

pytestmark = pytest.mark.usefixtures("fresh_limiters")

NUMBERS = [f"+4479111{i:05d}" for i in range(60)]


def look_up_all(hook: SmsApiHook, numbers: list[str], threads: int) -> list[str]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [result.status for result in pool.map(hook.hlr_lookup, numbers)]


def test_a_hook_told_a_limit_far_above_the_accounts_still_gets_every_request_through(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set_rate_limit(10)
    connect(monkeypatch, sandbox, rate_limit=100, max_retries=8)
    hook = SmsApiHook()
    statuses = look_up_all(hook, NUMBERS[:40], threads=8)
    assert statuses == ["DELIVERED"] * 40
    assert hook.limiter.throttled_count > 0  # the server did refuse some...
    assert hook.limiter.rate < 100  # ...the limiter slowed down...
    answered = [e["number"] for e in ledger(sandbox, "hlr")]
    assert sorted(answered) == sorted(NUMBERS[:40])  # ...and each look-up was processed exactly once


def test_a_hook_paced_at_the_true_limit_starts_at_most_the_limit_in_any_second(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(monkeypatch, sandbox)  # rate_limit 30, as the sandbox
    hook = SmsApiHook()
    starts: list[float] = []
    acquire = hook.limiter.acquire

    def recorded() -> float:
        start = acquire()
        starts.append(start)
        return start

    monkeypatch.setattr(hook.limiter, "acquire", recorded)
    assert look_up_all(hook, NUMBERS, threads=6) == ["DELIVERED"] * len(NUMBERS)
    # What the limiter granted, counted: one start every 1/29.1 s, never two at once. (Whether
    # the server then refuses one depends on the machine's load between start and arrival;
    # the retries absorb it, and the ledger shows each look-up processed once.)
    first = sorted(starts)[: len(NUMBERS)]
    assert min(b - a for a, b in itertools.pairwise(first)) >= 1 / (30 * HEADROOM) - 1e-9
    assert max_in_any_window(starts) <= 30
    assert sorted(e["number"] for e in ledger(sandbox, "hlr")) == sorted(NUMBERS)
