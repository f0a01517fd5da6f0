"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright, with no network of its own.

``./run.sh test`` installs the package when it is missing (``scripts/install_chromium.sh``);
Playwright's own browser download is not used. Screenshots go to ``test-artifacts/`` (or
``$SMS_TEST_ARTIFACTS``), which git ignores.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.airflow_env import REPO_ROOT

CANDIDATES = ("chromium", "chromium-browser")
# Headless, and nothing that would reach beyond the loopback pages the test opens.
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-pings",
]


def chromium_path() -> str | None:
    """Debian's Chromium, from ``$CHROMIUM`` or the PATH, or ``None``."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("SMS_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright ``Browser`` on Debian's Chromium; closed on exit."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError(
            "Chromium not found: install Debian's chromium package (scripts/install_chromium.sh, "
            "which ./run.sh test runs) or set CHROMIUM to its path"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()
