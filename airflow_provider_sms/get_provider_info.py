"""Provider registration: the ``apache_airflow_provider`` entry point returns this dict."""

from __future__ import annotations

from typing import Any

from airflow_provider_sms.config import DESCRIPTION, OPTIONS, SECTION

INTEGRATION = "SMS & Voice API"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's ProvidersManager (validated against its JSON schema).

    The webhook plugin is registered only through the ``airflow.plugins`` entry point: Airflow
    3.3 loads provider-info plugins only with ``[core] lazy_discover_providers = False``, and
    declaring it both ways makes that setting report "Plugin 'sms_api' already registered".
    """
    from airflow_provider_sms import __version__

    return {
        "package-name": "airflow-provider-sms",
        "name": INTEGRATION,
        "description": "SMS, voice calls (flash, pin-to-speech, text-to-speech, incoming-call "
        "verification) and number insight (HLR look-up, fraud check), with a local HTTPS sandbox.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://github.com/airflow-provider-sms/airflow-provider-sms",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_sms.hooks.sms_api",
                    "airflow_provider_sms.hooks.sms_api_async",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_sms.operators.sms",
                    "airflow_provider_sms.operators.calls",
                    "airflow_provider_sms.operators.insight",
                    "airflow_provider_sms.operators.hygiene",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_sms.sensors.incoming_call"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_sms.triggers.incoming_call",
                    "airflow_provider_sms.triggers.quiet_hours",
                ],
            }
        ],
        "notifications": [
            "airflow_provider_sms.notifications.sms.SmsNotifier",
            "airflow_provider_sms.notifications.voice.VoiceCallNotifier",
        ],
        "connection-types": [
            {
                "connection-type": "sms_api",
                "hook-class-name": "airflow_provider_sms.hooks.sms_api.SmsApiHook",
                "hook-name": "SMS & Voice API",
                "conn-fields": _CONN_FIELDS,
                # Port stays visible: Airflow 3.3.2's connection-list Test button sends port 0
                # for a connection saved without one, which its API server refuses as another
                # endpoint (docs/connection.md). 0 means "the URL's port" to the hook.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {"host": "API base URL", "login": "Access key id", "password": "Secret"},
                    "placeholders": {
                        "host": "https://api.example.com (the /v1 API path is added when none is given)",
                        "login": "1efc292194c04e9b530",
                        "port": "443",
                    },
                },
            }
        ],
        "config": {SECTION: {"description": DESCRIPTION, "options": OPTIONS}},
    }


_CONN_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": 30},
        "description": "Read timeout of one request.",
    },
    "rate_limit": {
        "label": "Rate limit (requests/s)",
        "schema": {"type": ["number", "null"], "default": 30},
        "description": "The account's request limit; the hook paces itself under it.",
    },
    "max_retries": {
        "label": "Max retries",
        "schema": {"type": ["integer", "null"], "default": 3},
        "description": "Retries of 429s and transient failures (never of a send whose outcome is unknown).",
    },
    "verify": {
        "label": "Verify TLS",
        "schema": {"type": ["string", "null"], "default": "true"},
        "description": "true, false, or the path of a CA bundle (as in requests).",
    },
    "default_sender": {
        "label": "Default sender id",
        "schema": {"type": ["string", "null"]},
        "description": "Sender id used by send_sms when none is given (must be validated for the account).",
    },
    "default_callback_url": {
        "label": "Default callback URL",
        "schema": {"type": ["string", "null"]},
        "description": "Where delivery receipts are sent when a request gives none.",
    },
    "log_full_numbers": {
        "label": "Log full phone numbers",
        "schema": {"type": ["boolean", "null"], "default": False},
        "description": "Numbers are masked in logs unless this is set.",
    },
}
