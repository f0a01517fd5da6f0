"""Airflow itself, in fresh processes, finds the provider: its CLI lists it, and it loads the plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

AIRFLOW_CLI = [sys.executable, "-m", "airflow"]


def airflow_cli(*args: str) -> str:
    done = subprocess.run(
        [*AIRFLOW_CLI, *args], env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            ["providers", "list", "--output", "json"],
            {"package_name": "airflow-provider-sms", "version": "0.1.0"},
        ),
        (
            ["providers", "hooks", "--output", "json"],
            {
                "connection_type": "sms_api",
                "class": "airflow_provider_sms.hooks.sms_api.SmsApiHook",
                "conn_id_attribute_name": "sms_api_conn_id",
                "package_name": "airflow-provider-sms",
                "hook_name": "SMS & Voice API",
            },
        ),
    ],
)
def test_airflow_cli_shows_the_provider(command: list[str], expected: dict[str, str]) -> None:
    rows = json.loads(airflow_cli(*command))
    assert any(expected.items() <= row.items() for row in rows), rows


def test_airflow_loads_the_plugin_with_default_settings(tmp_path):
    """A fresh interpreter with Airflow's defaults (lazy provider discovery) finds the plugin."""
    code = (
        "from airflow import plugins_manager as pm\n"
        "if hasattr(pm, '_get_plugins'):  # Airflow 3.2+\n"
        "    plugins, errors = pm._get_plugins()\n"
        "else:  # Airflow 3.1\n"
        "    pm.ensure_plugins_loaded()\n"
        "    plugins, errors = pm.plugins, pm.import_errors\n"
        "print(sorted(p.name for p in plugins), errors)\n"
    )
    # Not from the source tree: there the egg-info that an editable install leaves beside the
    # package is a second copy of the distribution, and Airflow would load its entry point twice.
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, cwd=tmp_path
    ).stdout
    assert "'sms_api'" in out.splitlines()[-1], out
    assert out.splitlines()[-1].endswith("{}"), out
