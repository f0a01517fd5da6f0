"""Fixtures of the sandbox tests (the session's sandbox itself is in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_sms.hooks import pacing, shared_pacing


@pytest.fixture
def fresh_limiters(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Start the test with unthrottled limiters: new ones, over a host store of the test's own.

    The limiters are per account and process, and their pace is kept in a file shared by
    the host's processes: a test must not inherit another's 429s or pauses.
    Use it with ``pytestmark = pytest.mark.usefixtures("fresh_limiters")``.

    :returns: the directory of the test's pace files.
    """
    folder = tmp_path_factory.mktemp("pace")
    folder.chmod(0o700)
    monkeypatch.setattr(pacing, "_registry", {})
    monkeypatch.setattr(shared_pacing, "state_dir", lambda: folder)
    return folder
