"""The Airflow connection, read into settings both hooks share (no I/O here)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_sms.api.constants import API_RATE_LIMIT_PER_SECOND, DEFAULT_API_PATH
from airflow_provider_sms.exceptions import SmsApiConfigError

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 3

# Extras the connection form offers, with their defaults (documented in docs/connection.md).
EXTRA_DEFAULTS: dict[str, Any] = {
    "timeout": DEFAULT_TIMEOUT,
    "rate_limit": API_RATE_LIMIT_PER_SECOND,
    "max_retries": DEFAULT_MAX_RETRIES,
    "verify": True,
    "default_sender": None,
    "default_callback_url": None,
    "log_full_numbers": False,
}


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Everything a hook needs from an ``sms_api`` connection.

    ``repr`` leaves the secret out, so the settings can be logged.
    """

    api_url: str
    key_id: str
    secret: str
    timeout: float = DEFAULT_TIMEOUT
    rate_limit: float = float(API_RATE_LIMIT_PER_SECOND)
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    default_sender: str | None = None
    default_callback_url: str | None = None
    log_full_numbers: bool = False

    def __repr__(self) -> str:
        return (
            f"ConnectionSettings(api_url={self.api_url!r}, key_id={self.key_id!r}, secret='***', "
            f"timeout={self.timeout}, rate_limit={self.rate_limit}, max_retries={self.max_retries}, "
            f"verify={self.verify!r})"
        )

    @property
    def limiter_key(self) -> str:
        """Requests of one account share one pace, whichever connection id names it."""
        return f"{urlsplit(self.api_url).netloc}|{self.key_id}"

    def url(self, path: str) -> str:
        return self.api_url + path

    @classmethod
    def from_connection(
        cls,
        *,
        conn_id: str,
        host: str | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any] | str | None,
        schema: str | None = None,
        port: int | None = None,
    ) -> ConnectionSettings:
        """Validate an Airflow connection's fields; raise :class:`SmsApiConfigError` saying which is wrong."""
        extras = _extras(conn_id, extra)
        if not login or not password:
            raise SmsApiConfigError(
                f"Connection {conn_id!r} needs the access key id as login and the secret as password"
            )
        return cls(
            api_url=api_url_from_host(conn_id, host, schema=schema, port=port),
            key_id=login,
            secret=password,
            timeout=_positive_float(conn_id, "timeout", extras.get("timeout", DEFAULT_TIMEOUT)),
            rate_limit=_positive_float(
                conn_id, "rate_limit", extras.get("rate_limit", API_RATE_LIMIT_PER_SECOND)
            ),
            max_retries=_non_negative_int(
                conn_id, "max_retries", extras.get("max_retries", DEFAULT_MAX_RETRIES)
            ),
            verify=_verify(conn_id, extras.get("verify", True)),
            default_sender=extras.get("default_sender") or None,
            default_callback_url=extras.get("default_callback_url") or None,
            log_full_numbers=_bool(conn_id, "log_full_numbers", extras.get("log_full_numbers", False)),
        )


def api_url_from_host(
    conn_id: str, host: str | None, *, schema: str | None = None, port: int | None = None
) -> str:
    """``https://api.example.com`` → ``https://api.example.com/v1``; a given path is kept.

    Plain ``http://`` is refused: the API is HTTPS only, and Basic auth over HTTP would
    send the secret in clear. ``schema`` may hold the scheme (``https``) or, as Airflow's URI
    form leaves it, the API path (``v1``).
    """
    if not host:
        raise SmsApiConfigError(
            f"Connection {conn_id!r} has no host: set it to the API base URL (https://...)"
        )
    # Airflow's URI form (sms-api://key:secret@api.example.com/v1) puts the path in ``schema``;
    # HttpHook's habit puts the scheme there. Accept both.
    scheme_hint = schema.strip().lower() if schema and schema.strip().lower() in ("http", "https") else None
    path_hint = "/" + schema.strip().strip("/") if schema and schema.strip("/ ") and not scheme_hint else None
    raw = host.strip()
    if "://" not in raw:
        raw = f"{scheme_hint or 'https'}://{raw}"
    parts = urlsplit(raw)
    if parts.scheme.lower() != "https":
        raise SmsApiConfigError(
            f"Connection {conn_id!r} uses {parts.scheme}://, but the API is served over HTTPS only: "
            "use an https:// host"
        )
    if not parts.hostname:
        raise SmsApiConfigError(f"Connection {conn_id!r} has an unusable host {_without_userinfo(host)!r}")
    # Credentials in the host would end up in URLs, logs and messages: login/password carry them.
    netloc = parts.netloc.rpartition("@")[2]
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/") or path_hint or DEFAULT_API_PATH
    return urlunsplit(("https", netloc, path, "", ""))


def _without_userinfo(host: str) -> str:
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest = "", host
    rest = rest.rpartition("@")[2] if "@" in rest.split("/", 1)[0] else rest
    return f"{scheme}{sep}{rest}"


def _extras(conn_id: str, extra: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            raise SmsApiConfigError(f"Connection {conn_id!r} has an extra that is not JSON") from None
    if not isinstance(extra, Mapping):
        raise SmsApiConfigError(f"Connection {conn_id!r} has an extra that is not a JSON object")
    # Unknown keys are ignored here (the hook warns about them): a typo must not stop a
    # pipeline that works with defaults, but should not go unnoticed either.
    return {k: v for k, v in extra.items() if k in EXTRA_DEFAULTS and v is not None and v != ""}


def unknown_extras(extra: Mapping[str, Any] | str | None) -> list[str]:
    """Extra keys the connection has that this provider does not know (likely typos)."""
    if isinstance(extra, str):
        try:
            extra = json.loads(extra) if extra else {}
        except ValueError:
            return []
    return sorted(set(extra or {}) - set(EXTRA_DEFAULTS)) if isinstance(extra, Mapping) else []


def _positive_float(conn_id: str, name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:
        raise SmsApiConfigError(f"Connection {conn_id!r}: extra {name!r} must be a positive number")
    return number


def _non_negative_int(conn_id: str, name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or isinstance(value, bool):
        raise SmsApiConfigError(f"Connection {conn_id!r}: extra {name!r} must be a whole number >= 0")
    return number


def _bool(conn_id: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise SmsApiConfigError(f"Connection {conn_id!r}: extra {name!r} must be true or false")


def _verify(conn_id: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return value.strip()  # a CA bundle path, as requests and httpx take it
    raise SmsApiConfigError(f"Connection {conn_id!r}: extra 'verify' must be true, false or a CA bundle path")
