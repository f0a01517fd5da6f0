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

The table is created on first use (``CREATE TABLE`` if absent, race-tolerant). It is not part
of Airflow's schema: ``airflow db reset`` leaves it alone, and rows can be pruned once senders
stop retrying (the API re-sends inbound SMS for 24 hours), e.g.
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
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

if TYPE_CHECKING:
    from airflow.sdk import Asset
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

DEDUPE_TABLE_NAME = "sms_api_webhook_dedupe"
_KEY_LENGTH = 200

_metadata = sa.MetaData()
dedupe_table = sa.Table(
    DEDUPE_TABLE_NAME,
    _metadata,
    sa.Column("dedupe_key", sa.String(_KEY_LENGTH), primary_key=True),
    sa.Column("asset_name", sa.String(250), nullable=False),
    sa.Column("asset_event_id", sa.Integer, nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


class EventNotStoredError(RuntimeError):
    """The event could not be stored; the sender must retry (the endpoint answers 503)."""


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What :meth:`MetadataEventStore.save` did.

    :param duplicate: the key was already stored: no new Asset event.
    :param asset_event_id: id of the new Asset event (``None`` for a duplicate).
    """

    duplicate: bool
    asset_event_id: int | None = None


def storage_key(key: str) -> str:
    """``key`` as stored: unchanged when short, else a SHA-256 digest (ids are not that long)."""
    if len(key) <= _KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class MetadataEventStore:
    """Stores events in Airflow's metadata database (thread-safe; one per API-server process).

    :param session_factory: a context manager factory yielding a SQLAlchemy session that commits
        on exit and rolls back on error; defaults to ``airflow.utils.session.create_session``.
    """

    def __init__(self, session_factory: Callable[[], Any] | None = None) -> None:
        self._session_factory = session_factory
        self._lock = threading.Lock()
        self._schema_ready = False
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
            except (OperationalError, ProgrammingError):
                # Another process created it between the check and the CREATE.
                if not sa.inspect(bind).has_table(DEDUPE_TABLE_NAME):
                    raise
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
    def save(self, asset: Asset, key: str, payload: dict[str, Any]) -> SaveOutcome:
        """Store ``payload`` as one event of ``asset`` unless ``key`` was stored before.

        :raises EventNotStoredError: the event is not stored (nothing was written).
        """
        from airflow.assets.manager import asset_manager
        from airflow.models.asset import AssetModel

        self.ensure_schema()
        self.ensure_asset(asset)
        callbacks: list[Callable[[], None]] = []
        with self._session() as session:
            if not _claim_key(session, storage_key(key), asset.name):
                session.rollback()
                return SaveOutcome(duplicate=True)
            model = session.scalar(
                sa.select(AssetModel).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri)
            )
            event = None
            if model is not None:
                event = asset_manager.register_asset_change(
                    asset=model,
                    extra=payload,
                    source_is_api=True,
                    api_user_teams=set(),
                    callback_sink=callbacks,
                    session=session,
                )
            if event is None:
                self._assets_ready.discard((asset.name, asset.uri))  # deleted meanwhile: recreate
                raise EventNotStoredError(f"asset {asset.name} is missing from the metadata database")
            event_id = event.id
            _cover_event_in_run_queue(session, event)
            session.execute(
                sa.update(dedupe_table)
                .where(dedupe_table.c.dedupe_key == storage_key(key))
                .values(asset_event_id=event_id)
            )
        # Committed: now tell listeners, as Airflow does once an event is durable.
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a listener's failure must not turn a stored event into a 5xx
                log.warning("An asset listener failed after an event of %s was stored", asset.name)
        return SaveOutcome(duplicate=False, asset_event_id=event_id)

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


def _claim_key(session: Session, key: str, asset_name: str) -> bool:
    """Insert the key row (the transaction's first statement); False when it already exists."""
    try:
        session.execute(
            sa.insert(dedupe_table).values(
                dedupe_key=key, asset_name=asset_name, received_at=datetime.now(timezone.utc)
            )
        )
    except IntegrityError:
        return False
    return True
