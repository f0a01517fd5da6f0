"""Nothing secret reaches the logs: no secret, no Authorization value, no unmasked number.

Airflow 3 hooks log through structlog to stdout/stderr (``capfd``); urllib3 logs through the
standard library (``caplog``). Both are read, with the hook's namespace at DEBUG.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging

import pytest

from airflow_provider_sms.exceptions import (
    AuthenticationError,
    DeliveryUnknownError,
    ServerError,
    SmsApiError,
)
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.sandbox import Sandbox
from tests.support.hooks import MOBILE, connect

pytestmark = pytest.mark.usefixtures("fresh_limiters")

HOOK_LOGGER = "airflow.task.hooks.airflow_provider_sms"


@pytest.fixture
def debug_logs(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The hook's namespace at DEBUG, as ``[logging] namespace_levels`` would set it."""
    for module in ("airflow.sdk._shared.logging.structlog", "airflow._shared.logging.structlog"):
        try:
            levels = importlib.import_module(module).PER_LOGGER_LEVELS
        except ImportError:
            continue
        monkeypatch.setitem(levels, HOOK_LOGGER, logging.DEBUG)
    caplog.set_level(logging.DEBUG)


def everything_logged(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, *extra: str
) -> str:
    captured = capfd.readouterr()
    return "\n".join([captured.out, captured.err, caplog.text, *extra])


def exercise(hook: SmsApiHook, sandbox: Sandbox) -> list[str]:
    """Successes, retries (5xx, a truncated answer quoting the number), lost sends, refusals.

    Returns the messages of the errors raised, as a failing task would log them.
    """
    errors: list[str] = []

    def attempt(call: object) -> None:
        try:
            call()  # type: ignore[operator]
        except SmsApiError as exc:
            errors.append(str(exc))
            hook.log.error("task failed: %s", exc)

    attempt(lambda: hook.send_sms(MOBILE, "hello"))
    attempt(lambda: hook.hlr_lookup(MOBILE))
    # A 502, retried, and a 502 again: injected, so the retry happens whatever the machine's
    # load (a 429 from a one-request window was missed when the retry came a second later).
    sandbox.set_faults("502=1")
    attempt(lambda: hook.fraud_check(MOBILE))
    sandbox.set_faults("truncated=1")
    attempt(lambda: hook.hlr_lookup(MOBILE))  # half an HLR answer, then a retry
    attempt(lambda: hook.send_sms(MOBILE, "lost"))  # DeliveryUnknownError
    sandbox.set_faults("503=1")
    attempt(lambda: hook.flash_call(MOBILE))
    sandbox.set_faults(None)
    attempt(lambda: hook.send_sms("+44 7911 12345678901", "impossible"))
    return errors


@pytest.mark.usefixtures("debug_logs")
def test_no_secret_and_no_unmasked_number_in_any_log(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    connect(monkeypatch, sandbox, max_retries=1)
    hook = SmsApiHook()
    errors = exercise(hook, sandbox)
    assert len(errors) == 5  # the 502s, the truncated look-up, the lost send and call, the bad number
    logged = everything_logged(capfd, caplog, *errors)

    # The checks below can fail: the hook's DEBUG lines and urllib3's are in what was read.
    assert "hlr_lookup for +4479******56: HTTP 200" in logged
    assert '"POST /v1/insight/hlr HTTP/1.1" 200' in logged
    assert "fraud_check failed (attempt 1 of 2)" in logged
    assert "hlr_lookup failed (attempt 1 of 2)" in logged

    token = base64.b64encode(f"{sandbox.key}:{sandbox.secret}".encode()).decode()
    for secret in (sandbox.secret, token, f"Basic {token}"):
        assert secret not in logged
    for number in (MOBILE, MOBILE.lstrip("+"), "447911123456789", "4479111234"):
        assert number not in logged


@pytest.mark.usefixtures("debug_logs")
def test_wrong_credentials_are_not_echoed(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = connect(monkeypatch, sandbox)
    conn["password"] = "typo-in-the-s3cret"
    monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
    hook = SmsApiHook()
    with pytest.raises(AuthenticationError) as info:
        hook.hlr_lookup(MOBILE)
    ok, message = hook.test_connection()
    assert not ok
    logged = everything_logged(capfd, caplog, str(info.value), message, repr(hook.settings))
    assert "hlr_lookup for +4479******56: HTTP 401" in logged
    assert "typo-in-the-s3cret" not in logged
    assert base64.b64encode(f"{sandbox.key}:typo-in-the-s3cret".encode()).decode() not in logged


@pytest.mark.usefixtures("debug_logs")
def test_log_full_numbers_shows_them(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    connect(monkeypatch, sandbox, max_retries=1, log_full_numbers=True)
    hook = SmsApiHook()
    hook.hlr_lookup(MOBILE)
    sandbox.set_faults("503=1")
    with pytest.raises(DeliveryUnknownError) as lost:
        hook.send_sms(MOBILE, "lost")
    with pytest.raises(ServerError):
        hook.fraud_check(MOBILE)
    logged = everything_logged(capfd, caplog)
    assert f"hlr_lookup for {MOBILE}: HTTP 200" in logged
    assert f"The API failed for {MOBILE} with HTTP 503" in logged  # the retry warning
    assert f"send_sms to {MOBILE}" in str(lost.value)
    assert sandbox.secret not in logged
