"""Provider registration: the dict Airflow reads, validated by Airflow's own schema."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_sms.get_provider_info import get_provider_info
from airflow_provider_sms.hooks.sms_api import SmsApiHook


def test_provider_info_is_valid_for_the_installed_airflow() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_the_entry_point_is_registered() -> None:
    found = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_sms.")
    ]
    assert [ep.load() for ep in found] == [get_provider_info]


def test_connection_type_matches_the_hook() -> None:
    (conn,) = get_provider_info()["connection-types"]
    module, _, name = conn["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is SmsApiHook
    assert conn["connection-type"] == SmsApiHook.conn_type == "sms_api"
    assert conn["hook-name"] == SmsApiHook.hook_name == "SMS & Voice API"
    assert SmsApiHook.default_conn_name == "sms_api_default"
    assert SmsApiHook.conn_name_attr == "sms_api_conn_id"
    # The UI form, the Airflow 3.2+ way: relabelled fields, hidden ones, typed extras, secret password.
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "API base URL", "login": "Access key id", "password": "Secret"}
    assert set(behaviour["hidden-fields"]) >= {"schema", "extra"}
    # Port stays: with none stored, Airflow 3.3.2's Test button is refused (docs/connection.md).
    assert "port" not in behaviour["hidden-fields"]
    assert behaviour["placeholders"]["port"] == "443"
    assert set(conn["conn-fields"]) == {
        "timeout",
        "rate_limit",
        "max_retries",
        "verify",
        "default_sender",
        "default_callback_url",
        "log_full_numbers",
    }
