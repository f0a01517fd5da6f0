"""Load: 500 deliveries, 20 at a time, receipts and inbound SMS mixed, 10 % of them repeats,
against the real API server (SQLite metadata database, DAGs scheduled on the assets live):
every delivery is acknowledged with a 2xx and every distinct event is stored exactly once."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.airflow_e2e.conftest import Deployment

pytestmark = pytest.mark.e2e

DELIVERIES = 500
REPEATS = 50
CONCURRENCY = 20


def build_deliveries(tag: str) -> tuple[list[tuple[str, dict[str, Any]]], set[tuple[str, str]]]:
    """450 distinct events (half receipts, half inbound SMS) plus 50 repeats, shuffled."""
    rng = random.Random(tag)
    distinct: list[tuple[str, dict[str, Any]]] = []
    for i in range((DELIVERIES - REPEATS) // 2):
        distinct.append(
            (
                "delivery-receipts",
                {
                    "requestId": f"{tag}-r{i}",
                    "number": f"+4479111{i:05d}",
                    "status": rng.choice(["SENT", "DELIVERED", "UNDELIVERED"]),
                    "billable": True,
                    "timestamp": 1700000000 + i,
                },
            )
        )
        distinct.append(
            (
                "inbound-sms",
                {
                    "from": f"4479112{i:05d}",
                    "to": "447700900000",
                    "messageId": f"{tag}-m{i}",
                    "text": f"load test message {i}",
                    "timestamp": 1700000000 + i,
                    "parts": 1,
                },
            )
        )
    deliveries = distinct + rng.sample(distinct, REPEATS)
    rng.shuffle(deliveries)
    keys = {_key(kind, payload) for kind, payload in distinct}
    return deliveries, keys


def _key(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    if kind == "inbound-sms":
        return kind, payload["messageId"]
    return kind, f"{payload['requestId']}:{payload['status']}"


async def deliver_all(base: str, deliveries: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, str]]:
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
    for item in deliveries:
        queue.put_nowait(item)
    answers: list[tuple[int, str]] = []
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(timeout=60, trust_env=False, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                kind, payload = queue.get_nowait()
                response = await client.post(f"{base}/{kind}", json=payload)
                outcome = response.json().get("status", response.text[:100]) if response.content else ""
                answers.append((response.status_code, outcome))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return answers


def test_500_concurrent_deliveries_are_acknowledged_and_stored_exactly_once(deployment: Deployment):
    tag = f"load-{uuid.uuid4().hex[:8]}"
    deliveries, keys = build_deliveries(tag)
    answers = asyncio.run(deliver_all(deployment.webhook_base, deliveries))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: DELIVERIES}, statuses
    outcomes = Counter(outcome for _, outcome in answers)
    assert outcomes == {"stored": DELIVERIES - REPEATS, "duplicate": REPEATS}

    stored: Counter[tuple[str, str]] = Counter()
    for kind, uri in (
        ("delivery-receipts", "sms-api://delivery-receipts"),
        ("inbound-sms", "sms-api://inbound-sms"),
    ):
        for event in deployment.airflow.asset_events(uri):
            extra = event["extra"]
            if str(extra.get("requestId", extra.get("messageId", ""))).startswith(tag):
                stored[_key(kind, extra)] += 1
    assert set(stored) == keys
    assert set(stored.values()) == {1}
