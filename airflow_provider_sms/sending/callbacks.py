"""Callback URLs of this deployment's webhook receiver, built from Airflow's configuration.

The provider's plugin (in the Airflow API server) receives delivery receipts and inbound
SMS at ``{webhook_base_url}/sms-api/webhooks/{webhook_secret}/...``. The secret is part of
the path, so it must never be typed into a DAG: operators accept ``callback_url="airflow"``
and resolve it here, at execution time, from the ``[sms_api]`` section (:mod:`airflow_provider_sms.config`)::

    [sms_api]
    webhook_base_url = https://airflow.example.com
    webhook_secret = a-long-random-string

(or ``AIRFLOW__SMS_API__WEBHOOK_BASE_URL`` / ``AIRFLOW__SMS_API__WEBHOOK_SECRET``).
The secret is registered with Airflow's secrets masker, so a URL that contains it is
redacted if it ever reaches a log.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow_provider_sms import config
from airflow_provider_sms.compat import AirflowFailException
from airflow_provider_sms.exceptions import SmsApiConfigError

AIRFLOW_CALLBACK = "airflow"
"""The ``callback_url`` value that means: this deployment's receipt webhook."""

WEBHOOK_PREFIX = "/sms-api/webhooks"
DELIVERY_RECEIPTS = "delivery-receipts"
INBOUND_SMS = "inbound-sms"


def receipt_url() -> str:
    """Where the API should POST delivery receipts (``callbackUrl``) for this deployment."""
    return _webhook_url(DELIVERY_RECEIPTS)


def inbound_sms_url() -> str:
    """The URL to register with the API for inbound SMS to rented numbers."""
    return _webhook_url(INBOUND_SMS)


def resolve_callback_url(value: str | None) -> str | None:
    """``"airflow"`` becomes :func:`receipt_url`; any other value (or ``None``) is returned as is."""
    if value is not None and value.strip().lower() == AIRFLOW_CALLBACK:
        return receipt_url()
    return value


def resolve_callback_url_or_fail(value: str | None) -> str | None:
    """:func:`resolve_callback_url` for operators: a configuration problem fails the task at once
    (no retry can fix the Airflow configuration)."""
    try:
        return resolve_callback_url(value)
    except SmsApiConfigError as exc:
        raise AirflowFailException(str(exc)) from exc


def _webhook_url(kind: str) -> str:
    base, secret = config.webhook_base_url(), config.webhook_secret()
    missing = [name for name, value in (("webhook_base_url", base), ("webhook_secret", secret)) if not value]
    if missing:
        options = " and ".join(f"[{config.SECTION}] {name}" for name in missing)
        env = " / ".join(config.env_var(name) for name in missing)
        raise SmsApiConfigError(
            f'callback_url="airflow" needs {options} in the Airflow configuration ({env})'
        )
    config.check_webhook_secret(secret)
    if urlsplit(base).scheme not in ("https", "http"):
        raise SmsApiConfigError(
            f"[{config.SECTION}] webhook_base_url must be an absolute URL (https://...), got {base!r}"
        )
    _mask(secret)
    return f"{base}{WEBHOOK_PREFIX}/{secret}/{kind}"


def _mask(secret: str) -> None:
    """Register the secret with the secrets masker: any log line containing it is redacted."""
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
    except Exception:  # outside a task (no masker configured) there is nothing to protect
        return


__all__ = [
    "AIRFLOW_CALLBACK",
    "inbound_sms_url",
    "receipt_url",
    "resolve_callback_url",
]
