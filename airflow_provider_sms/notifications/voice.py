"""VoiceCallNotifier: page people with a spoken (text-to-speech) call from a callback."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.constants import DEFAULT_LANGUAGE
from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.api.results import CallResult
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.notifications.base import SmsApiNotifier


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

    template_fields: Sequence[str] = ("numbers", "text", "language", "sender", "sms_api_conn_id")
    what = "Voice call"

    def __init__(
        self,
        *,
        numbers: str | Iterable[str],
        text: str,
        language: str = DEFAULT_LANGUAGE,
        sender: str | None = None,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
    ) -> None:
        super().__init__(numbers=numbers, sms_api_conn_id=sms_api_conn_id)
        self.text = text
        self.language = language
        self.sender = sender

    def request(self, number: str) -> ApiRequest[CallResult]:
        return endpoints.text_to_speech_call(
            number, self.text, sender=self.sender or None, language=self.language or None
        )


send_voice_notification = VoiceCallNotifier

__all__ = ["VoiceCallNotifier", "send_voice_notification"]
