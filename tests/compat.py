"""Airflow internals the tests use whose module moved between Airflow 3.1 and 3.3.

The package's own moved names live in ``airflow_provider_sms.compat``; these are the tests'
(DAG parsing and serialization). Resolved on first use, so importing this module does not import
Airflow: ``from tests.compat import DagBag`` inside a test or helper function.
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> ("module:attribute" on Airflow 3.2+, "module:attribute" on Airflow 3.1)
_MOVED = {
    "DagBag": ("airflow.dag_processing.dagbag:DagBag", "airflow.models.dagbag:DagBag"),
    "DagSerialization": (
        "airflow.serialization.serialized_objects:DagSerialization",
        "airflow.serialization.serialized_objects:SerializedDAG",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for location in _MOVED[name]:
        module, _, attribute = location.partition(":")
        try:
            value = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            continue
        globals()[name] = value
        return value
    raise ImportError(f"{name} is at none of {_MOVED[name]}")


def dag_test(dag: Any, **test_kwargs: Any) -> Any:
    """``dag.test(**test_kwargs)``; the finished DagRun.

    Airflow 3.2+ stores the DAG in the metadata database itself; 3.1's ``dag.test()`` expects it
    there already (``airflow dags test`` puts it there first), so it is stored here on 3.1.
    """
    import airflow
    from packaging.version import Version

    if Version(airflow.__version__) < Version("3.2"):
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.models.dagbag import DagBag, sync_bag_to_db

        manager = DagBundlesManager()
        manager.sync_bundles_to_db()
        bundle = manager.get_bundle("dags-folder")
        bundle.initialize()
        bag = DagBag(dag_folder=dag.fileloc, bundle_path=bundle.path, include_examples=False, safe_mode=False)
        sync_bag_to_db(bag, bundle.name, bundle.version)
    return dag.test(**test_kwargs)


def need_memory_filesystem() -> None:
    """Skip the calling test where ``ObjectStoragePath("memory://...")`` cannot reach fsspec's
    memory filesystem: Airflow 3.1 resolves a scheme only through the filesystems its providers
    register, and none registers ``memory``. (Real object stores, s3 and the like, are registered.)"""
    import pytest
    from airflow.sdk import ObjectStoragePath

    probe = ObjectStoragePath("memory:///airflow-provider-sms-probe")
    try:
        probe.write_text("probe")
        probe.unlink()
    except ValueError as exc:
        pytest.skip(f"no memory:// filesystem for ObjectStoragePath on this Airflow: {exc}")
