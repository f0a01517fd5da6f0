"""Sandbox.go_down() / come_back(): an API outage on demand, same port, state and ledger after it."""

from __future__ import annotations

import json
import socket

import pytest

from airflow_provider_sms.exceptions import ConnectionNotMadeError
from airflow_provider_sms.hooks.sms_api import SmsApiHook

pytestmark = pytest.mark.usefixtures("fresh_limiters")


def test_down_refuses_connections_and_back_keeps_port_state_and_ledger(sandbox_factory, monkeypatch) -> None:
    with sandbox_factory() as sb:
        conn = sb.airflow_conn()
        conn["extra"]["max_retries"] = 0
        monkeypatch.setenv("AIRFLOW_CONN_SMS_API_DEFAULT", json.dumps(conn))
        sent = SmsApiHook().send_sms("+447911123456", "before")
        reservation = SmsApiHook().reserve_incoming_call("+447911123450")
        port, ca = sb.port, sb.ca_path

        sb.go_down()

        assert sb.down
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with pytest.raises(ConnectionNotMadeError):
            SmsApiHook().hlr_lookup("+447911123456")
        with pytest.raises(RuntimeError, match="not serving"):
            sb.go_down()

        sb.come_back()

        assert not sb.down
        assert (sb.port, sb.ca_path) == (port, ca)
        assert SmsApiHook().send_sms("+447911123457", "after").request_id != sent.request_id
        assert [e["number"] for e in sb.ledger() if e["product"] == "sms"] == [
            "+447911123456",
            "+447911123457",
        ]
        assert [e["number"] for e in sb.ledger() if e["product"] == "incoming"] == ["+447911123450"]
        # The state outlived the outage: the reservation made before it is still known.
        assert SmsApiHook().get_incoming_call(reservation.request_id).status == "PENDING"
        with pytest.raises(RuntimeError, match="not down"):
            sb.come_back()
