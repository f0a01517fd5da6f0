"""Inbound opt-out: senders of "STOP" (and its variants) go onto the suppression list.

Runs whenever the webhook plugin stores inbound SMS (``INBOUND_SMS``). A message whose
whole text is an opt-out keyword -- STOP, STOP ALL, UNSUBSCRIBE, CANCEL, END, QUIT,
OPT OUT / OPTOUT / OPT-OUT, REVOKE..., in any case, with spaces or punctuation around
(``" stop! "``) -- puts its sender on the suppression list that ``sms_campaign`` honours.
Adding is idempotent: a number already listed is not added again, so a repeated event or
a re-run changes nothing. One ``record_opt_outs`` task at a time (``max_active_tis_per_dag=1``)
keeps the list single-writer.

The list is ``<data dir>/suppression.csv`` (``[sms_api] data_path``, default
``$AIRFLOW_HOME/sms_api``) unless the ``suppression_list`` Param names another file.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.assets import INBOUND_SMS, inbound_messages
from airflow_provider_sms.sending.suppression import (
    add_to_suppression_list,
    is_opt_out,
    normalize_keyword,
    suppression_list_path,
)

log = logging.getLogger(__name__)


@dag(
    dag_id="inbound_opt_out",
    schedule=[INBOUND_SMS],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["sms-api", "example"],
    params={
        "suppression_list": Param(
            "", type="string", description="Suppression list CSV; empty: <data dir>/suppression.csv."
        ),
    },
)
def inbound_opt_out() -> None:
    @task(max_active_tis_per_dag=1)
    def record_opt_outs(
        params: dict[str, Any] | None = None, triggering_asset_events: Any = None
    ) -> dict[str, int]:
        """Add the senders of opt-out messages to the suppression list; return counts only."""
        assert params is not None
        path = suppression_list_path(params.get("suppression_list"))
        messages = inbound_messages(triggering_asset_events)
        by_keyword: dict[str, list[str]] = defaultdict(list)
        for message in messages:
            if is_opt_out(message.text):
                by_keyword[normalize_keyword(message.text)].append(message.from_number)
        added: list[str] = []
        for keyword, senders in sorted(by_keyword.items()):
            added.extend(add_to_suppression_list(path, senders, reason=f"inbound {keyword}"))
        for number in added:
            log.info("Suppressed %s (opt-out by SMS)", mask_number(number))
        opt_outs = sum(len(senders) for senders in by_keyword.values())
        log.info(
            "%d inbound SMS, %d opt-out(s), %d number(s) added to %s",
            len(messages),
            opt_outs,
            len(added),
            path,
        )
        return {"messages": len(messages), "opt_outs": opt_outs, "added": len(added)}

    record_opt_outs()


inbound_opt_out()
