"""The [sms_api] options: declared once for Airflow, read in one module, with their defaults."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from airflow_provider_sms import config
from airflow_provider_sms.get_provider_info import get_provider_info

PACKAGE = Path(config.__file__).parent


def test_every_option_is_declared_with_what_airflow_shows() -> None:
    declared = get_provider_info()["config"][config.SECTION]
    assert declared["options"] is config.OPTIONS
    assert set(config.OPTIONS) == {
        "webhook_secret",
        "webhook_base_url",
        "journal_path",
        "data_path",
        "local_paths_shared",
    }
    for name, option in config.OPTIONS.items():
        assert {"description", "version_added", "type", "example", "default"} <= option.keys(), name
        assert option["description"], name
        assert option["example"], name
    assert config.OPTIONS["webhook_secret"]["sensitive"] is True


def test_only_the_config_module_reads_airflow_configuration() -> None:
    readers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\bimport\b.*\bconf\b|\bconf\.get", path.read_text())
        and path.name not in ("config.py", "compat.py")  # compat only re-exports conf for config
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


def test_journal_path_defaults_to_the_data_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__SMS_API__JOURNAL_PATH", raising=False)
    monkeypatch.delenv("AIRFLOW__SMS_API__DATA_PATH", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_SMS_API_DATA_DIR", raising=False)
    monkeypatch.setattr("airflow.sdk.Variable.get", lambda key, default=None: default)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert config.journal_path() == f"{tmp_path}/sms_api/journal"
    monkeypatch.setenv("AIRFLOW__SMS_API__DATA_PATH", "s3://aws_default@bucket/sms/")
    assert config.journal_path() == "s3://aws_default@bucket/sms/journal"
    monkeypatch.setenv("AIRFLOW__SMS_API__JOURNAL_PATH", "s3://bucket/journal")
    assert config.journal_path() == "s3://bucket/journal"


@pytest.mark.parametrize(
    ("executor", "distributed"),
    [
        ("LocalExecutor", None),
        ("SequentialExecutor", None),
        ("airflow.executors.local_executor.LocalExecutor", None),
        ("CeleryExecutor", "CeleryExecutor"),
        ("LocalExecutor,CeleryExecutor", "CeleryExecutor"),
        ("LocalExecutor, my_k8s:airflow.providers.cncf.kubernetes.executors.KubernetesExecutor", "my_k8s:"),
        ("KubernetesExecutor", "KubernetesExecutor"),
    ],
)
def test_which_executors_may_run_a_retry_on_another_host(
    monkeypatch: pytest.MonkeyPatch, executor: str, distributed: str | None
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    found = config.distributed_executor()
    assert found == distributed or (
        distributed is not None and found is not None and found.startswith(distributed)
    )


@pytest.mark.parametrize(
    ("location", "local"),
    [
        ("/srv/sms", True),
        ("file:///srv/sms", True),
        ("s3://aws_default@bucket/sms", False),
        ("gs://b/x", False),
    ],
)
def test_local_locations(location: str, local: bool) -> None:
    assert config.is_local_location(location) is local


def test_a_local_path_under_a_distributed_executor_warns_once_per_task(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("test-config")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.delenv("AIRFLOW__SMS_API__LOCAL_PATHS_SHARED", raising=False)
    location = "/srv/sms-warn-test/journal"
    with caplog.at_level(logging.WARNING, logger="test-config"):
        assert config.warn_if_local_on_distributed(location, "the send journal", log)
        assert config.warn_if_local_on_distributed(location, "the send journal", log)  # same task: once
        assert not config.warn_if_local_on_distributed("s3://aws_default@bucket/sms", "the send journal", log)
    [record] = caplog.records
    assert "The send journal is at /srv/sms-warn-test/journal" in record.getMessage()
    assert "CeleryExecutor" in record.getMessage()
    assert "AIRFLOW__SMS_API__DATA_PATH" in record.getMessage()
    monkeypatch.setenv("AIRFLOW__SMS_API__LOCAL_PATHS_SHARED", "True")  # an NFS mount every worker shares
    assert not config.warn_if_local_on_distributed("/srv/other", "the send journal", log)
    monkeypatch.setenv("AIRFLOW__SMS_API__LOCAL_PATHS_SHARED", "False")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    assert not config.warn_if_local_on_distributed("/srv/other", "the send journal", log)


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
