"""Verdicts: what one number's checks mean, decided by pure functions (no I/O).

First match wins, in this order::

    INVALID      the number cannot be a phone number (local check), or the API answered errorCode 11
    FRAUDULENT   fraud check status FRAUDULENT (the reference's example spells it "FRAUDLENT")
    SUSPICIOUS   fraud check status SUSPICIOUS
    NOT_MOBILE   fraud check status NOT_MOBILE_PREFIX, or mobilePrefix false
    UNREACHABLE  HLR status other than DELIVERED
    VALID        HLR DELIVERED and fraud check PASSED

Two verdicts say a number was *not* judged, so they never count as good or bad::

    ERROR        a check failed after the hook's retries (the reason is in ``error``); the
                 next run or Airflow retry checks it again
    UNCHECKED    the ``max_api_calls`` budget was used up before this number's turn
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from airflow_provider_sms.api.constants import (
    FRAUD_FRAUDULENT,
    FRAUD_PASSED,
    FRAUD_SUSPICIOUS,
    HLR_DELIVERED,
)
from airflow_provider_sms.api.results import FraudCheckResult, HlrResult
from airflow_provider_sms.exceptions import InvalidNumberError


class Verdict(str, enum.Enum):
    """The hygiene verdict of one number (a ``str``, so it writes to CSV and XCom as itself)."""

    VALID = "VALID"
    INVALID = "INVALID"
    FRAUDULENT = "FRAUDULENT"
    SUSPICIOUS = "SUSPICIOUS"
    NOT_MOBILE = "NOT_MOBILE"
    UNREACHABLE = "UNREACHABLE"
    ERROR = "ERROR"
    UNCHECKED = "UNCHECKED"

    def __str__(self) -> str:
        return self.value


# Verdicts that are facts about the number: safe to reuse on resume or from a previous run.
FINAL_VERDICTS = frozenset(
    {
        Verdict.VALID,
        Verdict.INVALID,
        Verdict.FRAUDULENT,
        Verdict.SUSPICIOUS,
        Verdict.NOT_MOBILE,
        Verdict.UNREACHABLE,
    }
)
# Verdicts that flag a number as bad (the share the example DAG watches).
BAD_VERDICTS = FINAL_VERDICTS - {Verdict.VALID}

# Columns appended to the input's own, in this order.
RESULT_COLUMNS = (
    "e164",
    "verdict",
    "hlr_status",
    "mccmnc",
    "network",
    "country",
    "fraud_status",
    "duplicate",
    "error",
    "checked_at",
)
CLEAN_COLUMNS = ("e164",)
FLAGGED_COLUMNS = ("e164", "verdict", "reason")


class NumberCheck(NamedTuple):
    """What is known about one E.164 number: a compact tuple, stored as one SQLite row.

    ``checked_at`` is the ISO-8601 UTC time the API answered (empty when no check ran).
    """

    e164: str
    verdict: Verdict
    hlr_status: str = ""
    mccmnc: str = ""
    network: str = ""
    country: str = ""
    fraud_status: str = ""
    error: str = ""
    checked_at: str = ""

    def output_fields(self, *, duplicate: bool) -> list[str]:
        """The values of :data:`RESULT_COLUMNS` for one output row."""
        return [
            self.e164,
            self.verdict.value,
            self.hlr_status,
            self.mccmnc,
            self.network,
            self.country,
            self.fraud_status,
            "true" if duplicate else "false",
            self.error,
            self.checked_at,
        ]

    @property
    def reason(self) -> str:
        """Why the number is flagged, in a few words (the flagged list's ``reason`` column)."""
        if self.error:
            return self.error
        if self.verdict in (Verdict.FRAUDULENT, Verdict.SUSPICIOUS):
            return f"fraud check: {self.fraud_status}"
        if self.verdict is Verdict.NOT_MOBILE:
            return f"not a mobile number (fraud check: {self.fraud_status})"
        if self.verdict is Verdict.UNREACHABLE:
            return f"HLR status {self.hlr_status or 'unknown'}"
        return ""


def decide(
    e164: str,
    hlr: HlrResult | BaseException | None,
    fraud: FraudCheckResult | BaseException | None,
    *,
    checked_at: str,
) -> NumberCheck:
    """Combine an HLR look-up and a fraud check into one :class:`NumberCheck`.

    Each of ``hlr`` and ``fraud`` is the result, the exception that ended its retries, or
    ``None`` when it was not asked (the fraud check is skipped after an undelivered HLR
    look-up when ``skip_fraud_check_if_unreachable`` is on).

    :param e164: the number, already normalised.
    :param hlr: the HLR look-up's outcome.
    :param fraud: the fraud check's outcome.
    :param checked_at: ISO-8601 time of the answers.
    """
    hlr_fields = _hlr_fields(hlr)
    fraud_status = _fraud_status(fraud)

    def check(verdict: Verdict, error: str = "") -> NumberCheck:
        return NumberCheck(e164, verdict, *hlr_fields, fraud_status, error, checked_at)

    for outcome in (hlr, fraud):
        if isinstance(outcome, InvalidNumberError):
            return check(Verdict.INVALID, f"API: {outcome}")
    if isinstance(fraud, FraudCheckResult):
        if fraud.status == FRAUD_FRAUDULENT:  # parsing reads the reference's "FRAUDLENT" as this
            return check(Verdict.FRAUDULENT)
        if fraud.status == FRAUD_SUSPICIOUS:
            return check(Verdict.SUSPICIOUS)
        if not fraud.is_mobile:
            return check(Verdict.NOT_MOBILE)
        if fraud.status != FRAUD_PASSED:
            return check(Verdict.ERROR, f"fraud check answered an unknown status {fraud.status!r}")
    elif isinstance(fraud, BaseException):
        return check(Verdict.ERROR, f"fraud check failed: {_describe(fraud)}")
    if isinstance(hlr, BaseException):
        return check(Verdict.ERROR, f"HLR look-up failed: {_describe(hlr)}")
    if hlr is None:
        return check(Verdict.ERROR, "HLR look-up was not made")
    if hlr.status != HLR_DELIVERED:
        return check(Verdict.UNREACHABLE)
    if fraud is None:
        return check(Verdict.ERROR, "fraud check was not made")
    return check(Verdict.VALID)


HALF_CHECKED = "HLR look-up answered; fraud check not made yet (the API went down)"
"""The ``error`` of a resume-state entry that holds only a paid HLR answer (see :func:`half_checked`).

Every HLR answer is saved so now, not only when the API went down; the text stays as it was, so
that the resume state of an earlier version is still read.
"""


def half_checked(e164: str, hlr: HlrResult, *, checked_at: str) -> NumberCheck:
    """A number whose HLR look-up was paid but whose fraud check is not made (yet).

    Saved in the resume state as each HLR answer arrives (never written as a verdict); the whole
    answer follows once the fraud check is answered. A retry that finds only this makes only the
    fraud check.
    """
    return NumberCheck(e164, Verdict.ERROR, *_hlr_fields(hlr), "", HALF_CHECKED, checked_at)


def paid_half(check: NumberCheck) -> NumberCheck | None:
    """The :func:`half_checked` entry of an ERROR whose HLR look-up was answered, else ``None``.

    Its fraud check failed (after the hook's retries): the HLR answer was paid for and is kept
    in the resume state, so a retry makes only the fraud check.
    """
    if check.verdict is Verdict.ERROR and check.hlr_status and not check.fraud_status:
        return check._replace(error=HALF_CHECKED)
    return None


def is_half_checked(check: NumberCheck) -> bool:
    return check.verdict is Verdict.ERROR and check.error == HALF_CHECKED and bool(check.hlr_status)


def hlr_of(check: NumberCheck) -> HlrResult:
    """The HLR answer a :func:`half_checked` entry keeps, as the hook returned it."""
    return HlrResult(
        raw={},
        id=None,
        product="hlr",
        number=check.e164,
        mccmnc=check.mccmnc or None,
        network=check.network or None,
        country=check.country or None,
        status=check.hlr_status,
        created_at=None,
    )


def invalid(e164: str, reason: str, *, checked_at: str) -> NumberCheck:
    """A number refused by the local check: INVALID without any API call."""
    return NumberCheck(e164, Verdict.INVALID, error=reason, checked_at=checked_at)


def unchecked(e164: str, reason: str) -> NumberCheck:
    """A number left unchecked (budget used up): reported, never dropped."""
    return NumberCheck(e164, Verdict.UNCHECKED, error=reason)


def _hlr_fields(hlr: HlrResult | BaseException | None) -> tuple[str, str, str, str]:
    if not isinstance(hlr, HlrResult):
        return "", "", "", ""
    return hlr.status, hlr.mccmnc or "", hlr.network or "", hlr.country or ""


def _fraud_status(fraud: FraudCheckResult | BaseException | None) -> str:
    return fraud.status if isinstance(fraud, FraudCheckResult) else ""


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # one line, whatever the message held
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
