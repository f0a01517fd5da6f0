"""The "SMS & Voice" page's data: bounded reads, aggregated to counts.

Sources, all in Airflow's metadata database:

- the run summaries the operators publish as Asset events of ``sms-api://summaries/*``
  (:mod:`airflow_provider_sms.summaries`): the window's events, read by Airflow's index
  ``idx_asset_id_timestamp`` (``asset_id, timestamp``); a few per task run;
- receipts and inbound SMS (the webhook plugin's Asset events) as the plugin counts them when
  it stores them (:mod:`~airflow_provider_sms.plugins.dashboard_rollup`): a row per day and
  status, and the latest status of the messages of the send runs shown.

Every read is bounded by a time window (whole UTC days, 30 by default) or by the send runs
shown (at most :data:`MAX_RUNS` of up to 1,000 messages): none grows with the traffic. What
leaves this module is counts and labels (DAG and task ids).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from airflow_provider_sms.hygiene.verdicts import BAD_VERDICTS, Verdict
from airflow_provider_sms.plugins import dashboard_rollup as rollup
from airflow_provider_sms.plugins.dashboard_rollup import DayCount
from airflow_provider_sms.summaries import HYGIENE_SUMMARIES, PAID_KINDS, SMS_SUMMARIES, SUMMARY_ASSETS

DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_RUNS = 40  # hygiene runs per task, send runs with a funnel: the latest ones
MAX_TASKS = 6  # hygiene tasks shown (the most recently run)
IN_FLIGHT = rollup.IN_FLIGHT
FINAL_SMS_STATUSES = ("DELIVERED", "UNDELIVERED", "REJECTED")
SMS_STATUSES = (IN_FLIGHT, *FINAL_SMS_STATUSES)
_BAD = frozenset(v.value for v in BAD_VERDICTS)


@dataclass(frozen=True, slots=True)
class Event:
    """One run summary (an Asset event) as the page needs it."""

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
class Sources:
    """What the page is drawn from.

    :param summaries: the window's run summaries per summary asset, oldest first.
    :param counts: the window's receipt and inbound counts, per day, kind and status.
    :param statuses: the latest status of each receipt key of the send runs shown.
    """

    summaries: dict[str, list[Event]] = field(default_factory=dict)
    counts: list[DayCount] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)


def load_sources(session: Any, window: Window, readable_dags: set[str] | None = None) -> Sources:
    """Read what the page shows of ``window``.

    :param session: a SQLAlchemy session on Airflow's metadata database (the plugin's tables
        exist: :func:`~airflow_provider_sms.plugins.dashboard_rollup.ensure_tables`).
    :param window: the days to read.
    :param readable_dags: DAG ids whose run summaries the user may see (``None``: all).
    """
    from airflow.models.asset import AssetModel

    names = [a.name for a in SUMMARY_ASSETS]
    ids: dict[str, list[int]] = defaultdict(list)
    for asset_id, name in session.execute(
        sa.select(AssetModel.id, AssetModel.name).where(AssetModel.name.in_(names))
    ):
        ids[name].append(asset_id)
    sources = Sources()
    for asset in SUMMARY_ASSETS:
        rows = _read(session, ids[asset.name], window.since, window.until)
        sources.summaries[asset.name] = [
            e for e in rows if readable_dags is None or e.dag_id in readable_dags
        ]
    sources.counts = rollup.daily_counts(session, window.first, window.last)
    keys = [
        key for event in _keyed(sources.summaries[SMS_SUMMARIES.name]) for key in event.extra["receipt_keys"]
    ]
    sources.statuses = rollup.latest_statuses(session, keys)
    return sources


def summaries_query(asset_ids: list[int], since: datetime, until: datetime) -> sa.Select[Any]:
    """The run summaries of ``asset_ids`` from ``since`` to ``until``, oldest first (Airflow's
    index ``idx_asset_id_timestamp`` serves it)."""
    from airflow.models.asset import AssetEvent

    return (
        sa.select(
            AssetEvent.timestamp,
            AssetEvent.extra,
            AssetEvent.source_dag_id,
            AssetEvent.source_task_id,
            AssetEvent.source_run_id,
            AssetEvent.source_map_index,
        )
        .where(
            AssetEvent.asset_id.in_(asset_ids), AssetEvent.timestamp >= since, AssetEvent.timestamp < until
        )
        .order_by(AssetEvent.timestamp)
    )


def _read(session: Any, asset_ids: list[int], since: datetime, until: datetime) -> list[Event]:
    if not asset_ids:
        return []
    return [
        Event(row[0], row[1] if isinstance(row[1], dict) else {}, *row[2:])
        for row in session.execute(summaries_query(asset_ids, since, until))
    ]


def _keyed(sends: list[Event]) -> list[Event]:
    """The send runs shown with a funnel: the latest :data:`MAX_RUNS` with receipt keys."""
    return [e for e in sends if _is_keys(e.extra.get("receipt_keys"))][-MAX_RUNS:]


def _is_keys(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(key, str) for key in value)


# -- aggregation: plain functions of the sources -----------------------------------------------


def build_dashboard(sources: Sources, window: Window) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready counts (no numbers, no texts)."""
    sends = sources.summaries.get(SMS_SUMMARIES.name, [])
    data: dict[str, Any] = {
        "range": {"from": window.first.isoformat(), "to": window.last.isoformat(), "timezone": "UTC"},
        "hygiene": hygiene_section(sources.summaries.get(HYGIENE_SUMMARIES.name, [])),
        "delivery": delivery_section(sources.counts, sends, sources.statuses, window),
        "inbound": inbound_section(sources.counts, window),
        "spend": spend_section([e for rows in sources.summaries.values() for e in rows], window),
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


def _per_day(counts: Iterable[DayCount], window: Window, kinds: tuple[str, ...]) -> dict[date, Counter[str]]:
    """{day: {status or kind: events}} of the window's days, for the rows of ``kinds``."""
    per_day: dict[date, Counter[str]] = {day: Counter() for day in window.days}
    for row in counts:
        if row.kind in kinds and row.day in per_day:
            per_day[row.day][row.status if row.kind == rollup.SMS_RECEIPT else row.kind] += row.events
    return per_day


def delivery_section(
    counts: Iterable[DayCount], sends: list[Event], statuses: dict[str, str], window: Window
) -> dict[str, Any]:
    """SMS receipts per day by status, the delivery rate per day, and a funnel per send run.

    :param counts: the window's daily counts.
    :param sends: the window's send-run summaries, oldest first.
    :param statuses: the latest status of the receipt keys of the send runs.
    """
    counts = list(counts)
    per_day = _per_day(counts, window, (rollup.SMS_RECEIPT,))
    calls = sum(c[rollup.CALL_RECEIPT] for c in _per_day(counts, window, (rollup.CALL_RECEIPT,)).values())
    statuses_seen = [s for s in SMS_STATUSES if any(c[s] for c in per_day.values())]
    statuses_seen += sorted({s for c in per_day.values() for s in c} - set(SMS_STATUSES))
    days = []
    for day, day_counts in per_day.items():
        final = sum(day_counts[s] for s in FINAL_SMS_STATUSES)
        days.append(
            {
                "day": day.isoformat(),
                "statuses": {s: day_counts[s] for s in statuses_seen},
                "rate": round(day_counts["DELIVERED"] / final, 4) if final else None,
            }
        )
    return {
        "statuses": statuses_seen,
        "days": days,
        "receipts": sum(sum(c.values()) for c in per_day.values()),
        "call_receipts": calls,
        "funnels": funnels(sends, statuses),
        "runs_without_funnel": sum(1 for e in sends if not _is_keys(e.extra.get("receipt_keys"))),
    }


def funnels(sends: list[Event], statuses: dict[str, str]) -> list[dict[str, Any]]:
    """Per send run with receipt keys (newest first): sent -> delivered / undelivered / rejected /
    other final status / awaiting a final receipt (SENT only) / no receipt yet.

    :param sends: send-run summaries, oldest first.
    :param statuses: receipt key -> the latest status of its request.
    """
    out = []
    for event in reversed(_keyed(sends)):
        tally: Counter[str] = Counter()
        for key in event.extra["receipt_keys"]:
            status = statuses.get(key)
            if status is None:
                tally["no_receipt"] += 1
            elif status == IN_FLIGHT:
                tally["pending"] += 1
            elif status in FINAL_SMS_STATUSES:
                tally[status.lower()] += 1
            else:
                tally["other"] += 1
        out.append(
            {
                "task": event.task_label,
                "run_id": event.run_id,
                "at": event.timestamp.isoformat(timespec="seconds"),
                "sent": len(event.extra["receipt_keys"]),
                **{
                    k: tally[k]
                    for k in ("delivered", "undelivered", "rejected", "other", "pending", "no_receipt")
                },
            }
        )
    return out


def inbound_section(counts: Iterable[DayCount], window: Window) -> dict[str, Any]:
    """Inbound SMS and opt-outs (STOP and its variants) per day: counts only."""
    per_day = _per_day(counts, window, (rollup.INBOUND, rollup.OPT_OUT))
    return {
        "days": [
            {"day": d.isoformat(), "messages": c[rollup.INBOUND], "opt_outs": c[rollup.OPT_OUT]}
            for d, c in per_day.items()
        ],
        "messages": sum(c[rollup.INBOUND] for c in per_day.values()),
        "opt_outs": sum(c[rollup.OPT_OUT] for c in per_day.values()),
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
