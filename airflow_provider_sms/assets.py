"""The Airflow Assets the provider's webhook plugin updates, and readers for their events.

The plugin (:mod:`airflow_provider_sms.plugins.webhooks`) stores every delivery receipt and
every inbound SMS the API pushes as an Asset event whose ``extra`` is the payload exactly as
the reference documents it (``requestId``, ``status``... or ``from``, ``to``, ``messageId``,
``text``...). A DAG schedules on them and reads the payloads::

    from airflow.sdk import dag, task
    from airflow_provider_sms.assets import DELIVERY_RECEIPTS, delivery_receipts

    @dag(schedule=[DELIVERY_RECEIPTS])
    def on_receipts():
        @task
        def count(triggering_asset_events=None):
            receipts = delivery_receipts(triggering_asset_events)
            ...

The ``sms-api`` URI scheme needs no registration: Airflow keeps URIs of schemes it has no
normaliser for as written (``sms-api://delivery-receipts/``, with the trailing slash its
sanitiser adds); the asset's *name* stays ``sms-api://delivery-receipts``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset

from airflow_provider_sms.api.responses import parse_delivery_receipt, parse_inbound_sms
from airflow_provider_sms.api.results import DeliveryReceipt, InboundSms

__all__ = [
    "DELIVERY_RECEIPTS",
    "INBOUND_SMS",
    "delivery_receipts",
    "inbound_messages",
]

log = logging.getLogger(__name__)

#: Delivery receipts (callbacks) of SMS and calls, one event per ``requestId`` and status.
DELIVERY_RECEIPTS = Asset("sms-api://delivery-receipts")

#: Inbound SMS to the account's rented numbers, one event per ``messageId``.
INBOUND_SMS = Asset("sms-api://inbound-sms")


def delivery_receipts(events: Mapping[Any, Iterable[Any]] | None) -> list[DeliveryReceipt]:
    """The delivery receipts among a run's ``triggering_asset_events``, oldest event first.

    Events whose ``extra`` is not a valid receipt (e.g. an event posted by hand through the
    REST API) are skipped with a warning, so one bad event cannot fail every report.

    :param events: the task context's ``triggering_asset_events`` (or ``None``).
    """
    return [r for r in _parse_all(events, DELIVERY_RECEIPTS, parse_delivery_receipt) if r is not None]


def inbound_messages(events: Mapping[Any, Iterable[Any]] | None) -> list[InboundSms]:
    """The inbound SMS among a run's ``triggering_asset_events``, oldest event first.

    :param events: the task context's ``triggering_asset_events`` (or ``None``).
    """
    return [m for m in _parse_all(events, INBOUND_SMS, parse_inbound_sms) if m is not None]


def _parse_all(events: Mapping[Any, Iterable[Any]] | None, asset: Asset, parse: Any) -> list[Any]:
    if not events:
        return []
    try:
        selected = list(events.get(asset) or [])
    except (KeyError, TypeError):
        selected = []
    selected.sort(key=lambda e: (getattr(e, "timestamp", None) is None, getattr(e, "timestamp", None)))
    parsed = []
    for event in selected:
        extra = getattr(event, "extra", None)
        if extra is None and isinstance(event, Mapping):
            extra = event.get("extra")
        try:
            parsed.append(parse(extra or {}))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("Skipping an event of %s that is not a valid payload: %s", asset.name, exc)
    return parsed
