"""TLS set-up failures in both hooks, against a scripted HTTPS server: an unusable CA bundle is
a configuration error before anything is sent, a CA replaced on disk is picked up by a living
hook, and a handshake cut short means the request never left (a send is ``failed``, not
``unknown``, in the journal)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.exceptions import (
    ConnectionNotMadeError,
    SmsApiConfigError,
    TlsVerificationError,
)
from airflow_provider_sms.sending.entries import Contact, Outcome
from airflow_provider_sms.sending.journal import SendJournal, TaskScope
from tests.support.runs import journal_entries
from tests.support.servers import ScriptedServer
from tests.support.transport import (
    HLR_ANSWER,
    HOOKS,
    SMS_ANSWER,
    connect_to,
    json_answer,
    make_certs,
    use_hook,
)

pytestmark = pytest.mark.usefixtures("fresh_limiters")

NUMBER = "+447911123456"
LOG = logging.getLogger("test-hook-tls")


def lookup(hook: Any) -> Any:
    return hook.hlr_lookup(NUMBER)


def send(hook: Any) -> Any:
    return hook.send_sms(NUMBER, "Your code is 1234")


def send_through_journal(folder: Path, kind: str) -> tuple[Outcome, list[dict[str, Any]]]:
    """One SMS through ``SendJournal.send_once``, as the operators send: its outcome and entries."""
    scope = TaskScope("dag", "run", "send", -1, try_number=1)
    journal = SendJournal(ObjectStoragePath(str(folder)), scope, LOG)
    contact = Contact(NUMBER, "sms", {"text": "Your code is 1234"}, "+4479******56")
    result = journal.send_once(contact, lambda: use_hook(kind, send))
    return result.outcome, journal_entries(folder)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with ScriptedServer(json_answer(200, SMS_ANSWER), make_certs(tmp_path / "server")) as server:
        yield server


def unusable_bundle(tmp_path: Path, how: str) -> str:
    path = tmp_path / "ca.pem"
    if how == "not-a-certificate":
        path.write_text("this is not a certificate\n")
    elif how == "empty":
        path.write_text("")
    return str(path)  # "missing": never written


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("how", ["missing", "not-a-certificate", "empty"])
def test_an_unusable_ca_bundle_is_a_configuration_error_before_anything_is_sent(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str, how: str
) -> None:
    connect_to(monkeypatch, server, unusable_bundle(tmp_path, how), max_retries=3)
    with pytest.raises(SmsApiConfigError) as info:
        use_hook(kind, send)
    assert "the CA bundle named by the 'verify' extra cannot be used" in str(info.value)
    assert "nothing was sent" in str(info.value)
    assert server.connections == 0


@pytest.mark.parametrize("kind", HOOKS)
def test_a_send_with_an_unusable_ca_bundle_is_journalled_failed_not_unknown(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    connect_to(monkeypatch, server, unusable_bundle(tmp_path, "not-a-certificate"))
    outcome, entries = send_through_journal(tmp_path / "journal", kind)
    assert outcome is Outcome.FAILED  # sent again by the next try, once the bundle is fixed
    assert [entry["status"] for entry in entries] == ["failed"]
    assert server.connections == 0


def test_a_ca_bundle_spoilt_while_the_sync_hook_lives_is_a_configuration_error(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_sms.hooks.sms_api import SmsApiHook

    bundle = tmp_path / "ca.pem"
    shutil.copy(server.certs.ca_cert, bundle)
    connect_to(monkeypatch, server, str(bundle), max_retries=3)
    hook = SmsApiHook()
    assert send(hook).request_id == "r1"
    bundle.write_text("this is not a certificate any more\n")
    with pytest.raises(SmsApiConfigError, match="CA bundle"):
        send(hook)
    hook.close()
    assert len(server.requests) == 1


@pytest.mark.parametrize("kind", HOOKS)
def test_a_living_hook_picks_up_a_ca_replaced_at_the_same_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    first, second = make_certs(tmp_path / "first"), make_certs(tmp_path / "second")
    bundle = tmp_path / "ca.pem"
    shutil.copy(first.ca_cert, bundle)
    with ScriptedServer(json_answer(200, HLR_ANSWER), first) as server:
        connect_to(monkeypatch, server, str(bundle), max_retries=0)

        def before_and_after(hook: Any) -> Any:
            if kind == "sync":
                before = lookup(hook)
                rotate()
                return before, lookup(hook)

            async def both() -> Any:
                before = await lookup(hook)
                rotate()
                return before, await lookup(hook)

            return both()

        def rotate() -> None:
            # The server's CA changes; the new CA is written where the connection points.
            shutil.copy(second.ca_cert, bundle)
            server.rotate(second)  # and drops its connections: the next request handshakes again

        before, after = use_hook(kind, before_and_after)
    assert before.status == after.status == "DELIVERED"
    assert len(server.requests) == 2


def test_the_async_hook_rebuilds_once_and_then_reports_a_ca_that_does_not_match(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second, unrelated = (make_certs(tmp_path / name) for name in ("first", "second", "unrelated"))
    bundle = tmp_path / "ca.pem"
    shutil.copy(first.ca_cert, bundle)
    with ScriptedServer(json_answer(200, HLR_ANSWER), first) as server:
        connect_to(monkeypatch, server, str(bundle), max_retries=3)

        async def before_and_after(hook: Any) -> Any:
            await lookup(hook)
            shutil.copy(unrelated.ca_cert, bundle)  # not the CA that signed the server's new certificate
            server.rotate(second)
            return await lookup(hook)

        with pytest.raises(TlsVerificationError, match="'verify' extra"):
            use_hook("async", before_and_after)
    assert len(server.requests) == 1
    assert server.connections == 3  # the first, the refused handshake, the one after the rebuild


@pytest.mark.parametrize("kind", HOOKS)
@pytest.mark.parametrize("cut", ["close", "reset", "http"])
def test_a_handshake_cut_short_means_the_request_never_left(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str, cut: str
) -> None:
    server_certs = make_certs(tmp_path / "server")
    with ScriptedServer(json_answer(200, SMS_ANSWER), server_certs, on_connect=cut) as server:
        connect_to(monkeypatch, server, str(server_certs.ca_cert), max_retries=2)
        with pytest.raises(ConnectionNotMadeError, match="Could not connect") as info:
            use_hook(kind, send)
        outcome, entries = send_through_journal(tmp_path / "journal", kind)
    assert type(info.value) is ConnectionNotMadeError  # retried: a send too, since nothing left
    assert server.connections == 3 + 3  # three tries each time
    assert outcome is Outcome.FAILED
    assert [entry["status"] for entry in entries] == ["failed"]
