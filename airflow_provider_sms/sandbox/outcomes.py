"""Deterministic outcomes by phone number ("magic numbers") and HLR data.

Outcomes depend only on the E.164 digits, never on the seed, so they can be
documented (the seed only drives ids, DID numbers, latency jitter and faults).
"Last two" means the last two digits of the E.164 number.

=================  ==========================  =====================================================
product            rule                        outcome
=================  ==========================  =====================================================
fraud check        ``+18800000000``            ``FRAUDLENT``, mobilePrefix false (reference example)
fraud check        last two ``66``             ``FRAUDLENT`` (sic), mobilePrefix by number type
fraud check        last two ``77``             ``SUSPICIOUS``, mobilePrefix by number type
fraud check        not mobile (see below)      ``NOT_MOBILE_PREFIX``, mobilePrefix false
fraud check        otherwise                   ``PASSED``, mobilePrefix true
HLR                last two ``98``/``99``      ``UNDELIVERED``
HLR                not mobile                  ``UNDELIVERED``
HLR                otherwise                   ``DELIVERED``
SMS                last two ``98``             receipt ``REJECTED`` (not billable)
SMS                last two ``99``             receipts ``SENT`` then ``UNDELIVERED``
SMS                otherwise                   receipts ``SENT`` then ``DELIVERED``
flash/p2s/t2s      last two ``01``             ``BUSY_HERE`` (SIP 486)
flash/p2s/t2s      last two ``02``             ``UNAVAILABLE`` (SIP 480)
flash/p2s/t2s      last two ``03``             ``TERMINATED`` (SIP 487)
flash/p2s/t2s      last two ``04``             ``DECLINE`` (SIP 603)
flash/p2s/t2s      otherwise                   ``ANSWERED`` (SIP 200)
incoming call      last digit ``0``            the user never calls: reservation EXPIRES
incoming call      last digit ``d`` in 1-9     the user calls ``d`` seconds after the reservation
=================  ==========================  =====================================================

"Not mobile" is phonenumbers' number type FIXED_LINE, TOLL_FREE, PREMIUM_RATE,
SHARED_COST, VOIP, PERSONAL_NUMBER, UAN or VOICEMAIL. MOBILE, FIXED_LINE_OR_MOBILE,
PAGER and UNKNOWN (e.g. numbers phonenumbers does not consider valid, such as the
reference's own ``+47463562200``) count as mobile.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier, geocoder

from airflow_provider_sms.api import constants as c

# Optional "+", then a non-zero first digit and 7-15 digits in all (E.164 max is 15).
_E164 = re.compile(r"\+?([1-9][0-9]{6,14})")

_MOBILE_TYPES = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.PAGER,
        PhoneNumberType.UNKNOWN,
    }
)

REFERENCE_FRAUD_NUMBER = "+18800000000"

_CALL_RULES = {"01": "BUSY_HERE", "02": "UNAVAILABLE", "03": "TERMINATED", "04": "DECLINE"}

# Mobile country codes (ITU-T E.212) by region. phonenumbers has no MCC data, so
# this compact table covers the commonest regions; anything else answers 901
# (the "international" MCC).
_MCC: dict[str, str] = {
    "AE": "424",
    "AM": "283",
    "AR": "722",
    "AT": "232",
    "AU": "505",
    "AZ": "400",
    "BD": "470",
    "BE": "206",
    "BG": "284",
    "BR": "724",
    "BY": "257",
    "CA": "302",
    "CH": "228",
    "CL": "730",
    "CN": "460",
    "CO": "732",
    "CY": "280",
    "CZ": "230",
    "DE": "262",
    "DK": "238",
    "DZ": "603",
    "EE": "248",
    "EG": "602",
    "ES": "214",
    "FI": "244",
    "FR": "208",
    "GB": "234",
    "GE": "282",
    "GR": "202",
    "HK": "454",
    "HR": "219",
    "HU": "216",
    "ID": "510",
    "IE": "272",
    "IL": "425",
    "IN": "404",
    "IQ": "418",
    "IR": "432",
    "IS": "274",
    "IT": "222",
    "JP": "440",
    "KE": "639",
    "KG": "437",
    "KR": "450",
    "KZ": "401",
    "LK": "413",
    "LT": "246",
    "LU": "270",
    "LV": "247",
    "MA": "604",
    "MD": "259",
    "MX": "334",
    "MY": "502",
    "NG": "621",
    "NL": "204",
    "NO": "242",
    "NZ": "530",
    "PE": "716",
    "PH": "515",
    "PK": "410",
    "PL": "260",
    "PT": "268",
    "RO": "226",
    "RS": "220",
    "RU": "250",
    "SA": "420",
    "SE": "240",
    "SG": "525",
    "SI": "293",
    "SJ": "242",
    "SK": "231",
    "TH": "520",
    "TJ": "436",
    "TM": "438",
    "TR": "286",
    "TW": "466",
    "UA": "255",
    "US": "310",
    "UZ": "434",
    "VE": "734",
    "VN": "452",
    "ZA": "655",
}
_THREE_DIGIT_MNC = frozenset({"US", "CA"})


@dataclass(frozen=True)
class Number:
    """A number that passed the sandbox's own E.164 check."""

    digits: str  # E.164 digits without "+"
    parsed: phonenumbers.PhoneNumber

    @property
    def e164(self) -> str:
        return "+" + self.digits

    @property
    def last_two(self) -> str:
        return self.digits[-2:]

    @property
    def region(self) -> str:
        # region_code_for_number is None for numbers phonenumbers deems invalid;
        # fall back to the main region of the country code (+1 -> US, +47 -> NO).
        region = phonenumbers.region_code_for_number(self.parsed)
        return region or phonenumbers.region_code_for_country_code(self.parsed.country_code or 0)

    @property
    def is_mobile(self) -> bool:
        return phonenumbers.number_type(self.parsed) in _MOBILE_TYPES


def parse_number(raw: str) -> Number | None:
    """The sandbox's own check: trimmed, optional ``+``, 7-15 digits, assigned country code.

    Surrounding whitespace is stripped because ``curl -d number=+1880...`` form-decodes
    the ``+`` into a space. ``is_possible_number`` is deliberately NOT required: the
    reference's own HLR example (+47463562200) is too long for Norway.
    """
    match = _E164.fullmatch(raw.strip())
    if match is None:
        return None
    digits = match.group(1)
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_country_code(parsed.country_code or 0) == phonenumbers.UNKNOWN_REGION:
        return None
    return Number(digits, parsed)


def fraud_check(number: Number) -> tuple[str, bool]:
    """(status as sent on the wire, mobilePrefix). FRAUDULENT goes out as "FRAUDLENT"."""
    if number.e164 == REFERENCE_FRAUD_NUMBER:
        return c.FRAUD_FRAUDULENT_MISSPELLED, False
    mobile = number.is_mobile
    if number.last_two == "66":
        return c.FRAUD_FRAUDULENT_MISSPELLED, mobile
    if number.last_two == "77":
        return c.FRAUD_SUSPICIOUS, mobile
    if not mobile:
        return c.FRAUD_NOT_MOBILE_PREFIX, False
    return c.FRAUD_PASSED, True


@dataclass(frozen=True)
class HlrInfo:
    status: str
    country: str
    network: str
    mccmnc: str


def hlr(number: Number) -> HlrInfo:
    region = number.region
    undelivered = number.last_two in ("98", "99") or not number.is_mobile
    network = carrier.name_for_number(number.parsed, "en") or f"{_country_name(region)} Mobile"
    mcc = _MCC.get(region, "901")
    width = 3 if region in _THREE_DIGIT_MNC else 2
    # A stable hash (not Python's per-process randomised hash()) so MNCs are reproducible.
    mnc = int.from_bytes(hashlib.sha256(network.encode()).digest()[:4], "big") % (10**width)
    return HlrInfo(
        status=c.HLR_UNDELIVERED if undelivered else c.HLR_DELIVERED,
        country=region,
        network=network,
        mccmnc=f"{mcc}{mnc:0{width}d}",
    )


def _country_name(region: str) -> str:
    example = phonenumbers.example_number(region) if region.isalpha() else None
    name = geocoder.country_name_for_number(example, "en") if example is not None else ""
    return name or region


def sms_final_status(number: Number) -> str:
    if number.last_two == "98":
        return "REJECTED"
    if number.last_two == "99":
        return "UNDELIVERED"
    return "DELIVERED"


def call_status(number: Number) -> tuple[str, int]:
    """(call end status, SIP status) for flash, pin-to-speech and text-to-speech calls."""
    status = _CALL_RULES.get(number.last_two, "ANSWERED")
    return status, c.SIP_STATUS_BY_CALL_STATUS[status]


def incoming_call_delay(number: Number) -> int | None:
    """Seconds after the reservation at which the simulated user calls; None = never."""
    last = int(number.digits[-1])
    return None if last == 0 else last
