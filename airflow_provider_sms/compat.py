"""The one import site of Airflow names whose module differs between the supported Airflow versions.

Airflow 3.2 (Task SDK 1.2) moved the task-facing exceptions from ``airflow.exceptions`` to
``airflow.sdk.exceptions`` and added ``airflow.sdk.conf``; Airflow 3.1 (Task SDK 1.1) has
neither. As official providers do, the names come from ``apache-airflow-providers-common-compat``,
which resolves each one for the installed Airflow; what it does not cover is resolved here.
Package modules import these names from this module only (``tests/unit/test_compat.py`` fails on
a direct import from ``airflow.exceptions``, ``airflow.sdk.exceptions`` or ``airflow.sdk.conf``).
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
    conf,
)

try:  # Task SDK 1.2+ (Airflow 3.2+); common-compat does not map this one
    from airflow.sdk.exceptions import AirflowTaskTerminated
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowTaskTerminated  # type: ignore[no-redef]

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTerminated",
    "TaskDeferred",
    "conf",
]
