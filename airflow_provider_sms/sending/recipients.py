"""Recipients: numbers read from what a DAG gives, normalised to E.164, each person once.

The one normaliser of the provider: :class:`~airflow_provider_sms.operators.sms.SendSmsOperator`,
the notifiers, the insight operators and the suppression list all read numbers through
:func:`each_recipient` (or :func:`normalize_recipients`), so "the same number" means the
same everywhere: ``+44 7911 123456``, ``0044 7911 123456`` and ``447911123456`` are one
person, the first spelling seen wins, and a value that cannot be a number is reported, not
sent to.
"""

from __future__ import annotations

import ast
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.api.numbers import normalize_number
from airflow_provider_sms.compat import AirflowFailException
from airflow_provider_sms.exceptions import InvalidNumberError


@dataclass(frozen=True)
class Recipient:
    """One value as given, and what it is: an E.164 number, or the reason it is none.

    :param given: the value as written (``str()`` of it).
    :param e164: the normalised number, ``None`` when the value is not a possible number.
    :param error: why it is not, for an invalid value (its message masks the number).
    """

    given: str
    e164: str | None
    error: InvalidNumberError | None = None


@dataclass(frozen=True)
class Recipients:
    """Every value read: the numbers to reach, in first-seen order, and the invalid ones.

    :param numbers: E.164 numbers without duplicates.
    :param rejected: the invalid values in the order given (a repeated one repeats).
    :param given: how many values were read.
    """

    numbers: list[str]
    rejected: list[Recipient]
    given: int

    @property
    def invalid(self) -> dict[str, str]:
        """``{value as given: why it is not a number}``."""
        return {r.given: str(r.error) for r in self.rejected}

    @property
    def duplicates(self) -> int:
        """Values dropped because they repeat a number (or an invalid value) given before."""
        return self.given - len(self.numbers) - len(self.invalid)

    def raise_if_invalid(self) -> None:
        """Raise the first invalid value's :class:`InvalidNumberError`, if there is one."""
        if self.rejected and self.rejected[0].error is not None:
            raise self.rejected[0].error


def each_recipient(values: Iterable[object]) -> Iterator[Recipient]:
    """Normalise ``values`` in order, skipping a number already seen (invalid values are all yielded).

    :param values: numbers in any form :func:`~airflow_provider_sms.api.numbers.normalize_number`
        reads (``+44 7911 123456``, ``0044...``, ``447911123456`` as inbound SMS write it).
    """
    seen: set[str] = set()
    for value in values:
        try:
            e164 = normalize_number(value)
        except InvalidNumberError as exc:
            yield Recipient(str(value), None, exc)
            continue
        if e164 not in seen:
            seen.add(e164)
            yield Recipient(str(value), e164)


def normalize_recipients(values: Iterable[object]) -> Recipients:
    """All of :func:`each_recipient` at once: the numbers to reach and the invalid values."""
    given = list(values)
    numbers: list[str] = []
    rejected: list[Recipient] = []
    for recipient in each_recipient(given):
        if recipient.e164 is None:
            rejected.append(recipient)
        else:
            numbers.append(recipient.e164)
    return Recipients(numbers, rejected, len(given))


def e164_or_none(value: object) -> str | None:
    """``value`` in E.164, or ``None`` when it cannot be a phone number."""
    try:
        return normalize_number(value)
    except InvalidNumberError:
        return None


def numbers_from_value(value: object) -> list[str]:
    """The numbers in an operator argument: a number, a list, an XCom sequence, or a string list.

    A string may separate numbers by commas, semicolons or newlines, or be a list rendered as
    text (JSON, or Python's ``repr`` of a list, as Jinja renders one without native rendering).
    """
    if value is None:
        return []
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value).strip()
        if text.startswith("["):  # a list rendered as text: JSON, or Python's repr of a list
            parsed: object = None
            for parse in (json.loads, ast.literal_eval):
                try:
                    parsed = parse(text)
                    break
                except (ValueError, SyntaxError):
                    continue
            if isinstance(parsed, (list, tuple)):
                return [str(item) for item in parsed]
        return [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    if isinstance(value, dict):
        raise TypeError("numbers must be a number or a list of numbers, not a dict")
    if isinstance(value, Iterable):
        out: list[str] = []
        for item in value:
            out.extend(numbers_from_value(item))
        return out
    raise TypeError(f"numbers must be a number or a list of numbers, got {type(value).__name__}")


def numbers_from_file(location: str, column: str = "number") -> list[str]:
    """Read numbers from a CSV file with a header row (``column``) or a text file (one per line).

    :param location: an ``ObjectStoragePath`` URL (``s3://...``, ``file://...``) or a local path.
    :param column: the CSV column holding the numbers.
    """
    path = ObjectStoragePath(location)
    content = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(content))
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise AirflowFailException(
                f"{location}: no column {column!r} in the header {reader.fieldnames!r} (set number_column)"
            )
        return [row[column].strip() for row in reader if (row.get(column) or "").strip()]
    return [
        line.strip() for line in content.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


__all__ = [
    "Recipient",
    "Recipients",
    "e164_or_none",
    "each_recipient",
    "normalize_recipients",
    "numbers_from_file",
    "numbers_from_value",
]
