"""The "SMS & Voice" page's sections as HTML: headline counts, then one SVG chart per question.

Input is :func:`airflow_provider_sms.plugins.dashboard_data.build_dashboard`'s dict (counts and
DAG/task ids only); every label is escaped. Each chart is a ``<figure data-chart="...">``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from airflow_provider_sms.hygiene.verdicts import Verdict
from airflow_provider_sms.plugins.dashboard_charts import Series, bar_chart, funnel_chart, legend, line_chart
from airflow_provider_sms.summaries import MAX_RECEIPT_KEYS

STATUS_CSS = {"SENT": "c-sent", "DELIVERED": "c-good", "UNDELIVERED": "c-warn", "REJECTED": "c-bad"}
KIND_NAMES = {"sms": "SMS", "hlr": "HLR look-ups", "fraud_check": "Fraud checks", "calls": "Calls"}
FUNNEL_PARTS = (
    ("delivered", "Delivered", "c-good"),
    ("undelivered", "Undelivered", "c-warn"),
    ("rejected", "Rejected", "c-bad"),
    ("other", "Other final status", "c-other"),
    ("pending", "Sent, no final receipt yet", "c-sent"),
    ("no_receipt", "No receipt yet", "c-none"),
)

EMPTY_STATE = """
<section class="empty" data-section="empty">
  <h2>No SMS &amp; Voice activity in this period yet</h2>
  <p>This page draws what the provider records as Airflow Asset events: the run summaries of
  its operators, and the delivery receipts and inbound SMS its webhooks store.</p>
  <ol>
    <li>Try it locally: <code>./run.sh demo --keep-home</code> runs the number-hygiene DAG against
    the sandbox and keeps its Airflow home; then
    <code>AIRFLOW_HOME=$PWD/.airflow-demo .venv/bin/airflow api-server</code> and open this page.</li>
    <li>In your deployment: run a DAG with <code>NumberHygieneOperator</code> or <code>SendSmsOperator</code>
    (with <code>callback_url="airflow"</code> and <code>[sms_api] webhook_secret</code> set, so that
    delivery receipts come back).</li>
  </ol>
</section>
"""


def _day(iso: str) -> str:
    return iso[5:10]


def _run_label(iso: str) -> str:
    return f"{iso[5:10]} {iso[11:16]}"


def _figure(chart: str, caption: str, svg: str, series: list[Series], **attrs: str) -> str:
    extra = "".join(f' data-{k}="{escape(v)}"' for k, v in attrs.items())
    return (
        f'<figure class="chart" data-chart="{chart}"{extra}><figcaption>{escape(caption)}</figcaption>'
        f"{svg}{legend(series)}</figure>"
    )


def _hint(text: str) -> str:
    return f'<p class="hint">{text}</p>'


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def headline(data: dict[str, Any]) -> str:
    """Totals of the period: the answers at a glance."""
    delivery = data["delivery"]["days"]
    delivered = sum(d["statuses"].get("DELIVERED", 0) for d in delivery)
    final = sum(d["statuses"].get(s, 0) for d in delivery for s in ("DELIVERED", "UNDELIVERED", "REJECTED"))
    tiles = [
        ("hygiene-runs", "Hygiene runs", f"{sum(len(t['runs']) for t in data['hygiene']['tasks']):,}"),
        ("receipts", "SMS receipts", f"{data['delivery']['receipts']:,}"),
        ("delivery-rate", "Delivery rate", _pct(delivered / final if final else None)),
        ("inbound", "Inbound SMS", f"{data['inbound']['messages']:,}"),
        ("opt-outs", "Opt-outs", f"{data['inbound']['opt_outs']:,}"),
        ("paid", "Paid requests", f"{data['spend']['total']:,}"),
    ]
    items = "".join(
        f'<div class="tile" data-kpi="{key}"><span class="value">{value}</span>'
        f'<span class="name">{name}</span></div>'
        for key, name, value in tiles
    )
    return f'<section class="tiles" data-section="headline">{items}</section>'


def hygiene(section: dict[str, Any]) -> str:
    """Per hygiene task: verdict mix per run, bad share over time, paid vs saved calls per run."""
    parts = ['<section data-section="hygiene"><h2>Number hygiene</h2>']
    if not section["tasks"]:
        parts.append(_hint("No <code>NumberHygieneOperator</code> run finished in this period."))
    for task in section["tasks"]:
        runs = task["runs"]
        labels = [_run_label(r["at"]) for r in runs]
        verdicts = [
            Series(v.value, f"c-v-{v.value.lower()}", [r["verdicts"].get(v.value, 0) for r in runs])
            for v in Verdict
            if any(r["verdicts"].get(v.value) for r in runs)
        ]
        share = [Series("Bad share", "c-bad", [r["bad_share"] for r in runs])]
        calls = [
            Series("Paid calls", "c-paid", [r["paid"] for r in runs]),
            Series("Calls saved", "c-saved", [r["saved"] for r in runs]),
        ]
        name = task["task"]
        parts.append(f'<h3 class="task">{escape(name)}</h3><div class="charts">')
        parts.append(
            _figure(
                "hygiene-verdicts",
                "Verdict mix per run",
                bar_chart("Verdicts", labels, verdicts),
                verdicts,
                task=name,
            )
        )
        parts.append(
            _figure(
                "hygiene-bad-share",
                "Bad share per run",
                line_chart("Bad share", labels, share),
                share,
                task=name,
            )
        )
        parts.append(
            _figure(
                "hygiene-calls",
                "Paid vs saved calls per run",
                bar_chart("Calls", labels, calls, stacked=False),
                calls,
                task=name,
            )
        )
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _section(key: str, title: str, figures: list[str], hints: list[str]) -> str:
    grid = f'<div class="charts">{"".join(figures)}</div>' if figures else ""
    return f'<section data-section="{key}"><h2>{title}</h2>{grid}{"".join(_hint(h) for h in hints)}</section>'


def delivery(section: dict[str, Any]) -> str:
    """SMS receipts per day by status, delivery rate per day, and a funnel per send run."""
    days = section["days"]
    labels = [_day(d["day"]) for d in days]
    figures, hints = [], []
    if section["receipts"]:
        statuses = [
            Series(s, STATUS_CSS.get(s, "c-other"), [d["statuses"].get(s, 0) for d in days])
            for s in section["statuses"]
        ]
        rate = [Series("Delivery rate", "c-good", [d["rate"] for d in days])]
        figures.append(
            _figure(
                "receipts", "Receipts per day by status", bar_chart("Receipts", labels, statuses), statuses
            )
        )
        caption = "Delivery rate per day (delivered / final receipts)"
        figures.append(_figure("delivery-rate", caption, line_chart("Rate", labels, rate), rate))
    else:
        hints.append(
            'No SMS delivery receipts in this period (send with <code>callback_url="airflow"</code>).'
        )
    if section["funnels"]:
        rows = []
        for run in section["funnels"]:
            label = f"{_run_label(run['at'])}  {run['task']}  ({run['sent']:,} sent)"
            parts = [Series(name, css, [run[key]]) for key, name, css in FUNNEL_PARTS]
            rows.append((label, str(run["run_id"]), parts))
        keyed = [Series(name, css, []) for _, name, css in FUNNEL_PARTS]
        caption = "Per send run: what became of the messages sent"
        figures.append(_figure("funnel", caption, funnel_chart("Funnel", rows), keyed))
    if section["call_receipts"]:
        hints.append(f"{section['call_receipts']:,} call status receipts are not counted here.")
    if section["runs_without_funnel"]:
        hints.append(
            f"{section['runs_without_funnel']} send run(s) of more than {MAX_RECEIPT_KEYS:,} messages "
            "have counts only, no funnel."
        )
    return _section("delivery", "Delivery", figures, hints)


def inbound(section: dict[str, Any]) -> str:
    """Inbound SMS and opt-outs per day."""
    if not section["messages"]:
        return _section("inbound", "Inbound SMS", [], ["No inbound SMS in this period."])
    days = section["days"]
    series = [
        Series("Messages", "c-sent", [d["messages"] for d in days]),
        Series("Opt-outs", "c-bad", [d["opt_outs"] for d in days]),
    ]
    chart = bar_chart("Inbound", [_day(d["day"]) for d in days], series, stacked=False)
    return _section(
        "inbound", "Inbound SMS", [_figure("inbound", "Messages and opt-outs per day", chart, series)], []
    )


def spend(section: dict[str, Any]) -> str:
    """Paid requests per day by kind."""
    if not section["total"]:
        return _section(
            "spend", "Paid requests", [], ["No paid requests reported by the provider's operators."]
        )
    days = section["days"]
    series = [
        Series(KIND_NAMES[k], f"c-k-{k}", [d[k] for d in days])
        for k in section["kinds"]
        if section["totals"][k]
    ]
    chart = bar_chart("Paid", [_day(d["day"]) for d in days], series)
    caption = "Paid requests per day by kind (from the operators' run summaries)"
    return _section("spend", "Paid requests", [_figure("spend", caption, chart, series)], [])


def render(data: dict[str, Any]) -> str:
    """The page's content for ``data``: the empty state, or the headline and every section."""
    period = f'<p class="period" data-from="{data["range"]["from"]}" data-to="{data["range"]["to"]}">'
    period += f"{data['range']['from']} to {data['range']['to']} (UTC)</p>"
    if data["empty"]:
        return period + EMPTY_STATE
    return (
        period
        + headline(data)
        + hygiene(data["hygiene"])
        + delivery(data["delivery"])
        + inbound(data["inbound"])
        + spend(data["spend"])
    )
