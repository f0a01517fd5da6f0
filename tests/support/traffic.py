"""Webhook traffic for the store and the page's counts: payloads, saves as the webhook app does
them, a day of deliveries with repeats, and the count tables read back or counted afresh."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.plugins import dashboard_rollup as rollup
from airflow_provider_sms.plugins.store import EventKey, MetadataEventStore
from airflow_provider_sms.summaries import SMS_SUMMARIES
from tests.support.databases import session_scope, stored_events


def receipt(request_id: str, status: str, number: str = "+447911123456", **extra: Any) -> dict[str, Any]:
    return {"requestId": request_id, "number": number, "status": status, "billable": True, **extra}


def inbound(text: str) -> dict[str, Any]:
    return {"from": "447911123456", "to": "447700900000", "messageId": f"m-{uuid.uuid4().hex}", "text": text}


def save(store: MetadataEventStore, payload: dict[str, Any]) -> bool:
    """Store like the webhook app does; True when stored (not a repeat)."""
    if "messageId" in payload:
        key = EventKey(f"inbound:{payload['messageId']}")
        return not store.save(INBOUND_SMS, key, payload).duplicate
    key = EventKey(
        f"receipt:{payload['requestId']}:{payload['status']}",
        request_id=payload["requestId"],
        number=payload.get("number"),
    )
    return not store.save(DELIVERY_RECEIPTS, key, payload).duplicate


def a_day_of_traffic(tag: str) -> list[list[dict[str, Any]]]:
    """Deliveries in sequences (each in order, the sequences concurrently), with repeats."""
    sequences: list[list[dict[str, Any]]] = []
    for i in range(24):
        request_id = f"{tag}-{i}"
        final = ("DELIVERED", "DELIVERED", "UNDELIVERED", "REJECTED")[i % 4]
        steps = [receipt(request_id, "SENT"), receipt(request_id, final)]
        if i % 5 == 0:
            steps.reverse()  # the SENT receipt arrives last (a sender's retry): the request stays final
        if i % 6 == 0:
            steps.append(receipt(request_id, final))  # a repeat: stored and counted once
        sequences.append(steps)
    sequences.append([receipt(f"{tag}-call", "ANSWERED", sipStatus=200)])  # a call's status callback
    sequences.append([receipt(f"{tag}-0", "DELIVERED", number="+447700900123")])  # reused request id
    messages = [inbound(text) for text in ("STOP", " Stop! ", "Hello", "unsubscribe", "don't stop")]
    sequences.append(messages + messages[:2])  # two repeats
    return sequences


def table_contents(engine: sa.Engine) -> tuple[list[rollup.DayCount], dict[str, str]]:
    with engine.connect() as connection:
        counts = rollup.daily_counts(connection, date(2000, 1, 1), date(2100, 1, 1))
        keys = connection.execute(sa.select(rollup.status_table.c.receipt_key)).scalars().all()
        return sorted(counts), rollup.latest_statuses(connection, keys)


def counted_afresh(engine: sa.Engine) -> tuple[list[rollup.DayCount], dict[str, str]]:
    totals = rollup.aggregate(stored_events(engine, DELIVERY_RECEIPTS.name, INBOUND_SMS.name))
    return sorted(totals.counts), {key: status for key, (status, _) in totals.statuses.items()}


def add_summary(engine: sa.Engine, extra: dict[str, Any]) -> None:
    """A send-run summary event, as an operator's outlet stores it (asset created if needed)."""
    from airflow.models.asset import AssetEvent, AssetModel

    with session_scope(engine)() as session:
        model = session.scalar(sa.select(AssetModel).where(AssetModel.name == SMS_SUMMARIES.name))
        if model is None:
            model = AssetModel(name=SMS_SUMMARIES.name, uri=SMS_SUMMARIES.uri, group="asset", extra={})
            session.add(model)
            session.flush()
        session.add(
            AssetEvent(
                asset_id=model.id,
                extra=extra,
                source_dag_id="campaign",
                source_task_id="send",
                source_run_id="r1",
                source_map_index=-1,
            )
        )
