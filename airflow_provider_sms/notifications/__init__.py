"""Notifiers: SMS and spoken calls for task and DAG callbacks.

``send_sms_notification`` / ``send_voice_notification`` read well in a callback::

    on_failure_callback=send_sms_notification(numbers="+447700900123", text="{{ ti.task_id }} failed")
"""

from __future__ import annotations

from airflow_provider_sms.notifications.sms import SmsNotifier, send_sms_notification
from airflow_provider_sms.notifications.voice import VoiceCallNotifier, send_voice_notification

__all__ = ["SmsNotifier", "VoiceCallNotifier", "send_sms_notification", "send_voice_notification"]
