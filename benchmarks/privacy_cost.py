"""What hiding phone numbers costs: Airflow's secrets masker versus the provider's private rendering.

Not a test: ``python benchmarks/privacy_cost.py`` prints figures measured in this one run.

Airflow's masker (``mask_secret``) keeps one compiled regular expression of every registered
value, recompiled at each registration, and matches every log line of the task against it.
The provider instead renders the numbers privately and leaves a masked, shortened copy in the
attributes Airflow stores (``airflow_provider_sms.privacy``). The script registers lists of
numbers with a fresh masker and times a registration and the redaction of one log line, then
times the provider's masked copy of a 100,000-number list.
"""

from __future__ import annotations

import time

from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

from airflow_provider_sms.privacy import masked_numbers

LINE = (
    "2026-01-01T00:00:00Z [warning] +4479******56 failed: The API refused the request (HTTP 400, "
    "errorCode 10) [airflow.task.operators.SendSmsOperator] loc=report.py:88"
)
LINES = 200


def numbers(n: int) -> list[str]:
    return [f"+4479{i:08d}" for i in range(n)]


def masker_figures(n: int) -> tuple[float, float]:
    """Seconds to register ``n`` numbers, seconds to redact one log line with them registered."""
    masker = SecretsMasker()
    start = time.perf_counter()
    masker.add_mask(numbers(n))
    registered = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(LINES):
        masker.redact(LINE)
    return registered, (time.perf_counter() - start) / LINES


def main() -> None:
    base = SecretsMasker()
    base.add_mask("a-connection-password")
    start = time.perf_counter()
    for _ in range(LINES):
        base.redact(LINE)
    per_line_one = (time.perf_counter() - start) / LINES
    print(f"one log line, 1 registered secret: {per_line_one * 1e6:.1f} us")
    previous = None
    for n in (250, 500, 1_000):
        registered, per_line = masker_figures(n)
        growth = f", {registered / previous:.1f}x the half" if previous else ""
        previous = registered
        print(
            f"{n:>6,} numbers registered: registration {registered:.2f} s{growth}; one log line "
            f"{per_line * 1e6:,.1f} us ({per_line / per_line_one:,.1f}x one secret)"
        )
    big = numbers(100_000)
    start = time.perf_counter()
    masked_numbers(big)
    print(f"provider's masked copy of 100,000 numbers (once per task): {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
