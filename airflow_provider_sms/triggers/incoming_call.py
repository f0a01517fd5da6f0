"""IncomingCallTrigger: wait in the triggerer until the user calls, the reservation lapses, or time is up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sms.api import verification as v
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook

MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class IncomingCallTrigger(BaseTrigger):
    """Poll an incoming-call reservation until DELIVERED, EXPIRED or gone (404), or until ``timeout_at``.

    Yields one event ``{"status": "delivered" | "expired" | "not_found" | "timeout" | "error",
    "info": <IncomingCallInfo fields> | None, "message": str, "fatal": bool}`` (``fatal``: an
    error no retry heals, which the sensor fails without Airflow retries). Transient failures (5xx,
    connection errors, 429) are retried with exponential backoff until the deadline.

    :param request_id: the reservation's request id.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    :param poke_interval: seconds between two status reads.
    :param timeout_at: ISO-8601 deadline (UTC when naive), or ``None`` to wait for a final status.
    """

    def __init__(
        self,
        request_id: str,
        sms_api_conn_id: str = SmsApiAsyncHook.default_conn_name,
        poke_interval: float = 5.0,
        timeout_at: str | None = None,
    ) -> None:
        super().__init__()
        self.request_id = request_id
        self.sms_api_conn_id = sms_api_conn_id
        self.poke_interval = float(poke_interval)
        self.timeout_at = timeout_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "request_id": self.request_id,
                "sms_api_conn_id": self.sms_api_conn_id,
                "poke_interval": self.poke_interval,
                "timeout_at": self.timeout_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = SmsApiAsyncHook(sms_api_conn_id=self.sms_api_conn_id)
        try:
            decision = await self.wait(hook)
        except Exception as exc:  # e.g. the connection does not exist: end the wait, say why
            decision = v.failed(self.request_id, exc)
        finally:
            await hook.close()
        self.log.info("%s", decision.message)
        yield TriggerEvent(decision.to_event())

    async def wait(self, hook: SmsApiAsyncHook) -> v.VerificationDecision:
        """Read the status until it is final or the deadline passes; the verdict."""
        deadline = v.parse_deadline(self.timeout_at)
        failures = 0
        while True:
            left = v.seconds_left(deadline)
            if deadline is not None and left is not None and left <= 0:
                return v.timed_out(self.request_id, deadline)
            try:
                info = await hook.get_incoming_call(self.request_id)
            except SmsApiError as exc:
                decision = v.decide_error(self.request_id, exc)
                if decision.done:
                    return decision  # gone (404), or an error waiting cannot fix (credentials, TLS)
                failures += 1
                delay = min(max(self.poke_interval, MIN_BACKOFF) * 2 ** (failures - 1), MAX_BACKOFF)
                self.log.warning(
                    "Reading incoming call %s failed (%s); trying again in %.1f s",
                    self.request_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(_bounded(delay, left))
                continue
            failures = 0
            decision = v.decide(self.request_id, info)
            if decision.done:
                return decision
            self.log.debug("%s", decision.message)
            await asyncio.sleep(_bounded(self.poke_interval, left))


def _bounded(delay: float, left: float | None) -> float:
    """Sleep no longer than the time left before the deadline."""
    return max(0.0, delay if left is None else min(delay, left))


__all__ = ["IncomingCallTrigger"]
