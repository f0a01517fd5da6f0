"""The "SMS & Voice" page in a real Airflow, looked at in headless Chromium.

A hygiene DAG and a campaign run against the sandbox, receipts and inbound SMS come back
through the webhooks; then the page, inside Airflow's UI and on its own, must draw every chart
with the numbers the metadata database, the task XComs and the sandbox's ledger say, show no
phone number or message text, and show nothing without a sign-in. Screenshots are saved to
``test-artifacts/``.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections import Counter, defaultdict
from typing import Any

import httpx
import pytest

from airflow_provider_sms.plugins.dashboard_data import bad_share
from airflow_provider_sms.plugins.dashboard_rollup import is_call_receipt
from airflow_provider_sms.sending.suppression import is_opt_out
from tests.airflow_e2e.browser import artifacts_dir, chromium
from tests.airflow_e2e.cluster import AirflowCluster, wait_until
from tests.airflow_e2e.conftest import Deployment

pytestmark = pytest.mark.e2e

DELIVERED, ALSO_DELIVERED, UNDELIVERED, REJECTED = (
    "+447911555501",
    "+447911555502",
    "+447911555599",
    "+447911555598",
)
HYGIENE_LIST = ["+447400123456", "+447400123466", "+447400123477", "+447400123499", "+493012345678", "12345"]
RENTED = "+447700900000"
INBOUND = [(DELIVERED, "Is the shop open on Sunday?"), (ALSO_DELIVERED, "STOP")]
KIND_NAMES = {"sms": "SMS", "hlr": "HLR look-ups", "fraud_check": "Fraud checks", "calls": "Calls"}
MARKS_JS = """() => Array.from(document.querySelectorAll('figure.chart')).map(f => ({
  chart: f.dataset.chart, task: f.dataset.task || null,
  marks: Array.from(f.querySelectorAll('.mark')).map(m => ({
    series: m.dataset.series, label: m.dataset.label, value: Number(m.dataset.value),
    key: m.dataset.key || null
  }))
}))"""


def events(airflow: AirflowCluster, name: str) -> list[dict[str, Any]]:
    """The events of asset ``name``: ``ts`` (UTC text), ``extra``, ``run_id``, from the database."""
    rows = airflow._query(
        "SELECT e.timestamp, e.extra, e.source_run_id FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE a.name = :name ORDER BY e.id",
        name=name,
    )
    # SQLite hands the JSON column over as text, PostgreSQL (psycopg2) already decoded.
    return [
        {"ts": str(ts), "extra": extra if isinstance(extra, dict) else json.loads(extra), "run_id": run_id}
        for ts, extra, run_id in rows
    ]


def marks(
    charts: list[dict[str, Any]], chart: str, *, task: str | None = None
) -> dict[tuple[str, str], float]:
    """{(label, series): value} of one chart's marks."""
    [figure] = [c for c in charts if c["chart"] == chart and (task is None or c["task"] == task)]
    return {(m["label"], m["series"]): m["value"] for m in figure["marks"]}


def by_label(values: dict[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (label, series), value in values.items():
        out[label][series] = value
    return dict(out)


def nonzero(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {k: {s: v for s, v in row.items() if v} for k, row in counts.items() if any(row.values())}


def run_the_provider(deployment: Deployment, tmp_path) -> dict[str, Any]:
    """Hygiene, a campaign with receipts and two inbound SMS; returns what the page must show."""
    airflow, sandbox = deployment.airflow, deployment.sandbox
    # 1. Number hygiene over a small list (one repeat and one impossible number cost nothing).
    source = tmp_path / "list.csv"
    source.write_text("number\n" + "\n".join([*HYGIENE_LIST, HYGIENE_LIST[0]]) + "\n", encoding="utf-8")
    before = max((e["seq"] for e in sandbox.ledger()), default=0)
    conf = {"input_path": str(source), "output_path": str(tmp_path / "out" / "numbers.csv")}
    hygiene_run = airflow.trigger("list_hygiene", conf)
    airflow.wait_for_run("list_hygiene", hygiene_run)
    hygiene_paid = sum(
        1 for e in sandbox.ledger() if e["seq"] > before and e["product"] in ("hlr", "fraudcheck")
    )

    # 2. A campaign of four: two delivered, one undelivered, one rejected; receipts to Airflow.
    clean = tmp_path / "campaign.clean.csv"
    with clean.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["e164"])
        writer.writerows([[n] for n in (DELIVERED, ALSO_DELIVERED, UNDELIVERED, REJECTED)])
    campaign = f"dash-{uuid.uuid4().hex[:6]}"
    conf = {"clean_list": str(clean), "message": "Dashboard test", "campaign_id": campaign}
    before = max((e["seq"] for e in sandbox.ledger()), default=0)
    campaign_run = airflow.trigger("sms_campaign", conf)
    airflow.wait_for_run("sms_campaign", campaign_run)
    sent = {e["request_id"] for e in sandbox.ledger() if e["product"] == "sms" and e["seq"] > before}
    assert len(sent) == 4

    def receipts_in() -> bool:
        receipts = [
            e for e in events(airflow, "sms-api://delivery-receipts") if e["extra"]["requestId"] in sent
        ]
        return len(receipts) == 7  # SENT + final for three, REJECTED alone for one

    wait_until("the campaign's 7 receipts", receipts_in, 60)

    # 3. Two inbound SMS: a question and an opt-out.
    stored_before = len(events(airflow, "sms-api://inbound-sms"))
    for sender, text in INBOUND:
        sandbox.inject_inbound_sms(sender, RENTED, text)
    wait_until(
        "the inbound SMS as asset events",
        lambda: len(events(airflow, "sms-api://inbound-sms")) >= stored_before + len(INBOUND),
        60,
    )
    # Settle: every receipt the sandbox scheduled has been delivered and stored.
    sandbox.wait_for_deliveries(len(sandbox.deliveries()), timeout=30)
    return {"hygiene_run": hygiene_run, "hygiene_paid": hygiene_paid, "campaign_run": campaign_run}


def expected_from_database(airflow: AirflowCluster) -> dict[str, Any]:
    """Per-day counts computed independently of the page, straight from the asset events."""
    receipts: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events(airflow, "sms-api://delivery-receipts"):
        if not is_call_receipt(e["extra"]):
            receipts[e["ts"][5:10]][e["extra"]["status"]] += 1
    inbound: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events(airflow, "sms-api://inbound-sms"):
        inbound[e["ts"][5:10]]["Messages"] += 1
        inbound[e["ts"][5:10]]["Opt-outs"] += is_opt_out(e["extra"]["text"])
    spend: dict[str, Counter[str]] = defaultdict(Counter)
    for name in ("hygiene", "sms", "usage"):
        for e in events(airflow, f"sms-api://summaries/{name}"):
            for kind, count in e["extra"]["paid"].items():
                spend[e["ts"][5:10]][KIND_NAMES[kind]] += count
    return {
        "receipts": nonzero({k: dict(v) for k, v in receipts.items()}),
        "inbound": nonzero({k: dict(v) for k, v in inbound.items()}),
        "spend": nonzero({k: dict(v) for k, v in spend.items()}),
    }


def test_the_page_draws_what_the_provider_recorded(deployment: Deployment, tmp_path):
    airflow = deployment.airflow
    ran = run_the_provider(deployment, tmp_path)
    expected = expected_from_database(airflow)
    hygiene_xcom = airflow.xcom("list_hygiene", ran["hygiene_run"], "hygiene")
    [hygiene_event] = [
        e for e in events(airflow, "sms-api://summaries/hygiene") if e["run_id"] == ran["hygiene_run"]
    ]
    run_label = f"{hygiene_event['ts'][5:10]} {hygiene_event['ts'][11:16]}"
    token = airflow.token_for("viewer")  # read-only: may read assets, like any signed-in role
    assert token
    page_url = f"{airflow.base_url}/sms-api/dashboard/"
    out = artifacts_dir()

    with chromium() as browser:
        # Signed out: the page loads, its data does not.
        anonymous = browser.new_context(viewport={"width": 1280, "height": 800})
        page = anonymous.new_page()
        page.goto(page_url)
        page.wait_for_selector('body[data-state="unauthenticated"]', timeout=30_000)
        assert page.inner_html("#content") == ""
        assert page.locator("figure.chart").count() == 0
        assert "Sign in to Airflow" in page.inner_text("#status")
        assert anonymous.request.get(f"{page_url}api/data").status == 401
        assert anonymous.request.get(f"{page_url}api/sections").status == 401
        page.screenshot(path=str(out / "dashboard-signed-out.png"))
        anonymous.close()

        # Signed in as a viewer (Airflow's sign-in cookie, as its login page sets it), inside
        # Airflow's UI through its navigation entry.
        context = browser.new_context(viewport={"width": 1440, "height": 1500})
        context.add_cookies([{"name": "_token", "value": token, "url": airflow.base_url}])
        page = context.new_page()
        page.goto(f"{airflow.base_url}/plugin/sms-voice")
        frame_element = page.wait_for_selector('iframe[title="SMS & Voice"]', timeout=30_000)
        frame = frame_element.content_frame()
        assert frame is not None
        frame.wait_for_selector('body[data-state="ready"]', timeout=30_000)
        charts = frame.evaluate(MARKS_JS)
        html = frame.content()
        page.screenshot(path=str(out / "dashboard-in-airflow.png"))
        nav = [a.get_attribute("href") or "" for a in page.locator("a").all()]
        assert any(href.endswith("plugin/sms-voice") for href in nav), nav  # the menu entry

        # On its own, full length, light and dark.
        for scheme in ("light", "dark"):
            alone = context.new_page()
            alone.emulate_media(color_scheme=scheme)
            alone.goto(page_url)
            alone.wait_for_selector('body[data-state="ready"]', timeout=30_000)
            assert alone.evaluate("document.documentElement.classList.contains('dark')") == (scheme == "dark")
            alone.screenshot(path=str(out / f"dashboard-{scheme}.png"), full_page=True)
            alone.close()
        context.close()

        # Airflow 3.1's UI keeps the token in localStorage and sends it as a Bearer header.
        bearer = browser.new_context()
        bearer.add_init_script(f"window.localStorage.setItem('token', {json.dumps(token)})")
        page = bearer.new_page()
        page.goto(page_url)
        page.wait_for_selector('body[data-state="ready"]', timeout=30_000)
        assert page.locator('figure[data-chart="funnel"]').count() == 1
        bearer.close()

    # Hygiene: the run's verdict mix, bad share, paid and saved calls.
    verdicts = by_label(marks(charts, "hygiene-verdicts", task="list_hygiene.hygiene"))[run_label]
    assert verdicts == {k: v for k, v in hygiene_xcom["verdicts"].items() if v}
    share = by_label(marks(charts, "hygiene-bad-share", task="list_hygiene.hygiene"))[run_label]
    assert share == {"Bad share": bad_share(hygiene_xcom["verdicts"])}
    calls = by_label(marks(charts, "hygiene-calls", task="list_hygiene.hygiene"))[run_label]
    assert calls == {"Paid calls": ran["hygiene_paid"], "Calls saved": hygiene_xcom["calls_saved"]}
    assert ran["hygiene_paid"] == hygiene_xcom["api_calls"] > 0

    # Delivery: receipts per day by status, the rate, and this campaign's funnel.
    assert nonzero(by_label(marks(charts, "receipts"))) == expected["receipts"]
    for day, statuses in expected["receipts"].items():
        final = sum(statuses.get(s, 0) for s in ("DELIVERED", "UNDELIVERED", "REJECTED"))
        assert by_label(marks(charts, "delivery-rate"))[day]["Delivery rate"] == pytest.approx(
            statuses.get("DELIVERED", 0) / final, abs=1e-4
        )
    funnel = {
        m["series"]: m["value"]
        for c in charts
        if c["chart"] == "funnel"
        for m in c["marks"]
        if m["key"] == ran["campaign_run"]
    }
    assert funnel == {"Delivered": 2, "Undelivered": 1, "Rejected": 1}

    # Inbound SMS and opt-outs; paid requests by kind.
    assert nonzero(by_label(marks(charts, "inbound"))) == expected["inbound"]
    assert nonzero(by_label(marks(charts, "spend"))) == expected["spend"]
    assert sum(v.get("SMS", 0) for v in expected["spend"].values()) >= 4

    # Counts and labels only: no phone number, no message text.
    for number in (DELIVERED, ALSO_DELIVERED, UNDELIVERED, REJECTED, *HYGIENE_LIST[:5]):
        assert number.lstrip("+") not in html
    assert INBOUND[0][1] not in html
    for name in ("dashboard-signed-out", "dashboard-in-airflow", "dashboard-light", "dashboard-dark"):
        assert (out / f"{name}.png").stat().st_size > 10_000


def test_the_data_endpoint_answers_401_without_a_token_and_counts_with_one(deployment: Deployment):
    airflow = deployment.airflow
    url = f"{airflow.base_url}/sms-api/dashboard/api/data"
    assert httpx.get(url, timeout=30, trust_env=False).status_code == 401
    assert httpx.get(
        url, headers={"Authorization": "Bearer nonsense"}, timeout=30, trust_env=False
    ).status_code in (
        401,
        403,
    )
    data = airflow.client.get("/sms-api/dashboard/api/data", params={"days": 7}).json()
    assert len(data["inbound"]["days"]) == 7
    text = json.dumps(data)
    assert not any(
        number.lstrip("+") in text for number in (DELIVERED, ALSO_DELIVERED, UNDELIVERED, REJECTED)
    )
