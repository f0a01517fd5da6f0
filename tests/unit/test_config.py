"""The [sms_api] options: declared once for Airflow, read in one module, with their defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_sms import config
from airflow_provider_sms.get_provider_info import get_provider_info

PACKAGE = Path(config.__file__).parent


def test_every_option_is_declared_with_what_airflow_shows() -> None:
    declared = get_provider_info()["config"][config.SECTION]
    assert declared["options"] is config.OPTIONS
    assert set(config.OPTIONS) == {"webhook_secret", "webhook_base_url", "journal_path", "data_path"}
    for name, option in config.OPTIONS.items():
        assert {"description", "version_added", "type", "example", "default"} <= option.keys(), name
        assert option["description"], name
        assert option["example"], name
    assert config.OPTIONS["webhook_secret"]["sensitive"] is True


def test_only_the_config_module_reads_airflow_configuration() -> None:
    readers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\bimport\b.*\bconf\b|\bconf\.get", path.read_text()) and path.name != "config.py"
    ]
    assert readers == []
    read_options = set()
    for path in PACKAGE.rglob("*.py"):
        read_options |= set(re.findall(r'_option\("(\w+)"\)', path.read_text()))
    assert read_options == set(config.OPTIONS)


def test_values_are_trimmed_and_read_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_BASE_URL", " https://airflow.example.com/ ")
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", " s3cret ")
    assert (config.webhook_base_url(), config.webhook_secret()) == ("https://airflow.example.com", "s3cret")
    monkeypatch.setenv("AIRFLOW__SMS_API__WEBHOOK_SECRET", "rotated")
    assert config.webhook_secret() == "rotated"
    assert config.env_var("data_path") == "AIRFLOW__SMS_API__DATA_PATH"


def test_journal_path_defaults_to_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__SMS_API__JOURNAL_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert config.journal_path() == str(tmp_path / "sms_journal")
    monkeypatch.setenv("AIRFLOW__SMS_API__JOURNAL_PATH", "s3://bucket/journal")
    assert config.journal_path() == "s3://bucket/journal"


def test_data_path_wins_over_the_deprecated_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_SMS_API_DATA_DIR", str(tmp_path / "legacy"))
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", str(tmp_path / "data"))
    assert config.data_path() == str(tmp_path / "data")


def test_the_deprecated_variable_still_works_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW__SMS_API__DATA_PATH", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_SMS_API_DATA_DIR", str(tmp_path / "legacy"))
    with pytest.warns(DeprecationWarning, match=r"set \[sms_api\] data_path"):
        assert config.data_path() == str(tmp_path / "legacy")
    assert "AIRFLOW__SMS_API__DATA_PATH" in caplog.text


def test_data_path_defaults_to_airflow_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__SMS_API__DATA_PATH", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SMS_API_DATA_DIR", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setattr("airflow.sdk.Variable.get", lambda key, default=None: default)
    assert config.data_path() == str(tmp_path / "sms_api")
