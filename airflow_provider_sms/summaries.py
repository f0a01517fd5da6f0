"""Run summaries: what each paying operator did, published as small Asset events.

Workers of Airflow 3 have no database access; an operator's outlet events are how a run's
facts reach the metadata database. Every operator of this provider that pays the API adds
one provider-owned asset to its ``outlets`` and, when it succeeds, sets that event's
``extra`` to a summary of counts -- never a phone number, a message text or a code:

====================================  =====================================================
``sms-api://summaries/hygiene``       :class:`NumberHygieneOperator`: rows, verdict counts,
                                      calls made and saved
``sms-api://summaries/sms``           :class:`SendSmsOperator`: numbers, sent, failed,
                                      unknown, and receipt keys (below)
``sms-api://summaries/usage``         look-up and call operators: paid requests only
====================================  =====================================================

Every summary holds ``paid``: requests this try paid for, by kind (``sms``, ``hlr``,
``fraud_check``, ``calls``). The event itself carries the DAG, task and run ids
(``source_dag_id``...). The "SMS & Voice" page of the webhook plugin
(:mod:`airflow_provider_sms.plugins.dashboard`) reads them back.

*Receipt keys* let the page attribute delivery receipts (which carry only a request id) to
the run that sent the messages, without storing the request ids: the first 12 hex digits of
each request id's SHA-256, for runs of up to :data:`MAX_RECEIPT_KEYS` messages (above that the
summary has counts only and the page shows no funnel for the run).

A task that fails publishes nothing (Airflow registers outlet events on success only): the
requests a failed try paid for are in its log, not in a summary.

An operator needs two lines: :func:`add_summary_outlet` at the end of ``__init__``, and
:func:`publish_summary` in ``execute``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset

__all__ = [
    "HYGIENE_SUMMARIES",
    "MAX_RECEIPT_KEYS",
    "SMS_SUMMARIES",
    "SUMMARY_ASSETS",
    "USAGE_SUMMARIES",
    "add_summary_outlet",
    "hygiene_summary",
    "publish_summary",
    "receipt_key",
    "sms_summary",
    "usage_summary",
]

log = logging.getLogger(__name__)

#: One event per successful NumberHygieneOperator run.
HYGIENE_SUMMARIES = Asset("sms-api://summaries/hygiene")
#: One event per successful SendSmsOperator run.
SMS_SUMMARIES = Asset("sms-api://summaries/sms")
#: One event per successful run of a look-up or call operator.
USAGE_SUMMARIES = Asset("sms-api://summaries/usage")
SUMMARY_ASSETS = (HYGIENE_SUMMARIES, SMS_SUMMARIES, USAGE_SUMMARIES)

SCHEMA_VERSION = 1
#: A send run of more messages than this carries counts only (no receipt keys).
MAX_RECEIPT_KEYS = 1000
RECEIPT_KEY_LENGTH = 12
PAID_KINDS = ("sms", "hlr", "fraud_check", "calls")


def receipt_key(request_id: str) -> str:
    """The short digest of a request id that a send summary stores instead of the id."""
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()[:RECEIPT_KEY_LENGTH]


def add_summary_outlet(operator: Any, asset: Asset) -> None:
    """Add ``asset`` to ``operator.outlets`` (after the user's own, which stay as they are).

    Call it at the end of ``__init__``: the DAG then declares the asset, as Airflow requires
    for an outlet event to be stored.

    :param operator: the operator being built.
    :param asset: one of :data:`SUMMARY_ASSETS`.
    """
    outlets = list(operator.outlets or [])
    if asset not in outlets:
        operator.outlets = [*outlets, asset]


def publish_summary(context: Mapping[str, Any], asset: Asset, summary: dict[str, Any]) -> None:
    """Set the extra of this task's ``asset`` event to ``summary`` (stored if the task succeeds).

    Adds ``started_at``, the task instance's start (receipts of a send run arrive from then
    on). Never fails the task: a summary is a report, not a result.

    :param context: the task context.
    :param asset: the asset :func:`add_summary_outlet` added.
    :param summary: a dict made by :func:`hygiene_summary`, :func:`sms_summary` or :func:`usage_summary`.
    """
    try:
        started = getattr(context.get("ti"), "start_date", None)
        stamp = started if isinstance(started, datetime) else datetime.now(timezone.utc)
        context["outlet_events"][asset].extra = {**summary, "started_at": stamp.isoformat(timespec="seconds")}
    except Exception:
        log.warning("Could not publish the run summary to %s", asset.name, exc_info=True)


def _base(kind: str, paid: Mapping[str, int]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "kind": kind,
        "paid": {k: int(paid.get(k, 0)) for k in PAID_KINDS if paid.get(k)},
    }


def hygiene_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a hygiene run, from the operator's XCom (:class:`HygieneSummary` as a dict).

    :param result: ``HygieneSummary.to_dict()``.
    """
    calls = int(result.get("api_calls", 0))
    lookups = int(result.get("checked_numbers", 0))
    summary = _base("hygiene", {"hlr": lookups, "fraud_check": calls - lookups})
    summary.update(
        rows=int(result.get("rows", 0)),
        unique_numbers=int(result.get("unique_numbers", 0)),
        verdicts={str(k): int(v) for k, v in dict(result.get("verdicts") or {}).items()},
        api_calls=calls,
        calls_saved=int(result.get("calls_saved", 0)),
    )
    return summary


def sms_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a send run, from :class:`SendSmsOperator`'s full report.

    :param report: the report (``sent`` is keyed by request id; ``counts``).
    """
    counts = dict(report.get("counts") or {})
    request_ids: Iterable[str] = dict(report.get("sent") or {}).keys()
    sent, already = int(counts.get("sent", 0)), int(counts.get("already_sent", 0))
    summary = _base("sms", {"sms": sent - already})
    summary.update(
        numbers=int(counts.get("numbers", 0)),
        sent=sent,
        already_sent=already,
        failed=int(counts.get("failed", 0)),
        unknown=int(counts.get("unknown", 0)),
    )
    for key in ("deferred", "suppressed", "refused", "segments"):  # a campaign report also has these
        if key in counts:
            summary[key] = int(counts[key])
    if sent <= MAX_RECEIPT_KEYS:
        summary["receipt_keys"] = sorted(receipt_key(str(rid)) for rid in request_ids if rid)
    return summary


def usage_summary(kind: str, count: int = 1) -> dict[str, Any]:
    """The summary of a look-up or call operator's run: ``count`` paid requests of ``kind``.

    :param kind: ``"hlr"``, ``"fraud_check"`` or ``"calls"``.
    :param count: requests this try paid for.
    """
    if kind not in PAID_KINDS:
        raise ValueError(f"kind must be one of {PAID_KINDS}, got {kind!r}")
    return _base("usage", {kind: count})
