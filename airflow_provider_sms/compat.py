"""The one import site of Airflow names whose module differs between the supported Airflow versions.

Airflow 3.2 (Task SDK 1.2) moved the task-facing exceptions from ``airflow.exceptions`` to
``airflow.sdk.exceptions`` and added ``airflow.sdk.conf``; Airflow 3.1 (Task SDK 1.1) has
neither. As official providers do, the names come from ``apache-airflow-providers-common-compat``,
which resolves each one for the installed Airflow; what it does not cover is resolved here.
Package modules import these names from this module only (``tests/unit/test_compat.py`` fails on
a direct import from ``airflow.exceptions``, ``airflow.sdk.exceptions`` or ``airflow.sdk.conf``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, AnyStr

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


#: What ``BaseHook.aget_connection`` raises where the process has no async channel to a
#: supervisor, so the sync lookup (in a worker thread) must serve: ``dag.test()``'s in-process
#: supervisor on Airflow 3.3 answers "not found"; outside any task or triggerer, Airflow 3.1
#: fails to import the (unset) ``SUPERVISOR_COMMS``.
ASYNC_CONNECTION_UNAVAILABLE: tuple[type[BaseException], ...] = (AirflowNotFoundException, ImportError)


def iter_lines(handle: IO[AnyStr]) -> Iterator[AnyStr]:
    """The lines of a file opened with ``ObjectStoragePath.open()``, on every supported Airflow.

    Airflow 3.1 wraps the opened file in an object without ``__iter__``: ``for line in handle``
    falls back to indexing it and fails ("'LocalFileOpener' object is not subscriptable").
    ``readline`` works on every version.
    """
    while line := handle.readline():
        yield line


def asset_for_listeners(model: Any) -> Any:
    """The form of a stored ``AssetModel`` that Airflow's asset listeners take (in the API
    server): ``to_serialized()`` on Airflow 3.2+, ``to_public()`` on 3.1."""
    convert = getattr(model, "to_serialized", None) or model.to_public
    return convert()


__all__ = [
    "ASYNC_CONNECTION_UNAVAILABLE",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTerminated",
    "TaskDeferred",
    "asset_for_listeners",
    "conf",
    "iter_lines",
]
