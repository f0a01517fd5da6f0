"""The exported assets, the readers of their events, and how the plugin is registered."""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS, delivery_receipts, inbound_messages
from airflow_provider_sms.get_provider_info import get_provider_info
from airflow_provider_sms.plugins.webhooks import SmsApiWebhookPlugin


@dataclass
class Event:
    """Shape of an AssetEventDagRunReferenceResult as far as the readers use it."""

    extra: dict[str, Any]
    timestamp: datetime


def at(second: int) -> datetime:
    return datetime(2025, 1, 1, 0, 0, second, tzinfo=timezone.utc)


class TriggeringEvents(Mapping[Asset, list[Event]]):
    """Like the task context's ``triggering_asset_events``: looked up by Asset, which Airflow
    3.1 cannot hash (a plain dict keyed by Asset works on 3.2+ only)."""

    def __init__(self, *events: tuple[Asset, list[Event]]) -> None:
        self._events = list(events)

    def __getitem__(self, asset: Asset) -> list[Event]:
        for key, events in self._events:
            if key == asset:
                return events
        raise KeyError(asset.uri)

    def __iter__(self) -> Iterator[Asset]:
        return iter(key for key, _ in self._events)

    def __len__(self) -> int:
        return len(self._events)


def test_asset_names_and_uris():
    assert DELIVERY_RECEIPTS.name == "sms-api://delivery-receipts"
    assert INBOUND_SMS.name == "sms-api://inbound-sms"
    # Airflow's sanitiser keeps the custom scheme and adds a trailing slash to the URI.
    assert DELIVERY_RECEIPTS.uri.rstrip("/") == "sms-api://delivery-receipts"
    assert INBOUND_SMS.uri.rstrip("/") == "sms-api://inbound-sms"
    assert Asset("sms-api://delivery-receipts") == DELIVERY_RECEIPTS


def test_receipts_are_parsed_in_event_order_and_bad_events_skipped():
    events = TriggeringEvents(
        (
            DELIVERY_RECEIPTS,
            [
                Event({"requestId": "b", "status": "DELIVERED", "timestamp": 1700000001}, at(2)),
                Event({"requestId": "a", "status": "sent"}, at(1)),
                Event({"hand": "made"}, at(3)),
            ],
        ),
        (INBOUND_SMS, [Event({"from": "1", "to": "2", "messageId": "m", "text": "x"}, at(0))]),
    )
    receipts = delivery_receipts(events)
    assert [(r.request_id, r.status) for r in receipts] == [("a", "SENT"), ("b", "DELIVERED")]
    assert receipts[1].raw == {"requestId": "b", "status": "DELIVERED", "timestamp": 1700000001}


def test_inbound_messages_are_parsed():
    events = TriggeringEvents(
        (
            INBOUND_SMS,
            [
                Event(
                    {
                        "from": "447700900001",
                        "to": "447700900000",
                        "messageId": "m1",
                        "text": "STOP",
                        "parts": 1,
                    },
                    at(0),
                )
            ],
        )
    )
    (message,) = inbound_messages(events)
    assert (message.from_number, message.message_id, message.text) == ("447700900001", "m1", "STOP")


def test_runs_without_events_of_an_asset_give_nothing():
    assert delivery_receipts(None) == []
    assert delivery_receipts(TriggeringEvents()) == []
    receipts_only = TriggeringEvents(
        (DELIVERY_RECEIPTS, [Event({"requestId": "a", "status": "SENT"}, at(0))])
    )
    assert inbound_messages(receipts_only) == []


def test_provider_info_leaves_the_plugin_to_the_entry_point():
    """Declared twice, Airflow with lazy_discover_providers=False would load it twice."""
    assert "plugins" not in get_provider_info()


def test_plugin_is_registered_under_the_airflow_plugins_entry_point():
    """Airflow 3.3 loads provider-info plugins only with [core] lazy_discover_providers=False
    (not the default); the ``airflow.plugins`` entry point is what loads it everywhere."""
    points = [
        ep
        for ep in importlib.metadata.entry_points(group="airflow.plugins")
        if ep.value == "airflow_provider_sms.plugins.webhooks:SmsApiWebhookPlugin"
    ]
    assert points, (
        'pyproject.toml needs [project.entry-points."airflow.plugins"] '
        'sms_api = "airflow_provider_sms.plugins.webhooks:SmsApiWebhookPlugin" (then reinstall)'
    )
    assert points[0].load() is SmsApiWebhookPlugin
