"""429s absorbed: pacing keeps a hook under the account's limit, and retries carry the rest through."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox import Sandbox
from tests.sandbox.test_hook import connect, fresh_limiters, ledger

__all__ = ["fresh_limiters"]

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


def test_a_hook_paced_at_the_true_limit_is_never_refused(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(monkeypatch, sandbox)  # rate_limit 30, as the sandbox
    hook = SmsApiHook()
    # Pacing spaces the starts of requests; a first request's TCP and TLS set-up delays its
    # arrival past its slot (30-600 ms on a loaded machine), beyond the headroom's jitter. Open
    # the connections first, then start from an empty server window.
    look_up_all(hook, NUMBERS[:6], threads=6)
    sandbox.reset()
    assert look_up_all(hook, NUMBERS, threads=6) == ["DELIVERED"] * len(NUMBERS)
    assert hook.limiter.throttled_count == 0
    assert len(ledger(sandbox, "hlr")) == len(NUMBERS)
