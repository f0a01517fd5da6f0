"""SmsNotifier / VoiceCallNotifier against the HTTPS sandbox: sync (in a DAG run) and async."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.notifications import SmsNotifier, VoiceCallNotifier
from tests.support.runs import OPS_DAGS, billable, requests_for, run_dag, states, use_sandbox

ONCALL = ["+447911123461", "+447911123462"]


@pytest.mark.usefixtures("airflow_db")
def test_notifiers_as_on_failure_callback(sandbox, monkeypatch, capfd) -> None:
    use_sandbox(monkeypatch, sandbox)

    dr = run_dag(OPS_DAGS / "ops_notify.py", "ops_notify")

    assert states(dr) == {("broken", -1): "failed"}
    assert billable(sandbox, "sms") == dict.fromkeys(ONCALL, 1)
    assert billable(sandbox, "t2s") == {ONCALL[0]: 1}
    out = capfd.readouterr().out
    assert "SMS notification sent to +4479******61" in out
    assert ONCALL[0] not in out


def test_async_notify_renders_and_sends(sandbox, monkeypatch) -> None:
    use_sandbox(monkeypatch, sandbox)
    sms = SmsNotifier(numbers="{{ oncall }}", text="{{ what }} failed")
    voice = VoiceCallNotifier(numbers="{{ oncall }}", text="{{ what }} failed")
    context = {"oncall": ", ".join(ONCALL), "what": "nightly load"}

    async def page() -> None:
        for notifier in (sms, voice):
            notifier.context = dict(context)
            await notifier  # BaseNotifier.__await__: render the templates, then async_notify

    asyncio.run(page())

    assert sms.text == voice.text == "nightly load failed"
    assert billable(sandbox, "sms") == dict.fromkeys(ONCALL, 1)
    assert billable(sandbox, "t2s") == dict.fromkeys(ONCALL, 1)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_recipient_is_tried_then_the_failure_is_raised(mode, sandbox, monkeypatch) -> None:
    use_sandbox(monkeypatch, sandbox)
    notifier = SmsNotifier(numbers=ONCALL, text="disk full", sender="NotValidated")

    def notify() -> None:
        if mode == "sync":
            notifier.notify({})
        else:
            asyncio.run(notifier.async_notify({}))

    with pytest.raises(AirflowException, match=r"failed for 2 recipient\(s\): \+4479\*\*\*\*\*\*61"):
        notify()

    refused = requests_for(sandbox, "sms")
    assert sorted(e["number"] for e in refused) == ONCALL
    assert {e["http_status"] for e in refused} == {400}
