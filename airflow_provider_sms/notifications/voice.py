"""VoiceCallNotifier: page people with a spoken (text-to-speech) call from a callback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_sms.api.constants import DEFAULT_LANGUAGE
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook
from airflow_provider_sms.notifications.sms import SmsApiNotifier, _outcome, recipients, report

if TYPE_CHECKING:
    from airflow.sdk import Context


class VoiceCallNotifier(SmsApiNotifier):
    """Call one or several numbers and speak a text, e.g. as ``on_failure_callback``.

    Every recipient is tried even if one fails; the notifier raises at the end, naming the
    (masked) numbers that failed. Not journalled: a callback that runs twice calls twice.

    :param numbers: one number, a list, or a comma-separated string. Templated.
    :param text: what to say. Templated.
    :param language: ``en`` (default) or ``ru``, the text-to-speech voices. Templated.
    :param sender: caller id to call from (must be validated for the account). Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    template_fields: Sequence[str] = ("numbers", "text", "language", "sender")

    def __init__(
        self,
        *,
        numbers: str | Iterable[str],
        text: str,
        language: str = DEFAULT_LANGUAGE,
        sender: str | None = None,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.numbers = numbers
        self.text = text
        self.language = language
        self.sender = sender
        self.sms_api_conn_id = sms_api_conn_id

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def calls(self) -> list[dict[str, Any]]:
        """The payload, built once for both paths: one ``text_to_speech_call`` keyword set per recipient."""
        return [
            {
                "number": number,
                "text": self.text,
                "language": self.language or None,
                "sender": self.sender or None,
            }
            for number in recipients(self.numbers)
        ]

    def notify(self, context: Context) -> None:
        outcomes: list[tuple[str, BaseException | None]] = []
        for call in self.calls():
            try:
                self.hook.text_to_speech_call(**call)
                outcomes.append((call["number"], None))
            except SmsApiError as exc:
                outcomes.append((call["number"], exc))
        report(self, "Voice call", outcomes, self.hook.settings.log_full_numbers)

    async def async_notify(self, context: Context) -> None:
        calls = self.calls()
        async with SmsApiAsyncHook(sms_api_conn_id=self.sms_api_conn_id) as hook:
            results = await asyncio.gather(
                *(hook.text_to_speech_call(**call) for call in calls), return_exceptions=True
            )
            reveal = (await hook.get_settings()).log_full_numbers
        report(
            self,
            "Voice call",
            [_outcome(c["number"], r) for c, r in zip(calls, results, strict=True)],
            reveal,
        )


send_voice_notification = VoiceCallNotifier

__all__ = ["VoiceCallNotifier", "send_voice_notification"]
