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

import re
from urllib.parse import urlsplit

from airflow.sdk import conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_sms.exceptions import SmsApiConfigError

CONFIG_SECTION = "sms_api"
AIRFLOW_CALLBACK = "airflow"
"""The ``callback_url`` value that means: this deployment's receipt webhook."""

WEBHOOK_PREFIX = "/sms-api/webhooks"
DELIVERY_RECEIPTS = "delivery-receipts"
INBOUND_SMS = "inbound-sms"
MIN_SECRET_LENGTH = 16
_SECRET_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")


def check_webhook_secret(secret: str) -> None:
    """Refuse a ``[sms_api] webhook_secret`` the receiver cannot work with; one rule for both ends.

    The plugin (``airflow_provider_sms.plugins.webhooks``) refuses every request while the
    secret is unusable and logs this message; ``callback_url="airflow"`` fails the task with it.
    The secret is a path segment: only the URL-safe alphabet ``[A-Za-z0-9_-]`` survives there
    (base64's ``/`` becomes ``%2F``, which the server decodes into a path separator before
    routing, so every receipt would get a 404), and at least :data:`MIN_SECRET_LENGTH` of them.

    :param secret: the configured value, surrounding whitespace already stripped.
    :raises SmsApiConfigError: saying why, never showing the secret.
    """
    option = f"[{CONFIG_SECTION}] webhook_secret"
    if not secret:
        problem = f"{option} is not set"
    elif len(secret) < MIN_SECRET_LENGTH:
        problem = f"{option} is shorter than {MIN_SECRET_LENGTH} characters"
    elif not _SECRET_ALPHABET.fullmatch(secret):
        problem = (
            f"{option} has characters other than A-Z, a-z, 0-9, '_' and '-' (such as base64's '+', '/' "
            "or '='): it is part of the webhook URL's path, where they do not survive"
        )
    else:
        return
    raise SmsApiConfigError(
        f"{problem}; the SMS API webhook receiver refuses every request until it is fixed (generate "
        'one with: python -c "import secrets; print(secrets.token_urlsafe(32))")'
    )


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
    check_webhook_secret(secret)
    if urlsplit(base).scheme not in ("https", "http"):
        raise SmsApiConfigError(
            f"[{CONFIG_SECTION}] webhook_base_url must be an absolute URL (https://...), got {base!r}"
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
    "check_webhook_secret",
    "inbound_sms_url",
    "receipt_url",
    "resolve_callback_url",
]
