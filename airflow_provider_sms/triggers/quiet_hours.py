"""Waiting for quiet hours to end: the trigger a campaign defers to, freeing its worker slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class QuietHoursTrigger(BaseTrigger):
    """Fire once at ``moment`` (ISO-8601, UTC when naive): the earliest opening of a deferred recipient.

    Used when ``apache-airflow-providers-standard``'s ``DateTimeTrigger`` is not installed
    (see :func:`wait_until`). Yields ``{"moment": moment}``.

    :param moment: when to resume the task.
    """

    def __init__(self, moment: str) -> None:
        super().__init__()
        self.moment = moment

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {"moment": self.moment})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        target = _utc(datetime.fromisoformat(self.moment))
        while (left := (target - datetime.now(timezone.utc)).total_seconds()) > 0:
            await asyncio.sleep(min(left, 3600.0))
        yield TriggerEvent({"moment": self.moment})


def wait_until(moment: datetime) -> BaseTrigger:
    """A trigger that fires at ``moment``: Airflow's ``DateTimeTrigger`` if installed, else ours."""
    moment = _utc(moment)
    try:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    except ImportError:
        return QuietHoursTrigger(moment.isoformat())
    return DateTimeTrigger(moment=moment)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


__all__ = ["QuietHoursTrigger", "wait_until"]
