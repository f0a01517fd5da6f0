"""Campaign planning without a socket: verdicts, counts and the preview of a dry run."""

from __future__ import annotations

import logging
from datetime import datetime, time, timezone
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.templates import MessageTemplate
from airflow_provider_sms.exceptions import CampaignInputError
from airflow_provider_sms.sending.campaign import read_preview
from airflow_provider_sms.sending.campaign_run import Campaign, run_campaign
from airflow_provider_sms.sending.entries import TaskScope
from airflow_provider_sms.sending.journal import SendJournal
from airflow_provider_sms.sending.quiet_hours import QuietHours
from airflow_provider_sms.sending.suppression import add_to_suppression_list

NOON = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)  # London 12:00, Tokyo 21:00
UK1, UK2, TOKYO = "+447911123451", "+447911123452", "+819012345678"


def dry_run(tmp_path: Path, campaign: Campaign) -> tuple[dict, list[dict[str, str]]]:
    journal = SendJournal(ObjectStoragePath(str(tmp_path / "journal")), TaskScope("d", "r", "t"))

    def no_hook():  # a dry run never asks for the hook
        raise AssertionError("dry run fetched the hook")

    outcome = run_campaign(
        campaign, journal, now=NOON, dry_run=True, hook=no_hook, max_workers=2, log=logging.getLogger()
    )
    assert outcome.report is None
    assert outcome.preview_path is not None
    return outcome.counts.to_dict(), read_preview(outcome.preview_path)


def test_one_text_with_numbers_suppression_and_quiet_hours(tmp_path: Path) -> None:
    suppression = tmp_path / "opt-out.csv"
    add_to_suppression_list(suppression, [UK2])
    campaign = Campaign(
        numbers=[UK1, UK2, TOKYO, "+44 7911 123451", "12"],
        numbers_file=None,
        number_column="number",
        text="Sale starts today 😀",
        template=None,
        suppression_list=str(suppression),
        quiet_hours=QuietHours(time(21), time(8)),
    )

    counts, preview = dry_run(tmp_path, campaign)

    assert [(r["verdict"], r["encoding"], r["segments"]) for r in preview] == [
        ("send", "UCS-2", "1"),
        ("suppressed", "", "0"),
        ("deferred", "UCS-2", "1"),
        ("duplicate", "UCS-2", "1"),
        ("invalid", "", "0"),
    ]
    assert preview[2]["reason"] == "quiet hours until 2026-01-15T23:00:00+00:00"
    assert counts["recipients"] == 2
    assert (counts["send_now"], counts["deferred"], counts["suppressed"], counts["invalid"]) == (1, 1, 1, 1)
    assert counts["earliest_opening"] == "2026-01-15T23:00:00+00:00"
    assert counts["by_encoding"] == {"UCS-2": 2}


def test_a_missing_suppression_list_or_column_is_refused_up_front(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text(f"number,name\n{UK1},Ann\n", encoding="utf-8")
    base = {"numbers": [], "numbers_file": str(listing), "number_column": "number", "text": None}

    with pytest.raises(CampaignInputError, match="does not exist"):
        dry_run(
            tmp_path, Campaign(**base, template=MessageTemplate("Hi {name}"), suppression_list="/nope.csv")
        )
    with pytest.raises(CampaignInputError, match=r"uses \{first_name\}, which .* does not have"):
        dry_run(tmp_path, Campaign(**base, template=MessageTemplate("Hi {first_name}")))
    with pytest.raises(CampaignInputError, match="no column 'phone'"):
        dry_run(
            tmp_path, Campaign(**{**base, "number_column": "phone"}, template=MessageTemplate("Hi {name}"))
        )
