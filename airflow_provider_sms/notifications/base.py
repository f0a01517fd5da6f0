"""What the SMS and voice notifiers share: recipients, both send paths, the report."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseNotifier

from airflow_provider_sms.api.numbers import mask_number, normalize_number
from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook
from airflow_provider_sms.operators.sms import numbers_from_value

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class SmsApiNotifier(BaseNotifier):
    """Send one hook request per recipient, from ``notify`` or ``async_notify``.

    Every recipient is tried even if one fails; the notifier raises at the end, naming the
    (masked) numbers that failed. Notifications are not journalled: a callback that runs
    twice reaches people twice. Subclasses name the hook method and build its arguments.

    :param numbers: one number, a list, or a comma-separated string. Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    what: ClassVar[str]  # "SMS", "Voice call": for log lines and errors
    hook_method: ClassVar[str]  # the SmsApiHook / SmsApiAsyncHook method to call per recipient

    def __init__(self, *, numbers: str | Iterable[str], sms_api_conn_id: str) -> None:
        super().__init__()
        self.numbers = numbers
        self.sms_api_conn_id = sms_api_conn_id

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def arguments(self, number: str) -> dict[str, Any]:
        """Keyword arguments of :attr:`hook_method` for one recipient."""
        raise NotImplementedError

    def payloads(self) -> list[dict[str, Any]]:
        """The payload, built once for both paths: one keyword set per recipient."""
        return [self.arguments(number) for number in recipients(self.numbers)]

    def notify(self, context: Context) -> None:
        send = getattr(self.hook, self.hook_method)
        outcomes: list[tuple[str, BaseException | None]] = []
        for payload in self.payloads():
            try:
                send(**payload)
                outcomes.append((payload["number"], None))
            except SmsApiError as exc:
                outcomes.append((payload["number"], exc))
        report(self, self.what, outcomes, self.hook.settings.log_full_numbers)

    async def async_notify(self, context: Context) -> None:
        payloads = self.payloads()
        async with SmsApiAsyncHook(sms_api_conn_id=self.sms_api_conn_id) as hook:
            send = getattr(hook, self.hook_method)
            results = await asyncio.gather(*(send(**p) for p in payloads), return_exceptions=True)
            reveal = (await hook.get_settings()).log_full_numbers
        outcomes = [_outcome(p["number"], r) for p, r in zip(payloads, results, strict=True)]
        report(self, self.what, outcomes, reveal)

    def get_template_env(self, dag: Any = None) -> jinja2.Environment:
        # DAG-level callbacks may get a serialized DAG (dag.test() passes one), which cannot
        # build a template environment: render with the default one instead of failing.
        return super().get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)


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
