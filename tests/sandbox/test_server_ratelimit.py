"""Rate limit: per account, sliding one-second window over admitted requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from airflow_provider_sms.api import constants as c
from airflow_provider_sms.sandbox import Sandbox


def _check(sb: Sandbox, session: requests.Session, account: str = "demo") -> requests.Response:
    acc = sb.accounts[account]
    return session.post(
        sb.api_url + c.PATH_FRAUD_CHECK,
        data={"number": "+4915112345678"},
        auth=(acc["key"], acc["secret"]),
        verify=sb.ca_path,
        timeout=10,
    )


def _burst(sb: Sandbox, n: int, account: str = "demo", workers: int = 20) -> list[requests.Response]:
    local = threading.local()

    def one(_: int) -> requests.Response:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return _check(sb, local.session, account)

    # Warm the TLS sessions first so the burst itself is fast.
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(n)))


def test_burst_gets_429(sandbox: Sandbox) -> None:
    started = time.monotonic()
    responses = _burst(sandbox, 100)
    elapsed = time.monotonic() - started
    limited = [r for r in responses if r.status_code == 429]
    ok = [r for r in responses if r.status_code == 200]
    assert len(limited) + len(ok) == 100
    assert limited, f"no 429 in a burst of 100 in {elapsed:.2f}s"
    for r in limited:
        assert r.json() == {"errorCode": 4, "errorReason": "Too many requests"}
        assert "Retry-After" not in r.headers  # the API reference documents none
    # At most 30 admitted per second: the burst took ``elapsed`` seconds.
    assert len(ok) <= 30 * (int(elapsed) + 1)
    # Refused requests are not processed: the ledger only has the admitted ones.
    assert len(sandbox.ledger()) == len(ok)


def test_paced_client_is_never_limited(sandbox: Sandbox) -> None:
    # 34 ms between an answer and the next request: the server admits each request after it
    # answered the previous one, so admissions are >= 34 ms apart (at most 30 in any second)
    # however late the client's sleeps end. A schedule that caught up after a late wake-up
    # sent requests back to back under load, and was refused.
    statuses = []
    with requests.Session() as session:
        for _ in range(88):
            statuses.append(_check(sandbox, session).status_code)
            time.sleep(0.034)
    assert statuses == [200] * 88


def test_accounts_have_independent_windows(sandbox: Sandbox) -> None:
    sandbox.set_rate_limit(5)
    with requests.Session() as session:
        demo = [_check(sandbox, session).status_code for _ in range(8)]
        demo2 = [_check(sandbox, session, "demo2").status_code for _ in range(5)]
    assert demo.count(429) >= 3
    assert demo2 == [200] * 5


def test_limit_configurable_and_window_slides(sandbox: Sandbox) -> None:
    sandbox.set_rate_limit(3)
    with requests.Session() as session:
        assert [_check(sandbox, session).status_code for _ in range(5)] == [200, 200, 200, 429, 429]
        time.sleep(1.05)
        # The 429s did not count: a full window is available again.
        assert [_check(sandbox, session).status_code for _ in range(3)] == [200, 200, 200]


def test_get_requests_are_limited_too(sandbox: Sandbox) -> None:
    sandbox.set_rate_limit(2)
    auth = (sandbox.key, sandbox.secret)
    codes = [
        requests.get(
            f"{sandbox.api_url}/calls/incoming/abc", auth=auth, verify=sandbox.ca_path, timeout=10
        ).status_code
        for _ in range(3)
    ]
    assert codes == [404, 404, 429]


def test_control_endpoints_never_limited(sandbox: Sandbox) -> None:
    sandbox.set_rate_limit(1)
    with requests.Session() as session:
        codes = [
            session.get(f"{sandbox.base_url}/_sandbox/health", verify=sandbox.ca_path, timeout=10).status_code
            for _ in range(10)
        ]
    assert codes == [200] * 10
