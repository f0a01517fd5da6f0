"""The "SMS & Voice" page's data: bounded reads of Asset events, aggregated to counts.

Sources (all Asset events in Airflow's metadata database):

- ``sms-api://delivery-receipts`` and ``sms-api://inbound-sms``: the webhook plugin's events;
- ``sms-api://summaries/*``: the run summaries the operators publish
  (:mod:`airflow_provider_sms.summaries`).

Every read is bounded by a time window (whole UTC days, 30 by default) and uses Airflow's
index ``idx_asset_id_timestamp`` (``asset_id, timestamp``). What leaves this module is counts
and labels (DAG and task ids): payloads are read here, and phone numbers and texts stay here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, NamedTuple

import sqlalchemy as sa

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.hygiene.verdicts import BAD_VERDICTS, Verdict
from airflow_provider_sms.sending.suppression import is_opt_out
from airflow_provider_sms.summaries import (
    HYGIENE_SUMMARIES,
    PAID_KINDS,
    SMS_SUMMARIES,
    SUMMARY_ASSETS,
    receipt_key,
)

DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_RUNS = 40  # hygiene runs per task, send runs with a funnel: the latest ones
MAX_TASKS = 6  # hygiene tasks shown (the most recently run)
IN_FLIGHT = "SENT"
FINAL_SMS_STATUSES = ("DELIVERED", "UNDELIVERED", "REJECTED")
SMS_STATUSES = (IN_FLIGHT, *FINAL_SMS_STATUSES)
_BAD = frozenset(v.value for v in BAD_VERDICTS)
#: A receipt with any of these is a call's status callback, not an SMS's.
CALL_FIELDS = ("sipStatus", "callCreatedAt", "callReceivedAt")
RECEIPT_FIELDS: tuple[Any, ...] = ("requestId", "status", CALL_FIELDS)


@dataclass(frozen=True, slots=True)
class Event:
    """One Asset event as the page needs it."""

    timestamp: datetime
    extra: dict[str, Any]
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None

    @property
    def task_label(self) -> str:
        label = f"{self.dag_id}.{self.task_id}"
        return label if self.map_index in (None, -1) else f"{label}[{self.map_index}]"


class Receipt(NamedTuple):
    """A delivery receipt as the page needs it: its UTC day, request id, status, and whether a call's."""

    day: date
    request_id: str | None
    status: str | None
    call: bool

    @classmethod
    def from_event(cls, timestamp: datetime, extra: dict[str, Any]) -> Receipt:
        """From a stored payload (what the database query extracts, done in Python)."""
        return cls(
            timestamp.astimezone(timezone.utc).date(),
            extra.get("requestId"),
            extra.get("status"),
            any(extra.get(name) is not None for name in CALL_FIELDS),
        )


class Inbound(NamedTuple):
    """An inbound SMS as the page needs it: its UTC day and text (never shown; checked for STOP)."""

    day: date
    text: str | None


@dataclass(frozen=True)
class Window:
    """Whole UTC days ``first`` .. ``last``; events from ``since`` (inclusive) to ``until``."""

    first: date
    last: date

    @classmethod
    def last_days(cls, days: int = DEFAULT_DAYS, now: datetime | None = None) -> Window:
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be between 1 and {MAX_DAYS}, got {days}")
        today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
        return cls(today - timedelta(days=days - 1), today)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=timezone.utc)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=timezone.utc)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass
class Events:
    """The window's events per source, oldest first."""

    receipts: list[Receipt] = field(default_factory=list)
    inbound: list[Inbound] = field(default_factory=list)
    summaries: dict[str, list[Event]] = field(default_factory=dict)


def load_events(session: Any, window: Window, readable_dags: set[str] | None = None) -> Events:
    """Read the window's events (receipts also from the start of the window's earliest send run).

    :param session: a SQLAlchemy session on Airflow's metadata database.
    :param window: the days to read.
    :param readable_dags: DAG ids whose run summaries the user may see (``None``: all).
    """
    from airflow.models.asset import AssetModel

    names = [DELIVERY_RECEIPTS.name, INBOUND_SMS.name, *(a.name for a in SUMMARY_ASSETS)]
    ids: dict[str, list[int]] = defaultdict(list)
    for asset_id, name in session.execute(
        sa.select(AssetModel.id, AssetModel.name).where(AssetModel.name.in_(names))
    ):
        ids[name].append(asset_id)
    events = Events()
    for asset in SUMMARY_ASSETS:
        rows = _read(session, ids[asset.name], window.since, window.until)
        events.summaries[asset.name] = [e for e in rows if readable_dags is None or e.dag_id in readable_dags]
    receipts_since = min([window.since, *(_started(e) for e in events.summaries[SMS_SUMMARIES.name])])
    receipt_ids = ids[DELIVERY_RECEIPTS.name]
    receipts = _read_fields(session, receipt_ids, receipts_since, window.until, RECEIPT_FIELDS)
    events.receipts = [Receipt(_day(d), rid, status, call is not None) for d, rid, status, call in receipts]
    inbound = _read_fields(session, ids[INBOUND_SMS.name], window.since, window.until, ("text",))
    events.inbound = [Inbound(_day(d), text) for d, text in inbound]
    return events


def _json_text(name: str | tuple[str, ...]) -> Any:
    """``extra``'s field ``name`` (the first present of several) as text, extracted by the database."""
    from airflow.models.asset import AssetEvent

    names = (name,) if isinstance(name, str) else name
    values = [sa.type_coerce(AssetEvent.extra, sa.JSON)[n].as_string() for n in names]
    return values[0] if len(values) == 1 else sa.func.coalesce(*values)


def _read_fields(
    session: Any, asset_ids: list[int], since: datetime, until: datetime, fields: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """(UTC day, *fields) of the events, oldest first: a few short strings per row, not the payloads.

    100,000 payloads decoded into dicts and their timestamps into datetimes take seconds;
    the database's JSON functions hand over only what is counted.
    """
    from airflow.models.asset import AssetEvent

    if not asset_ids:
        return []
    query = (
        sa.select(sa.func.date(AssetEvent.timestamp, type_=sa.String), *(_json_text(f) for f in fields))
        .where(AssetEvent.asset_id.in_(asset_ids))
        .where(AssetEvent.timestamp >= since, AssetEvent.timestamp < until)
        .order_by(AssetEvent.timestamp)
    )
    return [tuple(row) for row in session.execute(query)]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _read(session: Any, asset_ids: list[int], since: datetime, until: datetime) -> list[Event]:
    from airflow.models.asset import AssetEvent

    if not asset_ids:
        return []
    columns = [
        AssetEvent.timestamp,
        AssetEvent.extra,
        AssetEvent.source_dag_id,
        AssetEvent.source_task_id,
        AssetEvent.source_run_id,
        AssetEvent.source_map_index,
    ]
    query = (
        sa.select(*columns)
        .where(
            AssetEvent.asset_id.in_(asset_ids), AssetEvent.timestamp >= since, AssetEvent.timestamp < until
        )
        .order_by(AssetEvent.timestamp)
    )
    return [
        Event(row[0], row[1] if isinstance(row[1], dict) else {}, *row[2:]) for row in session.execute(query)
    ]


def _started(event: Event) -> datetime:
    try:
        started = datetime.fromisoformat(str(event.extra.get("started_at")))
    except ValueError:
        return event.timestamp
    return started if started.tzinfo else started.replace(tzinfo=timezone.utc)


# -- aggregation: plain functions of the events ------------------------------------------------


def build_dashboard(events: Events, window: Window) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready counts (no numbers, no texts)."""
    data: dict[str, Any] = {
        "range": {"from": window.first.isoformat(), "to": window.last.isoformat(), "timezone": "UTC"},
        "hygiene": hygiene_section(events.summaries.get(HYGIENE_SUMMARIES.name, [])),
        "delivery": delivery_section(events.receipts, events.summaries.get(SMS_SUMMARIES.name, []), window),
        "inbound": inbound_section(events.inbound, window),
        "spend": spend_section([e for rows in events.summaries.values() for e in rows], window),
    }
    data["empty"] = not (
        data["hygiene"]["tasks"]
        or data["delivery"]["receipts"]
        or data["delivery"]["funnels"]
        or data["inbound"]["messages"]
        or data["spend"]["total"]
    )
    return data


def bad_share(verdicts: dict[str, int]) -> float | None:
    """Bad verdicts among the judged rows (ERROR and UNCHECKED rows were not judged)."""
    bad = sum(n for v, n in verdicts.items() if v in _BAD)
    judged = bad + verdicts.get(Verdict.VALID.value, 0)
    return round(bad / judged, 4) if judged else None


def hygiene_section(summaries: Iterable[Event]) -> dict[str, Any]:
    """Per hygiene task (newest first), its runs: verdict mix, bad share, paid and saved calls."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in summaries:
        verdicts = {str(k): int(v) for k, v in dict(event.extra.get("verdicts") or {}).items()}
        by_task[event.task_label].append(
            {
                "run_id": event.run_id,
                "at": event.timestamp.isoformat(timespec="seconds"),
                "rows": int(event.extra.get("rows", 0)),
                "verdicts": verdicts,
                "bad_share": bad_share(verdicts),
                "paid": sum(int(n) for n in dict(event.extra.get("paid") or {}).values()),
                "saved": int(event.extra.get("calls_saved", 0)),
            }
        )
    newest_first = sorted(by_task.items(), key=lambda item: item[1][-1]["at"], reverse=True)
    return {"tasks": [{"task": task, "runs": runs[-MAX_RUNS:]} for task, runs in newest_first[:MAX_TASKS]]}


def _latest_statuses(receipts: Iterable[Receipt]) -> dict[str, str]:
    """request id -> latest status; a final status is never replaced by SENT."""
    latest: dict[str, str] = {}
    for receipt in receipts:
        request_id, status = receipt.request_id, receipt.status
        if not isinstance(request_id, str) or not isinstance(status, str):
            continue
        if status == IN_FLIGHT and latest.get(request_id, IN_FLIGHT) != IN_FLIGHT:
            continue
        latest[request_id] = status
    return latest


def is_call_receipt(extra: dict[str, Any]) -> bool:
    """A call's status callback (flash, pin/text-to-speech, incoming-call verification), not an SMS's."""
    return any(extra.get(name) is not None for name in CALL_FIELDS)


def delivery_section(receipts: list[Receipt], sends: list[Event], window: Window) -> dict[str, Any]:
    """SMS receipts per day by status, the delivery rate per day, and a funnel per send run."""
    per_day: dict[date, Counter[str]] = {day: Counter() for day in window.days}
    sms_receipts, calls = [], 0
    for receipt in receipts:
        if receipt.call:
            calls += receipt.day >= window.first
            continue
        sms_receipts.append(receipt)
        if receipt.day in per_day:
            per_day[receipt.day][receipt.status or "?"] += 1
    statuses = [s for s in SMS_STATUSES if any(c[s] for c in per_day.values())]
    statuses += sorted({s for c in per_day.values() for s in c} - set(SMS_STATUSES))
    days = []
    for day, counts in per_day.items():
        final = sum(counts[s] for s in FINAL_SMS_STATUSES)
        days.append(
            {
                "day": day.isoformat(),
                "statuses": {s: counts[s] for s in statuses},
                "rate": round(counts["DELIVERED"] / final, 4) if final else None,
            }
        )
    return {
        "statuses": statuses,
        "days": days,
        "receipts": sum(sum(c.values()) for c in per_day.values()),
        "call_receipts": calls,
        "funnels": funnels(sms_receipts, sends),
        "runs_without_funnel": sum(1 for e in sends if "receipt_keys" not in e.extra),
    }


def funnels(receipts: list[Receipt], sends: list[Event]) -> list[dict[str, Any]]:
    """Per send run with receipt keys (newest first): sent -> delivered / undelivered / rejected /
    other final status / awaiting a final receipt (SENT only) / no receipt yet."""
    keyed = [e for e in sends if isinstance(e.extra.get("receipt_keys"), list)][-MAX_RUNS:]
    if not keyed:
        return []
    by_key = {receipt_key(rid): status for rid, status in _latest_statuses(receipts).items()}
    out = []
    for event in reversed(keyed):
        counts: Counter[str] = Counter()
        for key in event.extra["receipt_keys"]:
            status = by_key.get(key)
            if status is None:
                counts["no_receipt"] += 1
            elif status == IN_FLIGHT:
                counts["pending"] += 1
            elif status in FINAL_SMS_STATUSES:
                counts[status.lower()] += 1
            else:
                counts["other"] += 1
        out.append(
            {
                "task": event.task_label,
                "run_id": event.run_id,
                "at": event.timestamp.isoformat(timespec="seconds"),
                "sent": len(event.extra["receipt_keys"]),
                **{
                    k: counts[k]
                    for k in ("delivered", "undelivered", "rejected", "other", "pending", "no_receipt")
                },
            }
        )
    return out


def inbound_section(inbound: Iterable[Inbound], window: Window) -> dict[str, Any]:
    """Inbound SMS and opt-outs (STOP and its variants) per day: counts only."""
    messages: Counter[date] = Counter()
    opt_outs: Counter[date] = Counter()
    for message in inbound:
        messages[message.day] += 1
        opt_outs[message.day] += is_opt_out(message.text if isinstance(message.text, str) else None)
    return {
        "days": [
            {"day": d.isoformat(), "messages": messages[d], "opt_outs": opt_outs[d]} for d in window.days
        ],
        "messages": sum(messages.values()),
        "opt_outs": sum(opt_outs.values()),
    }


def spend_section(summaries: Iterable[Event], window: Window) -> dict[str, Any]:
    """Paid requests per day by kind, as the operators' run summaries report them."""
    per_day: dict[date, Counter[str]] = {day: Counter() for day in window.days}
    for event in summaries:
        day = event.timestamp.astimezone(timezone.utc).date()
        if day not in per_day:
            continue
        for kind, count in dict(event.extra.get("paid") or {}).items():
            if kind in PAID_KINDS and isinstance(count, int):
                per_day[day][kind] += count
    totals = {kind: sum(c[kind] for c in per_day.values()) for kind in PAID_KINDS}
    return {
        "kinds": list(PAID_KINDS),
        "days": [{"day": d.isoformat(), **{k: c[k] for k in PAID_KINDS}} for d, c in per_day.items()],
        "totals": totals,
        "total": sum(totals.values()),
    }
