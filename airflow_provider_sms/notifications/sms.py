"""SmsNotifier: page people by SMS from a task or DAG callback."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.api.results import SmsResult
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.notifications.base import SmsApiNotifier


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

    template_fields: Sequence[str] = ("numbers", "text", "sender", "sms_api_conn_id")
    what = "SMS"

    def __init__(
        self,
        *,
        numbers: str | Iterable[str],
        text: str,
        sender: str | None = None,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
    ) -> None:
        super().__init__(numbers=numbers, sms_api_conn_id=sms_api_conn_id)
        self.text = text
        self.sender = sender

    def request(self, number: str) -> ApiRequest[SmsResult]:
        return endpoints.send_sms(number, self.text, sender=self.sender or None)


send_sms_notification = SmsNotifier

__all__ = ["SmsNotifier", "send_sms_notification"]
