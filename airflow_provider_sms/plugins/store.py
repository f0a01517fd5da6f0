"""Store a webhook event as an Airflow Asset event, exactly once per event key.

Runs inside the Airflow API server and uses Airflow's own machinery, as its
``POST /api/v2/assets/events`` route does: :func:`AssetManager.register_asset_change` with a
metadata-database session, which also queues the DAG runs scheduled on the asset.

Exactly once, also under concurrent and repeated deliveries: one small table of our own,
``sms_api_webhook_dedupe``, whose primary key is the event key (``receipt:<requestId>:<status>``
or ``inbound:<messageId>``). The key row is inserted *first* and the Asset event in the same
transaction:

- a second delivery of the same event fails on the key (PostgreSQL/MySQL make it wait for the
  first transaction, then fail) and is answered "duplicate" without a second event;
- if anything fails before the commit, both rows roll back and the sender's retry stores it;
- on SQLite the first statement being a write takes the write lock at once, so a transaction
  never has to upgrade a read snapshot that another writer made stale.

Receipts also record their request id and a digest of their number. A receipt whose key was
stored before *for another number* is not a repeat but another message that got the same
request id (an API, or a sandbox, that reused it): it is stored under a conflict key,
``<key>:number:<digest>`` -- claimed the same way, so its own repeats stay single -- and the
save reports the conflict with the event stored before. A receipt whose request id was stored
before with another number under another status is reported the same way. Rows written before
these columns existed, and receipts without a number, have no digest: a key match is a repeat,
as it always was.

The same transaction updates the "SMS & Voice" page's counts
(:mod:`~airflow_provider_sms.plugins.dashboard_rollup`), so they are exactly once too. A
transaction that fails on a database lock (SQLite's ``database is locked`` under a burst,
a PostgreSQL deadlock) rolled back entirely and is run again, a few times within a few seconds
(:mod:`~airflow_provider_sms.plugins.store_retry`), before the webhook answers 503.

The table is created on first use (``CREATE TABLE`` if absent, race-tolerant); the two receipt
columns are added to a table created by an earlier version. It is not part of Airflow's schema:
``airflow db reset`` leaves it alone, and rows can be pruned once senders stop retrying (the API
re-sends inbound SMS for 24 hours), e.g.
``DELETE FROM sms_api_webhook_dedupe WHERE received_at < now() - interval '7 days'``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from airflow_provider_sms.exceptions import EventNotStoredError
from airflow_provider_sms.plugins import dashboard_rollup
from airflow_provider_sms.plugins.store_retry import RetryPolicy, WriterTurns

if TYPE_CHECKING:
    from airflow.sdk import Asset
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

DEDUPE_TABLE_NAME = "sms_api_webhook_dedupe"
#: Three tries, none started later than 4 s after the first (see RetryPolicy).
RETRY = RetryPolicy(attempts=3, first_delay=0.05, max_delay=0.5, budget=4.0)
_KEY_LENGTH = 200

_DIGEST_LENGTH = 64

_metadata = sa.MetaData()
dedupe_table = sa.Table(
    DEDUPE_TABLE_NAME,
    _metadata,
    sa.Column("dedupe_key", sa.String(_KEY_LENGTH), primary_key=True),
    sa.Column("asset_name", sa.String(250), nullable=False),
    sa.Column("asset_event_id", sa.Integer, nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    # Receipts only (NULL otherwise, and in rows of earlier versions): see the module docstring.
    sa.Column("request_id", sa.String(_KEY_LENGTH), nullable=True),
    sa.Column("number_digest", sa.String(_DIGEST_LENGTH), nullable=True),
    sa.Index(f"ix_{DEDUPE_TABLE_NAME}_request_id", "request_id"),
)
_RECEIPT_COLUMNS = ("request_id", "number_digest")


@dataclass(frozen=True, slots=True)
class EventKey:
    """What identifies one webhook event.

    :param key: the event key; a repeat of the event has the same one.
    :param request_id: a receipt's request id: the receipts of one request concern one number.
    :param number: a receipt's number (only a digest of its digits is kept in the dedupe table).
    """

    key: str
    request_id: str | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class Conflict:
    """An event stored before under the same request id for another number.

    :param asset_event_id: that event's id (``None`` if it is gone).
    :param number: that event's number, as its payload gives it (``None`` if unknown).
    """

    asset_event_id: int | None
    number: str | None


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What :meth:`MetadataEventStore.save` did.

    :param duplicate: the key was already stored: no new Asset event.
    :param asset_event_id: id of the new Asset event (``None`` for a duplicate).
    :param conflict: the new event's request id was stored before for another number.
    """

    duplicate: bool
    asset_event_id: int | None = None
    conflict: Conflict | None = None


def storage_key(key: str) -> str:
    """``key`` as stored: unchanged when short, else a SHA-256 digest (ids are not that long)."""
    if len(key) <= _KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def number_digest(number: str | None) -> str | None:
    """What the dedupe table keeps of a receipt's number: a SHA-256 of its digits (``+44 79...``
    and ``4479...`` agree), ``None`` without a number. The full number is in the event itself."""
    if number is None or not number.strip():
        return None
    digits = "".join(ch for ch in number if ch.isdigit()) or number.strip()
    return hashlib.sha256(digits.encode("utf-8")).hexdigest()


def conflict_key(key: str, digest: str) -> str:
    """The key of a receipt whose ``key`` was stored before for the number of another digest."""
    return f"{key}:number:{digest}"


class MetadataEventStore:
    """Stores events in Airflow's metadata database (thread-safe; one per API-server process).

    :param session_factory: a context manager factory yielding a SQLAlchemy session that commits
        on exit and rolls back on error; defaults to ``airflow.utils.session.create_session``.
    :param retry: how a save that lost a race for a database lock is run again.
    """

    def __init__(self, session_factory: Callable[[], Any] | None = None, retry: RetryPolicy = RETRY) -> None:
        self._session_factory = session_factory
        self._retry = retry
        self._lock = threading.Lock()
        self._schema_ready = False
        # SQLite: this process's savers take turns here rather than in SQLite's busy handler.
        self._turns = WriterTurns(enabled=False)
        self._assets_ready: set[tuple[str, str]] = set()

    def _session(self) -> Any:
        if self._session_factory is not None:
            return self._session_factory()
        from airflow.utils.session import create_session

        return create_session(scoped=False)

    # -- one-time setup ------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the dedupe table if it does not exist (tolerates a concurrent creator)."""
        if self._schema_ready:
            return
        with self._lock:
            if self._schema_ready:
                return
            with self._session() as session:
                bind = session.get_bind()
            try:
                dedupe_table.create(bind, checkfirst=True)
            except DBAPIError:
                # Another process created it between the check and the CREATE (PostgreSQL may
                # say so with a unique violation in its catalog).
                if not sa.inspect(bind).has_table(DEDUPE_TABLE_NAME):
                    raise
            _add_receipt_columns(bind)
            dashboard_rollup.ensure_tables(bind)
            self._turns = WriterTurns(enabled=bind.dialect.name == "sqlite")
            self._schema_ready = True

    def ensure_asset(self, asset: Asset) -> None:
        """Create the asset's row if no DAG has declared it yet: its events are stored, not dropped."""
        from airflow.assets.manager import asset_manager
        from airflow.models.asset import AssetModel

        from airflow_provider_sms.compat import asset_for_listeners

        ident = (asset.name, asset.uri)
        if ident in self._assets_ready:
            return
        created = None
        with self._session() as session:
            found = session.scalar(_asset_id_query(asset))
            if found is None:
                model = AssetModel(name=asset.name, uri=asset.uri, group=asset.group, extra=dict(asset.extra))
                session.add(model)
                try:
                    session.commit()
                    created = model
                except IntegrityError:
                    session.rollback()  # created concurrently: fine
        if created is not None:
            log.info("Created asset %s for incoming webhook events", asset.name)
            asset_manager.notify_asset_created(asset=asset_for_listeners(created))
        self._assets_ready.add(ident)

    # -- the write -------------------------------------------------------------------------
    def save(self, asset: Asset, key: EventKey | str, payload: dict[str, Any]) -> SaveOutcome:
        """Store ``payload`` as one event of ``asset`` unless ``key`` was stored before.

        A receipt whose key was stored before for another number is stored under its
        :func:`conflict_key` instead of being taken for a repeat (see the module docstring).

        A save that fails on a database lock (see :mod:`~airflow_provider_sms.plugins.store_retry`)
        is run again, a few times: each try is one transaction, and the key keeps it exactly once.

        :raises EventNotStoredError: the event is not stored (nothing was written).
        """
        event = key if isinstance(key, EventKey) else EventKey(key)
        return self._retry.run(lambda: self._save(asset, event, payload), what=f"storing {event.key}")

    def _save(self, asset: Asset, event: EventKey, payload: dict[str, Any]) -> SaveOutcome:
        digest = number_digest(event.number) if event.request_id is not None else None
        self.ensure_schema()
        self.ensure_asset(asset)
        stored_key = storage_key(event.key)
        outcome = self._save_once(asset, event, stored_key, digest, payload)
        if outcome is not None:
            return outcome
        # The key is taken: a repeat, unless it was taken for another number.
        earlier = self._digest_of(stored_key)
        if digest is None or earlier is None or earlier == digest:
            return SaveOutcome(duplicate=True)
        outcome = self._save_once(asset, event, storage_key(conflict_key(event.key, digest)), digest, payload)
        return outcome if outcome is not None else SaveOutcome(duplicate=True)

    def _save_once(
        self, asset: Asset, event: EventKey, stored_key: str, digest: str | None, payload: dict[str, Any]
    ) -> SaveOutcome | None:
        """One transaction: claim ``stored_key``, store the event; ``None`` if the key was taken."""
        from airflow.assets.manager import asset_manager
        from airflow.models.asset import AssetModel

        callbacks: list[Callable[[], None]] = []
        request_id = storage_key(event.request_id) if event.request_id is not None else None
        with self._turns.turn(), self._session() as session:
            if not _claim_key(session, stored_key, asset.name, request_id, digest):
                session.rollback()
                return None
            model = session.scalar(
                sa.select(AssetModel).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri)
            )
            event_row = None
            if model is not None:
                event_row = asset_manager.register_asset_change(
                    asset=model,
                    extra=payload,
                    source_is_api=True,
                    api_user_teams=set(),
                    callback_sink=callbacks,
                    session=session,
                )
            if event_row is None:
                self._assets_ready.discard((asset.name, asset.uri))  # deleted meanwhile: recreate
                raise EventNotStoredError(f"asset {asset.name} is missing from the metadata database")
            event_id = event_row.id
            _cover_event_in_run_queue(session, event_row)
            session.execute(
                sa.update(dedupe_table)
                .where(dedupe_table.c.dedupe_key == stored_key)
                .values(asset_event_id=event_id)
            )
            dashboard_rollup.record(session, asset.name, event_row.timestamp, payload)
            conflict = _conflict(session, request_id, digest) if request_id and digest else None
        # Committed: now tell listeners, as Airflow does once an event is durable.
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a listener's failure must not turn a stored event into a 5xx
                log.warning("An asset listener failed after an event of %s was stored", asset.name)
        return SaveOutcome(duplicate=False, asset_event_id=event_id, conflict=conflict)

    def _digest_of(self, stored_key: str) -> str | None:
        with self._session() as session:
            return session.scalar(
                sa.select(dedupe_table.c.number_digest).where(dedupe_table.c.dedupe_key == stored_key)
            )

    def count(self, key: str) -> int:
        """How many rows hold ``key`` (0 or 1); for tests and diagnostics."""
        self.ensure_schema()
        with self._session() as session:
            return int(
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(dedupe_table)
                    .where(dedupe_table.c.dedupe_key == storage_key(key))
                )
                or 0
            )


def _asset_id_query(asset: Asset) -> sa.Select[Any]:
    from airflow.models.asset import AssetModel

    return sa.select(AssetModel.id).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri)


def _cover_event_in_run_queue(session: Session, event: Any) -> None:
    """Make the asset's queued DAG-run requests cover this event (Airflow 3.3.2 work-around).

    The scheduler creates an asset-triggered run for the events up to its queue row's
    ``created_at``, then deletes the row. Airflow's SQLite/MySQL path keeps the row of the
    *first* event of a burst unchanged (``merge`` of an existing row), so the later events of
    the burst would wait for the next event to trigger a run (apache/airflow#54659, #56050;
    fixed upstream after 3.3.2). Moving ``created_at`` up to this event's timestamp, in the
    same transaction, lets the next run include it.
    """
    from airflow.models.asset import AssetDagRunQueue

    session.execute(
        sa.update(AssetDagRunQueue)
        .where(AssetDagRunQueue.asset_id == event.asset_id, AssetDagRunQueue.created_at < event.timestamp)
        .values(created_at=event.timestamp)
        .execution_options(synchronize_session=False)
    )


def _claim_key(
    session: Session, key: str, asset_name: str, request_id: str | None, digest: str | None
) -> bool:
    """Insert the key row (the transaction's first statement); False when it already exists."""
    try:
        session.execute(
            sa.insert(dedupe_table).values(
                dedupe_key=key,
                asset_name=asset_name,
                received_at=datetime.now(timezone.utc),
                request_id=request_id,
                number_digest=digest,
            )
        )
    except IntegrityError:
        return False
    return True


def _conflict(session: Session, request_id: str, digest: str) -> Conflict | None:
    """The earliest event stored under ``request_id`` for another number, if any.

    Runs in the saving transaction: on SQLite every earlier writer has committed; on PostgreSQL
    a receipt of the same request committing at the same instant may not be seen (both are
    stored; only this report can miss it).
    """
    from airflow.models.asset import AssetEvent

    row = session.execute(
        sa.select(dedupe_table.c.asset_event_id)
        .where(
            dedupe_table.c.request_id == request_id,
            dedupe_table.c.number_digest.is_not(None),
            dedupe_table.c.number_digest != digest,
        )
        .order_by(dedupe_table.c.received_at)
        .limit(1)
    ).first()
    if row is None:
        return None
    earlier = row.asset_event_id
    extra = session.scalar(sa.select(AssetEvent.extra).where(AssetEvent.id == earlier)) if earlier else None
    number = extra.get("number") if isinstance(extra, dict) else None
    return Conflict(asset_event_id=earlier, number=number if isinstance(number, str) else None)


def _add_receipt_columns(bind: Any) -> None:
    """Bring a table created by an earlier version up to date (race-tolerant, idempotent)."""
    existing = {column["name"] for column in sa.inspect(bind).get_columns(DEDUPE_TABLE_NAME)}
    for name in _RECEIPT_COLUMNS:
        if name in existing:
            continue
        column_type = dedupe_table.c[name].type.compile(dialect=bind.dialect)
        try:
            with bind.begin() as connection:
                statement = f"ALTER TABLE {DEDUPE_TABLE_NAME} ADD COLUMN {name} {column_type}"
                connection.execute(sa.text(statement))
        except DBAPIError:
            # Another process added it first.
            columns = sa.inspect(bind).get_columns(DEDUPE_TABLE_NAME)
            if name not in {column["name"] for column in columns}:
                raise
    for index in dedupe_table.indexes:
        try:
            index.create(bind, checkfirst=True)
        except DBAPIError:
            indexes = sa.inspect(bind).get_indexes(DEDUPE_TABLE_NAME)
            if index.name not in {found["name"] for found in indexes}:
                raise
