"""QuietHoursTrigger (our fallback when the standard provider's DateTimeTrigger is missing)."""

from __future__ import annotations

import asyncio
import builtins
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_sms.triggers.quiet_hours import QuietHoursTrigger, wait_until


def test_serialize_round_trips() -> None:
    trigger = QuietHoursTrigger("2026-01-15T08:00:00+00:00")
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_sms.triggers.quiet_hours.QuietHoursTrigger"
    assert QuietHoursTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_fires_once_the_moment_has_come() -> None:
    moment = (datetime.now(timezone.utc) + timedelta(milliseconds=200)).isoformat()

    async def first_event() -> Any:
        async for event in QuietHoursTrigger(moment).run():
            return event
        return None

    event = asyncio.run(first_event())
    assert event.payload == {"moment": moment}
    assert datetime.now(timezone.utc) >= datetime.fromisoformat(moment)


def test_wait_until_prefers_the_standard_trigger_and_falls_back_to_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = datetime(2026, 1, 15, 8, tzinfo=timezone.utc)
    standard = pytest.importorskip("airflow.providers.standard.triggers.temporal")
    assert isinstance(wait_until(moment), standard.DateTimeTrigger)

    real_import = builtins.__import__

    def without_standard(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("airflow.providers.standard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_standard)
    fallback = wait_until(moment.replace(tzinfo=None))
    assert isinstance(fallback, QuietHoursTrigger)
    assert fallback.moment == "2026-01-15T08:00:00+00:00"
