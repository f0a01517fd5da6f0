"""The sms_api connection read into settings (no network, no Airflow metadata DB)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_sms.api.settings import ConnectionSettings, api_url_from_host, unknown_extras
from airflow_provider_sms.exceptions import SmsApiConfigError


def settings(
    host: str | None = "https://api.example.com", extra: Any = None, **kw: Any
) -> ConnectionSettings:
    fields: dict[str, Any] = {
        "conn_id": "sms",
        "host": host,
        "login": "key",
        "password": "s3cret",
        "extra": extra,
    }
    fields.update(kw)
    return ConnectionSettings.from_connection(**fields)


@pytest.mark.parametrize(
    ("host", "api_url"),
    [
        ("https://api.example.com", "https://api.example.com/v1"),
        ("https://api.example.com/", "https://api.example.com/v1"),
        ("api.example.com", "https://api.example.com/v1"),
        ("https://api.example.com/sms/v2/", "https://api.example.com/sms/v2"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443/v1"),
        ("https://[::1]:8443/v1", "https://[::1]:8443/v1"),
        ("HTTPS://api.example.com?x=1#y", "https://api.example.com/v1"),
    ],
)
def test_host_with_or_without_path(host: str, api_url: str) -> None:
    assert settings(host).api_url == api_url


def test_uri_form_puts_the_path_in_schema_and_the_port_apart() -> None:
    # AIRFLOW_CONN_...='sms-api://key:secret@api.example.com:8443/v1' gives these fields.
    assert (
        api_url_from_host("sms", "api.example.com", schema="v1", port=8443)
        == "https://api.example.com:8443/v1"
    )
    assert api_url_from_host("sms", "api.example.com", schema="https") == "https://api.example.com/v1"


def test_port_zero_means_the_port_of_the_url() -> None:
    """Airflow 3.3.2's connection-list Test button sends port 0 for a connection without one."""
    assert api_url_from_host("sms", "https://api.example.com", port=0) == "https://api.example.com/v1"
    assert (
        api_url_from_host("sms", "https://api.example.com:8443", port=0) == "https://api.example.com:8443/v1"
    )
    assert api_url_from_host("sms", "https://api.example.com", port=443) == "https://api.example.com:443/v1"


def test_credentials_in_the_host_never_reach_the_url() -> None:
    assert settings("https://key:s3cret@api.example.com").api_url == "https://api.example.com/v1"


@pytest.mark.parametrize(
    ("host", "kw"),
    [("http://api.example.com", {}), ("api.example.com", {"schema": "http"}), ("ftp://api.example.com", {})],
)
def test_anything_but_https_is_refused(host: str, kw: dict[str, Any]) -> None:
    with pytest.raises(SmsApiConfigError, match="HTTPS only"):
        settings(host, **kw)


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"host": None}, "has no host"),
        ({"host": "https://"}, "unusable host"),
        ({"login": None}, "access key id as login"),
        ({"password": ""}, "secret as password"),
        ({"extra": "{not json"}, "not JSON"),
        ({"extra": "[1, 2]"}, "not a JSON object"),
        ({"extra": {"timeout": 0}}, "'timeout' must be a positive number"),
        ({"extra": {"timeout": "soon"}}, "'timeout' must be a positive number"),
        ({"extra": {"rate_limit": -5}}, "'rate_limit' must be a positive number"),
        ({"extra": {"max_retries": -1}}, "'max_retries' must be a whole number"),
        ({"extra": {"max_retries": True}}, "'max_retries' must be a whole number"),
        ({"extra": {"log_full_numbers": "maybe"}}, "'log_full_numbers' must be true or false"),
        ({"extra": {"verify": 1}}, "'verify' must be true, false or a CA bundle path"),
    ],
)
def test_unusable_fields_name_the_field(kw: dict[str, Any], says: str) -> None:
    with pytest.raises(SmsApiConfigError, match=says):
        settings(**kw)


def test_defaults() -> None:
    s = settings()
    assert (s.timeout, s.rate_limit, s.max_retries, s.verify) == (30.0, 30.0, 3, True)
    assert (s.default_sender, s.default_callback_url, s.log_full_numbers) == (None, None, False)


def test_extras_as_json_string_or_mapping_with_string_values() -> None:
    extra = (
        '{"timeout": "5", "rate_limit": 12.5, "max_retries": "0", "verify": "/etc/ca.pem", '
        '"default_sender": "InfoSMS", "default_callback_url": "https://cb", "log_full_numbers": "true"}'
    )
    s = settings(extra=extra)
    assert (s.timeout, s.rate_limit, s.max_retries, s.verify) == (5.0, 12.5, 0, "/etc/ca.pem")
    assert (s.default_sender, s.default_callback_url, s.log_full_numbers) == ("InfoSMS", "https://cb", True)
    assert settings(extra={"verify": "false"}).verify is False
    assert settings(extra={"verify": False}).verify is False
    assert settings(extra={"verify": "True"}).verify is True
    assert settings(extra={"timeout": None, "rate_limit": ""}).timeout == 30.0  # empty form fields


def test_unknown_extras_are_reported_not_fatal() -> None:
    assert unknown_extras('{"timeout": 3, "rate_limt": 10}') == ["rate_limt"]
    assert unknown_extras({"verify": True}) == []
    assert unknown_extras("not json") == []
    assert settings(extra={"rate_limt": 10}).rate_limit == 30.0


def test_repr_hides_the_secret() -> None:
    text = repr(settings(extra={"verify": "/ca.pem"}))
    assert "s3cret" not in text
    assert "secret='***'" in text
    assert "api_url='https://api.example.com/v1'" in text


def test_one_pace_per_account_whatever_the_connection_id() -> None:
    a = ConnectionSettings.from_connection(
        conn_id="a", host="https://api.example.com", login="key", password="x", extra=None
    )
    b = ConnectionSettings.from_connection(
        conn_id="b", host="api.example.com/v1", login="key", password="y", extra=None
    )
    assert a.limiter_key == b.limiter_key == "api.example.com|key"
    assert settings(login="other").limiter_key != a.limiter_key
    assert a.url("/sms") == "https://api.example.com/v1/sms"
