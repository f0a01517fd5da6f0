"""Phone-number normalisation and masking, done locally before any paid request."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import phonenumbers

from airflow_provider_sms.exceptions import InvalidNumberError

_INTERNATIONAL_PREFIX = re.compile(r"^\s*00")
_HAS_LETTERS = re.compile(r"[A-Za-z]")
_PARSE_ERROR_PREFIX = re.compile(r"^\(\d+\)\s*")  # phonenumbers writes "(1) The string..."
_PLUS_SIGNS = str.maketrans({"\uff0b": "+"})  # the full-width plus sign of East Asian input methods


class ParsedNumber(NamedTuple):
    """A number in E.164 and what normalisation had to leave out of it.

    ``note`` is empty, or says what was dropped (``"extension ;ext=5 dropped"``): an E.164
    number has no extension, and an SMS or an HLR look-up cannot reach one.
    """

    e164: str
    note: str = ""


def normalize_number(raw: object, *, default_region: str | None = None) -> str:
    """Return ``raw`` as an E.164 string (``+4479...``) or raise :class:`InvalidNumberError`.

    Accepts ``+44 7700 900000``, ``0044 7700 900000`` and bare ``447700900000`` (read as
    international, as the API's own examples write it). A national number (``07700 900000``)
    needs ``default_region``; with one, a number without ``+``/``00`` is read in that region
    (``2025550123`` with ``"US"`` is ``+12025550123``). A number that *cannot* be a phone
    number (unparseable, unknown country code, or a length impossible for its country) is
    refused; a possible number the metadata does not know as valid is accepted: the API has
    the last word. RFC 3966 forms are understood (``tel:+44-7700-900000``, ``;ext=5``: the
    extension is dropped, see :func:`parse_number`), and so are digits of other scripts
    (Arabic-Indic, Persian, full-width...).

    :param raw: the number as the user gave it (str or int).
    :param default_region: ISO region (``"GB"``) for national numbers, or ``None``.
    """
    return parse_number(raw, default_region=default_region).e164


def parse_number(raw: object, *, default_region: str | None = None) -> ParsedNumber:
    """:func:`normalize_number`, also saying what was left out (an extension).

    :param raw: the number as the user gave it (str or int).
    :param default_region: ISO region (``"GB"``) for national numbers, or ``None``.
    """
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InvalidNumberError(f"Phone number must be a string, got {type(raw).__name__}")
    return _parse_text(str(raw), default_region)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str, default_region: str | None) -> ParsedNumber:
    """:func:`parse_number` of a string; remembered, since a batch asks again for the numbers it
    just parsed (the hygiene engine's HLR look-up, then its fraud check). Pure: the same text
    and region always give the same number or the same error (errors are not remembered)."""
    if not text.isascii():  # digits of any script as ASCII digits; signs and separators as written
        text = phonenumbers.normalize_digits_only(text, keep_non_digits=True).translate(_PLUS_SIGNS)
    text = text.strip()
    text, note = _strip_rfc3966(text)
    if not text:
        raise InvalidNumberError("Phone number is empty")
    if _HAS_LETTERS.search(text):
        raise InvalidNumberError(f"Phone number {mask_number(text)} contains letters")
    text = _INTERNATIONAL_PREFIX.sub("+", text)
    region = None
    if not text.startswith("+"):
        if default_region is not None:
            region = default_region  # phonenumbers also reads a leading country code then
        elif _looks_international(text):
            text = "+" + text
        else:
            raise InvalidNumberError(
                f"Phone number {mask_number(text)} is national (starts with 0): "
                "write it in international format (+<country code>...) or give a default region"
            )
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidNumberError(
                f"Phone number {mask_number(text)} has an unknown country code"
            ) from None
        why = _PARSE_ERROR_PREFIX.sub("", str(exc))
        raise InvalidNumberError(f"Phone number {mask_number(text)} cannot be parsed: {why}") from None
    if phonenumbers.region_code_for_country_code(parsed.country_code or 0) == "ZZ":
        raise InvalidNumberError(f"Phone number {mask_number(text)} has an unknown country code")
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason not in (
        phonenumbers.ValidationResult.IS_POSSIBLE,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        problem = {
            phonenumbers.ValidationResult.TOO_SHORT: "is too short for its country",
            phonenumbers.ValidationResult.TOO_LONG: "is too long for its country",
            phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "has an invalid country code",
        }.get(reason, "has a length impossible for its country")
        raise InvalidNumberError(f"Phone number {mask_number(text)} {problem}")
    return ParsedNumber(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), note)


def _strip_rfc3966(text: str) -> tuple[str, str]:
    """``tel:+44-7700-900000;ext=5`` → ``("+44-7700-900000", "extension ;ext=5 dropped")``.

    The ``tel:`` scheme is removed; of the URI parameters only ``ext`` is understood (and
    dropped: E.164 has no extension). Any other parameter (``phone-context`` of a local
    number, ``isub``...) is refused: the number would mean something else without it.
    """
    if text[:4].lower() == "tel:":
        text = text[4:].lstrip()
    if ";" not in text:
        return text, ""
    number, *parameters = text.split(";")
    notes = []
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "ext" and value and value.replace("-", "").isdigit():
            notes.append(f"extension ;ext={value} dropped")
        else:
            raise InvalidNumberError(
                f"Phone number {mask_number(number)} has the parameter ;{name or parameter}: only ;ext= "
                "(an extension, dropped) is understood; write the full international number"
            )
    return number.strip(), "; ".join(notes)


def _looks_international(text: str) -> bool:
    # A national number starts with a trunk prefix (0 in most countries); bare digits
    # without it are an E.164 number missing its "+", as the API's examples write them.
    digits = re.sub(r"\D", "", text)
    return not digits.startswith("0")


def mask_number(number: str | None, *, reveal: bool = False) -> str:
    """Mask the middle of a phone number for logs: ``+47463562200`` → ``+4746*****00``.

    :param number: any number string; ``None`` gives ``"<none>"``.
    :param reveal: return the number unmasked (the connection's ``log_full_numbers``).
    """
    if number is None:
        return "<none>"
    text = str(number).strip()
    if reveal:
        return text
    plus = "+" if text.startswith("+") else ""
    digits = text[len(plus) :]
    if len(digits) <= 6:
        return plus + "*" * len(digits)
    return f"{plus}{digits[:4]}{'*' * (len(digits) - 6)}{digits[-2:]}"
