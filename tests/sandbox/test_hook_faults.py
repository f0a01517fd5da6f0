"""Lost answers: a message or call is never sent twice; look-ups are retried (the ledger counts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_sms.exceptions import DeliveryUnknownError, ServerError, SmsApiConnectionError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox import Sandbox
from tests.support.hooks import MOBILE, SandboxFactory, connect, ledger

pytestmark = pytest.mark.usefixtures("fresh_limiters")

SENDS: dict[str, Callable[[SmsApiHook], Any]] = {
    "sms": lambda hook: hook.send_sms(MOBILE, "Your code is 1234"),
    "flash": lambda hook: hook.flash_call(MOBILE, code="1234"),
    "p2s": lambda hook: hook.pin_to_speech_call(MOBILE, "1234"),
    "t2s": lambda hook: hook.text_to_speech_call(MOBILE, "Your code is 1234"),
    "incoming": lambda hook: hook.reserve_incoming_call(MOBILE),
}


@pytest.mark.parametrize("product", list(SENDS))
def test_a_send_is_never_retried_after_a_read_timeout(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, product: str
) -> None:
    sandbox.set_faults("stall=1,stall_seconds=2")  # processed and billed, then the answer is held
    connect(monkeypatch, sandbox, timeout=0.3, max_retries=3)
    with pytest.raises(DeliveryUnknownError) as info:
        SENDS[product](SmsApiHook())
    assert "within the connection's 0.3 s timeout" in str(info.value)
    assert "not sent again automatically" in str(info.value)
    entries = ledger(sandbox, product)
    assert len(entries) == 1
    assert entries[0]["fault"] == "stall"
    assert entries[0]["billable"] is True


@pytest.mark.parametrize(("fault", "billable"), [("503", False), ("truncated", True), ("reset", False)])
def test_a_send_is_never_retried_after_5xx_truncated_body_or_reset(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, fault: str, billable: bool
) -> None:
    sandbox.set_faults(f"{fault}=1")
    connect(monkeypatch, sandbox, max_retries=3)
    with pytest.raises(DeliveryUnknownError) as info:
        SmsApiHook().send_sms(MOBILE, "Your code is 1234")
    if fault == "503":
        assert info.value.http_status == 503
    entries = ledger(sandbox, "sms")
    assert [(e["fault"], e["billable"]) for e in entries] == [(fault, billable)]


@pytest.mark.parametrize(("fault", "error"), [("500", ServerError), ("reset", SmsApiConnectionError)])
def test_look_ups_are_retried_after_5xx_and_reset(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, fault: str, error: type[Exception]
) -> None:
    sandbox.set_faults(f"{fault}=1")
    connect(monkeypatch, sandbox, max_retries=2)
    with pytest.raises(error):
        SmsApiHook().hlr_lookup(MOBILE)
    assert [e["fault"] for e in ledger(sandbox, "hlr")] == [fault] * 3  # the first try and 2 retries


def test_look_ups_are_retried_after_a_stall(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.set_faults("stall=1,stall_seconds=1")
    connect(monkeypatch, sandbox, timeout=0.3, max_retries=1)
    with pytest.raises(SmsApiConnectionError) as info:
        SmsApiHook().fraud_check(MOBILE)
    assert type(info.value) is SmsApiConnectionError  # not DeliveryUnknownError: nobody was reached
    assert [(e["fault"], e["billable"]) for e in ledger(sandbox, "fraudcheck")] == [("stall", True)] * 2


def test_status_reads_are_retried_too(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, sandbox, max_retries=1)
    hook = SmsApiHook()
    reservation = hook.reserve_incoming_call(MOBILE)
    sandbox.set_faults("502=1")
    with pytest.raises(ServerError):
        hook.get_incoming_call(reservation.request_id)
    assert [e["fault"] for e in ledger(sandbox, "incoming_info")] == ["502", "502"]


def test_a_retried_look_up_succeeds(sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Seed 2: the sandbox's first fault draw is under 0.5 and its second is not.
    with sandbox_factory(seed=2, faults="500=0.5") as sb:
        connect(monkeypatch, sb, max_retries=3)
        result = SmsApiHook().hlr_lookup(MOBILE)
        entries = ledger(sb, "hlr")
    assert result.status == "DELIVERED"
    assert [(e["fault"], e["http_status"]) for e in entries] == [("500", 500), (None, 200)]
