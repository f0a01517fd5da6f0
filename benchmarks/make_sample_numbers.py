"""Generate the demo's sample list, ``airflow_provider_sms/demo_data/sample_numbers.csv``.

Deterministic (fixed seed): running it again writes the same file byte for byte. The list
looks like a CRM export (``customer_id, name, signup_date, number``) of ~3,000 rows from
several countries, with what real lists contain:

- mobiles written every way people write them (``+44 7400 123456``, ``0044...``, bare
  ``447400123456``, ``+1 (201) 555-0123``), and the same number again in another format;
- landlines (NOT_MOBILE), fraud-list hits (last digits ``66``: FRAUDULENT, ``77``:
  SUSPICIOUS on the sandbox), unreachable mobiles (``98``/``99``);
- invalid entries: letters (``O`` for ``0``, ``n/a``), too short, national numbers with no
  country code, empty cells.

Usage: ``python benchmarks/make_sample_numbers.py [--rows 3000] [--seed 20240601] [--out PATH]``
(also importable: :func:`generate_rows` feeds the benchmark).
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "airflow_provider_sms" / "demo_data" / "sample_numbers.csv"
HEADER = ["customer_id", "name", "signup_date", "number"]

# Share of each country in the list, as a European company with customers abroad might see.
REGIONS = {"GB": 30, "DE": 15, "FR": 12, "US": 12, "NO": 8, "IN": 8, "BR": 8, "ES": 4, "NL": 3}
# Regions whose landlines phonenumbers tells apart from mobiles (US/IN numbers are both).
LANDLINE_REGIONS = ["GB", "DE", "FR", "NO", "BR", "ES", "NL"]
MAGIC_ENDINGS = ("66", "77", "98", "99")

FIRST = "Ana Ben Chloe David Emma Felix Grace Hugo Ines Jonas Kari Liam Maja Noah Olga Pierre Rahul Sofia Zoe"
LAST = "Silva Smith Muller Martin Hansen Patel Costa Garcia Jansen Rossi Brown Dubois Olsen Singh Lopez"


def _number(rng: random.Random, region: str, kind: int, ending: str | None = None) -> str:
    """A valid number of ``kind`` in ``region``: the metadata's example with fresh last digits."""
    template = phonenumbers.example_number_for_type(region, kind)
    assert template is not None, (region, kind)
    national = str(template.national_number)
    free = min(7, len(national) - 2)  # keep the leading digits that make it a mobile/landline
    for _ in range(1000):
        tail = "".join(rng.choice("0123456789") for _ in range(free))
        digits = national[: len(national) - free] + tail
        if ending:
            digits = digits[: -len(ending)] + ending
        elif digits.endswith(MAGIC_ENDINGS):
            continue  # keep the magic endings for the rows that are meant to have them
        candidate = phonenumbers.parse(f"+{template.country_code}{digits}")
        if phonenumbers.is_valid_number(candidate) and phonenumbers.number_type(candidate) == kind:
            return phonenumbers.format_number(candidate, PhoneNumberFormat.E164)
    raise RuntimeError(f"no {kind} number found for {region}")


def _written(rng: random.Random, e164: str) -> str:
    """``e164`` as someone would type it into a form."""
    parsed = phonenumbers.parse(e164)
    international = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    style = rng.random()
    if style < 0.45:
        return e164
    if style < 0.75:
        return international
    if style < 0.85:
        return "00" + international[1:]
    if style < 0.95:
        return e164[1:]
    return international.replace(" ", "-")


def _invalid(rng: random.Random) -> str:
    kind = rng.randrange(6)
    mobile = _number(rng, rng.choice(["GB", "DE", "FR"]), PhoneNumberType.MOBILE)
    if kind == 0:  # letter O typed for zero
        return mobile.replace("0", "O", 1) if "0" in mobile[3:] else mobile[:-2] + "OO"
    if kind == 1:
        return rng.choice(["n/a", "unknown", "call me", "-", "TBD", "none"])
    if kind == 2:  # too short
        return mobile[: rng.randrange(5, 8)]
    if kind == 3:  # national format, no country code
        parsed = phonenumbers.parse(mobile)
        return phonenumbers.format_number(parsed, PhoneNumberFormat.NATIONAL)
    if kind == 4:
        return ""
    return mobile + "123456"  # too long


def generate_rows(rows: int = 3000, seed: int = 20240601) -> Iterator[list[str]]:
    """The data rows (without header), deterministic for ``(rows, seed)``."""
    rng = random.Random(seed)
    regions = list(REGIONS)
    weights = list(REGIONS.values())
    first, last = FIRST.split(), LAST.split()
    issued: list[str] = []
    start = date(2021, 1, 1)
    for index in range(1, rows + 1):
        roll = rng.random()
        if roll < 0.12 and issued:  # the same customer signed up twice, typed differently
            number = _written(rng, rng.choice(issued))
        elif roll < 0.17:
            number = _invalid(rng)
        elif roll < 0.22:
            region = rng.choice(LANDLINE_REGIONS)
            number = _written(rng, _number(rng, region, PhoneNumberType.FIXED_LINE))
        else:
            region = rng.choices(regions, weights)[0]
            kind = PhoneNumberType.FIXED_LINE_OR_MOBILE if region in ("US",) else PhoneNumberType.MOBILE
            magic = rng.random()
            ending = None
            if magic < 0.015:
                ending = "66"
            elif magic < 0.03:
                ending = "77"
            elif magic < 0.06:
                ending = rng.choice(["98", "99"])
            e164 = _number(rng, region, kind, ending)
            issued.append(e164)
            number = _written(rng, e164)
        signup = start + timedelta(days=rng.randrange(0, 4 * 365))
        name = f"{rng.choice(first)} {rng.choice(last)}"
        yield [f"C{index:06d}", name, signup.isoformat(), number]


def write_sample(path: Path, rows: int = 3000, seed: int = 20240601) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(generate_rows(rows, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    write_sample(args.out, args.rows, args.seed)
    print(f"wrote {args.rows} rows to {args.out}")


if __name__ == "__main__":
    main()
