"""What the "SMS & Voice" page counts of receipts and inbound SMS, kept as the events arrive.

Counting 100,000 receipt events at each page load means reading 100,000 JSON payloads: seconds,
and more with every message sent. Instead the webhook store
(:class:`~airflow_provider_sms.plugins.store.MetadataEventStore`) updates two small tables of
the provider's own **in the transaction that stores each event**, so a count is exactly once,
as the event is (a repeat adds nothing; a save that fails rolls its counts back too):

``sms_api_daily_counts`` (``day``, ``kind``, ``status``, ``events``)
    events per UTC day (the event's timestamp) and kind: ``sms_receipt`` (per receipt status),
    ``call_receipt`` (a call's status callback: it has ``sipStatus``, ``callCreatedAt`` or
    ``callReceivedAt``), ``inbound`` and ``opt_out`` (an inbound SMS that is ``STOP`` or a
    variant, as :func:`~airflow_provider_sms.sending.suppression.is_opt_out` reads it). The
    page reads a row per day and status: O(days), whatever the traffic.
``sms_api_receipt_status`` (``receipt_key``, ``status``, ``updated_at``)
    the latest status of each SMS request, keyed by
    :func:`~airflow_provider_sms.summaries.receipt_key` of its request id, the digest send-run
    summaries keep; a final status is never replaced by ``SENT``. A send run's funnel is its
    (at most 1,000) keys looked up here: bounded work.

Neither holds a phone number, a text or a request id. Both are created with the dedupe table,
on first use; the process that creates them fills them, in the same transaction, from the
events already stored in the last :data:`BACKFILL_DAYS` days, once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from airflow_provider_sms.assets import DELIVERY_RECEIPTS, INBOUND_SMS
from airflow_provider_sms.sending.suppression import is_opt_out
from airflow_provider_sms.summaries import RECEIPT_KEY_LENGTH, receipt_key

log = logging.getLogger(__name__)

COUNTS_TABLE_NAME = "sms_api_daily_counts"
STATUS_TABLE_NAME = "sms_api_receipt_status"
SMS_RECEIPT, CALL_RECEIPT, INBOUND, OPT_OUT = "sms_receipt", "call_receipt", "inbound", "opt_out"
IN_FLIGHT = "SENT"
#: A receipt with any of these is a call's status callback, not an SMS's.
CALL_FIELDS = ("sipStatus", "callCreatedAt", "callReceivedAt")
#: How far back the tables are filled from stored events when created (the page shows at most 366 days).
BACKFILL_DAYS = 367
_STATUS_LENGTH = 50
_LOOKUP_CHUNK = 500  # keys per query: well under every database's limit of bound parameters

_metadata = sa.MetaData()
counts_table = sa.Table(
    COUNTS_TABLE_NAME,
    _metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("status", sa.String(_STATUS_LENGTH), primary_key=True),
    sa.Column("events", sa.BigInteger, nullable=False),
)
status_table = sa.Table(
    STATUS_TABLE_NAME,
    _metadata,
    sa.Column("receipt_key", sa.String(RECEIPT_KEY_LENGTH), primary_key=True),
    sa.Column("status", sa.String(_STATUS_LENGTH), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
TABLES = (counts_table, status_table)


class Tally(NamedTuple):
    """What one event adds: one to each ``(kind, status)`` of its day, and its request's status."""

    counts: tuple[tuple[str, str], ...]
    receipt_key: str | None = None
    status: str | None = None


def is_call_receipt(extra: dict[str, Any]) -> bool:
    """A call's status callback (flash, pin/text-to-speech, incoming-call verification), not an SMS's."""
    return any(extra.get(name) is not None for name in CALL_FIELDS)


def tally(asset_name: str, payload: dict[str, Any]) -> Tally | None:
    """What an event of ``asset_name`` adds to the tables (``None``: an asset the page does not count).

    :param asset_name: the event's asset.
    :param payload: the event's ``extra`` (a receipt's or an inbound SMS's payload).
    """
    if asset_name == DELIVERY_RECEIPTS.name:
        status = payload.get("status")
        label = str(status)[:_STATUS_LENGTH] if status is not None else "?"
        if is_call_receipt(payload):
            return Tally(((CALL_RECEIPT, ""),))
        request_id = payload.get("requestId")
        if isinstance(request_id, str) and isinstance(status, str):
            return Tally(((SMS_RECEIPT, label),), receipt_key(request_id), label)
        return Tally(((SMS_RECEIPT, label),))
    if asset_name == INBOUND_SMS.name:
        text = payload.get("text")
        opt_out = is_opt_out(text if isinstance(text, str) else None)
        return Tally(((INBOUND, ""), (OPT_OUT, "")) if opt_out else ((INBOUND, ""),))
    return None


def utc_day(timestamp: datetime) -> date:
    """The UTC day of an event's timestamp (naive timestamps are UTC, as Airflow stores them)."""
    if timestamp.tzinfo is None:
        return timestamp.date()
    return timestamp.astimezone(timezone.utc).date()


# -- the write, in the transaction that stores the event -----------------------------------------


def record(session: Any, asset_name: str, timestamp: datetime, payload: dict[str, Any]) -> None:
    """Count a newly stored event of ``asset_name`` (no-op for assets the page does not count).

    Call it last in the saving transaction: on PostgreSQL and MySQL the day's counter row is
    locked until the commit.

    :param session: the session (or connection) storing the event.
    :param asset_name: the event's asset.
    :param timestamp: the event's timestamp.
    :param payload: the event's ``extra``.
    """
    found = tally(asset_name, payload)
    if found is None:
        return
    dialect = _dialect(session)
    if found.receipt_key is not None and found.status is not None:
        session.execute(status_upsert(dialect, found.receipt_key, found.status, timestamp))
    for kind, status in sorted(found.counts):  # one order everywhere: no deadlock between savers
        session.execute(count_upsert(dialect, utc_day(timestamp), kind, status))


def _insert(dialect: str, table: sa.Table) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert  # type: ignore[assignment]
    else:  # Airflow supports no other database
        raise NotImplementedError(f"the page's counts need SQLite, PostgreSQL or MySQL, not {dialect}")
    return insert(table)


def count_upsert(dialect: str, day: date, kind: str, status: str, n: int = 1) -> Any:
    """``INSERT`` a day's count, or add ``n`` to it: one statement, atomic on every database.

    :param dialect: the database's SQLAlchemy dialect name.
    """
    statement = _insert(dialect, counts_table).values(day=day, kind=kind, status=status, events=n)
    if dialect in ("mysql", "mariadb"):
        return statement.on_duplicate_key_update(events=counts_table.c.events + statement.inserted.events)
    return statement.on_conflict_do_update(
        index_elements=["day", "kind", "status"],
        set_={"events": counts_table.c.events + statement.excluded.events},
    )


def status_upsert(dialect: str, key: str, status: str, at: datetime) -> Any:
    """Make ``status`` the latest of the request of ``key``, unless it is SENT after a final one.

    :param dialect: the database's SQLAlchemy dialect name.
    """
    statement = _insert(dialect, status_table).values(receipt_key=key, status=status, updated_at=at)
    if dialect in ("mysql", "mariadb"):  # no WHERE: a CASE per column, applied left to right
        new = statement.inserted
        replace = sa.or_(new.status != IN_FLIGHT, status_table.c.status == IN_FLIGHT)
        return statement.on_duplicate_key_update(
            [
                ("updated_at", sa.case((replace, new.updated_at), else_=status_table.c.updated_at)),
                ("status", sa.case((replace, new.status), else_=status_table.c.status)),
            ]
        )
    return statement.on_conflict_do_update(
        index_elements=["receipt_key"],
        set_={"status": statement.excluded.status, "updated_at": statement.excluded.updated_at},
        where=sa.or_(statement.excluded.status != IN_FLIGHT, status_table.c.status == IN_FLIGHT),
    )


# -- the reads, for the page --------------------------------------------------------------------


class DayCount(NamedTuple):
    """One row of ``sms_api_daily_counts``."""

    day: date
    kind: str
    status: str
    events: int


def daily_counts(session: Any, first: date, last: date) -> list[DayCount]:
    """The counts of the days ``first`` .. ``last`` (UTC)."""
    query = sa.select(counts_table).where(counts_table.c.day >= first, counts_table.c.day <= last)
    return [DayCount(_as_date(d), kind, status, int(n)) for d, kind, status, n in session.execute(query)]


def latest_statuses(session: Any, keys: Iterable[str]) -> dict[str, str]:
    """The latest status of the requests of ``keys`` (receipt keys) that have a receipt.

    A primary-key look-up per key: on PostgreSQL in one query (``= ANY(array)``: one parameter),
    elsewhere in queries of :data:`_LOOKUP_CHUNK` keys.
    """
    wanted = sorted(set(keys))
    columns = (status_table.c.receipt_key, status_table.c.status)
    if _dialect(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        array = sa.bindparam("keys", type_=ARRAY(sa.String))
        query = sa.select(*columns).where(status_table.c.receipt_key == sa.any_(array))
        return {key: status for key, status in session.execute(query, {"keys": wanted})} if wanted else {}
    query = sa.select(*columns).where(status_table.c.receipt_key.in_(sa.bindparam("keys", expanding=True)))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        rows = session.execute(query, {"keys": wanted[start : start + _LOOKUP_CHUNK]})
        found.update((key, status) for key, status in rows)
    return found


def _dialect(session: Any) -> str:
    """The dialect name of a session or a connection."""
    dialect = getattr(session, "dialect", None) or session.get_bind().dialect
    return str(dialect.name)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# -- creation and the one-time fill -------------------------------------------------------------


def ensure_tables(bind: Any) -> bool:
    """Create the tables if absent and fill them from the events already stored, in one transaction.

    Whoever creates the tables fills them; a concurrent creator (another API-server process)
    fails on the existing table and leaves it alone. On SQLite the transaction takes the write
    lock first (``BEGIN IMMEDIATE``), so no event is stored between the fill and the commit; on
    PostgreSQL a saver waits for the table to exist. (MySQL commits each ``CREATE TABLE`` at
    once: an event stored by another process during the fill may be counted twice.)

    :param bind: an engine on Airflow's metadata database.
    :returns: whether this call created (and filled) the tables.
    """
    if _tables_exist(bind):
        return False
    try:
        with bind.connect() as connection, connection.begin():
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            if _tables_exist(connection):  # created while this one waited for the lock
                return False
            _metadata.create_all(connection, checkfirst=False)
            counted = backfill(connection)
    except DBAPIError:
        if _tables_exist(bind):  # another process created them first
            return False
        raise
    log.info("Created %s and %s from %d stored events", COUNTS_TABLE_NAME, STATUS_TABLE_NAME, counted)
    return True


def _tables_exist(bind: Any) -> bool:
    inspector = sa.inspect(bind)
    return all(inspector.has_table(table.name) for table in TABLES)


def backfill(connection: Any, now: datetime | None = None) -> int:
    """Count the receipts and inbound SMS of the last :data:`BACKFILL_DAYS` days into the empty tables.

    :returns: how many events were counted.
    """
    if not sa.inspect(connection).has_table("asset_event"):  # not an Airflow database (tests)
        return 0
    since = (now or datetime.now(timezone.utc)) - timedelta(days=BACKFILL_DAYS)
    totals = aggregate(_stored_events(connection, since))
    rows = [row._asdict() for row in totals.counts]
    for start in range(0, len(rows), 5000):
        connection.execute(sa.insert(counts_table), rows[start : start + 5000])
    latest = [{"receipt_key": k, "status": s, "updated_at": at} for k, (s, at) in totals.statuses.items()]
    for start in range(0, len(latest), 5000):
        connection.execute(sa.insert(status_table), latest[start : start + 5000])
    return totals.events


class Totals(NamedTuple):
    """What :func:`record` would have made of some events, computed at once."""

    counts: list[DayCount]
    statuses: dict[str, tuple[str, datetime]]  # receipt key -> (latest status, its timestamp)
    events: int


def aggregate(events: Iterable[tuple[str, datetime, dict[str, Any]]]) -> Totals:
    """The counts and latest statuses of ``events`` (asset name, timestamp, payload), oldest first,
    by the rules of :func:`record`: what the tables hold once these events are stored."""
    counts: Counter[tuple[date, str, str]] = Counter()
    statuses: dict[str, tuple[str, datetime]] = {}
    n = 0
    for asset_name, timestamp, payload in events:
        found = tally(asset_name, payload)
        if found is None:
            continue
        n += 1
        for kind, status in found.counts:
            counts[(utc_day(timestamp), kind, status)] += 1
        if found.receipt_key is not None and found.status is not None:
            known = statuses.get(found.receipt_key)
            if found.status != IN_FLIGHT or known is None or known[0] == IN_FLIGHT:
                statuses[found.receipt_key] = (found.status, timestamp)
    return Totals([DayCount(d, k, s, c) for (d, k, s), c in sorted(counts.items())], statuses, n)


_FIELDS = ("requestId", "status", "text", *CALL_FIELDS)


def _stored_events(connection: Any, since: datetime) -> Iterator[tuple[str, datetime, dict[str, Any]]]:
    """(asset name, timestamp, the payload's counted fields) of stored receipts and inbound SMS,
    oldest first; the database extracts the few fields (reading whole payloads is slower)."""
    from airflow.models.asset import AssetEvent, AssetModel

    names = (DELIVERY_RECEIPTS.name, INBOUND_SMS.name)
    query = sa.select(AssetModel.id, AssetModel.name).where(AssetModel.name.in_(names))
    assets: dict[int, str] = {asset_id: name for asset_id, name in connection.execute(query)}
    if not assets:
        return
    extra = sa.type_coerce(AssetEvent.extra, sa.JSON)
    events = (
        sa.select(AssetEvent.asset_id, AssetEvent.timestamp, *(extra[name].as_string() for name in _FIELDS))
        .where(AssetEvent.asset_id.in_(list(assets)), AssetEvent.timestamp >= since)
        .order_by(AssetEvent.timestamp, AssetEvent.id)
    )
    for asset_id, timestamp, *values in connection.execute(events):
        yield (
            assets[asset_id],
            timestamp,
            {k: v for k, v in zip(_FIELDS, values, strict=True) if v is not None},
        )
