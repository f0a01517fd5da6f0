"""Number-list hygiene: check a CSV list of phone numbers before paying for messages to them.

:class:`~airflow_provider_sms.operators.hygiene.NumberHygieneOperator` is the Airflow face;
:class:`HygieneEngine` does the work and can run outside a task. See docs/hygiene.md.
"""

from __future__ import annotations

from airflow_provider_sms.exceptions import (
    HygieneAccountingError,
    HygieneInputError,
    OutputClaimedError,
    OutputNotWritableError,
)
from airflow_provider_sms.hygiene.engine import HygieneEngine
from airflow_provider_sms.hygiene.options import HygieneOptions, parse_max_age
from airflow_provider_sms.hygiene.progress import HygieneSummary
from airflow_provider_sms.hygiene.verdicts import RESULT_COLUMNS, NumberCheck, Verdict

__all__ = [
    "RESULT_COLUMNS",
    "HygieneAccountingError",
    "HygieneEngine",
    "HygieneInputError",
    "HygieneOptions",
    "HygieneSummary",
    "NumberCheck",
    "OutputClaimedError",
    "OutputNotWritableError",
    "Verdict",
    "parse_max_age",
]
