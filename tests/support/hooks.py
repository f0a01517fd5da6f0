"""Helpers for the hook tests against the sandbox: the connection, the ledger, a known mobile."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_sms.sandbox import Sandbox

SandboxFactory = Callable[..., contextlib.AbstractContextManager[Sandbox]]
"""The type of the ``sandbox_factory`` fixture (``tests/conftest.py``)."""

MOBILE = "+447911123456"  # a UK mobile: HLR DELIVERED, fraud PASSED, SMS DELIVERED, calls ANSWERED


def connect(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    conn_id: str = "sms_api_default",
    account: str = "demo",
    **extra: Any,
) -> dict[str, Any]:
    """Give the connection as the JSON form of an ``AIRFLOW_CONN_...`` variable; return it."""
    conn = json.loads(sandbox.airflow_conn_json(account))
    conn["extra"].update(extra)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn


def ledger(sandbox: Sandbox, product: str | None = None) -> list[dict[str, Any]]:
    return [e for e in sandbox.ledger() if product is None or e["product"] == product]
