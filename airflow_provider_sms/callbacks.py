"""Callback URLs of this deployment's webhook receiver, built from Airflow's configuration.

The provider's plugin (in the Airflow API server) receives delivery receipts and inbound
SMS at ``{webhook_base_url}/sms-api/webhooks/{webhook_secret}/...``. The secret is part of
the path, so it must never be typed into a DAG: operators accept ``callback_url="airflow"``
and resolve it here, at execution time, from the ``[sms_api]`` section::

    [sms_api]
    webhook_base_url = https://airflow.example.com
    webhook_secret = a-long-random-string

(or ``AIRFLOW__SMS_API__WEBHOOK_BASE_URL`` / ``AIRFLOW__SMS_API__WEBHOOK_SECRET``).
The secret is registered with Airflow's secrets masker, so a URL that contains it is
redacted if it ever reaches a log.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from airflow_provider_sms.compat import AirflowFailException, conf
from airflow_provider_sms.exceptions import SmsApiConfigError

CONFIG_SECTION = "sms_api"
AIRFLOW_CALLBACK = "airflow"
"""The ``callback_url`` value that means: this deployment's receipt webhook."""

WEBHOOK_PREFIX = "/sms-api/webhooks"
DELIVERY_RECEIPTS = "delivery-receipts"
INBOUND_SMS = "inbound-sms"
# The receiver (airflow_provider_sms.plugins.webhooks.MIN_SECRET_LENGTH) refuses shorter secrets;
# not imported from there to keep FastAPI out of workers.
MIN_SECRET_LENGTH = 16


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
    base = (conf.get(CONFIG_SECTION, "webhook_base_url", fallback="") or "").strip().rstrip("/")
    secret = (conf.get(CONFIG_SECTION, "webhook_secret", fallback="") or "").strip()
    missing = [name for name, value in (("webhook_base_url", base), ("webhook_secret", secret)) if not value]
    if missing:
        options = " and ".join(f"[{CONFIG_SECTION}] {name}" for name in missing)
        env = " / ".join(f"AIRFLOW__{CONFIG_SECTION.upper()}__{name.upper()}" for name in missing)
        raise SmsApiConfigError(
            f'callback_url="airflow" needs {options} in the Airflow configuration ({env})'
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise SmsApiConfigError(
            f"[{CONFIG_SECTION}] webhook_secret is shorter than {MIN_SECRET_LENGTH} characters: the "
            "webhook receiver refuses every request then, so no receipt would arrive"
        )
    if urlsplit(base).scheme not in ("https", "http"):
        raise SmsApiConfigError(
            f"[{CONFIG_SECTION}] webhook_base_url must be an absolute URL (https://...), got {base!r}"
        )
    _mask(secret)
    return f"{base}{WEBHOOK_PREFIX}/{quote(secret, safe='')}/{kind}"


def _mask(secret: str) -> None:
    """Register the secret with the secrets masker: any log line containing it is redacted."""
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
    except Exception:  # outside a task (no masker configured) there is nothing to protect
        return


__all__ = ["AIRFLOW_CALLBACK", "inbound_sms_url", "receipt_url", "resolve_callback_url"]
