"""IncomingCallSensor: wait until the user calls the reserved number (poke, reschedule or deferrable)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_sms import config
from airflow_provider_sms.api import verification as v
from airflow_provider_sms.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.failures import fails_fast
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.triggers.incoming_call import IncomingCallTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class IncomingCallSensor(BaseSensorOperator):
    """Wait for the call that verifies a number reserved by ``IncomingCallVerificationOperator``.

    Succeeds when the reservation's status is DELIVERED and returns (XCom) the call info:
    ``{"request_id", "did_number", "expires_at", "status", "call_received_at"}`` (ISO-8601
    times). An EXPIRED reservation, or one the API no longer knows (404), fails the task
    with a clear message, or skips it with ``soft_fail=True``. Transient API failures do
    not end the wait: the next poke tries again. A fatal error (credentials, connection, TLS:
    docs/failures.md) fails the task at once, without Airflow retries, in every mode.

    Works in ``mode="poke"`` and ``mode="reschedule"``, and with ``deferrable=True`` (pokes
    once, then waits in the triggerer with :class:`IncomingCallTrigger`); the default comes
    from ``[operators] default_deferrable``.

    :param request_id: the reservation's request id (e.g. from the reserving task's XCom). Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    :param poke_interval: seconds between status reads (the reference suggests about 5).
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = ("request_id", "sms_api_conn_id")
    ui_color = "#f5ecd8"

    def __init__(
        self,
        *,
        request_id: str,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
        poke_interval: float = 5,
        deferrable: bool = config.default_deferrable(),
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.request_id = request_id
        self.sms_api_conn_id = sms_api_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    @fails_fast("Waiting for the incoming call")
    def poke(self, context: Context) -> bool | PokeReturnValue:
        decision = self._read()
        if not decision.done:
            self.log.info("%s", decision.message)
            return False
        return PokeReturnValue(True, self._conclude(decision))

    @fails_fast("Waiting for the incoming call")
    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        decision = self._read()
        if decision.done:
            return self._conclude(decision)
        self.log.info("%s; deferring to the triggerer", decision.message)
        timeout_at = datetime.now(timezone.utc) + timedelta(seconds=self.timeout)
        self.defer(
            trigger=IncomingCallTrigger(
                request_id=str(self.request_id),
                sms_api_conn_id=self.sms_api_conn_id,
                poke_interval=self.poke_interval,
                timeout_at=timeout_at.isoformat(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    @fails_fast("Waiting for the incoming call")
    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: its event decides, as a poke would have."""
        return self._conclude(v.VerificationDecision.from_event(event))

    def _read(self) -> v.VerificationDecision:
        request_id = str(self.request_id)
        try:
            info = self.hook.get_incoming_call(request_id)
        except SmsApiError as exc:
            decision = v.decide_error(request_id, exc)
            if decision.status is v.VerificationStatus.ERROR:
                raise  # waiting cannot fix it (credentials, the 'verify' extra...): the task fails
            if not decision.done:  # the hook already retried; the next poke tries again
                self.log.warning("Reading incoming call %s failed (%s); will try again", request_id, exc)
            return decision
        return v.decide(request_id, info)

    def _conclude(self, decision: v.VerificationDecision) -> Any:
        """The XCom of a delivered call, or the exception ending the wait (a skip with soft_fail)."""
        status = decision.status
        if status is v.VerificationStatus.DELIVERED:
            self.log.info("%s", decision.message)
            return decision.info
        if self.soft_fail and status is not v.VerificationStatus.ERROR:
            raise AirflowSkipException(decision.message)
        if status is v.VerificationStatus.TIMEOUT:
            raise AirflowSensorTimeout(decision.message)
        if status in (v.VerificationStatus.EXPIRED, v.VerificationStatus.NOT_FOUND):
            raise AirflowFailException(decision.message)
        if decision.fatal:  # the trigger met an error no retry heals (credentials, TLS...)
            raise AirflowFailException(
                f"{decision.message}. Fix the connection: Airflow does not retry this (no call was placed)."
            )
        raise AirflowException(decision.message)


__all__ = ["IncomingCallSensor"]
