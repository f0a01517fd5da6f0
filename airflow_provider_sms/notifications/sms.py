"""SmsNotifier: page people by SMS from a task or DAG callback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier
from airflow.sdk.exceptions import AirflowException

from airflow_provider_sms.api.numbers import mask_number, normalize_number
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook
from airflow_provider_sms.operators.sms import numbers_from_value

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class SmsApiNotifier(BaseNotifier):
    """What both notifiers share: the template environment of DAG-level callbacks."""

    def get_template_env(self, dag: Any = None) -> jinja2.Environment:
        # DAG-level callbacks may get a serialized DAG (dag.test() passes one), which cannot
        # build a template environment: render with the default one instead of failing.
        return super().get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)


class SmsNotifier(SmsApiNotifier):
    """Send an SMS to one or several numbers, e.g. as ``on_failure_callback``.

    Every recipient is tried even if one fails; the notifier raises at the end, naming the
    (masked) numbers that failed. Notifications are not journalled: a callback that runs
    twice sends twice.

    :param numbers: one number, a list, or a comma-separated string. Templated.
    :param text: the message, e.g. ``"{{ dag.dag_id }}.{{ ti.task_id }} failed"``. Templated.
    :param sender: sender id (must be validated for the account); default: the connection's
        ``default_sender``. Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    template_fields: Sequence[str] = ("numbers", "text", "sender")

    def __init__(
        self,
        *,
        numbers: str | Iterable[str],
        text: str,
        sender: str | None = None,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.numbers = numbers
        self.text = text
        self.sender = sender
        self.sms_api_conn_id = sms_api_conn_id

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def messages(self) -> list[dict[str, Any]]:
        """The payload, built once for both paths: one ``send_sms`` keyword set per recipient."""
        return [
            {"number": number, "text": self.text, "sender": self.sender or None}
            for number in recipients(self.numbers)
        ]

    def notify(self, context: Context) -> None:
        outcomes: list[tuple[str, BaseException | None]] = []
        for message in self.messages():
            try:
                self.hook.send_sms(**message)
                outcomes.append((message["number"], None))
            except SmsApiError as exc:
                outcomes.append((message["number"], exc))
        report(self, "SMS", outcomes, self.hook.settings.log_full_numbers)

    async def async_notify(self, context: Context) -> None:
        messages = self.messages()
        async with SmsApiAsyncHook(sms_api_conn_id=self.sms_api_conn_id) as hook:
            results = await asyncio.gather(
                *(hook.send_sms(**message) for message in messages), return_exceptions=True
            )
            reveal = (await hook.get_settings()).log_full_numbers
        report(
            self, "SMS", [_outcome(m["number"], r) for m, r in zip(messages, results, strict=True)], reveal
        )


send_sms_notification = SmsNotifier


def recipients(numbers: object) -> list[str]:
    """E.164 numbers without duplicates (an impossible number fails before anything is sent)."""
    out: dict[str, None] = {}
    for raw in numbers_from_value(numbers):
        out.setdefault(normalize_number(raw), None)
    if not out:
        raise AirflowException("The notifier has no recipients")
    return list(out)


def report(
    notifier: BaseNotifier, what: str, outcomes: list[tuple[str, BaseException | None]], reveal: bool
) -> None:
    """Log each recipient's outcome (masked), raise if any failed."""
    failed = []
    for number, error in outcomes:
        masked = mask_number(number, reveal=reveal)
        if error is None:
            notifier.log.info("%s notification sent to %s", what, masked)
        else:
            notifier.log.error("%s notification to %s failed: %s", what, masked, error)
            failed.append(masked)
    if failed:
        raise AirflowException(
            f"{what} notification failed for {len(failed)} recipient(s): {', '.join(failed)}"
        )


def _outcome(number: str, result: object) -> tuple[str, BaseException | None]:
    if isinstance(result, BaseException):
        if not isinstance(result, Exception):
            raise result  # cancellation and the like are not a failed notification
        return number, result
    return number, None


__all__ = ["SmsApiNotifier", "SmsNotifier", "send_sms_notification"]
