"""Fixtures of the sandbox tests (the session's sandbox itself is in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from airflow_provider_sms.hooks import pacing


@pytest.fixture
def fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start the test with unthrottled limiters (they are per account and process).

    Use it with ``pytestmark = pytest.mark.usefixtures("fresh_limiters")``.
    """
    monkeypatch.setattr(pacing, "_registry", {})
