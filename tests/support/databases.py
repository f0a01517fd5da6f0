"""Throw-away metadata databases for the webhook store and the page's counts: sessions as Airflow
makes them, Airflow's tables, threads released together, the stored events read back raw."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def session_scope(engine: sa.Engine) -> Callable[[], contextlib.AbstractContextManager[Session]]:
    """Sessions as ``airflow.utils.session.create_session`` makes them: commit on exit."""
    factory = sessionmaker(engine, expire_on_commit=False)

    @contextlib.contextmanager
    def scope() -> Iterator[Session]:
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    return scope


def create_airflow_tables(engine: sa.Engine) -> None:
    """Airflow's tables, from its models (quicker than ``airflow db migrate``)."""
    from airflow.models import import_all_models
    from airflow.models.base import Base

    import_all_models()
    Base.metadata.create_all(engine)


def at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return work(i)

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def stored_events(engine: sa.Engine, *asset_names: str) -> list[tuple[str, datetime, dict[str, Any]]]:
    """(asset name, timestamp, extra) of the events of ``asset_names``, oldest first, as stored."""
    from airflow.models.asset import AssetEvent, AssetModel

    query = (
        sa.select(AssetModel.name, AssetEvent.timestamp, AssetEvent.extra)
        .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
        .where(AssetModel.name.in_(asset_names))
        .order_by(AssetEvent.timestamp, AssetEvent.id)
    )
    with engine.connect() as connection:
        return [(name, at, dict(extra)) for name, at, extra in connection.execute(query)]
